"""The MRI criteria (T2W, DWI) and the quality criterion, from :class:`ImagingFindings`.

``None`` in the findings is "not measured": the criterion is unknown, never normal. A quality
problem makes the criteria it touches unknown (the measured finding stays in the evidence), so
a doubtful measurement can neither give a cCR nor call frank tumour.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from pipeline.config.decision import DecisionConfig
from pipeline.decision._clinical_criteria import Log, make
from pipeline.decision._model import (
    Criterion,
    CriterionName,
    CriterionStatus,
    EvidenceValue,
    Finding,
)
from pipeline.errors import ProcessingError
from pipeline.findings import ImagingFindings, QualityProblem, RoiStatus

_BOTH = frozenset({CriterionName.MRI_T2W, CriterionName.MRI_DWI})

#: Which MRI criteria each quality problem makes untrustworthy (unlisted problems: both).
QUALITY_AFFECTS: Mapping[QualityProblem, frozenset[CriterionName]] = {
    QualityProblem.IMAGING_UNREADABLE: _BOTH,
    QualityProblem.NO_T2W: frozenset({CriterionName.MRI_T2W}),
    QualityProblem.NO_DWI: frozenset({CriterionName.MRI_DWI}),
    QualityProblem.NO_TUMOUR_BED: _BOTH,
    QualityProblem.DWI_REGISTRATION_FAILED: frozenset({CriterionName.MRI_DWI}),
    QualityProblem.DWI_REGISTRATION_DOUBTFUL: frozenset({CriterionName.MRI_DWI}),
    QualityProblem.BASELINE_REGISTRATION_DOUBTFUL: _BOTH,
    QualityProblem.ADC_FIT_POOR: frozenset({CriterionName.MRI_DWI}),
    QualityProblem.DWI_BED_NOT_COVERED: frozenset({CriterionName.MRI_DWI}),
    QualityProblem.TOO_FEW_B_VALUES: frozenset({CriterionName.MRI_DWI}),
}

_RANGES: Mapping[str, tuple[float, float]] = {
    "p_residual": (0.0, 1.0),
    "p_residual_uncertainty": (0.0, math.inf),
    "tumour_bed_volume_ml": (0.0, math.inf),
    "restricted_volume_ml": (0.0, math.inf),
    "restricted_max_extent_mm": (0.0, math.inf),
    "shine_through_volume_ml": (0.0, math.inf),
    "adc_median_bed": (0.0, math.inf),
    "adc_median_restricted": (0.0, math.inf),
    "t2_intermediate_fraction": (0.0, 1.0),
    "t2_bright_fraction": (0.0, 1.0),
}


def check_findings(imaging: ImagingFindings) -> None:
    """Refuse findings that no imaging stage should produce (NaN, negative, out of range).

    Raises
    ------
    ProcessingError
        Naming the field, the value and the valid range.
    """
    for name, (low, high) in _RANGES.items():
        value = getattr(imaging, name)
        if value is None:
            continue
        if not isinstance(value, int | float) or not (
            math.isfinite(value) and low <= value <= high
        ):
            raise ProcessingError(
                f"imaging findings: {name} = {value!r} is outside {low}..{high}",
                fix="the imaging stage must report None for 'not measured', never NaN or a "
                "sentinel value.",
            )


def affected(imaging: ImagingFindings) -> dict[CriterionName, tuple[str, ...]]:
    """MRI criterion -> the quality problems that touch it."""
    touched: dict[CriterionName, list[str]] = {}
    for flag in imaging.quality:
        for name in QUALITY_AFFECTS.get(flag.problem, _BOTH):
            touched.setdefault(name, []).append(flag.problem.value)
    return {name: tuple(problems) for name, problems in touched.items()}


def _bed_evidence(imaging: ImagingFindings) -> dict[str, EvidenceValue]:
    return {
        "tumour_bed_status": imaging.tumour_bed_status.value,
        "tumour_bed_volume_ml": imaging.tumour_bed_volume_ml,
    }


def _compromise(
    name: CriterionName,
    measured: Finding,
    evidence: dict[str, EvidenceValue],
    problems: tuple[str, ...],
) -> Criterion:
    if problems:
        evidence["measured_finding"] = measured.value
        evidence["quality_flags"] = problems
        return make(name, Finding.UNKNOWN, evidence)
    return make(name, measured, evidence)


def restriction_present(imaging: ImagingFindings, dwi_problems: tuple[str, ...]) -> bool:
    """True restriction (not shine-through) was measured in a trustworthy DWI."""
    volume = imaging.restricted_volume_ml
    return not dwi_problems and volume is not None and volume > 0


def t2w_criterion(
    imaging: ImagingFindings,
    config: DecisionConfig,
    log: Log,
    *,
    problems: tuple[str, ...],
    restriction: bool,
) -> Criterion:
    """T2 signal in the bed: dark fibrosis (bright oedema allowed) vs intermediate signal."""
    fraction = imaging.t2_intermediate_fraction
    bright = imaging.t2_bright_fraction
    dark = None if fraction is None or bright is None else max(0.0, 1.0 - fraction - bright)
    evidence: dict[str, EvidenceValue] = {
        "t2_intermediate_fraction": fraction,
        "t2_bright_fraction": bright,
        "t2_dark_fraction": dark,
        "t2_intermediate_fraction_max": config.t2_intermediate_fraction_max,
        "restriction_present": restriction,
        **_bed_evidence(imaging),
        "source": "MRI: T2 signal in tumour bed relative to mesorectal fat",
    }
    if imaging.tumour_bed_status is RoiStatus.MISSING:
        return make(CriterionName.MRI_T2W, Finding.UNKNOWN, evidence)
    if fraction is None:
        log.missing.append("imaging.t2_intermediate_fraction")
        return make(CriterionName.MRI_T2W, Finding.UNKNOWN, evidence)
    if bright is not None and fraction + bright > 1.0 + config.t2_fraction_sum_tolerance:
        log.contradictions.append(
            f"mri_t2w: intermediate ({fraction:.2f}) + bright ({bright:.2f}) fractions exceed 1"
        )
        return make(CriterionName.MRI_T2W, Finding.UNKNOWN, evidence)
    # "more intermediate than dark"; equal (within rounding) is not more.
    reference = dark if dark is not None else 0.5
    more_than_dark = fraction > reference and not math.isclose(fraction, reference, abs_tol=1e-9)
    if fraction <= config.t2_intermediate_fraction_max:
        measured, rule = Finding.COMPLETE, "mostly dark (fibrosis); bright oedema allowed"
    elif restriction:
        measured, rule = Finding.TUMOUR, "intermediate signal with true restriction"
    elif more_than_dark:
        measured, rule = Finding.TUMOUR, "more intermediate than dark signal"
    else:
        measured, rule = Finding.NEAR_COMPLETE, "some intermediate signal, no restriction"
    evidence["rule"] = rule
    return _compromise(CriterionName.MRI_T2W, measured, evidence, problems)


def _volume_finding(volume: float | None, config: DecisionConfig) -> Finding:
    if volume is None:
        return Finding.UNKNOWN
    if volume == 0:
        return Finding.COMPLETE
    if volume <= config.restricted_focus_small_max_ml:
        return Finding.NEAR_COMPLETE
    return Finding.TUMOUR


def _p_finding(p: float | None, config: DecisionConfig) -> Finding:
    if p is None:
        return Finding.UNKNOWN
    if p <= config.p_residual_ccr_max:
        return Finding.COMPLETE
    if p >= config.p_residual_tumour_min:
        return Finding.TUMOUR
    return Finding.NEAR_COMPLETE


def dwi_criterion(
    imaging: ImagingFindings, config: DecisionConfig, log: Log, *, problems: tuple[str, ...]
) -> Criterion:
    """True restriction in the bed, and the scorer's P(residual) as its support."""
    volume = imaging.restricted_volume_ml
    by_volume = _volume_finding(volume, config)
    by_p = _p_finding(imaging.p_residual, config)
    evidence: dict[str, EvidenceValue] = {
        "restricted_volume_ml": volume,
        "restricted_focus_small_max_ml": config.restricted_focus_small_max_ml,
        "restricted_max_extent_mm": imaging.restricted_max_extent_mm,
        "adc_median_restricted": imaging.adc_median_restricted,
        "adc_median_bed": imaging.adc_median_bed,
        "shine_through_volume_ml": imaging.shine_through_volume_ml,
        "p_residual": imaging.p_residual,
        "p_residual_uncertainty": imaging.p_residual_uncertainty,
        "p_residual_ccr_max": config.p_residual_ccr_max,
        "p_residual_tumour_min": config.p_residual_tumour_min,
        "scorer": imaging.scorer,
        "volume_finding": by_volume.value,
        "p_residual_finding": by_p.value,
        **_bed_evidence(imaging),
        "source": "MRI: restricted volume in tumour bed (bright high-b and dark ADC; "
        "shine-through recorded, not counted); P(residual) from the scorer",
    }
    if imaging.tumour_bed_status is RoiStatus.MISSING:
        return make(CriterionName.MRI_DWI, Finding.UNKNOWN, evidence)
    if volume is None:
        log.missing.append("imaging.restricted_volume_ml")
    if imaging.p_residual is None:
        log.missing.append("imaging.p_residual")
    if by_volume is Finding.TUMOUR:
        measured = Finding.TUMOUR
    elif Finding.UNKNOWN in (by_volume, by_p):
        measured = Finding.UNKNOWN
    elif by_volume is Finding.NEAR_COMPLETE:
        measured = Finding.NEAR_COMPLETE
    elif by_p is Finding.TUMOUR:
        if not problems:
            log.contradictions.append(
                f"mri_dwi: P(residual) {imaging.p_residual:.2f} >= "
                f"{config.p_residual_tumour_min} but no restricted volume"
            )
        measured = Finding.UNKNOWN
    else:
        measured = by_p
    return _compromise(CriterionName.MRI_DWI, measured, evidence, problems)


def quality_criterion(imaging: ImagingFindings) -> Criterion:
    """Met when no quality problem was flagged; otherwise not met (and no cCR)."""
    problems = tuple(flag.problem.value for flag in imaging.quality)
    evidence: dict[str, EvidenceValue] = {
        "value": problems,
        "details": tuple(flag.detail for flag in imaging.quality),
        "required": "no quality problem",
        "source": "imaging quality checks",
    }
    if problems:
        return Criterion(
            name=CriterionName.QUALITY,
            status=CriterionStatus.NOT_MET,
            finding=Finding.UNKNOWN,
            evidence=evidence,
        )
    return make(CriterionName.QUALITY, Finding.COMPLETE, evidence)
