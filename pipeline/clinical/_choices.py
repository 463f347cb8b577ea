"""Closed choices of the clinical form and their coercion at the boundary.

Values are matched case-insensitively, with spaces and hyphens read as underscores and the
American "tumor" read as "tumour"; a few clinical synonyms are accepted (MSI-H -> dMMR,
MSS -> pMMR, M1a/b/c -> M1). An unknown value raises an error that lists the valid values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum
from typing import TypeVar

from pydantic_core import PydanticCustomError

E = TypeVar("E", bound=Enum)


class DreFinding(str, Enum):
    """Digital rectal examination."""

    NO_PALPABLE_TUMOUR = "no_palpable_tumour"
    SMOOTH_INDURATION = "smooth_induration"
    PALPABLE_MASS = "palpable_mass"


class EndoscopyFinding(str, Enum):
    """Endoscopic findings at the tumour site (several may be listed)."""

    FLAT_WHITE_SCAR = "flat_white_scar"
    TELANGIECTASIA = "telangiectasia"
    ERYTHEMATOUS_ULCER = "erythematous_ulcer"
    SUPERFICIAL_ULCER = "superficial_ulcer"
    MILD_ERYTHEMA = "mild_erythema"
    IRREGULAR_MUCOSA = "irregular_mucosa"
    VISIBLE_TUMOUR = "visible_tumour"


class Biopsy(str, Enum):
    """Result of a biopsy of the scar; ``none`` = not taken (not required for cCR)."""

    NONE = "none"
    NEGATIVE = "negative"
    POSITIVE = "positive"


class NodeAssessment(str, Enum):
    """The radiologist's assessment of the mesorectal/lateral nodes on restaging MRI."""

    NO_SUSPICIOUS_NODES = "no_suspicious_nodes"
    PARTIAL_REGRESSION = "partial_regression"
    SUSPICIOUS_NOT_REGRESSED = "suspicious_not_regressed"


class NeoadjuvantRegimen(str, Enum):
    """Neoadjuvant treatment (context only; it does not change the outcome)."""

    LCCRT = "lccrt"
    LCCRT_CONSOLIDATION_CHEMO = "lccrt_consolidation_chemo"
    LCCRT_INDUCTION_CHEMO = "lccrt_induction_chemo"
    SCRT_TNT = "scrt_tnt"
    SCRT = "scrt"
    CHEMO_ONLY = "chemo_only"
    IMMUNOTHERAPY = "immunotherapy"
    OTHER = "other"


class MmrStatus(str, Enum):
    """Mismatch-repair status (MSI-H is read as dMMR, MSS and MSI-L as pMMR)."""

    PMMR = "pMMR"
    DMMR = "dMMR"
    UNKNOWN = "unknown"


class MStage(str, Enum):
    """Distant metastasis stage (M1a/M1b/M1c are read as M1)."""

    M0 = "M0"
    M1 = "M1"
    MX = "MX"


def _key(text: str) -> str:
    return text.strip().casefold().replace("-", "_").replace(" ", "_").replace("tumor", "tumour")


#: Extra spellings per enum, keyed by the normalised form (see :func:`_key`).
SYNONYMS: Mapping[type[Enum], Mapping[str, str]] = {
    MmrStatus: {"msi_h": "dMMR", "msi_high": "dMMR", "mss": "pMMR", "msi_l": "pMMR"},
    MStage: {"m1a": "M1", "m1b": "M1", "m1c": "M1"},
}


def allowed_values(enum: type[Enum]) -> str:
    """The valid values of ``enum``, comma-separated, in declaration order."""
    return ", ".join(str(member.value) for member in enum)


def coerce_choice(enum: type[E], value: object) -> E:
    """Return the member of ``enum`` that ``value`` names.

    Raises
    ------
    pydantic_core.PydanticCustomError
        ``choice`` error whose message lists the valid values (pydantic turns it into a
        validation error located at the field).
    """
    if isinstance(value, enum):
        return value
    if isinstance(value, str):
        wanted = _key(value)
        for member in enum:
            if _key(str(member.value)) == wanted:
                return member
        synonym = SYNONYMS.get(enum, {}).get(wanted)
        if synonym is not None:
            return enum(synonym)
    raise PydanticCustomError(
        "choice",
        "{value} is not one of {allowed}",
        {"value": repr(value), "allowed": allowed_values(enum)},
    )


def chooser(enum: type[E]) -> Callable[[object], E]:
    """A ``BeforeValidator`` function coercing to ``enum``."""

    def _coerce(value: object) -> E:
        return coerce_choice(enum, value)

    return _coerce
