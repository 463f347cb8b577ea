"""``ccr inspect`` dict contract and ``ccr convert`` output on the real DICOM in ../shared/data."""

from __future__ import annotations

import gzip
import json
import shutil
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from pipeline import RESEARCH_USE_STATEMENT
from pipeline.config import load_section
from pipeline.config.series_rules import SeriesRulesConfig
from pipeline.ingest import convert_tree, inventory_to_dict, load_study, render_inventory, scan
from pipeline.study import SeriesRole
from pipeline.volume import Volume

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DWI_QA = DATA / "dwi_qa"
IBSI = DATA / "ibsi_mr"
RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])
HOSTILE_ID = "../../etc/x"

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(
        not DATA.is_dir(), reason=f"real test data not found at {DATA} (../shared/data)"
    ),
]

SERIES_FIELDS = {
    "series_number", "series_description", "role", "b_values", "size", "spacing", "n_files",
    "warnings", "orientation", "vendor", "role_reason", "b_value_source", "key", "n_volumes",
}  # fmt: skip


@pytest.fixture(scope="module")
def rules() -> SeriesRulesConfig:
    loaded = load_section("series_rules")
    assert isinstance(loaded, SeriesRulesConfig)
    return loaded


def identifiers(root: Path) -> set[str]:
    """PatientID / PatientName / BirthDate values of every DICOM file under ``root``."""
    found: set[str] = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in root.rglob("*"):
            if not path.is_file() or path.name == "DICOMDIR":
                continue
            try:
                ds = pydicom.dcmread(path, stop_before_pixels=True)
            except Exception:
                continue
            for keyword in ("PatientID", "PatientName", "PatientBirthDate"):
                value = str(ds.get(keyword, "")).strip()
                if len(value) >= 3:
                    found.add(value)
    return found


def test_inspect_dict_contract_on_all_real_data(rules: SeriesRulesConfig) -> None:
    inventory = scan(DATA, rules=rules)
    data = inventory_to_dict(inventory)
    text = json.dumps(data)  # JSON-serialisable as it is
    # what comes from the files (fixed words such as "dicom" and "Research" are IDs in this data)
    free_text = json.dumps([data["studies"], data["errors"]])
    assert data["research_use"] == RESEARCH_USE_STATEMENT
    assert data["errors"] == [] and data["skipped_files"] > 0
    assert len(data["studies"]) == 9
    for study in data["studies"]:
        assert study["key"].startswith("st-")
        for series in study["series"]:
            assert set(series) >= SERIES_FIELDS
            assert series["orientation"] in {"axial", "coronal", "sagittal", "oblique"}
            assert len(series["size"]) == 3 and len(series["spacing"]) == 3
            assert series["b_values"] == [] or len(series["b_values"]) == series["n_volumes"]
    for identifier in identifiers(DATA):
        assert identifier not in free_text, "a patient identifier reached the inventory"
    assert str(DATA) not in text  # no paths either
    numbers = {s["series_number"]: s for st in data["studies"] for s in st["series"]}
    assert numbers[601]["b_values"] == [0.0, 40.0, 273.0, 800.0]
    assert numbers[601]["vendor"] == "Philips Medical Systems"
    assert numbers[13001]["orientation"] == "oblique"
    assert numbers[5436027]["series_description"] == "IBSI_1_[redacted]_MR_T1_image"


def test_header_size_and_spacing_equal_the_loaded_volume(rules: SeriesRulesConfig) -> None:
    folder = DWI_QA / "philips_multib" / "dicom"
    (series,) = inventory_to_dict(scan(folder, rules=rules))["studies"][0]["series"]
    volume = load_study(folder, rules=rules).require(SeriesRole.DWI).require_volume()
    assert series["size"] == list(volume.size_xyz)
    assert series["spacing"] == pytest.approx(list(volume.spacing), abs=1e-4)
    assert series["n_files"] == 12 and series["n_volumes"] == 4


def test_render_inventory_is_a_table(rules: SeriesRulesConfig) -> None:
    table = render_inventory(scan(IBSI / "STS_001", rules=rules))
    assert table.row_count == 1
    assert len(table.columns) == 11


# ------------------------------------------------------------------------------ convert
def nifti_equals(path: Path, volume: Volume) -> None:
    """Voxels and LPS geometry of a written NIfTI equal the loaded volume."""
    image = sitk.ReadImage(str(path))
    array = sitk.GetArrayFromImage(image)
    assert np.array_equal(array, volume.array)
    affine = nib.load(path).affine  # RAS on disk
    assert np.allclose(RAS_TO_LPS @ affine, volume.affine, atol=1e-3)


def test_convert_philips_multib(tmp_path: Path, rules: SeriesRulesConfig) -> None:
    folder = DWI_QA / "philips_multib" / "dicom"
    report = convert_tree(folder, tmp_path / "out", rules=rules)
    assert report.ok
    study = load_study(folder, rules=rules)
    base = tmp_path / "out" / study.key
    names = sorted(p.relative_to(tmp_path / "out").as_posix() for p in report.written)
    assert names == [f"{study.key}/601_dwi.{s}" for s in ("bval", "json", "nii.gz")]
    reference = sorted(
        float(v) for v in (DWI_QA / "philips_multib" / "reference.bval").read_text().split()
    )
    assert [float(v) for v in (base / "601_dwi.bval").read_text().split()] == reference
    volume = study.require(SeriesRole.DWI).require_volume()
    nifti_equals(base / "601_dwi.nii.gz", volume)
    sidecar = json.loads((base / "601_dwi.json").read_text())
    assert sidecar["role"] == "dwi" and sidecar["b_values"] == reference
    assert sidecar["research_use"] == RESEARCH_USE_STATEMENT
    assert sidecar["vendor"] == "Philips Medical Systems" and sidecar["role_reason"]
    assert sidecar["geometry"]["size_xyz"] == list(volume.size_xyz)
    assert not list(base.glob(".tmp-*"))  # atomic writes leave nothing behind


def test_convert_ibsi_with_rtstruct_mask(tmp_path: Path, rules: SeriesRulesConfig) -> None:
    folder = IBSI / "STS_001" / "dicom"
    report = convert_tree(folder, tmp_path, rules=rules)
    assert report.ok
    study = load_study(folder, rules=rules, roles=set(SeriesRole))
    (series,) = study.series
    base = tmp_path / study.key
    assert (base / f"{series.series_number}_other.nii.gz").is_file()
    mask_file = base / f"{series.series_number}_mask_GTV_Mass_MR_T1.nii.gz"
    assert mask_file.is_file()
    (mask,) = study.masks
    nifti_equals(mask_file, mask.volume)
    nifti_equals(base / f"{series.series_number}_other.nii.gz", series.require_volume())
    text = " ".join(p.read_text() for p in base.glob("*.json"))
    assert "STS_001" not in text and "STS_001" not in " ".join(str(p) for p in report.written)


def test_gzipped_copy_loads_the_same(tmp_path: Path, rules: SeriesRulesConfig) -> None:
    source = DWI_QA / "philips_multib" / "dicom"
    for path in source.iterdir():
        (tmp_path / f"{path.name}.dcm.gz").write_bytes(gzip.compress(path.read_bytes()))
    plain = load_study(source, rules=rules).require(SeriesRole.DWI).require_volume()
    zipped = load_study(tmp_path, rules=rules).require(SeriesRole.DWI).require_volume()
    assert zipped.b_values == plain.b_values
    assert np.array_equal(zipped.array, plain.array)
    assert zipped.same_grid(plain)


def test_hostile_patient_id_never_reaches_a_path(tmp_path: Path, rules: SeriesRulesConfig) -> None:
    tree = tmp_path / "in"
    tree.mkdir()
    for path in (DWI_QA / "philips_multib" / "dicom").iterdir():
        ds = pydicom.dcmread(path)
        ds.PatientID = HOSTILE_ID
        ds.PatientName = "Evil^Mallory"
        ds.SeriesDescription = f"DWI {HOSTILE_ID}"
        ds.save_as(tree / path.name)
    out = tmp_path / "out"
    report = convert_tree(tree, out, rules=rules)
    assert report.ok and report.written
    for path in report.written:
        assert path.resolve().is_relative_to(out.resolve())
        assert "etc" not in path.relative_to(out).as_posix() and ".." not in path.name
    assert not (tmp_path / "etc").exists()
    everything = " ".join(p.read_text() for p in out.rglob("*.json"))
    everything += json.dumps(inventory_to_dict(scan(tree, rules=rules)))
    assert HOSTILE_ID not in everything and "Mallory" not in everything


def test_bad_series_fails_alone(tmp_path: Path, rules: SeriesRulesConfig) -> None:
    good = tmp_path / "in" / "good"
    bad = tmp_path / "in" / "bad"
    shutil.copytree(DWI_QA / "philips_multib" / "dicom", good)
    shutil.copytree(IBSI / "STS_002" / "dicom" / "image", bad)
    files = sorted(bad.iterdir(), key=lambda p: float(pydicom.dcmread(p).ImagePositionPatient[2]))
    files[len(files) // 2].unlink()  # a missing slice in the middle
    report = convert_tree(tmp_path / "in", tmp_path / "out", rules=rules)
    (failure,) = report.failures
    assert "missing slice" in failure.message and "(0020,0032)" in failure.message
    assert failure.what.startswith("series 6564013")
    assert any(p.name == "601_dwi.nii.gz" for p in report.written)
    assert not any("6564013_other" in p.name for p in report.written)
