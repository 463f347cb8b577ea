"""What the imaging stages hand to the decision: :class:`ImagingFindings`.

All volumes in mL, ADC in 1e-3 mm^2/s, lengths in mm. ``None`` means "not measured" (the
decision treats it as unknown, never as zero).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class RoiStatus(str, Enum):
    """Where the tumour bed came from."""

    GIVEN = "given"
    PROPAGATED = "propagated"
    MODEL = "model"
    MISSING = "missing"


class QualityProblem(str, Enum):
    """Quality problems that forbid a cCR call (the decision lists them)."""

    IMAGING_UNREADABLE = "imaging_unreadable"
    NO_T2W = "no_t2w_series"
    NO_DWI = "no_dwi_series"
    NO_TUMOUR_BED = "no_tumour_bed"
    DWI_REGISTRATION_FAILED = "dwi_registration_failed"
    DWI_REGISTRATION_DOUBTFUL = "dwi_registration_doubtful"
    BASELINE_REGISTRATION_DOUBTFUL = "baseline_registration_doubtful"
    ADC_FIT_POOR = "adc_fit_poor"
    DWI_BED_NOT_COVERED = "dwi_bed_not_covered"
    TOO_FEW_B_VALUES = "too_few_b_values"


@dataclass(frozen=True)
class QualityFlag:
    problem: QualityProblem
    detail: str


@dataclass(frozen=True)
class ImagingFindings:
    """Measurements in the restaging tumour bed.

    Attributes
    ----------
    p_residual
        Probability of residual tumour from the scorer(s), 0..1, or ``None``.
    p_residual_uncertainty
        Spread of that probability (e.g. ensemble SD), or ``None``.
    scorer
        Which scorer produced ``p_residual`` (e.g. ``"rules-v1"`` or
        ``"fusion-v1(radiomics-v1, segnet-v2)"``).
    p_residual_rules, p_residual_radiomics, p_residual_network
        Each scorer's own P(residual), or ``None`` where it did not run.
    tumour_bed_status, tumour_bed_volume_ml
        Source and size of the tumour bed ROI.
    restricted_volume_ml
        Volume of voxels bright on high-b AND dark on ADC (true restriction), after removing
        clusters below the configured minimum.
    restricted_max_extent_mm
        Largest extent of the biggest restricted cluster.
    shine_through_volume_ml
        Bright on high-b with high ADC: T2 shine-through (oedema/fluid), not tumour.
    adc_median_bed
        Median ADC in the tumour bed.
    adc_median_restricted
        Median ADC in the restricted voxels, or ``None`` when there are none.
    t2_intermediate_fraction, t2_bright_fraction
        Fraction of bed voxels whose T2 signal relative to the mesorectal fat is intermediate
        (tumour-like) or bright (oedema/fluid). Dark signal is fibrosis.
    quality
        Problems that forbid a cCR call.
    """

    p_residual: float | None = None
    p_residual_uncertainty: float | None = None
    scorer: str = ""
    p_residual_rules: float | None = None
    p_residual_radiomics: float | None = None
    p_residual_network: float | None = None
    tumour_bed_status: RoiStatus = RoiStatus.MISSING
    tumour_bed_volume_ml: float | None = None
    restricted_volume_ml: float | None = None
    restricted_max_extent_mm: float | None = None
    shine_through_volume_ml: float | None = None
    adc_median_bed: float | None = None
    adc_median_restricted: float | None = None
    t2_intermediate_fraction: float | None = None
    t2_bright_fraction: float | None = None
    quality: tuple[QualityFlag, ...] = field(default=())

    @property
    def quality_ok(self) -> bool:
        return not self.quality
