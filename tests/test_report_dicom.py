"""DICOM SEG, TID 1500 SR and ADC Parametric Map written on real MR DICOM (IBSI STS_001).

The IBSI files carry pseudonymous IDs (``STS_001``); these tests treat them as identifiers.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from pipeline import RESEARCH_USE_STATEMENT, __version__
from pipeline.decision import Outcome
from pipeline.errors import GeometryError, InputError
from pipeline.findings import ImagingFindings
from pipeline.report.dicom import (
    DICOM_FILES,
    MEASUREMENTS,
    OUTCOME_CODES,
    measurements_from_findings,
    read_source_datasets,
    write_dicom_outputs,
)
from pipeline.volume import Volume, VolumeKind

pytestmark = pytest.mark.realdata

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ibsi_mr" / "STS_001"
PSEUDONYM = "ccr-3f9a1c2b7d40"
SOURCE_IDENTIFIERS = (b"STS_001", b"1965292013600439")  # PatientName/ID, AccessionNumber
DECISION = {
    "decision": "near_cCR",
    "rationale": "small focus of restricted diffusion in the tumour bed",
    "imaging": {"tumour_bed_status": "given"},
}
MEASURED = {"p_residual": 0.37, "restricted_max_extent_mm": 6.5, "adc_median_restricted": 0.85}


@dataclass(frozen=True)
class Case:
    files: tuple[Path, ...]
    t2w: Volume
    bed: Volume
    residual: Volume
    network: Volume
    adc: Volume
    sop_uids: tuple[str, ...]  # SOPInstanceUID per z index of t2w


@pytest.fixture(scope="module")
def case() -> Case:
    if not (DATA / "dicom" / "image").is_dir():
        pytest.skip(f"IBSI STS_001 DICOM not found at {DATA} (see ../shared/data/README.md)")
    reader = sitk.ImageSeriesReader()
    names = reader.GetGDCMSeriesFileNames(str(DATA / "dicom" / "image"))
    reader.SetFileNames(names)
    image = reader.Execute()
    t2w = Volume.from_sitk(image)
    reference = sitk.ReadImage(str(DATA / "MR_T1_mask.nii.gz"))
    on_grid = sitk.Resample(
        reference, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8
    )
    bed = (sitk.GetArrayFromImage(on_grid) > 0).astype(np.uint8)
    assert bed.sum() > 1000  # the reference mask lies on the image grid
    z, y, x = (int(np.median(a)) for a in np.nonzero(bed))
    residual = np.zeros_like(bed)
    residual[z - 1 : z + 2, y - 4 : y + 4, x - 3 : x + 5] = 1
    network = np.zeros_like(bed)
    network[z : z + 3, y - 2 : y + 6, x - 3 : x + 3] = 1  # overlaps the residual, not equal
    rng = np.random.default_rng(7)
    ramp = np.linspace(0.6, 2.4, t2w.shape[2])[None, None, :]
    adc = (ramp + rng.normal(0.0, 0.05, t2w.shape)).clip(0.0, None)
    adc[:, :5, :] = 0.0  # "not fitted" border
    return Case(
        files=tuple(Path(n) for n in names),
        t2w=t2w,
        bed=t2w.with_array(bed, kind=VolumeKind.LABEL, units=""),
        residual=t2w.with_array(residual, kind=VolumeKind.LABEL, units=""),
        network=t2w.with_array(network, kind=VolumeKind.LABEL, units=""),
        adc=t2w.with_array(adc, units="1e-3 mm2/s"),
        sop_uids=tuple(
            str(pydicom.dcmread(n, stop_before_pixels=True).SOPInstanceUID) for n in names
        ),
    )


def _write(case: Case, out_dir: Path, **overrides: Any) -> dict[str, Path]:
    source = [pydicom.dcmread(f) for f in reversed(case.files)]  # any order
    args: dict[str, Any] = {
        "source_t2w": source,
        "t2w": case.t2w,
        "tumour_bed": case.bed,
        "residual": case.residual,
        "network_tumour": case.network,
        "adc": case.adc,
        "decision": DECISION,
        "measurements": MEASURED,
        "pseudonym": PSEUDONYM,
    }
    args.update(overrides)
    return write_dicom_outputs(out_dir, **args)


@pytest.fixture(scope="module")
def written(case: Case, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _write(case, tmp_path_factory.mktemp("dicom-default"))


def _walk(items: Any) -> Iterator[pydicom.Dataset]:
    for item in items:
        yield item
        if "ContentSequence" in item:
            yield from _walk(item.ContentSequence)


def _name(item: pydicom.Dataset) -> str:
    return str(item.ConceptNameCodeSequence[0].CodeMeaning)


def _groups(sr: pydicom.Dataset) -> dict[str, pydicom.Dataset]:
    """Measurement groups by tracking identifier."""
    out = {}
    for item in _walk(sr.ContentSequence):
        if item.ValueType == "CONTAINER" and _name(item) == "Measurement Group":
            ident = [c.TextValue for c in item.ContentSequence if _name(c) == "Tracking Identifier"]
            out[ident[0]] = item
    return out


def _nums(group: pydicom.Dataset) -> dict[tuple[str, str], tuple[float, str]]:
    """(concept, derivation) -> (value, UCUM unit) of a group's NUM items."""
    out = {}
    for item in group.ContentSequence:
        if item.ValueType != "NUM":
            continue
        derivation = [
            c.ConceptCodeSequence[0].CodeMeaning
            for c in item.get("ContentSequence", [])
            if _name(c) == "Derivation"
        ]
        measured = item.MeasuredValueSequence[0]
        value = float(measured.get("FloatingPointValue", measured.NumericValue))
        unit = str(measured.MeasurementUnitsCodeSequence[0].CodeValue)
        out[(_name(item), derivation[0] if derivation else "")] = (value, unit)
    return out


# ---------------------------------------------------------------------------------- SEG
def test_seg_holds_the_same_voxels_on_the_same_slices(case: Case, written: dict[str, Path]) -> None:
    seg = hd.seg.segread(written["seg"])
    assert seg.SegmentationType == "BINARY"
    assert seg.FrameOfReferenceUID == pydicom.dcmread(case.files[0]).FrameOfReferenceUID
    labels = {int(s.SegmentNumber): str(s.SegmentLabel) for s in seg.SegmentSequence}
    assert labels == {1: "Tumour bed", 2: "Residual tumour", 3: "Residual tumour (network)"}
    for description in seg.SegmentSequence:
        algorithm = description.SegmentationAlgorithmIdentificationSequence[0]
        assert (algorithm.AlgorithmName, algorithm.AlgorithmVersion) == (
            "ccr-pipeline",
            __version__,
        )
        category = description.SegmentedPropertyCategoryCodeSequence[0]
        assert (category.CodingSchemeDesignator, category.CodeValue) == ("SCT", "49755003")
    for number in (2, 3):
        residual_type = seg.SegmentSequence[number - 1].SegmentedPropertyTypeCodeSequence[0]
        assert (residual_type.CodingSchemeDesignator, residual_type.CodeValue) == (
            "SCT",
            "108369006",
        )
    network = seg.SegmentSequence[2]
    assert network.SegmentAlgorithmType == "AUTOMATIC"
    family = network.SegmentationAlgorithmIdentificationSequence[0]
    assert family.AlgorithmFamilyCodeSequence[0].CodeMeaning == "Artificial Intelligence"

    pixels = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=list(case.sop_uids), segment_numbers=[1, 2, 3]
    )
    assert pixels.shape == (*case.t2w.shape, 3)
    for number, mask in ((1, case.bed), (2, case.residual), (3, case.network)):
        assert np.array_equal(pixels[..., number - 1] > 0, mask.array > 0)

    # Frames only on the slices with voxels, each at the T2W slice position.
    frames = set()
    z_of = {uid: z for z, uid in enumerate(case.sop_uids)}
    for frame in seg.PerFrameFunctionalGroupsSequence:
        source = frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        number = int(frame.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        z = z_of[source]
        frames.add((number, z))
        position = [float(v) for v in frame.PlanePositionSequence[0].ImagePositionPatient]
        np.testing.assert_allclose(position, case.t2w.index_to_world((0, 0, z)), atol=1e-3)
    expected = {(1, int(z)) for z in np.flatnonzero(case.bed.array.any(axis=(1, 2)))}
    expected |= {(2, int(z)) for z in np.flatnonzero(case.residual.array.any(axis=(1, 2)))}
    expected |= {(3, int(z)) for z in np.flatnonzero(case.network.array.any(axis=(1, 2)))}
    assert frames == expected


def test_empty_residual_is_omitted_from_seg_and_stated_in_sr(case: Case, tmp_path: Path) -> None:
    empty = case.residual.with_array(np.zeros(case.t2w.shape, np.uint8))
    paths = _write(
        case,
        tmp_path,
        residual=empty,
        network_tumour=empty,
        measurements={"restricted_volume_ml": 0.0},
    )
    seg = hd.seg.segread(paths["seg"])
    assert [str(s.SegmentLabel) for s in seg.SegmentSequence] == ["Tumour bed"]
    sr = pydicom.dcmread(paths["sr"])
    residual = _groups(sr)["Residual tumour"]
    assert _nums(residual)[("Volume", "")] == (0.0, "ml")
    findings = [
        c.ConceptCodeSequence[0].CodeMeaning
        for c in residual.ContentSequence
        if _name(c) == "Finding"
    ]
    assert "Absent" in findings
    assert not any(_name(c) == "Referenced Segment" for c in residual.ContentSequence)
    texts = [i.TextValue for i in _walk(sr.ContentSequence) if i.ValueType == "TEXT"]
    assert "Residual tumour: mask empty (no voxels); segment omitted from the SEG." in texts
    network_note = (
        "Residual tumour (network): mask empty (no voxels); segment omitted from the SEG."
    )
    assert network_note in texts


def test_no_mask_no_seg_but_sr(case: Case, tmp_path: Path) -> None:
    paths = _write(
        case,
        tmp_path,
        tumour_bed=None,
        residual=None,
        network_tumour=None,
        adc=None,
        measurements={},
    )
    assert set(paths) == {"sr"}
    assert sorted(p.name for p in tmp_path.iterdir()) == [DICOM_FILES["sr"]]


# ---------------------------------------------------------------------------------- SR
def test_sr_holds_the_measurements_decision_and_statement(
    case: Case, written: dict[str, Path]
) -> None:
    sr = pydicom.dcmread(written["sr"])
    assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
    assert sr.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    groups = _groups(sr)
    assert set(groups) == {"Tumour bed", "Residual tumour", "Response assessment"}

    inside = case.bed.array > 0
    bed_adc = np.asarray(case.adc.array)[inside]
    bed_adc = bed_adc[bed_adc > 0]
    bed = _nums(groups["Tumour bed"])
    volume_ml = inside.sum() * case.t2w.voxel_volume_mm3 / 1000.0
    assert bed[("Volume", "")][1] == "ml"
    assert bed[("Volume", "")][0] == pytest.approx(volume_ml, rel=1e-12)
    median = bed[("Apparent Diffusion Coefficient", "Median")]
    assert median[1] == "um2/s"
    assert median[0] == pytest.approx(np.median(bed_adc) * 1000.0, rel=1e-12)
    mean = bed[("Apparent Diffusion Coefficient", "Mean")]
    assert mean[0] == pytest.approx(np.mean(bed_adc) * 1000.0, rel=1e-12)
    assert bed[("Probability of cancer", "")] == (pytest.approx(0.37, rel=1e-12), "1")

    residual = _nums(groups["Residual tumour"])
    assert residual[("Length", "Maximum")] == (pytest.approx(6.5, rel=1e-12), "mm")
    assert residual[("Apparent Diffusion Coefficient", "Median")][0] == pytest.approx(850.0)

    seg = pydicom.dcmread(written["seg"])
    for label, number in (("Tumour bed", 1), ("Residual tumour", 2)):
        ref = [c for c in groups[label].ContentSequence if _name(c) == "Referenced Segment"]
        sop = ref[0].ReferencedSOPSequence[0]
        assert sop.ReferencedSOPInstanceUID == seg.SOPInstanceUID
        assert int(sop.ReferencedSegmentNumber) == number

    response = groups["Response assessment"].ContentSequence
    coded = [c.ConceptCodeSequence[0] for c in response if _name(c) == "Response Evaluation"]
    assert (coded[0].CodingSchemeDesignator, coded[0].CodeValue) == ("99CCR", "NEAR_CCR")
    texts = {(_name(i), i.TextValue) for i in _walk(sr.ContentSequence) if i.ValueType == "TEXT"}
    assert ("Response Evaluation", "near_cCR") in texts
    assert ("Comment", RESEARCH_USE_STATEMENT) in texts
    assert ("Comment", f"Rationale: {DECISION['rationale']}") in texts

    # highdicom parses it back as a TID 1500 report with the volumetric groups.
    report = hd.sr.srread(written["sr"])
    volumetric = report.content.get_volumetric_roi_measurement_groups()
    assert {str(g.tracking_identifier) for g in volumetric} == {"Tumour bed", "Residual tumour"}


def test_outcome_codes_cover_every_outcome() -> None:
    assert set(OUTCOME_CODES) == {o.value for o in Outcome}


def test_findings_map_to_measurement_keys() -> None:
    values = measurements_from_findings(ImagingFindings(p_residual=0.2, adc_median_bed=1.1))
    assert set(values) <= set(MEASUREMENTS)
    assert values["p_residual"] == 0.2
    assert values["restricted_volume_ml"] is None


# ---------------------------------------------------------------------------------- Parametric Map
def test_parametric_map_holds_the_adc_values(case: Case, written: dict[str, Path]) -> None:
    pmap = pydicom.dcmread(written["adc_pmap"])
    assert pmap.SOPClassUID == "1.2.840.10008.5.1.4.1.1.30"
    mapping = pmap.SharedFunctionalGroupsSequence[0].RealWorldValueMappingSequence[0]
    assert mapping.MeasurementUnitsCodeSequence[0].CodeValue == "um2/s"
    assert (float(mapping.RealWorldValueSlope), float(mapping.RealWorldValueIntercept)) == (1, 0)
    frames = pmap.pixel_array
    assert frames.dtype == np.float32
    z_axis = case.t2w.direction_matrix[:, 2]
    positions = [
        float(np.dot([float(v) for v in f.PlanePositionSequence[0].ImagePositionPatient], z_axis))
        for f in pmap.PerFrameFunctionalGroupsSequence
    ]
    volume = frames[np.argsort(positions)] / 1000.0  # um2/s -> 1e-3 mm^2/s
    assert volume.shape == case.t2w.shape
    expected = np.asarray(case.adc.array, dtype=np.float64)
    np.testing.assert_allclose(volume, expected, rtol=1e-6, atol=1e-9)  # float32 quantisation
    assert np.array_equal(volume == 0, expected == 0)
    assert RESEARCH_USE_STATEMENT in pmap.ImageComments
    assert pmap.ContentQualification == "RESEARCH"


# ---------------------------------------------------------------------------------- identifiers
def test_default_outputs_are_pseudonymised(written: dict[str, Path]) -> None:
    assert set(written) == {"seg", "sr", "adc_pmap"}
    for path in written.values():
        data = path.read_bytes()
        for identifier in SOURCE_IDENTIFIERS:
            assert identifier not in data, f"{path.name} leaks a source identifier"
        ds = pydicom.dcmread(path)
        assert ds.PatientID == PSEUDONYM
        assert ds.PatientName.family_name == PSEUDONYM
        assert ds.PatientBirthDate == ""
        assert ds.PatientIdentityRemoved == "YES"
    assert not [
        p for p in next(iter(written.values())).parent.iterdir() if p.name.startswith(".tmp-")
    ]


def test_keep_identifiers_copies_the_source_patient_module(case: Case, tmp_path: Path) -> None:
    paths = _write(case, tmp_path, keep_identifiers=True)
    for path in paths.values():
        assert b"STS_001" in path.read_bytes()
        ds = pydicom.dcmread(path)
        assert (ds.PatientID, str(ds.PatientName)) == ("STS_001", "STS_001")
        assert ds.AccessionNumber == "1965292013600439"


def test_new_uids_same_study_and_frame_of_reference(case: Case, written: dict[str, Path]) -> None:
    source = pydicom.dcmread(case.files[0], stop_before_pixels=True)
    outputs = [pydicom.dcmread(p) for p in written.values()]
    assert len({ds.SeriesInstanceUID for ds in outputs} | {source.SeriesInstanceUID}) == 4
    assert all(ds.StudyInstanceUID == source.StudyInstanceUID for ds in outputs)
    assert all(ds.SOPInstanceUID not in case.sop_uids for ds in outputs)


# ---------------------------------------------------------------------------------- validation
def test_dciodvfy_reports_no_errors(written: dict[str, Path]) -> None:
    binary = shutil.which("dciodvfy")
    if binary is None:
        pytest.skip("dciodvfy not installed (apt-get install dicom3tools)")
    for path in written.values():
        result = subprocess.run(
            [binary, str(path)], capture_output=True, text=True, timeout=120, check=False
        )
        lines = (result.stdout + result.stderr).splitlines()
        errors = [line for line in lines if line.startswith("Error")]
        assert errors == [], f"{path.name}: {errors}"


# ---------------------------------------------------------------------------------- bad input
def test_missing_source_slice_is_a_geometry_error(case: Case, tmp_path: Path) -> None:
    source = read_source_datasets(case.files)[:-1]
    with pytest.raises(GeometryError, match=r"series 5436027 \(t2w\).*58 source slices"):
        _write(case, tmp_path, source_t2w=source)
    assert list(tmp_path.iterdir()) == []


def test_shifted_grid_is_a_geometry_error(case: Case, tmp_path: Path) -> None:
    x, y, z = case.t2w.origin
    shifted = Volume(
        array=case.t2w.array,
        spacing=case.t2w.spacing,
        origin=(x, y, z + 0.5),
        direction=case.t2w.direction,
    )
    with pytest.raises(GeometryError, match=r"series 5436027 \(t2w\).*slice z=0"):
        _write(case, tmp_path, t2w=shifted)


def test_unknown_measurement_and_bad_pseudonym_are_input_errors(case: Case, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"unknown measurement keys.*valid keys"):
        _write(case, tmp_path, measurements={"adc_p90": 1.0})
    with pytest.raises(InputError, match="pseudonym"):
        _write(case, tmp_path, pseudonym="")
    assert list(tmp_path.iterdir()) == []


def test_leak_guard_refuses_a_source_identifier_in_any_text_value() -> None:
    from pydicom.dataset import Dataset

    from pipeline.errors import ProcessingError
    from pipeline.report._dicom_common import ReferenceSlices, check_no_identifiers

    refs = ReferenceSlices(datasets=(), series_label="7 (t2w)", identifiers=("STS_001", "12345"))
    clean = Dataset()
    clean.StudyDescription = "ADC 0.12345 mm2/s, key ccr-3f9a"
    check_no_identifiers(clean, refs, what="sr.dcm")  # numbers inside numbers are not IDs
    leaked = Dataset()
    leaked.ContentSequence = [Dataset()]
    leaked.ContentSequence[0].TextValue = "IBSI_1_STS_001_MR_T1"
    with pytest.raises(ProcessingError, match=r"series 7 \(t2w\): sr.dcm: a source patient"):
        check_no_identifiers(leaked, refs, what="sr.dcm")
