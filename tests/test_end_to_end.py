"""End to end: ``ccr run`` on phantom patients must give the decision their truth states."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from typer.testing import CliRunner

from pipeline.cli import EXIT_BAD_INPUT, app
from pipeline.phantom import CaseType, PhantomOptions, generate_cohort
from pipeline.resources import schemas_dir

PHI_FIELDS = ("PatientName", "PatientID", "PatientBirthDate")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """One small phantom patient of every case type (seed not used by data_samples)."""
    out = tmp_path_factory.mktemp("cohort")
    truths = generate_cohort(out, cases=len(CaseType), seed=101, options=PhantomOptions(small=True))
    return [t.parent for t in truths]


def _run(case: Path, out: Path, *extra: str) -> tuple[int, dict]:
    args = [
        "run",
        str(case / "restaging"),
        "--clinical",
        str(case / "clinical.yaml"),
        "--baseline",
        str(case / "baseline"),
        "--out",
        str(out),
        "--device",
        "cpu",
        *extra,
    ]
    result = CliRunner().invoke(app, args)
    decision_file = out / "decision.json"
    assert decision_file.exists(), result.output
    return result.exit_code, json.loads(decision_file.read_text())


@pytest.mark.slow
def test_every_case_type_gets_its_true_decision(cohort: list[Path], tmp_path: Path) -> None:
    schema = json.loads((schemas_dir() / "decision.schema.json").read_text())
    mismatches = []
    for case in cohort:
        truth = json.loads((case / "truth.json").read_text())
        code, decision = _run(case, tmp_path / case.name)
        assert code == 0
        jsonschema.validate(decision, schema)
        assert decision["research_use"].startswith("Research use only")
        if decision["decision"] != truth["expected_decision"]:
            mismatches.append(
                (truth["case_type"], truth["expected_decision"], decision["decision"])
            )
        if truth["expected_decision"] == "cCR" or not truth["residual_tumour"]:
            continue
        assert decision["p_residual"] is None or decision["p_residual"] >= 0.1, truth["case_type"]
    assert not mismatches, mismatches


@pytest.mark.slow
def test_no_patient_identifier_in_any_output(
    cohort: list[Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    import pydicom

    caplog.set_level(logging.DEBUG)
    case = cohort[0]
    first = next(p for p in (case / "restaging").rglob("*") if p.is_file())
    header = pydicom.dcmread(first, stop_before_pixels=True)
    secrets = [str(header.get(field, "")) for field in PHI_FIELDS]
    secrets += [part for part in str(header.PatientName).split("^") if len(part) > 2]
    secrets = [s for s in secrets if s]
    out = tmp_path / "out"
    _run(case, out, "-vv")
    logged = [record.getMessage() for record in caplog.records]
    assert logged, "the run logged nothing at DEBUG level"
    assert not [line for line in logged if any(s in line for s in secrets)]
    for path in out.rglob("*"):
        assert not any(s in path.name for s in secrets), path.name
        if path.is_file():
            text = path.read_bytes().decode("latin-1")
            assert not any(s in text for s in secrets), (
                path.name,
                [s for s in secrets if s in text],
            )


def test_missing_study_folder_is_bad_input(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", str(tmp_path / "nope"), "--out", str(tmp_path)])
    assert result.exit_code == EXIT_BAD_INPUT
    assert "does not exist" in result.output


def test_folder_without_dicom_gives_indeterminate_and_exit_1(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not dicom")
    result = CliRunner().invoke(app, ["run", str(empty), "--out", str(tmp_path / "o")])
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    decision = json.loads((tmp_path / "o" / "decision.json").read_text())
    assert decision["decision"] == "indeterminate"
    assert decision["p_residual"] is None


def test_help_and_version() -> None:
    runner = CliRunner()
    assert "Research use only" in runner.invoke(app, ["--help"]).output
    assert runner.invoke(app, ["--version"]).output.startswith("ccr-pipeline ")
    for command in ("run", "demo", "phantom", "inspect", "convert", "train"):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output


@pytest.mark.slow
def test_outputs_carry_the_research_statement_and_no_temporary_files(
    cohort: list[Path], tmp_path: Path
) -> None:
    import nibabel as nib
    import pydicom

    out = tmp_path / "out"
    code, decision = _run(cohort[1], out)
    assert code == 0
    assert decision["research_use"].startswith("Research use only")
    names = {p.name for p in out.iterdir()}
    assert not [n for n in names if n.startswith(".tmp-")]
    assert {
        "decision.json",
        "provenance.json",
        "report.html",
        "adc.nii.gz",
        "highb.nii.gz",
        "tumour_bed.nii.gz",
        "residual_probability.nii.gz",
        "network_probability.nii.gz",
        "network_tumour.nii.gz",
        "seg.dcm",
        "sr.dcm",
        "adc_pmap.dcm",
    } <= names
    for nifti in out.glob("*.nii.gz"):
        assert b"Research use only" in bytes(nib.load(nifti).header["descrip"])
    assert "Research use only" in (out / "report.html").read_text()
    assert json.loads((out / "provenance.json").read_text())["research_use"].startswith("Research")
    for dicom in ("seg.dcm", "sr.dcm", "adc_pmap.dcm"):
        assert b"Research use only" in (out / dicom).read_bytes()
        pydicom.dcmread(out / dicom)


@pytest.mark.slow
def test_keep_identifiers_and_dwi_grid_on_request(cohort: list[Path], tmp_path: Path) -> None:
    import pydicom
    import SimpleITK as sitk

    case = cohort[2]
    first = next(p for p in (case / "restaging").rglob("*") if p.is_file())
    source = pydicom.dcmread(first, stop_before_pixels=True)
    out = tmp_path / "kept"
    code, _ = _run(case, out, "--keep-identifiers", "--dwi-grid")
    assert code == 0
    seg = pydicom.dcmread(out / "seg.dcm", stop_before_pixels=True)
    assert str(seg.PatientID) == str(source.PatientID)
    native = sitk.ReadImage(str(out / "adc_dwi_grid.nii.gz"))
    truth = json.loads((case / "truth.json").read_text())
    assert list(native.GetSize()) == truth["geometry"]["restaging_dwi"]["size"]
    default = tmp_path / "default"
    _run(case, default)
    assert not (default / "adc_dwi_grid.nii.gz").exists()
    assert str(pydicom.dcmread(default / "seg.dcm").PatientID) != str(source.PatientID)


@pytest.mark.slow
def test_network_maps_find_the_phantom_residual_tumour(cohort: list[Path], tmp_path: Path) -> None:
    """The network's probability map and segmentation are written on the T2W grid; the
    segmentation is the map above the card's threshold and overlaps the truth tumour; the
    DICOM SEG carries it as a segment."""
    import pydicom
    import SimpleITK as sitk

    from pipeline.config import load_config
    from pipeline.scoring import load_network
    from pipeline.scoring._learned import model_path

    case = cohort[2]
    truth = json.loads((case / "truth.json").read_text())
    assert truth["case_type"] == "residual_tumour"
    out = tmp_path / "out"
    code, _ = _run(case, out)
    assert code == 0
    probability = sitk.ReadImage(str(out / "network_probability.nii.gz"))
    tumour = sitk.ReadImage(str(out / "network_tumour.nii.gz"))
    t2w = sitk.ReadImage(str(out / "t2w.nii.gz"))
    for image in (probability, tumour):
        assert image.GetSize() == t2w.GetSize()
        assert np.allclose(image.GetOrigin(), t2w.GetOrigin())
    p = sitk.GetArrayFromImage(probability)
    seg = sitk.GetArrayFromImage(tumour) > 0
    assert p.min() >= 0.0 and p.max() <= 1.0
    net = load_network(model_path(load_config().scoring.learned.network_model))
    assert np.array_equal(seg, p > net.segmentation_threshold)
    true_tumour = sitk.GetArrayFromImage(sitk.ReadImage(str(case / truth["masks"]["tumour"]))) > 0
    dice = 2 * (seg & true_tumour).sum() / (seg.sum() + true_tumour.sum())
    assert dice > 0.5, dice
    assert "Network: residual-tumour probability" in (out / "report.html").read_text()
    seg = pydicom.dcmread(out / "seg.dcm", stop_before_pixels=True)
    assert "Residual tumour (network)" in {str(s.SegmentLabel) for s in seg.SegmentSequence}
