"""The network's tumour-bed search: window tiling, grid, region choice, and the shipped network
finding the bed of a phantom that has no mask (known answer: the phantom's truth bed)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from pipeline.config import load_config
from pipeline.phantom import CaseType, PhantomOptions, generate_case
from pipeline.run import analyse_imaging
from pipeline.scoring import CropSpec
from pipeline.scoring._search import largest_region, search_grid, window_starts
from pipeline.volume import Volume


@pytest.mark.parametrize(("length", "window"), [(48, 48), (30, 48), (100, 48), (97, 16), (49, 48)])
def test_windows_cover_the_axis_with_half_overlap(length: int, window: int) -> None:
    starts = window_starts(length, window)
    covered = np.zeros(max(length, window), bool)
    for s in starts:
        covered[s : s + window] = True
    assert covered[:length].all()
    assert starts[0] == 0 and starts[-1] == max(0, length - window)
    assert all(b - a <= window // 2 for a, b in itertools.pairwise(starts))


def test_search_grid_covers_the_field_of_view() -> None:
    reference = Volume(
        array=np.zeros((20, 200, 180), np.float32),
        spacing=(0.7, 0.7, 3.5),
        origin=(-60.0, -70.0, 10.0),
        direction=(1, 0, 0, 0, 0, 1, 0, -1, 0),  # coronal-ish: exercises the direction
    )
    spec = CropSpec(spacing_xyz=(1.25, 1.25, 3.0), shape_zyx=(16, 48, 48))
    grid = search_grid(reference, spec)
    assert grid.spacing == spec.spacing_xyz and grid.direction == reference.direction
    extent_ref = np.asarray(reference.array.shape[::-1]) * np.asarray(reference.spacing)
    extent_grid = np.asarray(grid.array.shape[::-1]) * np.asarray(grid.spacing)
    assert np.all(extent_grid >= extent_ref - 1e-9)
    assert np.all(extent_grid < extent_ref + np.asarray(grid.spacing) + 1e-9)
    # both grids start at the same voxel corner
    corner_ref = reference.index_to_world([-0.5, -0.5, -0.5])
    corner_grid = grid.index_to_world([-0.5, -0.5, -0.5])
    assert np.allclose(corner_ref, corner_grid, atol=1e-9)


def test_largest_region_is_the_most_probable_not_the_biggest() -> None:
    p = np.zeros((10, 40, 40))
    p[2:8, 2:14, 2:14] = 0.55  # big, barely above threshold: sum 0.55 * 864
    p[2:8, 25:38, 25:38] = 0.95  # a little larger and sure: the bed
    p[0, 39, 39] = 0.99  # one voxel: below min_voxels
    region = largest_region(p, 0.5, min_voxels=5)
    assert region is not None
    assert region[5, 30, 30] and not region[5, 5, 5] and not region[0, 39, 39]
    assert largest_region(p, 0.999, min_voxels=5) is None


@pytest.mark.slow
@pytest.mark.parametrize("case_type", [CaseType.RESIDUAL_TUMOUR, CaseType.COMPLETE_RESPONSE])
def test_shipped_network_finds_the_bed_of_a_phantom_without_mask(
    tmp_path: Path, case_type: CaseType
) -> None:
    truth_path = generate_case(
        tmp_path,
        case_id="case",
        case_type=case_type,
        seed=4242,
        options=PhantomOptions(small=True, restaging_mask=False),
    )
    truth = json.loads(truth_path.read_text())
    restaging = truth_path.parent / "restaging"
    _, result = analyse_imaging(restaging, baseline_dir=None, config=load_config())
    assert result.findings.tumour_bed_status.value == "model"
    assert result.maps is not None and result.maps.tumour_bed is not None
    found = np.asarray(result.maps.tumour_bed.array) > 0
    bed_truth = (
        sitk.GetArrayFromImage(
            sitk.ReadImage(str(truth_path.parent / truth["masks"]["tumour_bed"]))
        )
        > 0
    )
    dice = 2 * (found & bed_truth).sum() / (found.sum() + bed_truth.sum())
    assert dice > 0.5, f"bed search Dice {dice:.2f}"
    assert result.provenance["bed_search"]["found"] is True
