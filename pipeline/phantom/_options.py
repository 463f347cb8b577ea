"""Case types, the options of the generator and the decision each case type should produce."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from pipeline.decision._model import Outcome
from pipeline.errors import InputError

#: Version of the on-disk layout and of ``truth.json``; bump on any incompatible change.
SCHEMA_VERSION = "1.0"


class CaseType(str, Enum):
    """What the restaging study of a phantom case shows (and what its clinical inputs say)."""

    COMPLETE_RESPONSE = "complete_response"
    NEAR_COMPLETE = "near_complete"
    RESIDUAL_TUMOUR = "residual_tumour"
    RESIDUAL_SUBMUCOSAL = "residual_submucosal"
    FIBROSIS_OEDEMA = "fibrosis_oedema"
    SHINE_THROUGH = "shine_through"
    SUSPICIOUS_NODE = "suspicious_node"
    MISSING_INPUTS = "missing_inputs"
    CONTRADICTORY_INPUTS = "contradictory_inputs"

    @classmethod
    def coerce(cls, value: CaseType | str) -> CaseType:
        """Turn a string into a :class:`CaseType`; an unknown value lists the valid ones."""
        if isinstance(value, CaseType):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            valid = ", ".join(c.value for c in cls)
            raise InputError(
                f"unknown phantom case type {value!r}", fix=f"use one of: {valid}"
            ) from None


class MaskFormat(str, Enum):
    """How a tumour mask is stored in DICOM."""

    SEG = "SEG"
    RTSTRUCT = "RTSTRUCT"


class Vendor(str, Enum):
    """Scanner vendor whose DICOM style a study imitates."""

    SIEMENS = "siemens"
    GE = "ge"
    PHILIPS = "philips"


#: The decision the pipeline should reach on a case: the decision layer's own outcome enum
#: (values as in ``decision.json``), so the phantom's truth cannot drift from it.
ExpectedDecision = Outcome


#: The one registry of expected decisions per case type.
EXPECTED_DECISION: dict[CaseType, ExpectedDecision] = {
    CaseType.COMPLETE_RESPONSE: ExpectedDecision.CCR,
    CaseType.NEAR_COMPLETE: ExpectedDecision.NEAR_CCR,
    CaseType.RESIDUAL_TUMOUR: ExpectedDecision.INCOMPLETE,
    CaseType.RESIDUAL_SUBMUCOSAL: ExpectedDecision.INCOMPLETE,
    CaseType.FIBROSIS_OEDEMA: ExpectedDecision.CCR,
    CaseType.SHINE_THROUGH: ExpectedDecision.CCR,
    CaseType.SUSPICIOUS_NODE: ExpectedDecision.INCOMPLETE,
    CaseType.MISSING_INPUTS: ExpectedDecision.INDETERMINATE,
    CaseType.CONTRADICTORY_INPUTS: ExpectedDecision.INDETERMINATE,
}

#: Case types whose restaging images hold viable tumour (in the wall or in a node).
RESIDUAL_CASE_TYPES: frozenset[CaseType] = frozenset(
    {CaseType.NEAR_COMPLETE, CaseType.RESIDUAL_TUMOUR, CaseType.RESIDUAL_SUBMUCOSAL}
)


@dataclass(frozen=True)
class PhantomOptions:
    """Options of the phantom generator; ``None`` means "drawn per case from the seed".

    Parameters
    ----------
    small
        Smaller field of view and fewer slices (T2W FOV ~150 mm, 16 slices), for shipped
        samples and fast tests; a small case stays under ~6 MB on disk.
    snr
        Signal-to-noise ratio of the normal rectal wall on the lowest-b DWI image (the T2W
        SNR is twice it). ``math.inf`` gives noiseless images. ``None``: drawn in [15, 60].
    with_adc_series
        Write a vendor-style ADC series; ``None``: drawn (about 60 % of cases).
    restaging_mask
        Ship the restaging tumour-bed mask (SEG or RTSTRUCT); ``None``: drawn (about 75 %).
    mask_format
        :class:`MaskFormat` of both studies' masks; ``None``: drawn per study.
    vendor
        :class:`Vendor` style of the restaging study; ``None``: drawn. The baseline study's
        vendor is drawn either way (the same one in about 60 % of cases).
    """

    small: bool = False
    snr: float | None = None
    with_adc_series: bool | None = None
    restaging_mask: bool | None = None
    mask_format: MaskFormat | None = None
    vendor: Vendor | None = None

    def __post_init__(self) -> None:
        if self.snr is not None and (math.isnan(self.snr) or self.snr <= 0):
            raise InputError(
                f"PhantomOptions.snr must be > 0 (or math.inf for noiseless), got {self.snr}",
                fix="pass None to draw it per case",
            )
        if self.mask_format is not None:
            object.__setattr__(self, "mask_format", _coerce(MaskFormat, self.mask_format))
        if self.vendor is not None:
            object.__setattr__(self, "vendor", _coerce(Vendor, self.vendor))


def _coerce(enum: type[Enum], value: object) -> Enum:
    try:
        return enum(value)
    except ValueError:
        valid = ", ".join(str(m.value) for m in enum)
        raise InputError(f"unknown {enum.__name__} {value!r}", fix=f"use one of: {valid}") from None
