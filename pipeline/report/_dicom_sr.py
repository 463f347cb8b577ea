"""Comprehensive 3D SR, TID 1500 Measurement Report, of the tumour-bed assessment.

Content
-------
* Group "Tumour bed" (TID 1411, referencing the SEG segment; TID 1501 when the SEG has no bed
  segment): volume (SCT 118565006, ``ml``), ADC median/mean (DCM 113041 with derivation
  SCT 373099004 / 373098007, ``um2/s``; 1e-3 mm^2/s = 1000 um2/s), P(residual tumour)
  (DCM 111047 "Probability of cancer", unit ``1``) and its SD, T2 shine-through volume and
  T2 signal fractions (private scheme ``99CCR``).
* Group "Residual tumour" (TID 1411 referencing the segment; TID 1501 when the mask is empty):
  restricted-diffusion volume (SCT 118565006), maximum extent (SCT 410668003 with derivation
  SCT 56851009 "Maximum", ``mm``), ADC median, and "Finding" (DCM 121071) = Present/Absent.
* Group "Response assessment" (TID 1501): Response Evaluation (DCM 112020) = the decision as
  a ``99CCR`` code.
* Root container "Qualitative Evaluations" (TID 1500 row 12, UMLS C0034375) of TEXT items:
  the decision, its rationale, the research-use statement, and a note for each omitted segment.

``None`` measurements are left out (not measured is never written as 0).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import highdicom as hd
from highdicom.coding_schemes import CodingSchemeIdentificationItem
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as PydicomSequence
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import generate_uid

from pipeline import RESEARCH_USE_STATEMENT
from pipeline.errors import InputError
from pipeline.report._dicom_common import (
    ADC_PIPELINE_TO_DICOM,
    MANUFACTURER,
    PRIVATE_SCHEME,
    SERIES_NUMBER_SR,
    SOFTWARE_NAME,
    SOFTWARE_VERSION,
    UNIT_ADC,
    UNIT_ML,
    UNIT_MM,
    UNIT_ONE,
    ReferenceSlices,
)
from pipeline.report._dicom_seg import RESIDUAL_TUMOUR, TUMOUR_BED, SegOutcome

QUALITATIVE_EVALUATIONS = Code("C0034375", "UMLS", "Qualitative Evaluations")
RESPONSE_EVALUATION = codes.DCM.ResponseEvaluation
RESPONSE_ASSESSMENT = "Response assessment"

#: decision.json ``decision`` -> private code of the outcome.
OUTCOME_CODES: dict[str, Code] = {
    "cCR": Code("CCR", PRIVATE_SCHEME, "Clinical complete response"),
    "near_cCR": Code("NEAR_CCR", PRIVATE_SCHEME, "Near-complete clinical response"),
    "incomplete": Code("INCOMPLETE", PRIVATE_SCHEME, "Incomplete clinical response"),
    "indeterminate": Code("INDETERMINATE", PRIVATE_SCHEME, "Response indeterminate"),
}


@dataclass(frozen=True)
class MeasurementSpec:
    """How one measurement key is coded: group, concept, unit, derivation, scale to the unit."""

    group: str
    name: Code
    unit: Code
    derivation: Code | None = None
    scale: float = 1.0


_ADC = codes.DCM.ApparentDiffusionCoefficient
_ML = UNIT_ML

#: The measurement keys accepted by :func:`build_report` (ImagingFindings names + adc_mean_bed).
MEASUREMENTS: dict[str, MeasurementSpec] = {
    "tumour_bed_volume_ml": MeasurementSpec(TUMOUR_BED, codes.SCT.Volume, _ML),
    "adc_median_bed": MeasurementSpec(
        TUMOUR_BED, _ADC, UNIT_ADC, codes.SCT.Median, ADC_PIPELINE_TO_DICOM
    ),
    "adc_mean_bed": MeasurementSpec(
        TUMOUR_BED, _ADC, UNIT_ADC, codes.SCT.Mean, ADC_PIPELINE_TO_DICOM
    ),
    "p_residual": MeasurementSpec(TUMOUR_BED, codes.DCM.ProbabilityOfCancer, UNIT_ONE),
    "p_residual_uncertainty": MeasurementSpec(
        TUMOUR_BED, codes.DCM.ProbabilityOfCancer, UNIT_ONE, codes.SCT.StandardDeviation
    ),
    "shine_through_volume_ml": MeasurementSpec(
        TUMOUR_BED, Code("SHINE_VOL", PRIVATE_SCHEME, "T2 shine-through volume"), _ML
    ),
    "t2_intermediate_fraction": MeasurementSpec(
        TUMOUR_BED,
        Code("T2_INTERMED_FRAC", PRIVATE_SCHEME, "Fraction with intermediate T2 signal"),
        UNIT_ONE,
    ),
    "t2_bright_fraction": MeasurementSpec(
        TUMOUR_BED,
        Code("T2_BRIGHT_FRAC", PRIVATE_SCHEME, "Fraction with bright T2 signal"),
        UNIT_ONE,
    ),
    "restricted_volume_ml": MeasurementSpec(RESIDUAL_TUMOUR, codes.SCT.Volume, _ML),
    "restricted_max_extent_mm": MeasurementSpec(
        RESIDUAL_TUMOUR, codes.SCT.Length, UNIT_MM, codes.SCT.Maximum
    ),
    "adc_median_restricted": MeasurementSpec(
        RESIDUAL_TUMOUR, _ADC, UNIT_ADC, codes.SCT.Median, ADC_PIPELINE_TO_DICOM
    ),
}

_Group = (
    hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations
    | hd.sr.MeasurementsAndQualitativeEvaluations
)
_FINDING_TYPES = {TUMOUR_BED: codes.SCT.Lesion, RESIDUAL_TUMOUR: codes.SCT.Neoplasm}


def check_measurements(measurements: Mapping[str, float | None]) -> dict[str, float]:
    """The finite, given measurements; unknown keys and NaN raise :class:`InputError`."""
    unknown = sorted(set(measurements) - set(MEASUREMENTS))
    if unknown:
        raise InputError(f"unknown measurement keys {unknown}; valid keys: {sorted(MEASUREMENTS)}")
    out: dict[str, float] = {}
    for key, value in measurements.items():
        if value is None:
            continue
        if not math.isfinite(float(value)):
            raise InputError(f"measurement {key} is {value}; pass None when not measured")
        out[key] = float(value)
    return out


def _algorithm() -> hd.sr.AlgorithmIdentification:
    return hd.sr.AlgorithmIdentification(name=SOFTWARE_NAME, version=SOFTWARE_VERSION)


def _measurements(
    group: str, values: Mapping[str, float], pmap: Dataset | None
) -> list[hd.sr.Measurement]:
    """The group's measurements; ADC ones name the Parametric Map as their source image."""
    source = None
    if pmap is not None:
        source = [
            hd.sr.SourceImageForMeasurement(
                referenced_sop_class_uid=pmap.SOPClassUID,
                referenced_sop_instance_uid=pmap.SOPInstanceUID,
            )
        ]
    return [
        hd.sr.Measurement(
            name=spec.name,
            value=values[key] * spec.scale,
            unit=spec.unit,
            derivation=spec.derivation,
            algorithm_id=_algorithm(),
            referenced_images=source if spec.unit == UNIT_ADC else None,
        )
        for key, spec in MEASUREMENTS.items()
        if spec.group == group and key in values
    ]


def _referenced_segment(seg: Dataset, number: int) -> hd.sr.ReferencedSegment:
    """The segment and the source images of its frames.

    ``ReferencedSegment.from_segmentation`` (highdicom 0.28.2) expects the segment number in
    every per-frame group; with one segment highdicom writes it in the shared group instead.
    """
    shared = seg.SharedFunctionalGroupsSequence[0].get("SegmentIdentificationSequence")
    sources: dict[str, str] = {}
    for frame in seg.PerFrameFunctionalGroupsSequence:
        ident = frame.get("SegmentIdentificationSequence") or shared
        if int(ident[0].ReferencedSegmentNumber) != number:
            continue
        for derivation in frame.get("DerivationImageSequence", []):
            for image in derivation.get("SourceImageSequence", []):
                sources.setdefault(image.ReferencedSOPInstanceUID, image.ReferencedSOPClassUID)
    return hd.sr.ReferencedSegment(
        sop_class_uid=seg.SOPClassUID,
        sop_instance_uid=seg.SOPInstanceUID,
        segment_number=number,
        source_images=[
            hd.sr.SourceImageForSegmentation(sop_class, sop_instance)
            for sop_instance, sop_class in sources.items()
        ],
    )


def _group(
    label: str,
    seg: SegOutcome,
    items: list[hd.sr.Measurement],
    evaluations: list[hd.sr.QualitativeEvaluation],
) -> _Group:
    tracking = hd.sr.TrackingIdentifier(
        uid=seg.tracking_uids.get(label, str(hd.UID())), identifier=label
    )
    common: dict[str, Any] = {
        "tracking_identifier": tracking,
        "finding_type": _FINDING_TYPES[label],
        "finding_sites": [hd.sr.FindingSite(codes.SCT.Rectum)],
        "algorithm_id": _algorithm(),
        "measurements": items or None,
        "qualitative_evaluations": evaluations or None,
    }
    if seg.dataset is not None and label in seg.segment_numbers:
        return hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
            referenced_segment=_referenced_segment(seg.dataset, seg.segment_numbers[label]),
            **common,
        )
    return hd.sr.MeasurementsAndQualitativeEvaluations(**common)


def _texts(decision: Mapping[str, Any], seg: SegOutcome) -> hd.sr.ContainerContentItem:
    outcome = str(decision.get("decision", "indeterminate"))
    texts = [
        (RESPONSE_EVALUATION, outcome),
        (codes.DCM.Comment, RESEARCH_USE_STATEMENT),
    ]
    if decision.get("rationale"):
        texts.append((codes.DCM.Comment, f"Rationale: {decision['rationale']}"))
    texts += [
        (codes.DCM.Comment, f"{label}: mask empty (no voxels); segment omitted from the SEG.")
        for label in seg.empty
    ]
    container = hd.sr.ContainerContentItem(
        name=QUALITATIVE_EVALUATIONS, relationship_type=hd.sr.RelationshipTypeValues.CONTAINS
    )
    container.ContentSequence = PydicomSequence(
        [
            hd.sr.TextContentItem(
                name=name, value=value, relationship_type=hd.sr.RelationshipTypeValues.CONTAINS
            )
            for name, value in texts
        ]
    )
    return container


def build_report(
    refs: ReferenceSlices,
    *,
    seg: SegOutcome,
    pmap: Dataset | None,
    decision: Mapping[str, Any],
    measurements: Mapping[str, float],
) -> Dataset:
    """Build the Comprehensive 3D SR (TID 1500).

    Parameters
    ----------
    refs
        Reference slices of the restaging T2W (evidence; patient/study module source).
    seg
        What :func:`~pipeline.report._dicom_seg.build_segmentation` returned.
    pmap
        The ADC Parametric Map, referenced by the ADC measurements, or ``None``.
    decision
        ``decision.json`` content (``decision``, ``rationale``).
    measurements
        Finite values by key of :data:`MEASUREMENTS`, in the pipeline's units
        (mL, 1e-3 mm^2/s, mm, probability 0..1).
    """
    outcome = str(decision.get("decision", "indeterminate"))
    if outcome not in OUTCOME_CODES:
        raise InputError(f"decision {outcome!r} is not one of {sorted(OUTCOME_CODES)}")
    groups: list[Any] = []
    for label in (TUMOUR_BED, RESIDUAL_TUMOUR):
        items = _measurements(label, measurements, pmap)
        evaluations = []
        if label == RESIDUAL_TUMOUR and (label in seg.segment_numbers or label in seg.empty):
            present = label in seg.segment_numbers
            evaluations.append(
                hd.sr.QualitativeEvaluation(
                    codes.DCM.Finding, codes.SCT.Present if present else codes.SCT.Absent
                )
            )
        if items or evaluations or label in seg.segment_numbers:
            groups.append(_group(label, seg, items, evaluations))
    groups.append(
        hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(
                uid=str(hd.UID()), identifier=RESPONSE_ASSESSMENT
            ),
            algorithm_id=_algorithm(),
            qualitative_evaluations=[
                hd.sr.QualitativeEvaluation(RESPONSE_EVALUATION, OUTCOME_CODES[outcome])
            ],
        )
    )
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(entropy_srcs=[SOFTWARE_NAME, SOFTWARE_VERSION]),
            name=SOFTWARE_NAME,
            manufacturer_name=MANUFACTURER,
            model_name=SOFTWARE_NAME,
        ),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=codes.SCT.ImagingProcedure,
        imaging_measurements=groups,
    )
    report[0].ContentSequence.append(_texts(decision, seg))
    evidence = [*refs.datasets, *(d for d in (seg.dataset, pmap) if d is not None)]
    return hd.sr.Comprehensive3DSR(
        evidence=evidence,
        content=report[0],
        series_instance_uid=hd.UID(),
        series_number=SERIES_NUMBER_SR,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=True,
        series_description=f"{SOFTWARE_NAME} measurement report (research use only)",
        coding_schemes=[
            CodingSchemeIdentificationItem(
                designator=PRIVATE_SCHEME, name=f"{SOFTWARE_NAME} private codes"
            )
        ],
    )
