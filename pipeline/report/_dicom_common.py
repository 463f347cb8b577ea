"""Shared parts of the DICOM writers: source slices, identity policy, codes, atomic saving.

The DICOM objects (SEG, SR, Parametric Map) are written on the frame of reference of the
restaging T2W series and reference its images. highdicom copies the Patient and Study modules
from the first source image it is given; to keep identifiers out by default, the writers hand
it *reference datasets*: sanitised copies of the source slices that hold only geometry, UIDs
and a pseudonymous patient module (see :func:`reference_datasets`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sr.coding import Code

from pipeline import RESEARCH_USE_STATEMENT, __version__
from pipeline._io import atomic_path
from pipeline.errors import DicomError, GeometryError, InputError, ProcessingError
from pipeline.volume import GRID_DIRECTION_ATOL, GRID_SPACING_RTOL, Volume

#: Slice positions of the source must match the T2W grid within this distance (mm).
POSITION_TOL_MM = 1e-3

SOFTWARE_NAME = "ccr-pipeline"
MANUFACTURER = "ccr-pipeline (research software)"
SOFTWARE_VERSION = __version__
DEVICE_SERIAL_NUMBER = "none"

#: Series numbers of the written objects (high, so they sort after the scanner's series).
SERIES_NUMBER_SEG = 9901
SERIES_NUMBER_SR = 9902
SERIES_NUMBER_PMAP = 9903

#: 64-character LO limit: ContentDescription gets the short form, ImageComments the full text.
RESEARCH_SHORT = "Research use only. Not a medical device."

#: Private coding scheme of this project (declared in the SR's CodingSchemeIdentification).
PRIVATE_SCHEME = "99CCR"

#: UCUM units. ADC is written in um2/s: 1e-3 mm2/s (the pipeline's unit) = 1000 um2/s.
UNIT_ADC = Code("um2/s", "UCUM", "um2/s")
ADC_PIPELINE_TO_DICOM = 1000.0
UNIT_ML = Code("ml", "UCUM", "milliliter")
UNIT_MM = Code("mm", "UCUM", "millimeter")
UNIT_ONE = Code("1", "UCUM", "no units")

#: Only these attributes of a source slice reach the reference datasets in the default mode.
_GEOMETRY_KEYWORDS = (
    "SOPClassUID",
    "SOPInstanceUID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "FrameOfReferenceUID",
    "Modality",
    "SeriesNumber",
    "InstanceNumber",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "SliceThickness",
    "SpacingBetweenSlices",
    "Rows",
    "Columns",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "Manufacturer",
    "ManufacturerModelName",
)

#: Source attributes whose values must never appear in a pseudonymised output.
_IDENTIFYING_KEYWORDS = (
    "PatientName",
    "PatientID",
    "OtherPatientIDs",
    "OtherPatientNames",
    "PatientBirthDate",
    "PatientBirthName",
    "PatientMotherBirthName",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "AccessionNumber",
    "StudyID",
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionalDepartmentName",
    "ReferringPhysicianName",
    "PerformingPhysicianName",
    "OperatorsName",
    "StationName",
)
#: Value representations scanned for leaked identifiers (dates and UIDs are generated or needed).
_TEXT_VRS = frozenset({"PN", "LO", "SH", "ST", "LT", "UT", "UC", "CS", "AE"})
_MIN_IDENTIFIER_CHARS = 4


@dataclass(frozen=True)
class ReferenceSlices:
    """The restaging T2W slices in z order of the T2W :class:`Volume`, ready for highdicom.

    Attributes
    ----------
    datasets
        One dataset per z index (``datasets[z]`` is slice ``t2w.array[z]``): sanitised copies by
        default, the source datasets themselves when identifiers are kept.
    series_label
        Log-safe name of the source series, ``"N (t2w)"`` (its number, never its description).
    identifiers
        Values of the source's identifying attributes (for the leak check); empty when kept.
    """

    datasets: tuple[Dataset, ...]
    series_label: str
    identifiers: tuple[str, ...]


def series_label(dataset: Dataset) -> str:
    """``"N (t2w)"`` from SeriesNumber (errors print ``series N (t2w)``); never the description."""
    number = dataset.get("SeriesNumber")
    return f"{number if number not in (None, '') else '?'} (t2w)"


def check_pseudonym(pseudonym: str) -> str:
    """Validate a pseudonym for PatientID (LO, 64 chars) and PatientName; return it stripped."""
    value = pseudonym.strip()
    if not value or len(value) > 64 or any(c in value for c in "\\^=\r\n\t"):
        raise InputError(
            f"pseudonym must be 1-64 characters without '\\', '^', '=' or control characters, "
            f"got {len(value)} characters",
            fix="pass a short study key such as the de-identified key of the study",
        )
    return value


def _normal(dataset: Dataset, label: str) -> np.ndarray:
    try:
        iop = np.asarray([float(v) for v in dataset.ImageOrientationPatient], dtype=float)
    except (AttributeError, TypeError, ValueError) as exc:
        raise DicomError(
            "source slice lacks a usable ImageOrientationPatient", series=label, tag="(0020,0037)"
        ) from exc
    return np.cross(iop[:3], iop[3:])


def _position(dataset: Dataset, label: str) -> np.ndarray:
    try:
        return np.asarray([float(v) for v in dataset.ImagePositionPatient], dtype=float)
    except (AttributeError, TypeError, ValueError) as exc:
        raise DicomError(
            "source slice lacks a usable ImagePositionPatient", series=label, tag="(0020,0032)"
        ) from exc


def _check_in_plane(dataset: Dataset, t2w: Volume, label: str) -> None:
    rows, cols = int(dataset.get("Rows", 0)), int(dataset.get("Columns", 0))
    if (rows, cols) != t2w.shape[1:]:
        raise GeometryError(
            f"source slices are {rows}x{cols} (rows x columns), the T2W grid is "
            f"{t2w.shape[1]}x{t2w.shape[2]}",
            series=label,
            tag="(0028,0010)/(0028,0011)",
            fix="pass the datasets of the series the T2W volume was read from",
        )
    iop = np.asarray([float(v) for v in dataset.ImageOrientationPatient], dtype=float)
    axes = t2w.direction_matrix
    if not (
        np.allclose(iop[:3], axes[:, 0], atol=GRID_DIRECTION_ATOL)
        and np.allclose(iop[3:], axes[:, 1], atol=GRID_DIRECTION_ATOL)
    ):
        raise GeometryError(
            f"ImageOrientationPatient {iop.round(5).tolist()} differs from the T2W grid's "
            f"row/column directions {axes[:, :2].T.round(5).tolist()}",
            series=label,
            tag="(0020,0037)",
        )
    spacing = [float(v) for v in dataset.get("PixelSpacing", [0.0, 0.0])]
    expected = [t2w.spacing[1], t2w.spacing[0]]
    if not np.allclose(spacing, expected, rtol=GRID_SPACING_RTOL, atol=0):
        raise GeometryError(
            f"PixelSpacing {spacing} differs from the T2W grid's {expected} (row, column) mm",
            series=label,
            tag="(0028,0030)",
        )


def order_source_slices(source: Sequence[Dataset], t2w: Volume) -> tuple[list[Dataset], str]:
    """Sort the source slices along the slice normal and map them to the T2W z indices.

    Raises
    ------
    GeometryError
        When the slices do not lie on the T2W grid (count, in-plane geometry, or a z position
        without exactly one slice within :data:`POSITION_TOL_MM`).
    """
    if not source:
        raise InputError("no source T2W datasets given; SEG/SR/Parametric Map need them")
    label = series_label(source[0])
    uids = {str(ds.get("SeriesInstanceUID", "")) for ds in source}
    if len(uids) != 1:
        raise GeometryError(f"source datasets come from {len(uids)} series", series=label)
    for ds in source:
        if int(ds.get("NumberOfFrames", 1) or 1) > 1:
            raise DicomError(
                "multi-frame (enhanced) source images are not supported for DICOM outputs",
                series=label,
                tag="(0028,0008)",
            )
        _check_in_plane(ds, t2w, label)
    normal = _normal(source[0], label)
    ordered = sorted(source, key=lambda ds: float(_position(ds, label) @ normal))
    if len(ordered) != t2w.shape[0]:
        raise GeometryError(
            f"{len(ordered)} source slices for a T2W grid of {t2w.shape[0]} slices",
            series=label,
            fix="pass every slice of the series the T2W volume was read from",
        )
    positions = np.stack([_position(ds, label) for ds in ordered])
    by_z: list[Dataset] = []
    for z in range(t2w.shape[0]):
        expected = t2w.index_to_world((0.0, 0.0, float(z)))
        distance = np.linalg.norm(positions - expected, axis=1)
        hits = np.flatnonzero(distance <= POSITION_TOL_MM)
        if hits.size != 1:
            raise GeometryError(
                f"slice z={z} of the T2W grid at {expected.round(4).tolist()} mm LPS has "
                f"{hits.size} source slices within {POSITION_TOL_MM} mm (nearest "
                f"{float(distance.min()):.4f} mm)",
                series=label,
                tag="(0020,0032)",
                fix="pass the datasets of the series the T2W volume was read from",
            )
        by_z.append(ordered[int(hits[0])])
    return by_z, label


def _sanitised(dataset: Dataset, pseudonym: str) -> Dataset:
    out = Dataset()
    for keyword in _GEOMETRY_KEYWORDS:
        if keyword in dataset:
            out[keyword] = dataset[keyword]
    out.SpecificCharacterSet = "ISO_IR 192"
    out.PatientName = f"{pseudonym}^"
    out.PatientID = pseudonym
    out.PatientBirthDate = ""
    out.PatientSex = ""
    out.PatientIdentityRemoved = "YES"
    out.DeidentificationMethod = f"{SOFTWARE_NAME}: pseudonym; source UIDs kept"
    out.StudyDate = ""
    out.StudyTime = ""
    out.StudyID = ""
    out.AccessionNumber = ""
    out.ReferringPhysicianName = ""
    return out


def reference_datasets(
    source: Sequence[Dataset], t2w: Volume, *, keep_identifiers: bool, pseudonym: str
) -> ReferenceSlices:
    """Order the source slices by z and, unless identifiers are kept, sanitise them."""
    ordered, label = order_source_slices(source, t2w)
    if keep_identifiers:
        return ReferenceSlices(datasets=tuple(ordered), series_label=label, identifiers=())
    found: set[str] = set()
    for keyword in _IDENTIFYING_KEYWORDS:
        value = ordered[0].get(keyword)
        for item in value if isinstance(value, MultiValue) else [value]:
            text = str(item or "").strip().strip("^")
            if len(text) >= _MIN_IDENTIFIER_CHARS and text != pseudonym:
                found.add(text)
    return ReferenceSlices(
        datasets=tuple(_sanitised(ds, pseudonym) for ds in ordered),
        series_label=label,
        identifiers=tuple(sorted(found)),
    )


def _text_values(dataset: Dataset) -> Iterator[str]:
    for element in dataset.iterall():
        if element.VR in _TEXT_VRS and element.value not in (None, ""):
            values = element.value if element.VM > 1 else [element.value]
            yield from (str(v) for v in values)


def check_no_identifiers(dataset: Dataset, refs: ReferenceSlices, *, what: str) -> None:
    """Raise when a text value of ``dataset`` contains an identifier of the source.

    A guard against highdicom (or a later change) copying identifiers from the source; the
    message never repeats the identifier.
    """
    if not refs.identifiers:
        return
    # Whole tokens only, so that a numeric ID does not match inside an unrelated number.
    pattern = re.compile(
        "|".join(
            rf"(?<![0-9a-z.]){re.escape(i.lower())}(?![0-9a-z]|\.[0-9])" for i in refs.identifiers
        )
    )
    for text in _text_values(dataset):
        if pattern.search(text.lower()):
            raise ProcessingError(
                f"{what}: a source patient identifier reached the output; nothing was written",
                series=refs.series_label,
                fix="report this as a bug; use keep_identifiers=True only when asked for",
            )


def apply_pseudonym(dataset: Dataset, pseudonym: str) -> None:
    """Set the patient module of a written object to the pseudonym, explicitly (after highdicom)."""
    dataset.PatientName = f"{pseudonym}^"
    dataset.PatientID = pseudonym
    dataset.PatientBirthDate = ""
    dataset.PatientSex = ""
    for keyword in ("OtherPatientIDs", "OtherPatientNames", "OtherPatientIDsSequence"):
        if keyword in dataset:
            delattr(dataset, keyword)


def add_research_statement(dataset: Dataset) -> None:
    """ImageComments (LT) carries the full statement; ContentDescription (LO) the short one."""
    dataset.ImageComments = RESEARCH_USE_STATEMENT
    dataset.ContentDescription = RESEARCH_SHORT


def save_dataset(dataset: Dataset, target: Path) -> Path:
    """Write a DICOM file atomically (temporary name in the same folder, then rename)."""
    with atomic_path(target) as tmp:
        dataset.save_as(tmp, enforce_file_format=True)
    return target
