"""Known answers on real scanner DICOM in ../shared/data (b-values, volumes, RTSTRUCT, SEG)."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import numpy.typing as npt
import pydicom
import pytest

from pipeline.config import load_section
from pipeline.config.series_rules import SeriesRulesConfig
from pipeline.ingest import load_study, read_mask_file, scan
from pipeline.study import MaskSource, SeriesRole
from pipeline.volume import Volume

DATA = Path(__file__).parents[1].parent / "shared" / "data"
DWI_QA = DATA / "dwi_qa"
IBSI = DATA / "ibsi_mr"

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(
        not DATA.is_dir(), reason=f"real test data not found at {DATA} (../shared/data)"
    ),
]

#: RAS (NIfTI) -> LPS (DICOM) world coordinates.
RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


@pytest.fixture(scope="module")
def rules() -> SeriesRulesConfig:
    loaded = load_section("series_rules")
    assert isinstance(loaded, SeriesRulesConfig)
    return loaded


def read_bval(path: Path, dummy_max: float) -> list[float]:
    values = [float(v) for v in path.read_text().split()]
    return sorted(0.0 if v <= dummy_max else v for v in values)


def on_our_grid(
    volume: Volume, data: npt.NDArray[np.float64], affine_lps: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Reference voxels (array indexed like ``affine_lps``) at our voxel centres.

    Fails when our voxel centres do not fall on reference voxel centres (geometry differs).
    """
    to_ref = np.linalg.inv(affine_lps) @ volume.affine
    nz, ny, nx = volume.shape
    zz, yy, xx = np.mgrid[0:nz, 0:ny, 0:nx]
    index = to_ref @ np.stack([xx.ravel(), yy.ravel(), zz.ravel(), np.ones(xx.size)])
    assert np.abs(index - np.rint(index)).max() < 1e-3  # same voxel centres
    ijk = np.rint(index[:3]).astype(int)
    assert ijk.min() >= 0 and np.all(ijk.max(axis=1) < np.asarray(data.shape[:3]))
    return data[ijk[0], ijk[1], ijk[2]].reshape(volume.shape)


# ------------------------------------------------------------------------------ b-values
B_CASES = [
    ("ge_dwi_r2/dicom", "ge_dwi_r2/Ax_DWI_TENSOR_R2_1.bval", 1, "(0043,1039)"),
    ("philips_dwi_dicomdir/dicom", "philips_dwi_dicomdir/701_DTI_Biobank_2mm_MB3S2_EPI_cl.bval",
     701, "(0018,9087)"),
    ("siemens_xa30_enhanced/dicom", "siemens_xa30_enhanced/10_DWI_dir80_PA.bval", 10,
     "per-frame MR Diffusion Sequence"),
    ("siemens_xa30_derived", "siemens_xa30_derived/13001_DWI_dir80_AP.bval", 13001,
     "(0019,100C)"),
    ("siemens_vb17_mosaic/dicom", "siemens_vb17_mosaic/reference.bval", 12, "(0019,100C)"),
    ("philips_multib/dicom", "philips_multib/reference.bval", 601, "(0018,9087)"),
]  # fmt: skip


@pytest.mark.parametrize(("folder", "bval", "number", "source"), B_CASES)
def test_b_values_match_reference(
    folder: str, bval: str, number: int, source: str, rules: SeriesRulesConfig
) -> None:
    inventory = scan(DWI_QA / folder, rules=rules)
    assert inventory.errors == ()
    (study,) = inventory.studies
    (series,) = [s for s in study.series if s.series_number == number]
    assert series.role is SeriesRole.DWI
    assert sorted(series.b_values) == read_bval(DWI_QA / bval, rules.philips_dummy_b_max)
    assert source in series.b_value_source


def test_xa30_derived_roles(rules: SeriesRulesConfig) -> None:
    (study,) = scan(DWI_QA / "siemens_xa30_derived", rules=rules).studies
    roles = {s.series_number: (s.role, s.b_values) for s in study.series}
    assert roles == {
        13001: (SeriesRole.DWI, (2500.0,)),
        17001: (SeriesRole.DWI, (0.0,)),
        12001: (SeriesRole.ADC, ()),
    }


def test_dicomdir_tree_and_skips(rules: SeriesRulesConfig) -> None:
    inventory = scan(DWI_QA / "philips_dwi_dicomdir", rules=rules)
    # DICOMDIR, a presentation state, a private Philips object, .bval/.bvec/.json, LICENSE
    assert inventory.skipped_files == 8
    (series,) = inventory.studies[0].series
    assert len(series.files) == 544


# ------------------------------------------------------------------------------ volumes
def test_philips_multib_volume_equals_reference(rules: SeriesRulesConfig) -> None:
    study = load_study(DWI_QA / "philips_multib" / "dicom", rules=rules)
    volume = study.require(SeriesRole.DWI).require_volume()
    assert volume.b_values == (0.0, 40.0, 273.0, 800.0)
    assert volume.array.shape == (4, 3, 384, 384)
    ref = nib.load(DWI_QA / "philips_multib" / "reference.nii.gz")
    data = np.asarray(ref.dataobj, dtype=np.float64)
    for channel, b in enumerate((0.0, 40.0, 273.0, 800.0)):  # reference.bval order
        expected = on_our_grid(volume.channel(channel), data[..., channel], RAS_TO_LPS @ ref.affine)
        assert volume.b_values[channel] == b
        assert np.array_equal(volume.array[channel], expected)


@pytest.mark.parametrize("number", [13001, 17001, 12001])
def test_xa30_derived_volumes_equal_reference(number: int, rules: SeriesRulesConfig) -> None:
    study = load_study(DWI_QA / "siemens_xa30_derived", rules=rules)
    (series,) = [s for s in study.series if s.series_number == number]
    volume = series.require_volume()
    if volume.array.ndim == 4:
        volume = volume.channel(0)
    assert volume.shape == (39, 72, 72)
    assert volume.spacing == pytest.approx((3.0, 3.0, 3.0), abs=1e-5)
    ref = nib.load(DWI_QA / "siemens_xa30_derived" / f"{number}.nii")
    data = np.asarray(ref.dataobj, dtype=np.float64)
    assert np.array_equal(volume.array, on_our_grid(volume, data, RAS_TO_LPS @ ref.affine))


def test_mosaic_matches_nibabel_reader(rules: SeriesRulesConfig) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from nibabel.nicom import dicomwrappers

    folder = DWI_QA / "siemens_vb17_mosaic" / "dicom"
    volume = load_study(folder, rules=rules).require(SeriesRole.DWI).require_volume()
    assert volume.b_values == (0.0, 1000.0)
    assert volume.array.shape == (2, 48, 128, 128)
    for channel, name in enumerate(("siemens_dwi_0.dcm", "siemens_dwi_1000.dcm")):
        wrapper = dicomwrappers.wrapper_from_data(pydicom.dcmread(folder / name))
        data = np.asarray(wrapper.get_data(), dtype=np.float64)  # [row, column, slice], LPS
        expected = on_our_grid(volume.channel(channel), data, np.asarray(wrapper.affine))
        assert np.array_equal(volume.array[channel], expected)


def test_enhanced_multiframe_geometry(rules: SeriesRulesConfig) -> None:
    folder = DWI_QA / "siemens_xa30_enhanced" / "dicom"
    volume = load_study(folder, rules=rules).require(SeriesRole.DWI).require_volume()
    assert volume.b_values == (0.0, 2500.0)
    assert volume.array.shape == (2, 39, 72, 72)
    assert volume.spacing == pytest.approx((3.0, 3.0, 3.0))
    assert volume.direction == pytest.approx((1, 0, 0, 0, 1, 0, 0, 0, 1))
    ds = pydicom.dcmread(sorted(folder.iterdir())[0], stop_before_pixels=True)
    positions = [
        [float(v) for v in f.PlanePositionSequence[0].ImagePositionPatient]
        for f in ds.PerFrameFunctionalGroupsSequence
    ]
    lowest = min(positions, key=lambda p: p[2])
    assert volume.origin == pytest.approx(tuple(lowest), abs=1e-3)


# ------------------------------------------------------------------------------ IBSI / masks
def _dice(a: npt.NDArray[np.generic], b: npt.NDArray[np.generic]) -> float:
    a, b = np.asarray(a) > 0, np.asarray(b) > 0
    return float(2.0 * (a & b).sum() / (a.sum() + b.sum()))


def _nifti_zyx(path: Path) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    image = nib.load(path)
    return np.asarray(image.dataobj, dtype=np.float64), RAS_TO_LPS @ image.affine


@pytest.mark.parametrize("case", ["STS_001", "STS_002", "STS_003"])
def test_ibsi_image_and_rtstruct_mask(case: str, rules: SeriesRulesConfig) -> None:
    study = load_study(IBSI / case / "dicom", rules=rules, roles=())
    (mask,) = study.masks
    assert mask.name == "GTV_Mass_MR_T1"
    assert mask.source is MaskSource.RTSTRUCT
    assert mask.volume.array.dtype == np.uint8
    (series,) = study.series
    image = series.require_volume()
    assert mask.volume.same_grid(image)
    data, affine = _nifti_zyx(IBSI / case / "MR_T1_image.nii.gz")
    assert np.array_equal(image.array, on_our_grid(image, data, affine))
    ref_mask, mask_affine = _nifti_zyx(IBSI / case / "MR_T1_mask.nii.gz")
    assert _dice(mask.volume.array, on_our_grid(image, ref_mask, mask_affine)) >= 0.99
    assert study.identity.patient_id.startswith("STS")
    assert "STS" not in study.key


def test_read_mask_file_nifti_nrrd_mha(tmp_path: Path, rules: SeriesRulesConfig) -> None:
    import SimpleITK as sitk

    study = load_study(IBSI / "STS_002" / "dicom", rules=rules, roles=())
    image = study.series[0].require_volume()
    rtstruct = study.masks[0].volume.array
    from_nifti = read_mask_file(IBSI / "STS_002" / "MR_T1_mask.nii.gz", image)
    assert from_nifti.same_grid(image)
    assert _dice(from_nifti.array, rtstruct) >= 0.99
    for suffix in (".nrrd", ".mha"):
        path = tmp_path / f"mask{suffix}"
        sitk.WriteImage(study.masks[0].volume.to_sitk(), str(path))
        assert np.array_equal(read_mask_file(path, image).array, rtstruct)


def test_dicom_seg_onto_referenced_series(tmp_path: Path, rules: SeriesRulesConfig) -> None:
    import highdicom as hd

    case = IBSI / "STS_002" / "dicom"
    shutil.copytree(case / "image", tmp_path / "image")
    study = load_study(tmp_path, rules=rules, roles=list(SeriesRole))
    image = study.series[0].require_volume()
    reference_mask = load_study(case, rules=rules, roles=()).masks[0].volume.array
    sources = [pydicom.dcmread(p) for p in sorted((tmp_path / "image").iterdir())]
    sources.sort(key=lambda ds: float(ds.ImagePositionPatient[2]))  # axial, normal = +z
    category = hd.sr.CodedConcept("49755003", "SCT", "Morphologically Altered Structure")
    description = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label="tumour bed",
        segmented_property_category=category,
        segmented_property_type=hd.sr.CodedConcept("108369006", "SCT", "Neoplasm"),
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
    )
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=reference_mask.astype(bool),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[description],
        series_instance_uid=hd.UID(),
        series_number=99,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="ccr-pipeline tests",
        manufacturer_model_name="test",
        software_versions="0",
        device_serial_number="0",
    )
    seg.save_as(tmp_path / "seg.dcm")
    study = load_study(tmp_path, rules=rules, roles=())
    (mask,) = study.masks
    assert mask.source is MaskSource.SEG
    assert mask.name == "tumour bed"
    assert mask.volume.same_grid(image)
    assert np.array_equal(mask.volume.array, reference_mask)
