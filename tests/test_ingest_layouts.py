"""Public data set layouts without DICOM: dcm2niix NIfTI + .bval, nnU-Net/MSD, PI-CAI.

Each test writes a small layout in ``tmp_path`` from a synthetic :class:`Volume` with an
oblique grid, then checks roles, b-values, masks, keys and the geometry round trip (1e-3 mm).
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from pipeline.config import load_section
from pipeline.config.series_rules import SeriesRulesConfig
from pipeline.ingest import (
    find_layout_cases,
    inventory_to_dict,
    load_series_volume,
    load_study,
    scan,
)
from pipeline.study import MaskSource, SeriesRole
from pipeline.volume import Volume

RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])
PICAI_CASE = "10417_1000421"


@pytest.fixture(scope="module")
def rules() -> SeriesRulesConfig:
    loaded = load_section("series_rules")
    assert isinstance(loaded, SeriesRulesConfig)
    return loaded


def oblique_grid(shape: tuple[int, int, int] = (5, 12, 10), seed: int = 0) -> Volume:
    """A volume on a grid tilted 20 degrees about x, with a known random array."""
    angle = np.radians(20.0)
    rotation = np.array(
        [[1.0, 0.0, 0.0], [0.0, np.cos(angle), -np.sin(angle)], [0.0, np.sin(angle), np.cos(angle)]]
    )
    rng = np.random.default_rng(seed)
    return Volume(
        array=rng.uniform(10, 1000, shape).astype(np.float32),
        spacing=(0.7, 0.8, 3.0),
        origin=(-12.5, 30.25, 41.0),
        direction=tuple(rotation.ravel()),  # type: ignore[arg-type]
    )


def write(volume: Volume, path: Path, arrays: list[np.ndarray] | None = None) -> Path:
    """Write a 3-D volume, or a 4-D file of ``arrays`` on its grid, through SimpleITK."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if arrays is None:
        image = volume.to_sitk()
    else:
        image = sitk.JoinSeries([volume.with_array(a).to_sitk() for a in arrays])
    sitk.WriteImage(image, str(path))
    return path


def assert_same_geometry(a: Volume, b: Volume) -> None:
    assert a.shape == b.shape
    assert np.allclose(a.origin, b.origin, atol=1e-3)
    assert np.allclose(a.spacing, b.spacing, atol=1e-3)
    assert np.allclose(a.direction, b.direction, atol=1e-5)


# ------------------------------------------------------------------------ dcm2niix NIfTI + .bval
def nifti_folder(root: Path, grid: Volume) -> tuple[Path, dict[str, np.ndarray]]:
    rng = np.random.default_rng(1)
    shape = grid.shape
    b0 = rng.uniform(500, 1000, shape).astype(np.float32)
    b500 = [(b0 * rng.uniform(0.5, 0.7, shape)).astype(np.float32) for _ in range(2)]
    b1000 = (b0 * 0.3).astype(np.float32)
    folder = root / "sub01"
    write(grid, folder / "ep2d_diff_tra.nii.gz", [b0, b500[0], b500[1], b1000])
    (folder / "ep2d_diff_tra.bval").write_text("0 500 500 1000\n")
    (folder / "ep2d_diff_tra.bvec").write_text("0 1 0 0.577\n0 0 1 0.577\n0 0 0 0.577\n")
    write(grid, folder / "t2_tse_tra.nii.gz")
    (folder / "t2_tse_tra.json").write_text(
        json.dumps({"SeriesDescription": "t2_tse_tra", "SeriesNumber": 3, "Manufacturer": "X"})
    )
    write(grid.with_array(grid.array * 0 + 1.2), folder / "adc_map.nii")
    mask = np.zeros(shape, dtype=np.uint8)
    mask[2, 3:6, 4:8] = 1
    write(grid.with_array(mask), folder / "t2_tse_tra_mask_tumour.nii.gz")
    expected = {
        "b0": b0,
        "b500": np.exp((np.log(b500[0].astype(np.float64)) + np.log(b500[1])) / 2),
        "b1000": b1000,
        "mask": mask,
    }
    return folder, expected


def test_nifti_bval_folder_roles_b_values_and_geometry(
    tmp_path: Path, rules: SeriesRulesConfig
) -> None:
    grid = oblique_grid()
    folder, expected = nifti_folder(tmp_path, grid)
    layout, _ = find_layout_cases(tmp_path, rules)
    assert layout == "nifti"
    study = load_study(tmp_path, rules=rules)
    assert "sub01" not in study.key and study.key.startswith("st-")
    dwi = study.require(SeriesRole.DWI)
    assert dwi.b_values == (0.0, 500.0, 500.0, 1000.0)  # one per volume, as in the .bval
    volume = dwi.require_volume()
    assert volume.b_values == (0.0, 500.0, 1000.0)  # one trace image per distinct b
    assert_same_geometry(volume.channel(0), grid)
    assert np.allclose(volume.array[0], expected["b0"])
    assert np.allclose(volume.array[1], expected["b500"], rtol=1e-5)
    assert np.allclose(volume.array[2], expected["b1000"])
    t2 = study.require(SeriesRole.T2W)
    assert (t2.series_number, t2.vendor, t2.description) == (3, "X", "t2_tse_tra")
    assert_same_geometry(t2.require_volume(), grid)
    assert np.array_equal(t2.require_volume().array, grid.array)
    assert study.require(SeriesRole.ADC).require_volume().array.max() == pytest.approx(1.2)
    (mask,) = study.masks
    assert (mask.name, mask.source) == ("tumour", MaskSource.FILE)
    assert mask.referenced_series_uid == t2.series_uid
    assert np.array_equal(mask.volume.array, expected["mask"])
    # the file on disk is RAS (NIfTI); what we read is LPS
    affine = nib.load(folder / "t2_tse_tra.nii.gz").affine
    assert np.allclose(RAS_TO_LPS @ affine, grid.affine, atol=1e-3)


def test_nifti_scan_gives_header_geometry_and_loads_by_series(
    tmp_path: Path, rules: SeriesRulesConfig
) -> None:
    grid = oblique_grid()
    nifti_folder(tmp_path, grid)
    inventory = scan(tmp_path, rules=rules)
    assert inventory.layout == "nifti"
    data = inventory_to_dict(inventory)
    (study,) = data["studies"]
    by_role = {s["role"]: s for s in study["series"]}
    assert set(by_role) == {"dwi", "t2w", "adc"}
    assert by_role["dwi"]["b_values"] == [0.0, 500.0, 500.0, 1000.0]
    assert by_role["dwi"]["n_volumes"] == 4
    assert by_role["t2w"]["size"] == list(grid.size_xyz)
    assert by_role["t2w"]["spacing"] == pytest.approx(list(grid.spacing), abs=1e-4)
    assert by_role["t2w"]["orientation"] == "oblique"  # 20 degrees off axial
    assert "sub01" not in json.dumps(data)
    dwi = next(s for s in inventory.studies[0].series if s.role is SeriesRole.DWI)
    volume = load_series_volume(dwi, rules=rules, inventory=inventory)
    assert volume.b_values == (0.0, 500.0, 1000.0)


def test_bval_count_mismatch_names_the_file(tmp_path: Path, rules: SeriesRulesConfig) -> None:
    grid = oblique_grid()
    folder, _ = nifti_folder(tmp_path, grid)
    (folder / "ep2d_diff_tra.bval").write_text("0 500 1000\n")
    study = load_study(tmp_path, rules=rules)
    dwi = study.require(SeriesRole.DWI)
    assert dwi.volume is None
    assert any("3 b-values" in w and "ep2d_diff_tra.nii.gz" in w for w in dwi.warnings)
    assert study.require(SeriesRole.T2W).volume is not None  # the others still load


# ------------------------------------------------------------------------ nnU-Net / MSD
def test_nnunet_channels_labels_and_dataset_json(tmp_path: Path, rules: SeriesRulesConfig) -> None:
    grid = oblique_grid()
    dataset = tmp_path / "Dataset042_Rectum"
    for channel in range(3):
        write(
            grid.with_array(grid.array + channel),
            dataset / "imagesTr" / f"rc7_{channel:04d}.nii.gz",
        )
    labels = np.zeros(grid.shape, dtype=np.uint8)
    labels[1, 2:5, 2:5] = 1
    labels[3, 6:9, 1:4] = 2
    write(grid.with_array(labels), dataset / "labelsTr" / "rc7.nii.gz")
    (dataset / "dataset.json").write_text(
        json.dumps(
            {
                "channel_names": {"0": "T2", "1": "ADC", "2": "HBV"},
                "labels": {"background": 0, "tumour": 1, "wall": 2},
            }
        )
    )
    study = load_study(tmp_path, rules=rules)
    assert "rc7" not in study.key
    roles = {s.series_number: s.role for s in study.series}
    assert roles == {1: SeriesRole.T2W, 2: SeriesRole.ADC, 3: SeriesRole.HIGH_B}
    for series in study.series:
        volume = series.require_volume()  # HIGH_B is loaded too for layouts
        assert_same_geometry(volume, grid)
        assert np.allclose(volume.array, grid.array + series.series_number - 1)  # type: ignore[operator]
    masks = {m.name: m for m in study.masks}
    assert set(masks) == {"tumour", "wall"}
    assert masks["tumour"].n_voxels == 9 and masks["wall"].n_voxels == 9
    t2 = study.require(SeriesRole.T2W)
    assert masks["tumour"].referenced_series_uid == t2.series_uid


def test_nnunet_without_dataset_json_assumes_picai_order(
    tmp_path: Path, rules: SeriesRulesConfig
) -> None:
    grid = oblique_grid()
    for channel in range(2):
        write(grid, tmp_path / "imagesTs" / f"case_{channel:04d}.nii.gz")
    inventory = scan(tmp_path / "imagesTs", rules=rules)
    assert inventory.layout == "nnunet"
    (study,) = inventory.studies
    assert [s.role for s in study.series] == [SeriesRole.T2W, SeriesRole.ADC]
    assert any("assumed" in w for w in study.warnings)


def test_msd_four_d_image_is_split_into_channels(tmp_path: Path, rules: SeriesRulesConfig) -> None:
    grid = oblique_grid()
    dataset = tmp_path / "Task05_Prostate"
    write(grid, dataset / "imagesTr" / "prostate_00.nii.gz", [grid.array, grid.array * 2])
    (dataset / "dataset.json").write_text(json.dumps({"modality": {"0": "T2", "1": "ADC"}}))
    study = load_study(tmp_path, rules=rules)
    t2 = study.require(SeriesRole.T2W).require_volume()
    adc = study.require(SeriesRole.ADC).require_volume()
    assert t2.array.ndim == 3
    assert np.allclose(adc.array, grid.array * 2)
    assert_same_geometry(adc, grid)


# ------------------------------------------------------------------------ PI-CAI
def test_picai_mha_case(tmp_path: Path, rules: SeriesRulesConfig) -> None:
    t2_grid = oblique_grid((6, 16, 14))
    dwi_grid = Volume(
        array=np.full((3, 8, 7), 5.0, dtype=np.float32),
        spacing=(1.6, 1.6, 6.0),
        origin=t2_grid.origin,
        direction=t2_grid.direction,
    )
    folder = tmp_path / "images" / "10417"
    write(t2_grid, folder / f"{PICAI_CASE}_t2w.mha")
    write(dwi_grid, folder / f"{PICAI_CASE}_adc.mha")
    write(dwi_grid.with_array(dwi_grid.array * 3), folder / f"{PICAI_CASE}_hbv.mha")
    write(t2_grid, folder / f"{PICAI_CASE}_sag.mha")
    lesion = np.zeros(t2_grid.shape, dtype=np.uint8)
    lesion[2:4, 5:9, 5:9] = 1
    write(t2_grid.with_array(lesion), tmp_path / "labels" / f"{PICAI_CASE}.nii.gz")
    inventory = scan(tmp_path, rules=rules)
    assert inventory.layout == "picai"
    text = json.dumps(inventory_to_dict(inventory))
    assert "10417" not in text and "1000421" not in text
    study = load_study(tmp_path, rules=rules)
    roles = [s.role for s in study.series]
    assert roles == [SeriesRole.T2W, SeriesRole.ADC, SeriesRole.HIGH_B, SeriesRole.OTHER]
    assert all(PICAI_CASE not in s.key for s in study.series)
    assert_same_geometry(study.require(SeriesRole.T2W).require_volume(), t2_grid)
    assert_same_geometry(study.require(SeriesRole.HIGH_B).require_volume(), dwi_grid)
    assert study.require(SeriesRole.HIGH_B).require_volume().array.max() == 15.0
    (mask,) = study.masks
    assert mask.name == "lesion"
    assert np.array_equal(mask.volume.array, lesion)
    assert mask.referenced_series_uid == study.require(SeriesRole.T2W).series_uid
    assert load_study(tmp_path, rules=rules, study_uid=PICAI_CASE).key == study.key


def test_empty_folder_still_says_no_image(tmp_path: Path, rules: SeriesRulesConfig) -> None:
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(ValueError, match="no DICOM image found"):
        load_study(tmp_path, rules=rules)
