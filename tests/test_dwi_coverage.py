"""A tumour bed that the registered DWI slab does not image is flagged (no cCR on it)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from pipeline.config import load_config
from pipeline.findings import QualityProblem
from pipeline.phantom import CaseType, PhantomOptions, generate_case
from pipeline.registration import field_of_view_coverage
from pipeline.run import analyse_imaging
from pipeline.volume import Volume, VolumeKind


def _bed_on_ten_slices() -> Volume:
    array = np.zeros((10, 8, 8), np.uint8)
    array[2:8, 2:6, 2:6] = 1  # slices 2..7
    return Volume(
        array=array, spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0), kind=VolumeKind.LABEL
    )


def test_coverage_is_the_share_of_bed_voxels_inside_the_moving_slab() -> None:
    bed = _bed_on_ten_slices()
    # moving slab: 5 slices at z = 0..4 mm, i.e. it images z in [-0.5, 4.5]
    slab = Volume(
        array=np.zeros((5, 8, 8), np.float32), spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0)
    )
    assert field_of_view_coverage(bed, slab) == pytest.approx(3 / 6)  # bed slices 2, 3, 4
    # fixed z maps to moving z + 2: only bed slice 2 (-> 4) stays inside
    shifted = sitk.TranslationTransform(3, (0.0, 0.0, 2.0))
    assert field_of_view_coverage(bed, slab, shifted) == pytest.approx(1 / 6)
    whole = Volume(
        array=np.zeros((12, 8, 8), np.float32), spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, -1.0)
    )
    assert field_of_view_coverage(bed, whole) == 1.0
    assert field_of_view_coverage(bed.with_array(np.zeros_like(bed.array)), slab) == 1.0


def _drop_dwi_slices_above(case: Path, truth: dict, normal_mm: float) -> int:
    """Delete the DWI slices (every b-value) whose position along the slice normal is above
    ``normal_mm``; returns how many slice positions are left."""
    geometry = truth["geometry"]["restaging_dwi"]
    n_slices = geometry["size"][2]
    direction = np.asarray(geometry["direction"]).reshape(3, 3)
    origin = np.asarray(geometry["origin"])
    positions = [
        float(direction[:, 2] @ (origin + direction[:, 2] * geometry["spacing"][2] * k))
        for k in range(n_slices)
    ]
    files = truth["series"]["restaging"]["dwi"]["files"]
    kept = [k for k in range(n_slices) if positions[k] <= normal_mm]
    for b in range(len(files) // n_slices):
        for k in range(n_slices):
            if k not in kept:
                (case / files[b * n_slices + k]).unlink()
    return len(kept)


@pytest.mark.slow
def test_a_dwi_slab_that_misses_half_the_bed_is_flagged(tmp_path: Path) -> None:
    truth_path = generate_case(
        tmp_path,
        case_id="cover",
        case_type=CaseType.COMPLETE_RESPONSE,
        seed=515,
        options=PhantomOptions(small=True, restaging_mask=True, with_adc_series=False),
    )
    case = truth_path.parent
    truth = json.loads(truth_path.read_text())
    config = load_config()
    _, whole = analyse_imaging(case / "restaging", baseline_dir=None, config=config)
    assert whole.provenance["dwi_bed_coverage"] == 1.0
    assert QualityProblem.DWI_BED_NOT_COVERED not in {f.problem for f in whole.findings.quality}

    normal = np.asarray(truth["geometry"]["restaging_dwi"]["direction"]).reshape(3, 3)[:, 2]
    centre = float(normal @ np.asarray(truth["lesions"]["bed_centre_lps_mm"]))
    assert _drop_dwi_slices_above(case, truth, centre) >= 3
    _, half = analyse_imaging(case / "restaging", baseline_dir=None, config=config)
    share = half.provenance["dwi_bed_coverage"]
    assert 0.1 < share < 0.8, share
    flags = [f for f in half.findings.quality if f.problem is QualityProblem.DWI_BED_NOT_COVERED]
    assert len(flags) == 1 and f"{share:.0%} of the tumour bed" in flags[0].detail
