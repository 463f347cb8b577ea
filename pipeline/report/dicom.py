"""DICOM outputs for PACS: SEG, Comprehensive 3D SR (TID 1500) and an ADC Parametric Map.

All three are written with highdicom on the frame of reference of the restaging T2W series
and reference its images; every object gets new Series and SOP Instance UIDs (the Study and
Frame of Reference UIDs of the source are kept, so that viewers place them with the source).

Identifiers
-----------
By default the patient module is pseudonymised: PatientName (``pseudonym^``) and PatientID
(``pseudonym``), empty birth date and sex, empty StudyDate/StudyTime/StudyID/AccessionNumber/
ReferringPhysicianName, PatientIdentityRemoved ``YES``. highdicom is given sanitised copies of
the source slices (geometry and UIDs only), and each output is checked for the source's
identifier values before anything is written. ``keep_identifiers=True`` hands highdicom the
source datasets, so it copies the source's Patient and Study modules.

Research-use statement
----------------------
SEG and Parametric Map: ImageComments (full text) and ContentDescription (short form, LO);
ContentQualification ``RESEARCH`` on the map; SeriesDescription ends "(research use only)".
SR: a TEXT "Comment" item in the root "Qualitative Evaluations" container.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from pipeline.errors import DicomError
from pipeline.findings import ImagingFindings
from pipeline.report._dicom_common import (
    ReferenceSlices,
    apply_pseudonym,
    check_no_identifiers,
    check_pseudonym,
    reference_datasets,
    save_dataset,
)
from pipeline.report._dicom_pmap import build_adc_map
from pipeline.report._dicom_seg import (
    NETWORK_TUMOUR,
    RESIDUAL_TUMOUR,
    TUMOUR_BED,
    build_segmentation,
)
from pipeline.report._dicom_sr import MEASUREMENTS, OUTCOME_CODES, build_report, check_measurements
from pipeline.volume import Volume

log = logging.getLogger(__name__)

#: Output name -> file name in the study's output folder.
DICOM_FILES = {"seg": "seg.dcm", "sr": "sr.dcm", "adc_pmap": "adc_pmap.dcm"}

__all__ = [
    "DICOM_FILES",
    "MEASUREMENTS",
    "NETWORK_TUMOUR",
    "OUTCOME_CODES",
    "RESIDUAL_TUMOUR",
    "TUMOUR_BED",
    "bed_statistics",
    "measurements_from_findings",
    "read_source_datasets",
    "write_dicom_outputs",
]


def read_source_datasets(files: Sequence[Path]) -> list[Dataset]:
    """Read the headers (no pixel data) of a series' DICOM files, in any order.

    Raises
    ------
    DicomError
        Naming the file that is not DICOM.
    """
    datasets: list[Dataset] = []
    for path in files:
        try:
            datasets.append(pydicom.dcmread(path, stop_before_pixels=True))
        except (pydicom.errors.InvalidDicomError, OSError) as exc:
            raise DicomError(f"cannot read DICOM header: {exc}", file=path) from exc
    return datasets


def measurements_from_findings(findings: ImagingFindings) -> dict[str, float | None]:
    """The SR measurements of :class:`~pipeline.findings.ImagingFindings` (same names, units)."""
    return {key: getattr(findings, key) for key in MEASUREMENTS if hasattr(findings, key)}


def bed_statistics(tumour_bed: Volume | None, adc: Volume | None) -> dict[str, float]:
    """Tumour-bed volume (mL) and ADC median/mean (1e-3 mm^2/s) over fitted bed voxels (ADC > 0).

    Keys are those of :data:`MEASUREMENTS`; a statistic that cannot be computed is absent.
    """
    if tumour_bed is None:
        return {}
    inside = np.asarray(tumour_bed.array) > 0
    out = {"tumour_bed_volume_ml": float(inside.sum() * tumour_bed.voxel_volume_mm3 / 1000.0)}
    if adc is not None and adc.same_grid(tumour_bed):
        values = np.asarray(adc.array, dtype=np.float64)[inside]
        values = values[np.isfinite(values) & (values > 0)]
        if values.size:
            out["adc_median_bed"] = float(np.median(values))
            out["adc_mean_bed"] = float(np.mean(values))
    return out


def write_dicom_outputs(
    out_dir: Path,
    *,
    source_t2w: Sequence[Dataset],
    t2w: Volume,
    tumour_bed: Volume | None,
    residual: Volume | None,
    adc: Volume | None,
    decision: Mapping[str, Any],
    measurements: Mapping[str, float | None],
    keep_identifiers: bool = False,
    pseudonym: str,
    network_tumour: Volume | None = None,
) -> dict[str, Path]:
    """Write ``seg.dcm``, ``sr.dcm`` and ``adc_pmap.dcm`` into ``out_dir``.

    Parameters
    ----------
    out_dir
        Output folder of the study (created if needed).
    source_t2w
        Datasets of the restaging T2W series the ``t2w`` volume was read from, any order
        (headers suffice). They are sorted along the slice normal and matched to the z index
        of ``t2w`` by ImagePositionPatient within 1e-3 mm.
    t2w
        Restaging T2W ``[z, y, x]``, LPS mm; every map below must share its grid.
    tumour_bed, residual, network_tumour
        Label maps (voxels > 0 inside) or ``None``. An empty mask gives no segment; the SR
        says so. ``network_tumour`` (the network's segmentation) is a SEG segment only.
    adc
        ADC in 1e-3 mm^2/s or ``None`` (then no Parametric Map is written).
    decision
        ``decision.json`` content: ``decision``, ``rationale``, ``imaging.tumour_bed_status``.
    measurements
        Values by key of :data:`MEASUREMENTS` (``ImagingFindings`` names, their units);
        ``None`` = not measured. ``tumour_bed_volume_ml``, ``adc_median_bed`` and
        ``adc_mean_bed`` are computed from the maps when not given.
    keep_identifiers
        Copy the source's Patient and Study modules instead of the pseudonym.
    pseudonym
        PatientID / PatientName of the outputs in the default mode (e.g. the study key).

    Returns
    -------
    dict
        Output name (``seg``, ``sr``, ``adc_pmap``) -> path, for the objects written. No SEG is
        written when no mask has a voxel, no Parametric Map without ``adc``.

    Raises
    ------
    GeometryError
        When the source slices do not lie on the T2W grid, or a map is on another grid.
    InputError
        For a bad pseudonym, unknown measurement key, NaN measurement or unknown decision.
    """
    pseudonym = check_pseudonym(pseudonym)
    refs: ReferenceSlices = reference_datasets(
        source_t2w, t2w, keep_identifiers=keep_identifiers, pseudonym=pseudonym
    )
    values = {**bed_statistics(tumour_bed, adc), **check_measurements(measurements)}
    imaging = decision.get("imaging") or {}
    seg = build_segmentation(
        refs,
        t2w,
        tumour_bed=tumour_bed,
        residual=residual,
        bed_status=str(imaging.get("tumour_bed_status", "given")),
        network_tumour=network_tumour,
    )
    pmap = build_adc_map(refs, t2w, adc) if adc is not None else None
    sr = build_report(refs, seg=seg, pmap=pmap, decision=decision, measurements=values)
    outputs = {"seg": seg.dataset, "sr": sr, "adc_pmap": pmap}
    ready = {name: ds for name, ds in outputs.items() if ds is not None}
    for name, dataset in ready.items():
        if not keep_identifiers:
            apply_pseudonym(dataset, pseudonym)
            check_no_identifiers(dataset, refs, what=DICOM_FILES[name])
    written = {name: save_dataset(ds, out_dir / DICOM_FILES[name]) for name, ds in ready.items()}
    if seg.empty:
        log.info("DICOM SEG: empty masks omitted: %s", ", ".join(seg.empty))
    return written
