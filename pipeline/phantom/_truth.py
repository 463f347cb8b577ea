"""Ground truth of a case: masks as NIfTI and the documented conventions in ``truth.json``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import SimpleITK as sitk
from scipy import ndimage

import pipeline
from pipeline.phantom._anatomy import Anatomy
from pipeline.phantom._clinical import clinical_summary
from pipeline.phantom._geometry import Grid
from pipeline.phantom._options import (
    EXPECTED_DECISION,
    RESIDUAL_CASE_TYPES,
    SCHEMA_VERSION,
    CaseType,
    MaskFormat,
    PhantomOptions,
)
from pipeline.phantom._protocol import CasePlan, StudyPlan
from pipeline.phantom._study import RenderedStudy
from pipeline.phantom._tissues import Tissue, TissueTable
from pipeline.phantom._vendor import VendorStyle

CONVENTIONS = {
    "coordinates": "DICOM patient coordinates LPS, millimetres; sizes/spacings/origins in ITK "
    "(x, y, z) order; direction row-major 3x3 whose columns are the x, y, z index axes",
    "transforms": "4x4 matrices act on column vectors (x, y, z, 1) of LPS mm. As in ITK, a "
    "transform maps points of the fixed space (restaging T2W) into the moving space (DWI, "
    "baseline): registering the moving image onto the fixed one should recover it",
    "adc_units": "1e-3 mm^2/s (vendor ADC series: integers in 1e-6 mm^2/s)",
    "b_value_units": "s/mm^2",
    "series_files": "series.<study>.<role>.files lists files in spatial order along the slice "
    "normal (DWI: every slice of the first b-value, then of the next), not InstanceNumber order",
    "masks": "uint8 NIfTI (0/1; node: one label per node); a voxel is inside when at least half "
    "of its partial-volume sub-samples are",
}


def write_mask(path: Path, array: npt.NDArray[Any], grid: Grid) -> None:
    """Write a ``[z, y, x]`` uint8 array on ``grid`` as compressed NIfTI (via SimpleITK)."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(array, dtype=np.uint8))
    image.SetSpacing(grid.spacing)
    image.SetOrigin(grid.origin)
    image.SetDirection(grid.direction)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path), True)


def mask_summary(array: npt.NDArray[Any], grid: Grid) -> dict[str, Any]:
    voxels = int(np.count_nonzero(array))
    return {
        "voxels": voxels,
        "volume_ml": round(voxels * float(np.prod(grid.spacing)) / 1000.0, 5),
        "labels": int(array.max()) if voxels else 0,
    }


def tissue_legend() -> dict[str, str]:
    return {str(int(t)): t.name.lower() for t in Tissue}


def truth_masks(
    root: Path, anatomy: Anatomy, plan: CasePlan, rest: RenderedStudy, base: RenderedStudy
) -> tuple[dict[str, str], dict[str, Any], np.ndarray]:
    sg, labels = rest.t2w_grid, rest.t2w_labels
    bed_fraction = sg.region(anatomy.bed_region())
    node_mask = sg.fraction(labels, [Tissue.NODE, Tissue.NODE_SUSPICIOUS]) >= 0.5
    node_labels, _ = ndimage.label(node_mask)
    masks: dict[str, tuple[np.ndarray, StudyPlan]] = {
        "tumour": (sg.fraction(labels, [Tissue.TUMOUR]) >= 0.5, plan.restaging),
        "fibrosis": (sg.fraction(labels, [Tissue.FIBROSIS]) >= 0.5, plan.restaging),
        "oedema": (sg.fraction(labels, [Tissue.OEDEMA, Tissue.FLUID]) >= 0.5, plan.restaging),
        "tumour_bed": (bed_fraction >= 0.5, plan.restaging),
        "node": (node_labels, plan.restaging),
        "suspicious_node": (sg.fraction(labels, [Tissue.NODE_SUSPICIOUS]) >= 0.5, plan.restaging),
        "tissue": (sg.centre_labels(labels), plan.restaging),
        "baseline_tumour_on_restaging": (
            sg.region([anatomy.baseline_tumour]) >= 0.5,
            plan.restaging,
        ),
        "baseline_tumour": (
            base.t2w_grid.fraction(base.t2w_labels, [Tissue.TUMOUR]) >= 0.5,
            plan.baseline,
        ),
    }
    paths, summary = {}, {}
    for name, (array, study) in masks.items():
        rel = f"truth/{name}.nii.gz"
        write_mask(root / rel, array.astype(np.uint8), study.t2w)
        paths[name] = rel
        summary[name] = {
            "grid": "baseline_t2w" if study is plan.baseline else "restaging_t2w",
            **mask_summary(array, study.t2w),
        }
    return paths, summary, bed_fraction


def lesions(anatomy: Anatomy) -> dict[str, Any]:
    residual = []
    for shape in anatomy.residual:
        entry: dict[str, Any] = {"type": type(shape).__name__}
        if hasattr(shape, "extent_mm"):
            entry.update(shape.extent_mm())
        else:
            entry["diameter_mm"] = round(2.0 * max(getattr(shape, "semi_axes", (0.0,))), 2)
        residual.append(entry)
    return {
        "baseline_tumour": anatomy.baseline_tumour.extent_mm(),
        "tumour_bed": anatomy.bed.extent_mm(),
        "residual": residual,
        "bed_centre_lps_mm": [round(float(v), 3) for v in anatomy.bed_centre],
        "nodes": [
            {
                "centre_lps_mm": [round(c, 3) for c in n.restaging.centre],
                "short_axis_mm": round(n.short_axis_mm, 2),
                "suspicious": n.suspicious,
            }
            for n in anatomy.nodes
        ],
    }


def build_truth(
    *,
    case_id: str,
    case_type: CaseType,
    seed: int,
    options: PhantomOptions,
    anatomy: Anatomy,
    tissues: TissueTable,
    plan: CasePlan,
    snr: float,
    styles: tuple[VendorStyle, VendorStyle],
    paths: dict[str, str],
    mask_info: dict[str, Any],
    series: dict[str, Any],
    mask_formats: dict[str, Any],
    physics: dict[str, Any],
    form: dict[str, Any],
    with_adc: bool,
) -> dict[str, Any]:
    r, b = plan.restaging, plan.baseline
    geometry = {
        "restaging_t2w": r.t2w.as_dict(),
        "restaging_dwi": {**r.dwi.grid.as_dict(), "b_values": list(r.dwi.b_values)},
        "baseline_t2w": b.t2w.as_dict(),
        "baseline_dwi": {**b.dwi.grid.as_dict(), "b_values": list(b.dwi.b_values)},
    }
    if with_adc:
        geometry["restaging_adc"] = r.dwi.grid.as_dict()
    noiseless = math.isinf(snr)

    def dwi_entry(p: StudyPlan, what: str) -> dict[str, Any]:
        return {
            "description": f"rigid motion between the {what} T2W and DWI acquisitions; "
            "t2w_to_dwi maps a T2W LPS point to the DWI LPS point showing the same anatomy "
            "(before the EPI distortion), dwi_to_t2w is its inverse",
            "t2w_to_dwi": p.dwi.rigid.as_dict(),
            "dwi_to_t2w_matrix_4x4": p.dwi.rigid.as_dict()["inverse_matrix_4x4"],
            "distortion": p.dwi.distortion.as_dict(),
            "phase_encode": p.dwi.phase_encode,
        }

    return {
        "schema_version": SCHEMA_VERSION,
        "generator": {"name": "pipeline.phantom", "version": pipeline.__version__},
        "research_use": pipeline.RESEARCH_USE_STATEMENT,
        "case_id": case_id,
        "case_type": case_type.value,
        "seed": seed,
        "options": {
            "small": options.small,
            "snr": None if options.snr is None else ("inf" if noiseless else options.snr),
            "with_adc_series": options.with_adc_series,
            "restaging_mask": options.restaging_mask,
            "mask_format": None
            if options.mask_format is None
            else MaskFormat(options.mask_format).value,
            "vendor": None if options.vendor is None else options.vendor.value,
        },
        "expected_decision": EXPECTED_DECISION[case_type].value,
        "residual_tumour": case_type in RESIDUAL_CASE_TYPES,
        "suspicious_node": case_type is CaseType.SUSPICIOUS_NODE,
        "conventions": CONVENTIONS,
        "masks": paths,
        "mask_summary": mask_info,
        "tissue_labels": tissue_legend(),
        "adc_true": tissues.adc_dict(),
        "tissue_properties": tissues.as_dict(),
        "lesions": lesions(anatomy),
        "dwi_to_t2w": dwi_entry(r, "restaging"),
        "baseline_dwi_to_t2w": dwi_entry(b, "baseline"),
        "baseline_to_restaging": {
            "description": "restaging T2W LPS point p corresponds to baseline T2W LPS point "
            "q = M (p + w(p)) (ITK: fixed = restaging, moving = baseline). M is "
            "rigid.matrix_4x4; w is the smooth deformation. The baseline mask maps onto the "
            "restaging grid as truth/baseline_tumour_on_restaging.nii.gz",
            "rigid": plan.baseline_rigid.as_dict(),
            "restaging_to_baseline_rigid_4x4": plan.baseline_rigid.as_dict()["matrix_4x4"],
            "baseline_to_restaging_rigid_4x4": plan.baseline_rigid.as_dict()["inverse_matrix_4x4"],
            "deformation": plan.deformation.as_dict(),
        },
        "geometry": geometry,
        "series": series,
        "snr": {
            "dwi_b0_wall": "inf" if noiseless else round(snr, 4),
            "t2w_wall": "inf" if noiseless else round(2.0 * snr, 4),
            "noiseless": noiseless,
        },
        "intensity": physics,
        "vendor_style": styles[0].vendor.value,
        "baseline_vendor_style": styles[1].vendor.value,
        "dicom_style": {"restaging": styles[0].as_dict(), "baseline": styles[1].as_dict()},
        "b_values": {"restaging": list(r.dwi.b_values), "baseline": list(b.dwi.b_values)},
        "with_adc_series": with_adc,
        "mask_format": mask_formats,
        "restaging_mask": mask_formats["restaging"] is not None,
        "clinical": clinical_summary(form),
    }
