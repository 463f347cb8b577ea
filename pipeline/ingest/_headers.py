"""One record per 2-D image in a DICOM header: what grouping, classification and geometry need.

A classic image file gives one :class:`SliceRecord`; an Enhanced MR file gives one per frame
(:mod:`._enhanced`); a Siemens mosaic gives one per tile (:mod:`._mosaic`). Identifiers (patient
name, ID, birth date) are never stored here; :func:`patient_identity` reads them on request.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pipeline.ingest._fastdicom import FastDataset
from pipeline.study import PatientIdentity

Vec3 = tuple[float, float, float]
Orientation = tuple[float, float, float, float, float, float]

#: SOP classes read as images (classic and enhanced MR, CT, secondary capture excluded).
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
ENHANCED_MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4.1"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
ENHANCED_CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2.1"
IMAGE_SOP_CLASSES = frozenset({MR_IMAGE, ENHANCED_MR_IMAGE, CT_IMAGE, ENHANCED_CT_IMAGE})
RTSTRUCT = "1.2.840.10008.5.1.4.1.1.481.3"
SEG = "1.2.840.10008.5.1.4.1.1.66.4"


class HeaderSource(Protocol):
    """What the header code asks of a dataset: a pydicom ``Dataset`` or a fast header.

    ``get(keyword)`` gives the value, ``get((group, element))`` an element with ``.value``
    (``default`` when absent); ``key in ds`` tests presence. Sequences are lists of
    datasets of the same kind.
    """

    def get(self, key: Any, default: Any = None) -> Any: ...

    def __contains__(self, key: Any) -> bool: ...


@dataclass(frozen=True)
class DiffusionInfo:
    """Diffusion weighting of one image.

    ``b_raw`` is the value as stored (kept to tell repeated b=0 volumes apart); ``b_value`` is
    the value after vendor corrections (GE offset removed, Philips dummy values set to 0), in
    s/mm^2. ``gradient`` is the unit gradient direction (LPS) when given; ``trace`` is true
    for isotropic / trace-weighted images.
    """

    b_raw: float | None = None
    b_value: float | None = None
    source: str = ""
    gradient: Vec3 | None = None
    trace: bool = False


@dataclass(frozen=True)
class PixelFormat:
    """How a file stores its pixels, read from the header (used to read native data fast)."""

    transfer_syntax: str
    bits_allocated: int
    bits_stored: int
    pixel_representation: int
    samples_per_pixel: int
    n_frames: int
    rows: int
    columns: int


@dataclass(frozen=True)
class SliceRecord:
    """One 2-D image (a file, a frame of a multi-frame file, or a tile of a mosaic).

    ``position`` is the LPS centre of the first pixel (ImagePositionPatient) in mm;
    ``orientation`` the row and column direction cosines (ImageOrientationPatient);
    ``pixel_spacing`` is ``(row spacing, column spacing)`` in mm as DICOM stores it.
    """

    file: Path
    study_uid: str
    series_uid: str
    sop_uid: str
    series_number: int | None
    description: str
    protocol: str
    image_type: tuple[str, ...]
    scanning_sequence: tuple[str, ...]
    modality: str
    vendor: str
    rows: int
    columns: int
    pixel_spacing: tuple[float, float] | None
    position: Vec3 | None
    orientation: Orientation | None
    slice_thickness: float | None
    spacing_between_slices: float | None
    frame_of_reference_uid: str | None
    instance_number: int | None
    acquisition_number: int | None
    echo_time: float | None
    temporal_position: int | None
    rescale: tuple[float, float]
    diffusion: DiffusionInfo
    study_date: str = ""
    frame: int | None = None
    tile: int | None = None
    mosaic_grid: int = 0
    pixel_format: PixelFormat | None = None

    @property
    def where(self) -> str:
        """File name plus frame or tile, for messages."""
        text = str(self.file)
        if self.frame is not None:
            text += f" frame {self.frame + 1}"
        if self.tile is not None:
            text += f" tile {self.tile + 1}"
        return text


# ---------------------------------------------------------------------- value helpers
def text(ds: HeaderSource, keyword: str) -> str:
    """A tag's value as stripped text ('' when absent)."""
    value = ds.get(keyword)
    return "" if value is None else str(value).strip()


def as_float(value: Any) -> float | None:
    """A DS/FD/IS value (or bytes holding one) as float; ``None`` when not a number."""
    values = as_floats(value)
    return values[0] if values else None


def as_floats(value: Any) -> list[float]:
    """A multi-valued numeric element (or bytes / backslash text) as floats."""
    if value is None:
        return []
    if isinstance(value, bytes):
        value = value.decode("latin-1", errors="replace").strip("\x00 ").split("\\")
    if isinstance(value, str):
        value = value.split("\\")
    if not isinstance(value, list | tuple) and not hasattr(value, "__iter__"):
        value = [value]
    out: list[float] = []
    try:
        for item in value:
            out.append(float(item))
    except (TypeError, ValueError):
        return []
    return out


def as_int(value: Any) -> int | None:
    number = as_float(value)
    return None if number is None else round(number)


def private_value(ds: HeaderSource, group: int, creators: tuple[str, ...], element: int) -> Any:
    """Value of a private element, found through its creator when the creator is present.

    ``element`` is the low byte (e.g. ``0x0C`` for (0019,xx0C)). When no matching creator
    is found, the conventional block ``0x10`` is read (de-identified files often keep the
    data but drop creators). Use :class:`PrivateTags` to look up several elements.
    """
    return PrivateTags(ds).value(group, creators, element)


class PrivateTags:
    """Private elements of one dataset; each group's creators are read once.

    Creators are read from slot (gggg,0010) on; a missing slot ends the search once past
    (gggg,0020).
    """

    def __init__(self, ds: HeaderSource) -> None:
        self._ds = ds
        self._creators: dict[int, dict[int, str]] = {}

    def creators(self, group: int) -> dict[int, str]:
        """``{slot: creator name upper-cased}`` of ``group`` in ascending slot order."""
        found = self._creators.get(group)
        if found is None and isinstance(self._ds, FastDataset):
            found = self._creators[group] = self._ds.private_creators(group)
        if found is None:
            found = {}
            for slot in range(0x10, 0x100):
                creator = self._ds.get((group, slot))
                if creator is None:
                    if slot > 0x20:
                        break
                    continue
                found[slot] = str(creator.value).strip().upper()
            self._creators[group] = found
        return found

    def value(self, group: int, creators: tuple[str, ...], element: int) -> Any:
        """Value of (gggg,xxEE) in the block of the first creator named in ``creators``."""
        wanted = {c.upper() for c in creators}
        by_slot = self.creators(group)
        for slot, name in by_slot.items():
            if name in wanted:
                found = self._ds.get((group, (slot << 8) | element))
                return None if found is None else found.value
        if 0x10 in by_slot:  # the block belongs to another creator (another vendor)
            return None
        fallback = self._ds.get((group, 0x1000 | element))
        return None if fallback is None else fallback.value


def vec3(values: Any) -> Vec3 | None:
    items = as_floats(values)
    return (items[0], items[1], items[2]) if len(items) == 3 else None


def orientation6(values: Any) -> Orientation | None:
    items = as_floats(values)
    if len(items) != 6:
        return None
    return (items[0], items[1], items[2], items[3], items[4], items[5])


def spacing2(values: Any) -> tuple[float, float] | None:
    items = as_floats(values)
    return (items[0], items[1]) if len(items) == 2 and min(items) > 0 else None


def rescale_of(ds: HeaderSource) -> tuple[float, float]:
    """``(slope, intercept)`` with defaults 1 and 0."""
    slope = as_float(ds.get("RescaleSlope"))
    intercept = as_float(ds.get("RescaleIntercept"))
    return (1.0 if slope in (None, 0.0) else float(slope), intercept or 0.0)


def patient_identity(ds: HeaderSource) -> PatientIdentity:
    """Identifiers kept only for explicit copying into outputs; never logged."""
    return PatientIdentity(
        patient_id=text(ds, "PatientID"),
        patient_name=text(ds, "PatientName"),
        birth_date=text(ds, "PatientBirthDate"),
        sex=text(ds, "PatientSex"),
    )


def series_common(ds: HeaderSource, file: Path) -> dict[str, Any]:
    """Fields shared by every record of one file (classic, enhanced and mosaic)."""
    return {
        "file": file,
        "study_uid": text(ds, "StudyInstanceUID"),
        "series_uid": text(ds, "SeriesInstanceUID"),
        "sop_uid": text(ds, "SOPInstanceUID"),
        "series_number": as_int(ds.get("SeriesNumber")),
        "description": text(ds, "SeriesDescription"),
        "protocol": text(ds, "ProtocolName"),
        "image_type": tuple(str(v).strip().upper() for v in (ds.get("ImageType") or ())),
        "scanning_sequence": tuple(
            str(v).strip().upper() for v in as_list(ds.get("ScanningSequence"))
        ),
        "modality": text(ds, "Modality") or "MR",
        "vendor": text(ds, "Manufacturer"),
        "rows": as_int(ds.get("Rows")) or 0,
        "columns": as_int(ds.get("Columns")) or 0,
        "frame_of_reference_uid": text(ds, "FrameOfReferenceUID") or None,
        "instance_number": as_int(ds.get("InstanceNumber")),
        "acquisition_number": as_int(ds.get("AcquisitionNumber")),
        "study_date": text(ds, "StudyDate"),
        "pixel_format": pixel_format(ds),
    }


def pixel_format(ds: HeaderSource) -> PixelFormat | None:
    """The pixel storage of a dataset, or ``None`` when a tag is missing."""
    meta = getattr(ds, "file_meta", None)
    syntax = text(meta, "TransferSyntaxUID") if meta is not None else ""
    bits = as_int(ds.get("BitsAllocated"))
    if not syntax or bits is None:
        return None
    return PixelFormat(
        transfer_syntax=syntax,
        bits_allocated=bits,
        bits_stored=as_int(ds.get("BitsStored")) or bits,
        pixel_representation=as_int(ds.get("PixelRepresentation")) or 0,
        samples_per_pixel=as_int(ds.get("SamplesPerPixel")) or 1,
        n_frames=as_int(ds.get("NumberOfFrames")) or 1,
        rows=as_int(ds.get("Rows")) or 0,
        columns=as_int(ds.get("Columns")) or 0,
    )


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    try:
        return list(value)
    except TypeError:
        return [value]
