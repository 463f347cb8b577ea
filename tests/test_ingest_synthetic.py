"""Ingestion on small DICOM series written here: sorting, geometry, b-values, bad input."""

from __future__ import annotations

import gzip
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from pipeline.config import load_section
from pipeline.config.series_rules import SeriesRulesConfig, TraceMean
from pipeline.errors import GeometryError, InputError
from pipeline.ingest import load_series_volume, load_study, read_mask_file, scan
from pipeline.study import SeriesRole

ROWS, COLS = 6, 8
PATIENT_NAME = "Doe^Jane"
PATIENT_ID = "SECRET-4711"
AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)


@pytest.fixture(scope="module")
def rules() -> SeriesRulesConfig:
    loaded = load_section("series_rules")
    assert isinstance(loaded, SeriesRulesConfig)
    return loaded


def make_slice(
    *,
    study_uid: str,
    series_uid: str,
    number: int,
    description: str,
    position: Sequence[float] | None,
    orientation: Sequence[float] = AXIAL,
    value: float = 0.0,
    instance: int = 1,
    spacing: tuple[float, float] = (0.7, 0.5),
    rescale: tuple[float, float] = (1.0, 0.0),
    extra: dict[tuple[int, int], tuple[str, object]] | None = None,
    pixels: bool = True,
) -> Dataset:
    """One classic MR image; its pixels are ``value`` (stored so that rescale gives it back)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = study_uid[:60] + ".1"
    ds.PatientName = PATIENT_NAME
    ds.PatientID = PATIENT_ID
    ds.PatientBirthDate = "19500101"
    ds.Modality = "MR"
    ds.Manufacturer = "TestVendor"
    ds.SeriesNumber = number
    ds.SeriesDescription = description
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M"]
    ds.InstanceNumber = instance
    ds.Rows, ds.Columns = ROWS, COLS
    ds.PixelSpacing = list(spacing)
    ds.SliceThickness = 3.0
    ds.ImageOrientationPatient = list(orientation)
    if position is not None:
        ds.ImagePositionPatient = list(position)
    ds.RescaleSlope, ds.RescaleIntercept = rescale
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    for tag, (vr, val) in (extra or {}).items():
        ds.add_new(tag, vr, val)
    if pixels:
        stored = (value - rescale[1]) / rescale[0]
        ds.PixelData = np.full((ROWS, COLS), stored, dtype=np.uint16).tobytes()
    return ds


def write_series(
    folder: Path,
    *,
    study_uid: str,
    number: int,
    description: str = "T2 TSE AX",
    z: Sequence[float] = (0.0, 3.0, 6.0, 9.0, 12.0),
    orientation: Sequence[float] = AXIAL,
    series_uid: str | None = None,
    **kwargs: object,
) -> list[Path]:
    """A series whose slice k (along the normal) has pixel value 10 * k + 10.

    InstanceNumbers run backwards and files are written in shuffled order, so only sorting by
    position gives the right order.
    """
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or generate_uid()
    normal = np.cross(orientation[:3], orientation[3:])
    paths = []
    order = np.random.default_rng(number).permutation(len(z))
    for k in order:
        position = np.asarray([-10.0, -20.0, 0.0]) + normal * z[k]
        ds = make_slice(
            study_uid=study_uid,
            series_uid=series_uid,
            number=number,
            description=description,
            position=position.tolist(),
            orientation=orientation,
            value=10.0 * k + 10.0,
            instance=len(z) - int(k),
            **kwargs,  # type: ignore[arg-type]
        )
        path = folder / f"s{number}_{k:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


# ------------------------------------------------------------------------------ good input
def test_shipped_rules_load_and_names_are_unique(rules: SeriesRulesConfig) -> None:
    names = [rule.name for rule in rules.rules]
    assert len(names) == len(set(names))
    assert rules.rules[-1].role is SeriesRole.OTHER


def test_slices_sorted_by_position_not_instance_number(
    tmp_path: Path, rules: SeriesRulesConfig
) -> None:
    write_series(tmp_path, study_uid=generate_uid(), number=3, rescale=(2.0, -10.0))
    study = load_study(tmp_path, rules=rules)
    t2 = study.require(SeriesRole.T2W)
    volume = t2.require_volume()
    assert volume.array.dtype == np.float32
    assert volume.shape == (5, ROWS, COLS)
    assert volume.array[:, 0, 0].tolist() == [10.0, 20.0, 30.0, 40.0, 50.0]
    assert volume.spacing == pytest.approx((0.5, 0.7, 3.0))
    assert volume.origin == pytest.approx((-10.0, -20.0, 0.0))
    assert volume.direction == pytest.approx((1, 0, 0, 0, 1, 0, 0, 0, 1))
    assert t2.role_reason == "rule 'T2-weighted by description'"
    assert t2.warnings == ()


def test_oblique_sagittal_geometry(tmp_path: Path, rules: SeriesRulesConfig) -> None:
    write_series(tmp_path, study_uid=generate_uid(), number=4, orientation=SAGITTAL)
    volume = load_study(tmp_path, rules=rules).require(SeriesRole.T2W).require_volume()
    # columns of the direction matrix: row cosine, column cosine, their cross product
    assert np.allclose(volume.direction_matrix, [[0, 0, -1], [1, 0, 0], [0, -1, 0]])
    assert volume.index_to_world([0, 0, 4]) == pytest.approx([-10 - 12.0, -20.0, 0.0])
    assert volume.array[:, 0, 0].tolist() == [10.0, 20.0, 30.0, 40.0, 50.0]


def test_any_layout_gzip_no_suffix_and_non_dicom_counted(
    tmp_path: Path, rules: SeriesRulesConfig
) -> None:
    paths = write_series(tmp_path / "a" / "b", study_uid=generate_uid(), number=5)
    paths[0].rename(paths[0].with_suffix(""))  # no suffix
    raw = paths[1].read_bytes()
    (tmp_path / "a" / "x.dcm.gz").write_bytes(gzip.compress(raw))
    paths[1].unlink()
    (tmp_path / "notes.txt").write_text("not dicom")
    (tmp_path / "a" / "image.nii").write_bytes(b"\x00" * 400)
    inventory = scan(tmp_path, rules=rules)
    assert inventory.skipped_files == 2
    assert inventory.errors == ()
    (series,) = inventory.studies[0].series
    assert len(series.files) == 5
    volume = load_series_volume(series, rules=rules)
    assert volume.array[:, 0, 0].tolist() == [10.0, 20.0, 30.0, 40.0, 50.0]


def test_several_studies_need_a_study_uid(tmp_path: Path, rules: SeriesRulesConfig) -> None:
    first, second = generate_uid(), generate_uid()
    write_series(tmp_path / "one", study_uid=first, number=1)
    write_series(tmp_path / "two", study_uid=second, number=1)
    with pytest.raises(InputError, match="holds 2 studies"):
        load_study(tmp_path, rules=rules)
    study = load_study(tmp_path, rules=rules, study_uid=second)
    assert study.study_uid == second
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("nothing here")
    with pytest.raises(InputError, match=r"no DICOM image found \(1 file\(s\) skipped"):
        load_study(tmp_path / "empty", rules=rules)


def test_t2w_preference_axial_fine_first(tmp_path: Path, rules: SeriesRulesConfig) -> None:
    study_uid = generate_uid()
    write_series(tmp_path, study_uid=study_uid, number=2, description="t2_tse_sag",
                 orientation=SAGITTAL, spacing=(0.3, 0.3))  # fmt: skip
    write_series(tmp_path, study_uid=study_uid, number=3, description="t2_tse_ax coarse",
                 spacing=(1.0, 1.0))  # fmt: skip
    write_series(tmp_path, study_uid=study_uid, number=4, description="t2_tse_ax hr",
                 spacing=(0.5, 0.5))  # fmt: skip
    study = scan(tmp_path, rules=rules).studies[0]
    assert [s.series_number for s in study.by_role(SeriesRole.T2W)] == [4, 3, 2]
    assert study.first(SeriesRole.T2W).series_number == 4  # type: ignore[union-attr]


def test_identifiers_stay_in_identity(
    tmp_path: Path, rules: SeriesRulesConfig, caplog: pytest.LogCaptureFixture
) -> None:
    study_uid = generate_uid()
    write_series(tmp_path, study_uid=study_uid, number=7, z=(0.0, 3.0, 9.0))  # a gap
    with caplog.at_level(logging.DEBUG):
        study = load_study(tmp_path, rules=rules)
    assert study.identity.patient_id == PATIENT_ID
    assert PATIENT_ID not in repr(study.identity)
    text = caplog.text + " ".join(study.warnings) + " ".join(study.series[0].warnings)
    assert "missing slice" in text
    for secret in (PATIENT_ID, "Doe", "19500101", study_uid):
        assert secret not in text
        assert secret not in study.key and secret not in study.series[0].key


# ------------------------------------------------------------------------------ b-values
def _dwi(tmp_path: Path, per_volume: Sequence[dict[tuple[int, int], tuple[str, object]] | None],
         values: Sequence[float], vendor: str = "TestVendor") -> list[Path]:  # fmt: skip
    study_uid, series_uid = generate_uid(), generate_uid()
    paths = []
    for v, (extra, value) in enumerate(zip(per_volume, values, strict=True)):
        for k, z in enumerate((0.0, 4.0, 8.0)):
            ds = make_slice(study_uid=study_uid, series_uid=series_uid, number=9,
                            description="ep2d_diff", position=(0.0, 0.0, z), value=value,
                            instance=v * 3 + k + 1, extra=extra)  # fmt: skip
            ds.Manufacturer = vendor
            path = tmp_path / f"v{v}_{k}.dcm"
            ds.save_as(path, enforce_file_format=True)
            paths.append(path)
    return paths


def test_vendor_b_values_and_sources(tmp_path: Path, rules: SeriesRulesConfig) -> None:
    ge = {(0x0043, 0x0010): ("LO", "GEMS_PARM_01"), (0x0043, 0x1039): ("IS", [1e9 + 800, 8, 0, 0])}
    philips_dummy = {
        (0x2001, 0x0010): ("LO", "Philips Imaging DD 001"),
        (0x2001, 0x1003): ("FL", 0.002),
    }
    std = {(0x0018, 0x9087): ("FD", 50.0)}
    _dwi(tmp_path, [None, ge, philips_dummy, std], [100.0, 20.0, 100.0, 60.0])
    series = scan(tmp_path, rules=rules).studies[0].series[0]
    assert sorted(series.b_values) == [0.0, 0.0, 50.0, 800.0]
    assert "(0043,1039)" in series.b_value_source
    assert "(2001,1003)" in series.b_value_source
    assert "b=0 assumed" in series.b_value_source
    assert any("without a b-value" in w for w in series.warnings)
    volume = load_series_volume(series, rules=rules)
    assert volume.b_values == (0.0, 50.0, 800.0)
    assert volume.array.shape == (3, 3, ROWS, COLS)
    assert volume.array[:, 0, 0, 0].tolist() == [100.0, 60.0, 20.0]  # two b=0 averaged


def test_directional_volumes_become_a_trace(tmp_path: Path, rules: SeriesRulesConfig) -> None:
    def direction(g: tuple[float, float, float]) -> dict[tuple[int, int], tuple[str, object]]:
        return {(0x0018, 0x9087): ("FD", 1000.0), (0x0018, 0x9089): ("FD", list(g))}

    b0 = {(0x0018, 0x9087): ("FD", 0.0)}
    dirs = [direction((1, 0, 0)), direction((0, 1, 0)), direction((0, 0, 1))]
    _dwi(tmp_path, [b0, *dirs], [400.0, 2.0, 4.0, 8.0])
    series = scan(tmp_path, rules=rules).studies[0].series[0]
    assert series.role is SeriesRole.DWI
    assert series.b_values == (0.0, 1000.0, 1000.0, 1000.0)
    volume = load_series_volume(series, rules=rules)
    assert volume.b_values == (0.0, 1000.0)
    assert volume.array[1, 0, 0, 0] == pytest.approx(4.0)  # geometric mean of 2, 4, 8
    arithmetic = rules.model_copy(update={"trace_mean": TraceMean.ARITHMETIC})
    volume = load_series_volume(series, rules=arithmetic)
    assert volume.array[1, 0, 0, 0] == pytest.approx(14.0 / 3.0)


# ------------------------------------------------------------------------------ bad input
@pytest.fixture()
def bad_tree(tmp_path: Path) -> tuple[Path, str]:
    """One study: a good T2 series plus one broken series per failure mode."""
    study = generate_uid()
    write_series(tmp_path / "good", study_uid=study, number=1)
    trunc = write_series(tmp_path / "trunc", study_uid=study, number=2, z=(0.0, 3.0, 6.0))
    last = sorted(trunc)[-1]  # slice k=2 (the last along the normal)
    last.write_bytes(last.read_bytes()[:-40])
    header_cut = write_series(tmp_path / "hdr", study_uid=study, number=3, z=(0.0,))[0]
    header_cut.write_bytes(header_cut.read_bytes()[:300])
    (tmp_path / "empty.dcm").write_bytes(b"")
    (tmp_path / "junk.dcm").write_bytes(np.random.default_rng(0).bytes(3000))
    nopix = write_series(tmp_path / "nopix", study_uid=study, number=4, z=(0.0, 3.0, 6.0))
    ds = pydicom.dcmread(sorted(nopix)[-1])
    del ds.PixelData
    ds.save_as(sorted(nopix)[-1], enforce_file_format=True)
    noipp = write_series(tmp_path / "noipp", study_uid=study, number=5, z=(0.0, 3.0, 6.0))
    ds = pydicom.dcmread(sorted(noipp)[-1])
    del ds.ImagePositionPatient
    ds.save_as(sorted(noipp)[-1], enforce_file_format=True)
    dup = write_series(tmp_path / "dup", study_uid=study, number=6, z=(0.0, 3.0, 6.0))
    ds = pydicom.dcmread(dup[0])
    ds.SOPInstanceUID = generate_uid()
    ds.save_as(tmp_path / "dup" / "copy.dcm", enforce_file_format=True)
    write_series(tmp_path / "gap", study_uid=study, number=7, z=(0.0, 3.0, 9.0, 12.0))
    mixed = generate_uid()
    write_series(tmp_path / "mix", study_uid=study, number=8, series_uid=mixed, z=(0.0, 3.0))
    write_series(tmp_path / "mix2", study_uid=study, number=8, series_uid=mixed, z=(0.0, 3.0, 6.0),
                 orientation=SAGITTAL, description="T2 TSE AX")  # fmt: skip
    return tmp_path, study


def _by_number(study_series: Sequence[object], number: int) -> list:  # type: ignore[type-arg]
    return [s for s in study_series if getattr(s, "series_number", None) == number]


def test_bad_files_are_reported_and_good_series_load(
    bad_tree: tuple[Path, str], rules: SeriesRulesConfig
) -> None:
    root, _ = bad_tree
    inventory = scan(root, rules=rules)
    errors = "\n".join(inventory.errors)
    assert "empty.dcm: not readable as DICOM (empty file (0 bytes))" in errors
    assert "junk.dcm: not readable as DICOM" in errors
    assert "hdr" in errors
    study = load_study(root, rules=rules, roles=(SeriesRole.T2W,))
    good = _by_number(study.series, 1)[0]
    assert good.require_volume().array[:, 0, 0].tolist() == [10.0, 20.0, 30.0, 40.0, 50.0]

    trunc = _by_number(study.series, 2)[0]
    assert trunc.require_volume().shape == (2, ROWS, COLS)
    assert any("(7FE0,0010)" in w and "s2_002.dcm" in w for w in trunc.warnings)

    nopix = _by_number(study.series, 4)[0]
    assert nopix.require_volume().shape == (2, ROWS, COLS)
    assert any("no pixel data" in w and "s4_002.dcm" in w for w in nopix.warnings)

    noipp = _by_number(study.series, 5)[0]
    assert noipp.require_volume().shape == (2, ROWS, COLS)
    assert any("s5_002.dcm: no ImagePositionPatient (0020,0032)" in w for w in noipp.warnings)

    dup = _by_number(study.series, 6)[0]
    assert dup.require_volume().shape == (3, ROWS, COLS)
    assert any("duplicate slice" in w for w in dup.warnings)

    gap = _by_number(study.series, 7)[0]
    assert gap.volume is None
    assert any("1 missing slice(s)" in w and "(0020,0032)" in w for w in gap.warnings)
    assert any("series 7 (t2w)" in w for w in study.warnings)

    parts = _by_number(study.series, 8)
    assert sorted(p.require_volume().shape[0] for p in parts) == [2, 3]
    assert all("2 orientations" in w for p in parts for w in p.warnings[:1])


def test_missing_slice_raises_geometry_error(
    bad_tree: tuple[Path, str], rules: SeriesRulesConfig
) -> None:
    root, _ = bad_tree
    series = _by_number(scan(root / "gap", rules=rules).studies[0].series, 7)[0]
    with pytest.raises(GeometryError, match=r"1 missing slice\(s\): gap of 6.000 mm .* 3.000 mm"):
        load_series_volume(series, rules=rules)


def test_unknown_path_and_mask_file_errors(tmp_path: Path, rules: SeriesRulesConfig) -> None:
    with pytest.raises(InputError, match="not found"):
        scan(tmp_path / "nope", rules=rules)
    write_series(tmp_path, study_uid=generate_uid(), number=1)
    volume = load_study(tmp_path, rules=rules).require(SeriesRole.T2W).require_volume()
    (tmp_path / "mask.txt").write_text("x")
    with pytest.raises(InputError, match="unsupported mask file type"):
        read_mask_file(tmp_path / "mask.txt", volume)
    (tmp_path / "bad.nii.gz").write_bytes(b"junk")
    with pytest.raises(InputError, match="cannot read the mask"):
        read_mask_file(tmp_path / "bad.nii.gz", volume)


def test_tilted_stack_is_refused(tmp_path: Path, rules: SeriesRulesConfig) -> None:
    study_uid, series_uid = generate_uid(), generate_uid()
    for k in range(4):  # each slice shifted 0.1 mm in x per 3 mm in z: 1.9 degrees
        make_slice(study_uid=study_uid, series_uid=series_uid, number=2, description="t2 ax",
                   position=(0.1 * k, 0.0, 3.0 * k), value=10.0,
                   ).save_as(tmp_path / f"{k}.dcm", enforce_file_format=True)  # fmt: skip
    series = scan(tmp_path, rules=rules).studies[0].series[0]
    with pytest.raises(GeometryError, match=r"1.91 degrees off the slice normal"):
        load_series_volume(series, rules=rules)


def test_adc_images_inside_a_dwi_series_are_split_off(
    tmp_path: Path, rules: SeriesRulesConfig
) -> None:
    study_uid, series_uid = generate_uid(), generate_uid()
    for v, (b, image_type) in enumerate([(0.0, "M"), (800.0, "M"), (None, "ADC")]):
        for k in range(3):
            extra = {} if b is None else {(0x0018, 0x9087): ("FD", b)}
            ds = make_slice(study_uid=study_uid, series_uid=series_uid, number=5,
                            description="", position=(0.0, 0.0, 4.0 * k), value=100.0 - v,
                            extra=extra)  # fmt: skip
            ds.ImageType = ["DERIVED", "PRIMARY", image_type]
            ds.save_as(tmp_path / f"{v}_{k}.dcm", enforce_file_format=True)
    study = load_study(tmp_path, rules=rules)
    assert sorted(s.role.value for s in study.series) == ["adc", "dwi"]
    dwi = study.require(SeriesRole.DWI)
    assert dwi.require_volume().b_values == (0.0, 800.0)
    assert dwi.role_reason == "rule 'diffusion with several b-values'"
    adc = study.require(SeriesRole.ADC)
    assert adc.require_volume().shape == (3, ROWS, COLS)
    assert adc.key != dwi.key
    assert any("2 image kinds" in w for w in adc.warnings)
