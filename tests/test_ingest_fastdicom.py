"""The fast DICOM header reader against pydicom: same tags, same values, same records.

Known-answer: on every file of ``../shared/data`` and of phantom cases in each vendor style,
every element the fast reader decodes (top level, sequences, file meta) equals pydicom's value
and the image records built from both are equal. Files the fast reader declines (or gives up
on while reading) go to pydicom; that fallback is checked on crafted unusual files.
"""

from __future__ import annotations

import gzip
import math
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    MRImageStorage,
    RLELossless,
    generate_uid,
)
from pydicom.valuerep import PersonName

from pipeline.config import load_section
from pipeline.config.series_rules import SeriesRulesConfig
from pipeline.ingest import scan
from pipeline.ingest._crawl import _fast_outcome, _pydicom_outcome, iter_files
from pipeline.ingest._fastdicom import (
    HEAD_BYTES,
    FastDataset,
    FastReadError,
    parse_header,
    read_fast_header,
)
from pipeline.phantom import CaseType, MaskFormat, PhantomOptions, Vendor, generate_case


@pytest.fixture(scope="module")
def rules() -> SeriesRulesConfig:
    loaded = load_section("series_rules")
    assert isinstance(loaded, SeriesRulesConfig)
    return loaded


# ---------------------------------------------------------------------- comparison helpers
def _same_value(fast: Any, ref: Any) -> bool:
    if isinstance(ref, DicomSequence):
        return (
            isinstance(fast, list)
            and len(fast) == len(ref)
            and all(not _diff_datasets(f, r) for f, r in zip(fast, ref, strict=True))
        )
    if isinstance(ref, PersonName):
        return isinstance(fast, PersonName) and str(fast) == str(ref)
    if isinstance(ref, MultiValue | list):
        return (
            isinstance(fast, list)
            and len(fast) == len(ref)
            and all(_same_value(f, r) for f, r in zip(fast, ref, strict=True))
        )
    if isinstance(ref, float) and math.isnan(ref):
        return isinstance(fast, float) and math.isnan(fast)
    if isinstance(ref, bytes | str | int | float):
        # DSfloat, IS and UID are float, int and str subclasses: the plain type must match
        base = next(t for t in (bytes, bool, str, int, float) if isinstance(ref, t))
        return isinstance(fast, base) and fast == ref
    return bool(fast == ref)


def _diff_datasets(fast: FastDataset, ref: Dataset, where: str = "") -> list[str]:
    """Differences between the fast view and pydicom; values that the fast reader refuses
    (ambiguous VRs of implicit files) are left to pydicom and not counted."""
    problems = []
    fast_tags = set(fast)
    ref_tags = {int(element.tag) for element in ref}
    if fast_tags != ref_tags:
        problems.append(f"{where}: tags differ {sorted(fast_tags ^ ref_tags)[:5]}")
    for tag in sorted(fast_tags & ref_tags):
        try:
            vr, value = fast.element(tag)
        except FastReadError:
            assert " or " in dictionary_VR(tag), f"{where} {tag:08X} refused"
            continue
        element = ref[tag]
        if vr != element.VR or not _same_value(value, element.value):
            problems.append(
                f"{where} ({tag >> 16:04X},{tag & 0xFFFF:04X}) {vr}/{element.VR}: "
                f"{value!r:.60} != {element.value!r:.60}"
            )
    return problems


def _compare_file(path: Path) -> list[str]:
    fast = read_fast_header(path)
    assert fast is not None, path
    ref = pydicom.dcmread(path, stop_before_pixels=True)
    assert fast.file_meta is not None
    return _diff_datasets(fast, ref, str(path)) + _diff_datasets(
        fast.file_meta, ref.file_meta, f"{path} meta"
    )


def _assert_outcome_as_pydicom(path: Path, rules: SeriesRulesConfig) -> bool:
    """The crawl's view of ``path`` is pydicom's; True when the fast reader gave it."""
    fast = _fast_outcome(path, rules, {})
    ref = _pydicom_outcome(path, rules, {})
    assert fast is None or fast == ref, path
    return fast is not None


def _dicom_files(root: Path) -> list[Path]:
    return [p for p in iter_files(root) if read_fast_header(p) is not None]


# ---------------------------------------------------------------------- real and phantom data
def test_real_data_values_equal_pydicom(shared_data: Path) -> None:
    files = _dicom_files(shared_data)
    assert len(files) >= 850  # every DICOM file of the folder, DICOMDIR and RTSTRUCT included
    problems = [p for f in files for p in _compare_file(f)]
    assert problems == []


def test_real_data_records_equal_pydicom(shared_data: Path, rules: SeriesRulesConfig) -> None:
    fast = [f for f in iter_files(shared_data) if _assert_outcome_as_pydicom(f, rules)]
    assert len(fast) >= 850


def test_non_dicom_files_of_real_data_go_to_pydicom(shared_data: Path) -> None:
    declined = [p for p in iter_files(shared_data) if read_fast_header(p) is None]
    assert declined
    for path in declined:
        head = path.read_bytes()[:132]
        assert head[128:132] != b"DICM", path


@pytest.fixture(scope="module")
def phantom_cases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small phantom case per vendor style (SEG and RTSTRUCT masks, ADC series)."""
    out = tmp_path_factory.mktemp("fast-phantoms")
    styles = (
        (Vendor.SIEMENS, MaskFormat.SEG),
        (Vendor.GE, MaskFormat.RTSTRUCT),
        (Vendor.PHILIPS, MaskFormat.SEG),
    )
    for index, (vendor, masks) in enumerate(styles):
        options = PhantomOptions(
            small=True, vendor=vendor, mask_format=masks, restaging_mask=True, with_adc_series=True
        )
        generate_case(
            out, case_id=f"case-{index}", case_type=CaseType.RESIDUAL_TUMOUR, seed=11 + index,
            options=options,
        )  # fmt: skip
    return out


def test_phantom_values_and_records_equal_pydicom(
    phantom_cases: Path, rules: SeriesRulesConfig
) -> None:
    files = _dicom_files(phantom_cases)
    assert len(files) > 300
    images = [f for f in files if "ImagePositionPatient" in read_fast_header(f)]  # type: ignore[operator]
    vendors = {str(read_fast_header(f).get("Manufacturer")) for f in images}  # type: ignore[union-attr]
    assert len(vendors) == 3
    problems = [p for f in files[::7] for p in _compare_file(f)]
    assert problems == []
    assert all(_assert_outcome_as_pydicom(f, rules) for f in files)


# ---------------------------------------------------------------------- crafted files
def _image(**extra: tuple[str, Any]) -> Dataset:
    """A small classic MR image; ``extra`` maps 'gggg,eeee' to (VR, value)."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "DIFFUSION", "NONE"]
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.StudyDate = "20240102"
    ds.Modality = "MR"
    ds.Manufacturer = "TestVendor"
    ds.SeriesDescription = "ep2d_diff  "
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "X1"
    ds.SliceThickness = "3.0"
    ds.EchoTime = " 81 "
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 7
    ds.InstanceNumber = "12"
    ds.ImagePositionPatient = [-10.5, "2.25", 3e1]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.FrameOfReferenceUID = generate_uid()
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = 4, 6
    ds.PixelSpacing = [0.5, 0.75]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleIntercept, ds.RescaleSlope = "-2", "0.5"
    for key, (vr, value) in extra.items():
        group, element = (int(part, 16) for part in key.split(","))
        ds.add_new((group, element), vr, value)
    ds.PixelData = np.arange(24, dtype=np.uint16).tobytes()
    return ds


def _vendor_tags() -> dict[str, tuple[str, Any]]:
    return {
        "0019,0010": ("LO", "SIEMENS MR HEADER"),
        "0019,100C": ("IS", "1000"),
        "0019,100E": ("FD", [0.0, 0.6, 0.8]),
        "0043,0010": ("LO", "GEMS_PARM_01"),
        "0043,1039": ("IS", [1_000_000_800, 8, 0, 0]),
        "2001,0010": ("LO", "Philips Imaging DD 001"),
        "2001,1003": ("FL", 0.002),
        "2001,1004": ("CS", "I"),
        "2005,0010": ("LO", "Philips MR Imaging DD 001"),
        "2005,10B0": ("FL", 0.25),
    }


def _save(ds: Dataset, path: Path, syntax: str = ExplicitVRLittleEndian) -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = UID(syntax)
    ds.file_meta = meta
    ds.save_as(path, enforce_file_format=True)
    return path


def _raw_file(ds: Dataset, path: Path, *, syntax: str, implicit: bool, tail: bytes = b"") -> Path:
    """Preamble + meta saying ``syntax`` + the dataset encoded as ``implicit`` says + ``tail``."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = UID(syntax)
    head = DicomBytesIO()
    head.write(b"\0" * 128 + b"DICM")
    write_file_meta_info(head, meta)
    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, implicit
    write_dataset(body, ds)
    path.write_bytes(head.getvalue() + body.getvalue() + tail)
    return path


def test_vendor_private_tags_explicit_and_implicit(
    tmp_path: Path, rules: SeriesRulesConfig
) -> None:
    explicit = _save(_image(**_vendor_tags()), tmp_path / "explicit.dcm")
    implicit = _save(_image(**_vendor_tags()), tmp_path / "implicit.dcm", ImplicitVRLittleEndian)
    for path in (explicit, implicit):
        assert _compare_file(path) == []
        assert _assert_outcome_as_pydicom(path, rules)
    fast = read_fast_header(implicit)
    assert fast is not None
    assert fast.get((0x0043, 0x1039)).value == [1_000_000_800, 8, 0, 0]  # VR from the dictionary
    assert fast.get((0x2001, 0x1003)).value == pytest.approx(0.002)
    assert fast.get("ImagePositionPatient") == [-10.5, 2.25, 30.0]
    assert fast.get("EchoTime") == 81.0 and fast.get("InstanceNumber") == 12


def test_private_tags_without_creator_and_as_un(tmp_path: Path, rules: SeriesRulesConfig) -> None:
    un = {
        "0019,0010": ("LO", "SIEMENS MR HEADER"),
        "0019,100C": ("UN", b"800 "),  # known to pydicom's private dictionary: read as IS
        "0029,1010": ("UN", b"\x01\x02\x03\x04"),  # no creator: stays bytes
        "0043,1039": ("UN", b"1000000500\\8\\0\\0 "),  # no creator either
    }
    path = _save(_image(**un), tmp_path / "un.dcm")
    assert _compare_file(path) == []
    assert _assert_outcome_as_pydicom(path, rules)
    fast = read_fast_header(path)
    assert fast is not None
    assert fast.get((0x0019, 0x100C)).value == 800
    assert fast.get((0x0029, 0x1010)).value == b"\x01\x02\x03\x04"
    implicit = _save(_image(**un), tmp_path / "un-implicit.dcm", ImplicitVRLittleEndian)
    assert _compare_file(implicit) == []
    assert _assert_outcome_as_pydicom(implicit, rules)


@pytest.mark.parametrize(
    ("charset", "name", "description"),
    [
        ("ISO_IR 192", "Müller^Zoë", "DWI b800 – Ärzte"),
        ("ISO_IR 100", "Müller^Zoë", "DWI Ärzte"),
        (["", "ISO 2022 IR 87"], "Yamada^Tarou=山田^太郎", "DWI"),
        ("ISO_IR 144", "Иванов^Иван", "ДВИ"),
    ],
)
def test_character_sets_decode_like_pydicom(
    tmp_path: Path, charset: str | list[str], name: str, description: str
) -> None:
    ds = _image()
    ds.SpecificCharacterSet = charset
    ds.PatientName = name
    ds.SeriesDescription = description
    ds.InstitutionName = description
    path = _save(ds, tmp_path / "charset.dcm")
    assert _compare_file(path) == []
    fast = read_fast_header(path)
    assert fast is not None
    assert fast.get("SeriesDescription") == pydicom.dcmread(path).SeriesDescription


def test_values_padding_empty_and_multi_like_pydicom(tmp_path: Path) -> None:
    ds = _image(
        **{
            "0018,0088": ("DS", " 1.50 "),  # padded number
            "0018,1310": ("US", [0, 128, 128, 0]),  # multi-valued binary
            "0018,0095": ("DS", ""),  # empty DS
            "0020,0012": ("IS", ""),  # empty IS
            "0018,1030": ("LO", ""),  # empty text
            "0018,0021": ("CS", ["SK", "SP", "OSP"]),  # multi-valued text
            "0018,9089": ("FD", [0.0, 0.0, 1.0]),
            "0008,0070": ("LO", "Vendor\\Sub "),  # two values in LO
            "0040,0254": ("LO", "x" * 64),
        }
    )
    path = _save(ds, tmp_path / "values.dcm")
    assert _compare_file(path) == []
    fast = read_fast_header(path)
    assert fast is not None
    assert fast.get("SpacingBetweenSlices") == 1.5
    assert fast.get("SequenceVariant") == ["SK", "SP", "OSP"]


def test_odd_numbers_are_converted_by_pydicom(tmp_path: Path) -> None:
    """Values that are no plain numbers get pydicom's own conversion (and its fallbacks)."""
    ds = _image(
        **{"0018,0080": ("LO", "12a "), "0018,0081": ("LO", "1\\"), "0020,0013": ("LO", "3.0 ")}
    )
    path = _save(ds, tmp_path / "odd.dcm")
    data = path.read_bytes()
    for tag, vr in (
        ((0x0018, 0x0080), b"DS"),
        ((0x0018, 0x0081), b"DS"),
        ((0x0020, 0x0013), b"IS"),
    ):
        head = struct.pack("<HH", *tag) + b"LO"
        data = data.replace(head, head[:4] + vr)
    path.write_bytes(data)
    assert _compare_file(path) == []


def _sequence_image(undefined: bool) -> Dataset:
    inner = Dataset()
    inner.DiffusionBValue = 1000.0
    direction = Dataset()
    direction.DiffusionGradientOrientation = [0.0, 1.0, 0.0]
    inner.DiffusionGradientDirectionSequence = [direction]
    frame = Dataset()
    frame.MRDiffusionSequence = [inner]
    frame.add_new((0x0021, 0x0011), "LO", "SIEMENS MR SDI 02")
    ds = _image()
    ds.PerFrameFunctionalGroupsSequence = [frame, Dataset()]
    ds.ReferencedImageSequence = []
    for element in (
        ds["PerFrameFunctionalGroupsSequence"],
        frame["MRDiffusionSequence"],
        inner["DiffusionGradientDirectionSequence"],
    ):
        element.is_undefined_length = undefined
        for item in element.value:
            item.is_undefined_length_sequence_item = undefined
    return ds


@pytest.mark.parametrize("undefined", [False, True])
@pytest.mark.parametrize("implicit", [False, True])
def test_sequences_of_defined_and_undefined_length(
    tmp_path: Path, undefined: bool, implicit: bool
) -> None:
    syntax = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    path = _save(_sequence_image(undefined), tmp_path / "seq.dcm", syntax)
    assert _compare_file(path) == []
    fast = read_fast_header(path)
    assert fast is not None
    frames = fast.get("PerFrameFunctionalGroupsSequence")
    item = frames[0].get("MRDiffusionSequence")[0]
    assert item.get("DiffusionBValue") == 1000.0
    assert item.get("DiffusionGradientDirectionSequence")[0].get(
        "DiffusionGradientOrientation"
    ) == [0.0, 1.0, 0.0]
    assert len(frames[1]) == 0 and fast.get("ReferencedImageSequence") == []


def test_header_longer_than_the_first_read(tmp_path: Path, rules: SeriesRulesConfig) -> None:
    ds = _image(
        **{"0029,0010": ("LO", "SIEMENS CSA HEADER"), "0029,1020": ("OB", b"\0" * HEAD_BYTES)}
    )
    ds.add_new((0x0029, 0x1010), "OB", b"SV10" + b"\x04\x03\x02\x01" + b"\0" * 8)
    ds.add_new((0x2001, 0x0010), "LO", "Philips Imaging DD 001")
    ds.add_new((0x2001, 0x1003), "FL", 500.0)  # after the long element: needs the rest
    path = _save(ds, tmp_path / "long.dcm")
    assert path.stat().st_size > HEAD_BYTES
    assert _compare_file(path) == []
    assert _assert_outcome_as_pydicom(path, rules)
    record = _fast_outcome(path, rules, {})
    assert record is not None and record.records[0].diffusion.b_value == 500.0


def test_out_of_order_elements_go_to_pydicom(tmp_path: Path, rules: SeriesRulesConfig) -> None:
    """Elements out of ascending order met by the walk send the file to pydicom (which keeps
    the last of repeated tags)."""
    ds = _image()
    late = Dataset()
    late.SeriesDescription = "late duplicate"
    late.AccessionNumber = "A-1"
    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, False
    write_dataset(body, late)
    path = _save(ds, tmp_path / "order.dcm")
    data = path.read_bytes()  # the out-of-order elements go just before PixelSpacing
    cut = data.index(struct.pack("<HH", 0x0028, 0x0030))
    path.write_bytes(data[:cut] + body.getvalue() + data[cut:])
    fast = read_fast_header(path)
    assert fast is not None
    with pytest.raises(FastReadError, match="out of ascending order"):
        fast.get("Rows")
    assert _assert_outcome_as_pydicom(path, rules) is False
    series = scan(path, rules=rules).studies[0].series[0]
    assert series.description == "late duplicate"


def test_elements_after_pixel_data_are_not_read(tmp_path: Path) -> None:
    ds = _image()
    tail = DicomBytesIO()
    tail.is_little_endian, tail.is_implicit_VR = True, False
    trailing = Dataset()
    trailing.add_new((0xFFFA, 0xFFFA), "SQ", [])
    trailing.add_new((0x7FE1, 0x0010), "LO", "after pixels")
    write_dataset(tail, trailing)
    path = _raw_file(ds, tmp_path / "tail.dcm", syntax=ExplicitVRLittleEndian, implicit=False,
                     tail=tail.getvalue())  # fmt: skip
    assert _compare_file(path) == []
    fast = read_fast_header(path)
    assert fast is not None and (0x7FE1, 0x0010) not in fast and "PixelData" not in fast


# ---------------------------------------------------------------------- fallback to pydicom
def _fallback_file(kind: str, tmp_path: Path) -> Path:
    path = tmp_path / f"{kind}.dcm"
    ds = _image(**_vendor_tags())
    if kind == "big_endian":
        return _save(ds, path, ExplicitVRBigEndian)
    if kind == "deflated":
        return _save(ds, path, DeflatedExplicitVRLittleEndian)
    if kind == "no_preamble":
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.save_as(path, implicit_vr=False, little_endian=True)
        return path
    if kind == "gzip":
        _save(ds, path)
        path.write_bytes(gzip.compress(path.read_bytes()))
        return path
    if kind == "truncated_header":
        _save(ds, path)
        data = path.read_bytes()
        path.write_bytes(data[: data.index(struct.pack("<HH", 0x0028, 0x0030)) + 5])
        return path
    if kind == "implicit_data_explicit_meta":
        return _raw_file(ds, path, syntax=ExplicitVRLittleEndian, implicit=True)
    if kind == "explicit_data_implicit_meta":
        return _raw_file(ds, path, syntax=ImplicitVRLittleEndian, implicit=False)
    if kind == "un_undefined_length":
        _save(ds, path)
        item = struct.pack("<HHL", 0x0009, 0x1002, 4) + b"abcd"
        un = (
            struct.pack("<HH", 0x0009, 0x0010) + b"LO" + struct.pack("<H", 4) + b"TEST"
            + struct.pack("<HH", 0x0009, 0x1001) + b"UN\0\0" + struct.pack("<L", 0xFFFFFFFF)
            + struct.pack("<HHL", 0xFFFE, 0xE000, len(item)) + item
            + struct.pack("<HHL", 0xFFFE, 0xE0DD, 0)
        )  # fmt: skip
        data = path.read_bytes()
        cut = data.index(struct.pack("<HH", 0x0010, 0x0010))
        path.write_bytes(data[:cut] + un + data[cut:])
        return path
    if kind == "implicit_item_in_explicit_file":
        _save(ds, path)
        item = struct.pack("<HHL", 0x0008, 0x1150, 4) + b"1.2\0"
        sq = (
            struct.pack("<HH", 0x0008, 0x1140) + b"SQ\0\0" + struct.pack("<L", 0xFFFFFFFF)
            + struct.pack("<HHL", 0xFFFE, 0xE000, len(item)) + item
            + struct.pack("<HHL", 0xFFFE, 0xE0DD, 0)
        )  # fmt: skip
        data = path.read_bytes()
        cut = data.index(struct.pack("<HH", 0x0010, 0x0010))
        path.write_bytes(data[:cut] + sq + data[cut:])
        return path
    if kind == "odd_length_number":
        _save(ds, path)
        data = path.read_bytes()
        at = data.index(struct.pack("<HH", 0x0028, 0x0010) + b"US")  # Rows, 2 bytes -> 3
        bad = struct.pack("<HH", 0x0028, 0x0010) + b"US" + struct.pack("<H", 3) + b"\x04\0\0"
        path.write_bytes(data[:at] + bad + data[at + 10 :])
        return path
    if kind == "rle_compressed":  # header still read by the fast reader; pixels by pydicom
        ds.compress(RLELossless, np.arange(24, dtype=np.uint16).reshape(4, 6))
        ds.save_as(path, enforce_file_format=True)
        return path
    raise AssertionError(kind)


FALLBACKS = {
    "big_endian": "declined",
    "deflated": "declined",
    "no_preamble": "declined",
    "gzip": "declined",
    "truncated_header": "gives up",
    "implicit_data_explicit_meta": "declined",
    "explicit_data_implicit_meta": "declined",
    "un_undefined_length": "gives up",
    "implicit_item_in_explicit_file": "gives up",
    "odd_length_number": "gives up",
    "rle_compressed": "reads",
}


@pytest.mark.parametrize("kind", sorted(FALLBACKS))
def test_unusual_files_fall_back_to_pydicom(
    kind: str, tmp_path: Path, rules: SeriesRulesConfig
) -> None:
    path = _fallback_file(kind, tmp_path)
    fast = read_fast_header(path)
    expected = FALLBACKS[kind]
    if expected == "declined":
        assert fast is None
    elif expected == "gives up":
        assert fast is not None
        with pytest.raises(FastReadError):
            for tag in fast:  # reading every element meets the problem
                fast.element(tag)
        assert _fast_outcome(path, rules, {}) is None
    else:
        assert fast is not None and _compare_file(path) == []
    assert _assert_outcome_as_pydicom(path, rules) is (expected == "reads")
    inventory = scan(path, rules=rules)  # the crawl reads it through pydicom instead
    if kind == "odd_length_number":  # pydicom refuses the value: one error naming the file
        assert len(inventory.errors) == 1 and str(path) in inventory.errors[0]
        assert "(0028,0010)" in inventory.errors[0]
        return
    assert inventory.errors == ()
    if kind != "truncated_header":
        assert inventory.studies[0].series[0].b_values == (1000.0,)  # Siemens (0019,100C)


def test_ambiguous_vr_of_implicit_file_is_left_to_pydicom(tmp_path: Path) -> None:
    ds = _image()
    ds.SmallestImagePixelValue = 3  # 'US or SS' in the dictionary
    path = _save(ds, tmp_path / "ambiguous.dcm", ImplicitVRLittleEndian)
    fast = read_fast_header(path)
    assert fast is not None
    with pytest.raises(FastReadError, match="ambiguous VR"):
        fast.get("SmallestImagePixelValue")
    assert fast.get("Rows") == 4


def test_parse_header_needs_the_preamble() -> None:
    with pytest.raises(FastReadError, match="DICM"):
        parse_header(b"\0" * 200)
