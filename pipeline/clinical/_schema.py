"""The clinical form of one patient at restaging: :class:`ClinicalInputs`.

``None`` (or an absent key) means "not done / not assessed"; the decision treats it as
missing, never as normal. Dates are ISO ``YYYY-MM-DD``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from pipeline.clinical._choices import (
    Biopsy,
    DreFinding,
    EndoscopyFinding,
    MmrStatus,
    MStage,
    NeoadjuvantRegimen,
    NodeAssessment,
    chooser,
)

SCHEMA_VERSION = "1.0"

#: A pseudonymous key: letters, digits, ``.``, ``_``, ``-`` (it may end up in file names).
PATIENT_KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"

DreChoice = Annotated[DreFinding, BeforeValidator(chooser(DreFinding))]
EndoscopyChoice = Annotated[EndoscopyFinding, BeforeValidator(chooser(EndoscopyFinding))]
BiopsyChoice = Annotated[Biopsy, BeforeValidator(chooser(Biopsy))]
NodeChoice = Annotated[NodeAssessment, BeforeValidator(chooser(NodeAssessment))]
RegimenChoice = Annotated[NeoadjuvantRegimen, BeforeValidator(chooser(NeoadjuvantRegimen))]
MmrChoice = Annotated[MmrStatus, BeforeValidator(chooser(MmrStatus))]
MStageChoice = Annotated[MStage, BeforeValidator(chooser(MStage))]


class _Form(BaseModel):
    """Immutable; unknown keys are errors (typos fail loudly)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Endoscopy(_Form):
    """Endoscopy at restaging: every finding seen at the tumour site."""

    date: dt.date | None = None
    findings: tuple[EndoscopyChoice, ...] = Field(min_length=1)


class Cea(_Form):
    """Serum carcinoembryonic antigen."""

    value_ng_ml: float = Field(ge=0, allow_inf_nan=False)
    date: dt.date | None = None


class Pet(_Form):
    """FDG-PET/CT maximum standardised uptake value before and after therapy (supportive only)."""

    suvmax_before: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    suvmax_after: float = Field(ge=0, allow_inf_nan=False)


class ClinicalInputs(_Form):
    """One patient's clinical restaging form (``schema_version`` 1.0).

    Attributes
    ----------
    dre
        One finding per examiner; a single value is read as a one-element tuple.
        ``None`` = DRE not done.
    endoscopy
        ``None`` = endoscopy not done.
    biopsy
        ``none`` = not taken (absent or null also reads as ``none``).
    mri_nodes
        The radiologist's node assessment; ``None`` = not assessed.
    cea, pet
        Optional; PET is supportive evidence only.
    neoadjuvant_regimen, mmr_status, m_stage
        Context recorded with the decision; ``None`` regimen = not recorded.
    """

    schema_version: Literal["1.0"] = "1.0"
    patient_key: str = Field(pattern=PATIENT_KEY_PATTERN)
    assessment_date: dt.date | None = None
    dre: tuple[DreChoice, ...] | None = None
    endoscopy: Endoscopy | None = None
    biopsy: BiopsyChoice = Biopsy.NONE
    mri_nodes: NodeChoice | None = None
    cea: Cea | None = None
    pet: Pet | None = None
    neoadjuvant_regimen: RegimenChoice | None = None
    mmr_status: MmrChoice = MmrStatus.UNKNOWN
    m_stage: MStageChoice = MStage.MX
    baseline_date: dt.date | None = None

    _source: str = PrivateAttr(default="clinical")

    @property
    def source(self) -> str:
        """Where the form came from (file name, or ``"<file> row <n>"``), for evidence."""
        return self._source

    def __eq__(self, other: object) -> bool:
        """Equal when every form field is equal (the source label is not compared)."""
        if not isinstance(other, ClinicalInputs):
            return NotImplemented
        return self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash(tuple(self.__dict__.values()))

    def with_source(self, source: str) -> ClinicalInputs:
        """A copy that names ``source`` in the decision's evidence."""
        copy = self.model_copy()
        copy._source = source
        return copy

    @field_validator("schema_version", mode="before")
    @classmethod
    def _version_text(cls, value: object) -> object:
        if isinstance(value, float | int) and not isinstance(value, bool):
            return f"{float(value):.1f}"
        return value

    @field_validator("patient_key", mode="before")
    @classmethod
    def _key_text(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, str) and not _matches_key(value):
            raise PydanticCustomError(
                "patient_key",
                "{value} is not a pseudonymous key: use 1-64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit",
                {"value": repr(value)},
            )
        return value

    @field_validator("dre", mode="before")
    @classmethod
    def _dre_list(cls, value: object) -> object:
        if isinstance(value, list | tuple):
            if not value:
                raise PydanticCustomError(
                    "empty",
                    "empty list; give one finding per examiner, or leave it out if not done",
                )
            return tuple(value)
        if value is None:
            return None
        return (value,)

    @field_validator("biopsy", mode="before")
    @classmethod
    def _biopsy_default(cls, value: object) -> object:
        return Biopsy.NONE if value is None else value

    @field_validator("mmr_status", mode="before")
    @classmethod
    def _mmr_default(cls, value: object) -> object:
        return MmrStatus.UNKNOWN if value is None else value

    @field_validator("m_stage", mode="before")
    @classmethod
    def _m_default(cls, value: object) -> object:
        return MStage.MX if value is None else value

    @model_validator(mode="after")
    def _dates_in_order(self) -> ClinicalInputs:
        if (
            self.baseline_date is not None
            and self.assessment_date is not None
            and self.baseline_date > self.assessment_date
        ):
            raise PydanticCustomError(
                "date_order",
                "baseline_date {baseline} is after assessment_date {assessment}",
                {
                    "baseline": self.baseline_date.isoformat(),
                    "assessment": self.assessment_date.isoformat(),
                },
            )
        return self


def _matches_key(value: str) -> bool:
    return re.fullmatch(PATIENT_KEY_PATTERN, value) is not None
