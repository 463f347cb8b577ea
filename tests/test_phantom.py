"""Tests of the rectal MRI phantom generator (pipeline.phantom).

Fast tests use small cases generated once per module; tests that generate every case type or
normal-size cases are marked slow.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
import yaml
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, RTStructureSetStorage
from scipy import ndimage

from pipeline.errors import InputError
from pipeline.phantom import (
    EXPECTED_DECISION,
    CaseType,
    MaskFormat,
    PhantomOptions,
    Vendor,
    generate_case,
    generate_cohort,
)

SEG_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
TOL_MM = 1e-3

# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two small cases with SEG masks, via generate_cohort (with a progress callback)."""
    out = tmp_path_factory.mktemp("cohort")
    calls: list[tuple[int, int]] = []
    options = PhantomOptions(
        small=True, mask_format=MaskFormat.SEG, restaging_mask=True, with_adc_series=True
    )
    paths = generate_cohort(
        out,
        cases=2,
        seed=7,
        options=options,
        case_types=[CaseType.RESIDUAL_TUMOUR, CaseType.SUSPICIOUS_NODE],
        progress=lambda done, total: calls.append((done, total)),
    )
    return {"out": out, "paths": paths, "calls": calls, "options": options}


@pytest.fixture(scope="module")
def rt_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small noiseless GE-style complete-response case with RTSTRUCT masks."""
    out = tmp_path_factory.mktemp("rt")
    options = PhantomOptions(
        small=True,
        snr=math.inf,
        mask_format=MaskFormat.RTSTRUCT,
        restaging_mask=True,
        with_adc_series=False,
        vendor=Vendor.GE,
    )
    return generate_case(
        out, case_id="case-rt", case_type=CaseType.COMPLETE_RESPONSE, seed=11, options=options
    )


@pytest.fixture(scope="module")
def all_truths(cohort: dict[str, Any], rt_case: Path) -> list[Path]:
    return [*cohort["paths"], rt_case]


def _truth(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------- helpers


def _b_value(ds: pydicom.Dataset) -> float | None:
    """b-value of a DWI image from the standard tag or the vendor's private tag."""
    if "DiffusionBValue" in ds:
        value = float(ds.DiffusionBValue)
    else:
        value = None
        for group, creator, element in (
            (0x0019, "SIEMENS MR HEADER", 0x0C),
            (0x0043, "GEMS_PARM_01", 0x39),
            (0x2001, "Philips Imaging DD 001", 0x03),
        ):
            try:
                raw = ds.private_block(group, creator)[element].value
            except KeyError:
                continue
            first = raw[0] if isinstance(raw, list | pydicom.multival.MultiValue) else raw
            value = float(first)
            if value >= 1e9:
                value -= 1e9
    if value is not None and value < 0.005:
        value = 0.0
    return value


def _read(files: list[str]) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    return reader.Execute()


def _study_images(folder: Path, series: dict[str, Any]) -> dict[str, sitk.Image]:
    """Read T2W / ADC whole and DWI split by b-value, from GDCM-sorted file names."""
    reader = sitk.ImageSeriesReader()
    ids = set(reader.GetGDCMSeriesIDs(str(folder)))
    out: dict[str, sitk.Image] = {}
    for role in ("t2w", "adc", "dwi"):
        if role not in series:
            continue
        uid = series[role]["series_instance_uid"]
        assert uid in ids
        files = list(reader.GetGDCMSeriesFileNames(str(folder), uid))
        if role != "dwi":
            out[role] = _read(files)
            continue
        by_b: dict[float, list[tuple[float, str]]] = {}
        for name in files:
            ds = pydicom.dcmread(name, stop_before_pixels=True)
            normal = np.cross(*np.asarray(ds.ImageOrientationPatient, float).reshape(2, 3))
            b = _b_value(ds)
            # GE may omit the b-value on b = 0 images: the only images without one
            position = float(np.dot(normal, np.asarray(ds.ImagePositionPatient, float)))
            by_b.setdefault(0.0 if b is None else b, []).append((position, name))
        # several images share each position, so GDCM's order is not usable: sort by position
        for b, items in by_b.items():
            out[f"dwi_b{round(b)}"] = _read([n for _, n in sorted(items)])
    return out


def _assert_geometry(image: sitk.Image, expected: dict[str, Any]) -> None:
    assert list(image.GetSize()) == expected["size"]
    assert np.allclose(image.GetSpacing(), expected["spacing"], atol=TOL_MM)
    assert np.allclose(image.GetOrigin(), expected["origin"], atol=TOL_MM)
    assert np.allclose(image.GetDirection(), expected["direction"], atol=1e-6)


def _all_files(case: Path) -> list[Path]:
    return sorted(p for p in case.rglob("*") if p.is_file())


# ----------------------------------------------------------------------------- tests


def test_cohort_layout_ids_and_progress(cohort: dict[str, Any]) -> None:
    out: Path = cohort["out"]
    assert [p.parent.name for p in cohort["paths"]] == ["case-000", "case-001"]
    assert cohort["calls"] == [(1, 2), (2, 2)]
    for path in cohort["paths"]:
        case = path.parent
        assert sorted(p.name for p in case.iterdir()) == [
            "baseline",
            "clinical.yaml",
            "restaging",
            "truth",
            "truth.json",
        ]
    types = [_truth(p)["case_type"] for p in cohort["paths"]]
    assert types == ["residual_tumour", "suspicious_node"]
    assert not [p for p in out.iterdir() if p.name.startswith(".tmp")]


def test_every_file_is_valid_dicom(all_truths: list[Path]) -> None:
    for path in all_truths:
        truth = _truth(path)
        for study in ("restaging", "baseline"):
            folder = path.parent / study
            classes = []
            for name in sorted(folder.iterdir()):
                ds = pydicom.dcmread(name)
                assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
                assert ds.PatientID == pydicom.dcmread(next(folder.iterdir())).PatientID
                classes.append(ds.SOPClassUID)
                if ds.SOPClassUID != MRImageStorage:
                    continue
                assert ds.Modality == "MR"
                for keyword in (
                    "ImagePositionPatient",
                    "ImageOrientationPatient",
                    "PixelSpacing",
                    "SliceThickness",
                    "SpacingBetweenSlices",
                    "FrameOfReferenceUID",
                    "StudyInstanceUID",
                    "SeriesDescription",
                    "Manufacturer",
                    "ScanningSequence",
                    "PatientName",
                ):
                    assert keyword in ds, keyword
                assert ds.pixel_array.shape == (ds.Rows, ds.Columns)
                assert ds.pixel_array.dtype == np.uint16
            expected_masks = 1 if truth["mask_format"][study] else 0
            mask_classes = {SEG_STORAGE, RTStructureSetStorage}
            assert sum(c in mask_classes for c in classes) == expected_masks
            assert all(c in mask_classes or c == MRImageStorage for c in classes)


def test_studies_share_patient_differ_in_study(all_truths: list[Path]) -> None:
    for path in all_truths:
        truth = _truth(path)
        rest = pydicom.dcmread(
            path.parent
            / "restaging"
            / truth["series"]["restaging"]["t2w"]["files"][0].split("/")[-1]
        )
        base = pydicom.dcmread(
            path.parent / "baseline" / truth["series"]["baseline"]["t2w"]["files"][0].split("/")[-1]
        )
        assert rest.PatientID == base.PatientID and rest.PatientName == base.PatientName
        assert rest.PatientID.startswith("MRN")
        assert rest.StudyInstanceUID != base.StudyInstanceUID
        gap = (
            truth["series"]["restaging"]["study_date"],
            truth["series"]["baseline"]["study_date"],
        )
        days = (dt.date.fromisoformat(gap[0]) - dt.date.fromisoformat(gap[1])).days
        assert 70 <= days <= 98


def test_no_patient_identifier_in_names(all_truths: list[Path]) -> None:
    for path in all_truths:
        case = path.parent
        ds = pydicom.dcmread(_all_files(case / "restaging")[0])
        name = str(ds.PatientName).lower()
        words = {w for w in re.split(r"[^a-z0-9\u00c0-\u024f]+", name) if len(w) > 1}
        words.add(ds.PatientID.lower())
        for file in [*_all_files(case), *[p for p in case.rglob("*") if p.is_dir()]]:
            relative = file.relative_to(case.parent).as_posix().lower()
            tokens = set(re.split(r"[^a-z0-9\u00c0-\u024f]+", relative))
            assert not words & tokens, relative
            assert ds.PatientID.lower() not in relative


def test_series_geometry_matches_truth(all_truths: list[Path]) -> None:
    for path in all_truths:
        truth = _truth(path)
        for study in ("restaging", "baseline"):
            images = _study_images(path.parent / study, truth["series"][study])
            _assert_geometry(images["t2w"], truth["geometry"][f"{study}_t2w"])
            b_values = truth["b_values"][study]
            assert sorted(k for k in images if k.startswith("dwi_")) == sorted(
                f"dwi_b{b}" for b in b_values
            )
            for b in b_values:
                _assert_geometry(images[f"dwi_b{b}"], truth["geometry"][f"{study}_dwi"])
            if "adc" in truth["series"][study]:
                _assert_geometry(images["adc"], truth["geometry"][f"{study}_adc"])


def test_truth_masks_on_their_grids(all_truths: list[Path]) -> None:
    for path in all_truths:
        truth = _truth(path)
        masks = {}
        for name, rel in truth["masks"].items():
            image = sitk.ReadImage(str(path.parent / rel))
            grid = "baseline_t2w" if name == "baseline_tumour" else "restaging_t2w"
            _assert_geometry(image, truth["geometry"][grid])
            assert image.GetPixelID() == sitk.sitkUInt8
            masks[name] = sitk.GetArrayFromImage(image)
        bed, tumour = masks["tumour_bed"] > 0, masks["tumour"] > 0
        assert bed.sum() > 50
        assert masks["baseline_tumour"].sum() > bed.sum()
        assert np.all(bed[tumour])  # residual tumour lies in the tumour bed
        assert tumour.any() == truth["residual_tumour"]
        assert masks["suspicious_node"].any() == truth["suspicious_node"]
        assert int(masks["node"].max()) >= 1


def test_expected_decisions_per_case_type(all_truths: list[Path]) -> None:
    assert {t.value: d.value for t, d in EXPECTED_DECISION.items()} == {
        "complete_response": "cCR",
        "near_complete": "near_cCR",
        "residual_tumour": "incomplete",
        "residual_submucosal": "incomplete",
        "fibrosis_oedema": "cCR",
        "shine_through": "cCR",
        "suspicious_node": "incomplete",
        "missing_inputs": "indeterminate",
        "contradictory_inputs": "indeterminate",
    }
    for path in all_truths:
        truth = _truth(path)
        assert truth["expected_decision"] == EXPECTED_DECISION[CaseType(truth["case_type"])]


def test_same_seed_same_pixels_other_seed_differs(cohort: dict[str, Any], tmp_path: Path) -> None:
    options = cohort["options"]
    first = _truth(cohort["paths"][0])
    again = generate_case(
        tmp_path / "a",
        case_id="case-000",
        case_type=CaseType.RESIDUAL_TUMOUR,
        seed=first["seed"],
        options=options,
    )
    other = generate_case(
        tmp_path / "b",
        case_id="case-000",
        case_type=CaseType.RESIDUAL_TUMOUR,
        seed=first["seed"] + 1,
        options=options,
    )

    def pixels(truth_path: Path) -> dict[str, bytes]:
        out = {}
        for file in _all_files(truth_path.parent / "restaging"):
            ds = pydicom.dcmread(file)
            if ds.SOPClassUID == MRImageStorage:
                out[ds.SOPInstanceUID] = ds.PixelData
        return out

    reference = pixels(cohort["paths"][0])
    assert pixels(again) == reference
    # in fact every file of the case is byte-identical (UIDs, dates and masks included)
    case, case_again = cohort["paths"][0].parent, again.parent
    assert [p.relative_to(case) for p in _all_files(case)] == [
        p.relative_to(case_again) for p in _all_files(case_again)
    ]
    for file in _all_files(case):
        assert file.read_bytes() == (case_again / file.relative_to(case)).read_bytes(), file
    changed = pixels(other)
    assert set(changed).isdisjoint(reference)  # UIDs derive from the seed
    assert sorted(changed.values()) != sorted(reference.values())


def test_known_adc_in_pure_tissue_noiseless(rt_case: Path) -> None:
    """ADC from two b-value images in pure tissue equals adc_true (noiseless case).

    Pure DWI voxels are found by mapping their centres into the restaging T2W frame with the
    transform and distortion stated in truth.json, which tests those conventions too.
    """
    truth = _truth(rt_case)
    images = _study_images(rt_case.parent / "restaging", truth["series"]["restaging"])
    b_low, b_high = truth["b_values"]["restaging"][0], truth["b_values"]["restaging"][-1]
    low = sitk.GetArrayFromImage(images[f"dwi_b{b_low}"]).astype(float)
    high = sitk.GetArrayFromImage(images[f"dwi_b{b_high}"]).astype(float)
    grid = images[f"dwi_b{b_low}"]
    nz, ny, nx = low.shape
    idx = np.stack(np.meshgrid(np.arange(nx), np.arange(ny), np.arange(nz), indexing="ij"), -1)
    idx = idx.transpose(2, 1, 0, 3).reshape(-1, 3).astype(float)
    matrix = np.asarray(grid.GetDirection()).reshape(3, 3) @ np.diag(grid.GetSpacing())
    q = idx @ matrix.T + np.asarray(grid.GetOrigin())
    dist = truth["dwi_to_t2w"]["distortion"]
    d = q - np.asarray(dist["centre_lps_mm"])
    n = np.asarray(dist["slice_normal"])
    rho2 = (d**2).sum(1) - (d @ n) ** 2
    u = dist["amplitude_mm"] * np.exp(-rho2 / (2 * dist["sigma_mm"] ** 2))
    undistorted = q + u[:, None] * np.asarray(dist["pe_direction"])
    to_t2w = np.asarray(truth["dwi_to_t2w"]["dwi_to_t2w_matrix_4x4"])
    p = undistorted @ to_t2w[:3, :3].T + to_t2w[:3, 3]
    tissue_img = sitk.ReadImage(str(rt_case.parent / truth["masks"]["tissue"]))
    tissue = sitk.GetArrayFromImage(tissue_img)
    t_matrix = np.asarray(tissue_img.GetDirection()).reshape(3, 3) @ np.diag(
        tissue_img.GetSpacing()
    )
    t_idx = np.rint((p - np.asarray(tissue_img.GetOrigin())) @ np.linalg.inv(t_matrix).T)
    t_idx = t_idx.astype(int)
    inside = np.all((t_idx >= 0) & (t_idx < np.asarray(tissue_img.GetSize())), axis=1)
    legend = {name: int(code) for code, name in truth["tissue_labels"].items()}
    adc = np.log(np.maximum(low, 1e-9) / np.maximum(high, 1e-9)).ravel() / (b_high - b_low) * 1e3
    checked = 0
    for name in ("urine", "muscle", "fat", "fibrosis"):
        pure = ndimage.binary_erosion(tissue == legend[name], iterations=4)  # >= 2.8 mm margin
        pure[:1], pure[-1:] = False, False
        ok = np.zeros(len(p), bool)
        ok[inside] = pure[t_idx[inside, 2], t_idx[inside, 1], t_idx[inside, 0]]
        ok &= high.ravel() > 20
        if ok.sum() < 5:
            continue
        measured = float(np.median(adc[ok]))
        assert measured == pytest.approx(truth["adc_true"][name], rel=0.02), name
        checked += 1
    assert checked >= 2


def test_seg_references_t2w(cohort: dict[str, Any]) -> None:
    for path in cohort["paths"]:
        truth = _truth(path)
        for study in ("restaging", "baseline"):
            info = truth["series"][study]
            seg = pydicom.dcmread(path.parent / study / info["mask"]["file"])
            assert seg.SOPClassUID == SEG_STORAGE
            t2w_uids = set()
            for rel in info["t2w"]["files"]:
                t2w_uids.add(
                    pydicom.dcmread(path.parent / rel, stop_before_pixels=True).SOPInstanceUID
                )
            ref = seg.ReferencedSeriesSequence[0]
            assert ref.SeriesInstanceUID == info["t2w"]["series_instance_uid"]
            referenced = {item.ReferencedSOPInstanceUID for item in ref.ReferencedInstanceSequence}
            assert referenced == t2w_uids
            assert seg.FrameOfReferenceUID == info["frame_of_reference_uid"]
            mask_name = "tumour_bed" if study == "restaging" else "baseline_tumour"
            truth_mask = sitk.GetArrayFromImage(
                sitk.ReadImage(str(path.parent / truth["masks"][mask_name]))
            )
            assert int(seg.pixel_array.sum()) == int(truth_mask.sum())


def test_rtstruct_references_t2w_and_matches_mask(rt_case: Path) -> None:
    truth = _truth(rt_case)
    for study, mask_name in (("restaging", "tumour_bed"), ("baseline", "baseline_tumour")):
        info = truth["series"][study]
        rt = pydicom.dcmread(rt_case.parent / study / info["mask"]["file"])
        assert rt.SOPClassUID == RTStructureSetStorage
        t2w = {}
        for rel in info["t2w"]["files"]:
            ds = pydicom.dcmread(rt_case.parent / rel, stop_before_pixels=True)
            t2w[ds.SOPInstanceUID] = ds
        series_ref = (
            rt.ReferencedFrameOfReferenceSequence[0]
            .RTReferencedStudySequence[0]
            .RTReferencedSeriesSequence[0]
        )
        assert series_ref.SeriesInstanceUID == info["t2w"]["series_instance_uid"]
        mask = sitk.GetArrayFromImage(
            sitk.ReadImage(str(rt_case.parent / truth["masks"][mask_name]))
        )
        area_contours = 0.0
        for contour in rt.ROIContourSequence[0].ContourSequence:
            assert contour.ContourGeometricType == "CLOSED_PLANAR"
            image = t2w[contour.ContourImageSequence[0].ReferencedSOPInstanceUID]
            points = np.asarray(contour.ContourData, float).reshape(-1, 3)
            row, col = np.asarray(image.ImageOrientationPatient, float).reshape(2, 3)
            normal = np.cross(row, col)
            offset = (points - np.asarray(image.ImagePositionPatient, float)) @ normal
            assert np.abs(offset).max() < 1e-3  # on the plane of the referenced slice
            u, v = points @ row, points @ col
            area_contours += 0.5 * abs(np.dot(u, np.roll(v, 1)) - np.dot(v, np.roll(u, 1)))
        spacing = next(iter(t2w.values())).PixelSpacing
        area_mask = mask.sum() * float(spacing[0]) * float(spacing[1])
        assert area_contours == pytest.approx(area_mask, rel=0.15)


def test_clinical_yaml_consistent(all_truths: list[Path]) -> None:
    for path in all_truths:
        truth = _truth(path)
        form = yaml.safe_load((path.parent / "clinical.yaml").read_text(encoding="utf-8"))
        assert form["schema_version"] == "1.0"
        assert form["patient_key"] == truth["case_id"]
        assert form["assessment_date"] == truth["series"]["restaging"]["study_date"]
        assert form["baseline_date"] == truth["series"]["baseline"]["study_date"]
        kind = CaseType(truth["case_type"])
        if kind is CaseType.RESIDUAL_TUMOUR:
            assert form["dre"] == "palpable_mass"
            assert "visible_tumour" in form["endoscopy"]["findings"]
        if kind is CaseType.SUSPICIOUS_NODE:
            assert form["mri_nodes"] == "suspicious_not_regressed"
        if kind is CaseType.COMPLETE_RESPONSE:
            assert form["dre"] == "no_palpable_tumour"
            assert form["endoscopy"]["findings"][0] == "flat_white_scar"


def test_bad_input_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown phantom case type"):
        generate_case(tmp_path, case_id="x", case_type="partial", seed=1)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="safe folder name"):
        generate_case(tmp_path, case_id="../x", case_type=CaseType.COMPLETE_RESPONSE, seed=1)
    with pytest.raises(InputError, match="snr"):
        PhantomOptions(snr=0.0)
    with pytest.raises(InputError, match="MaskFormat"):
        PhantomOptions(mask_format="nifti")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- slow tests


@pytest.mark.slow
def test_every_case_type_matches_its_description(tmp_path: Path) -> None:
    for i, kind in enumerate(CaseType):
        path = generate_case(
            tmp_path,
            case_id=f"case-{i:03d}",
            case_type=kind,
            seed=100 + i,
            options=PhantomOptions(small=True),
        )
        truth = _truth(path)
        form = yaml.safe_load((path.parent / "clinical.yaml").read_text(encoding="utf-8"))
        assert truth["expected_decision"] == EXPECTED_DECISION[kind].value
        tumour = sitk.GetArrayFromImage(sitk.ReadImage(str(path.parent / truth["masks"]["tumour"])))
        assert tumour.any() == (
            kind in (CaseType.NEAR_COMPLETE, CaseType.RESIDUAL_TUMOUR, CaseType.RESIDUAL_SUBMUCOSAL)
        )
        assert ("endoscopy" in form) == (kind is not CaseType.MISSING_INPUTS)
        dre = form["dre"]
        if kind is CaseType.CONTRADICTORY_INPUTS:
            assert isinstance(dre, list) and len(set(dre)) == 2
        else:
            assert isinstance(dre, str)
        oedema = sitk.GetArrayFromImage(sitk.ReadImage(str(path.parent / truth["masks"]["oedema"])))
        assert oedema.any() == (kind in (CaseType.FIBROSIS_OEDEMA, CaseType.SHINE_THROUGH))
        nodes = [n for n in truth["lesions"]["nodes"] if n["suspicious"]]
        assert bool(nodes) == (kind is CaseType.SUSPICIOUS_NODE)
        assert all(n["short_axis_mm"] >= 9.0 for n in nodes)


@pytest.mark.slow
@pytest.mark.parametrize("vendor", list(Vendor))
def test_vendor_b_values_and_normal_size(vendor: Vendor, tmp_path: Path) -> None:
    path = generate_case(
        tmp_path,
        case_id="case-v",
        case_type=CaseType.NEAR_COMPLETE,
        seed=5,
        options=PhantomOptions(vendor=vendor, with_adc_series=True),
    )
    truth = _truth(path)
    assert truth["vendor_style"] == vendor.value
    images = _study_images(path.parent / "restaging", truth["series"]["restaging"])
    for b in truth["b_values"]["restaging"]:
        _assert_geometry(images[f"dwi_b{b}"], truth["geometry"]["restaging_dwi"])
    t2w = truth["geometry"]["restaging_t2w"]
    assert 24 <= t2w["size"][2] <= 28
    assert 180 <= t2w["size"][0] * t2w["spacing"][0] <= 200
    adc = sitk.GetArrayFromImage(images["adc"])
    assert adc.dtype == np.uint16 and 2500 < adc.max() <= 4000


def test_baseline_deformation_known_answer(cohort: dict[str, Any]) -> None:
    """The baseline tumour mapped with the documented q = M (p + w(p)) lands on the truth."""
    path = cohort["paths"][0]
    truth = _truth(path)
    spec = truth["baseline_to_restaging"]
    on_restaging = sitk.ReadImage(str(path.parent / truth["masks"]["baseline_tumour_on_restaging"]))
    baseline = sitk.ReadImage(str(path.parent / truth["masks"]["baseline_tumour"]))
    expected = sitk.GetArrayFromImage(on_restaging) > 0
    zz, yy, xx = np.nonzero(ndimage.binary_dilation(expected, iterations=3))
    index = np.column_stack([xx, yy, zz]).astype(float)
    matrix = np.asarray(on_restaging.GetDirection()).reshape(3, 3) @ np.diag(
        on_restaging.GetSpacing()
    )
    p = index @ matrix.T + np.asarray(on_restaging.GetOrigin())
    w = np.zeros_like(p)
    for bump in spec["deformation"]["bumps"]:
        d2 = ((p - np.asarray(bump["centre_lps_mm"])) ** 2).sum(axis=1)
        w += np.exp(-d2 / (2 * bump["sigma_mm"] ** 2))[:, None] * np.asarray(bump["amplitude_mm"])
    m = np.asarray(spec["restaging_to_baseline_rigid_4x4"])
    q = (p + w) @ m[:3, :3].T + m[:3, 3]
    q_index = [baseline.TransformPhysicalPointToContinuousIndex(tuple(v)) for v in q]
    values = np.asarray(
        ndimage.map_coordinates(
            sitk.GetArrayFromImage(baseline).astype(float),
            np.asarray(q_index)[:, ::-1].T,
            order=0,
            mode="constant",
        )
    )
    got = np.zeros_like(expected)
    got[zz, yy, xx] = values > 0.5
    dice = 2 * (got & expected).sum() / (got.sum() + expected.sum())
    assert dice > 0.8
    wrong = spec["rigid"]["inverse_matrix_4x4"]  # the inverse direction must not fit as well
    q_wrong = (p + w) @ np.asarray(wrong)[:3, :3].T + np.asarray(wrong)[:3, 3]
    w_index = [baseline.TransformPhysicalPointToContinuousIndex(tuple(v)) for v in q_wrong]
    values = ndimage.map_coordinates(
        sitk.GetArrayFromImage(baseline).astype(float),
        np.asarray(w_index)[:, ::-1].T,
        order=0,
        mode="constant",
    )
    bad = np.zeros_like(expected)
    bad[zz, yy, xx] = values > 0.5
    assert 2 * (bad & expected).sum() / (bad.sum() + expected.sum()) < dice - 0.2
