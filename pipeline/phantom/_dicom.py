"""Writing the phantom's images as classic single-frame MR Image Storage DICOM files.

Explicit VR little endian, one file per slice (and per b-value), full patient / study /
series / frame-of-reference / equipment / image-plane / MR-image modules. UIDs come from
:func:`make_uid`, deterministic for the case's seed.
"""

from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom import dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from pipeline.phantom._geometry import Grid
from pipeline.phantom._identity import PatientIdentity
from pipeline.phantom._physics import Rescale
from pipeline.phantom._vendor import VendorStyle

IMPLEMENTATION_VERSION = "CCR_PHANTOM_1"


def make_uid(*parts: object) -> str:
    """A DICOM UID derived only from ``parts`` (so the same seed gives the same UIDs)."""
    return str(generate_uid(entropy_srcs=[str(p) for p in parts]))


class FileNamer:
    """Neutral file names within one study folder (``IM0001.dcm``, ``00000417``, ...)."""

    def __init__(self, style: VendorStyle, rng: np.random.Generator) -> None:
        self._style = style
        self._counter = 0
        self._pool = (
            rng.permutation(np.arange(1, 9999))[:4000] if style.random_file_numbers else None
        )

    def next(self) -> str:
        self._counter += 1
        pool = self._pool
        if pool is not None and self._counter <= len(pool):
            number = int(pool[self._counter - 1])
        else:
            number = self._counter + (10_000 if pool is not None else 0)
        return self._style.file_pattern.format(number) + self._style.file_suffix


@dataclass
class StudyWriter:
    """Shared context for writing the series of one study into ``folder``."""

    folder: Path
    patient: PatientIdentity
    style: VendorStyle
    uid_seed: tuple[object, ...]
    date: dt.date
    accession: str
    study_id: str
    namer: FileNamer
    charset: str = "ISO_IR 100"
    study_time: str = "081500"
    written: list[Path] = field(default_factory=list)

    @property
    def study_uid(self) -> str:
        return make_uid(*self.uid_seed, "study")

    @property
    def frame_uid(self) -> str:
        return make_uid(*self.uid_seed, "frame-of-reference")

    def series_time(self, number: int) -> str:
        minutes = 8 * 60 + 15 + (number % 97) // 2
        return f"{minutes // 60:02d}{minutes % 60:02d}{(number * 7) % 60:02d}"

    def base_dataset(self, sop_class: str, sop_uid: str) -> Dataset:
        """A dataset with the SOP common, patient, study and equipment modules filled in."""
        ds = Dataset()
        ds.SpecificCharacterSet = self.charset
        ds.SOPClassUID = sop_class
        ds.SOPInstanceUID = sop_uid
        date = self.date.strftime("%Y%m%d")
        ds.InstanceCreationDate = date
        ds.StudyDate = date
        ds.StudyTime = self.study_time
        ds.AccessionNumber = self.accession
        ds.ReferringPhysicianName = ""
        ds.StudyDescription = "MRI PELVIS RECTUM"
        ds.PatientName = self.patient.name
        ds.PatientID = self.patient.patient_id
        ds.PatientBirthDate = self.patient.birth_date
        ds.PatientSex = self.patient.sex
        ds.PatientAge = self.patient.age_at(self.date)
        ds.StudyInstanceUID = self.study_uid
        ds.StudyID = self.study_id
        ds.Manufacturer = self.style.manufacturer
        ds.InstitutionName = self.patient.institution
        ds.ManufacturerModelName = self.style.model
        ds.SoftwareVersions = self.style.software
        ds.DeviceSerialNumber = str(zlib.crc32(self.style.model.encode()) % 100000).zfill(5)
        ds.StationName = "MRC" + self.style.model.split()[-1][:4].upper()
        return ds

    def save(self, ds: Dataset) -> Path:
        """Write ``ds`` as a DICOM file (explicit VR little endian) with a neutral name."""
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationVersionName = IMPLEMENTATION_VERSION
        ds.file_meta = meta
        path = self.folder / self.namer.next()
        dcmwrite(path, ds, enforce_file_format=True)
        self.written.append(path)
        return path


@dataclass(frozen=True)
class SeriesSpec:
    """What to write for one MR series."""

    role: str  # t2w | dwi | adc
    grid: Grid
    images: dict[int | None, npt.NDArray[np.uint16]]  # b-value (None: not DWI) -> [z, y, x]
    rescale: Rescale
    b_values: tuple[int, ...] = ()
    phase_encode: str = "COL"
    uid_tag: str = ""
    slice_thickness: float | None = None


@dataclass(frozen=True)
class WrittenSeries:
    """A written series: UIDs, files and datasets (datasets of the first image per slice)."""

    series_uid: str
    series_number: int
    description: str
    files: tuple[Path, ...]
    datasets: tuple[Dataset, ...]  # spatial order, lowest-b image for DWI
    b_value_tags: dict[int, list[str]]


def _instance_order(style: VendorStyle, n: int, rng: np.random.Generator) -> list[int]:
    if style.slice_order == "descending":
        return list(range(n - 1, -1, -1))
    if style.slice_order == "shuffled":
        return [int(i) for i in rng.permutation(n)]
    return list(range(n))


def _window(values: npt.NDArray[np.float64]) -> tuple[float, float]:
    lo, hi = np.percentile(values, [1.0, 99.5])
    return round(float(0.5 * (lo + hi)), 1), round(max(float(hi - lo), 1.0), 1)


def write_mr_series(
    writer: StudyWriter, spec: SeriesSpec, rng: np.random.Generator
) -> WrittenSeries:
    """Write one MR series, one file per slice and b-value, in the vendor's instance order."""
    style = writer.style
    number = style.series_number(spec.role)
    description = style.description(spec.role, spec.b_values or (0,))
    series_uid = make_uid(*writer.uid_seed, "series", spec.role, spec.uid_tag)
    grid = spec.grid
    nx, ny, nz = grid.size
    direction = np.asarray(grid.direction).reshape(3, 3)
    orientation = [round(float(v), 9) for v in (*direction[:, 0], *direction[:, 1])]
    keys = list(spec.images)
    order = _instance_order(style, nz, rng)
    files: dict[tuple[int, int], Path] = {}
    datasets: dict[int, Dataset] = {}
    tags: dict[int, list[str]] = {}
    sample = np.concatenate(
        [spec.rescale.to_values(img[::2, ::4, ::4]).ravel() for img in spec.images.values()]
    )
    center, width = _window(sample)
    series_time = writer.series_time(number)
    for b_index, key in enumerate(keys):
        volume = spec.images[key]
        for k in range(nz):
            if style.dwi_order == "slice_major":
                instance = order[k] * len(keys) + b_index + 1
            else:
                instance = b_index * nz + order[k] + 1
            sop_uid = make_uid(*writer.uid_seed, "sop", spec.role, spec.uid_tag, key, k)
            ds = writer.base_dataset(MRImageStorage, sop_uid)
            ds.ImageType = style.image_type(spec.role)
            ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = ds.StudyDate
            ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = series_time
            ds.Modality = "MR"
            ds.SeriesDescription = description
            ds.ProtocolName = description
            ds.BodyPartExamined = "PELVIS"
            ds.PatientPosition = "HFS"
            ds.SeriesInstanceUID = series_uid
            ds.SeriesNumber = number
            ds.AcquisitionNumber = 1
            ds.InstanceNumber = instance
            ds.FrameOfReferenceUID = writer.frame_uid
            ds.PositionReferenceIndicator = ""
            for name, value in style.sequence(spec.role, key).items():
                setattr(ds, name, value)
            ds.MRAcquisitionType = "2D"
            ds.NumberOfAverages = 2 if spec.role == "t2w" else 4
            ds.ImagingFrequency = round(42.577478 * style.field_strength, 6)
            ds.ImagedNucleus = "1H"
            ds.MagneticFieldStrength = style.field_strength
            ds.PixelBandwidth = 200.0 if spec.role == "t2w" else 1800.0
            ds.AcquisitionMatrix = [0, nx, ny, 0] if spec.phase_encode == "COL" else [nx, 0, 0, ny]
            ds.InPlanePhaseEncodingDirection = spec.phase_encode
            ds.SliceThickness = round(spec.slice_thickness or grid.spacing[2], 6)
            ds.SpacingBetweenSlices = round(grid.spacing[2], 6)
            ds.PixelSpacing = [round(grid.spacing[1], 6), round(grid.spacing[0], 6)]
            position = grid.slice_position(k)
            ds.ImagePositionPatient = [round(float(v), 6) for v in position]
            ds.ImageOrientationPatient = orientation
            ds.SliceLocation = round(float(position @ direction[:, 2]), 6)
            if key is not None:
                tags[key] = style.write_b_value(ds, key)
            ds.SamplesPerPixel = 1
            ds.PhotometricInterpretation = "MONOCHROME2"
            ds.Rows = ny
            ds.Columns = nx
            ds.BitsAllocated = 16
            ds.BitsStored = 16
            ds.HighBit = 15
            ds.PixelRepresentation = 0
            ds.WindowCenter = center
            ds.WindowWidth = width
            if spec.rescale.written:
                ds.RescaleIntercept = spec.rescale.intercept
                ds.RescaleSlope = spec.rescale.slope
                ds.RescaleType = "US"
            ds.PixelData = np.ascontiguousarray(volume[k]).tobytes()
            files[(b_index, k)] = writer.save(ds)
            if b_index == 0:
                datasets[k] = ds
    ordered = [files[(b, k)] for b in range(len(keys)) for k in range(nz)]
    return WrittenSeries(
        series_uid, number, description, tuple(ordered), tuple(datasets[k] for k in range(nz)), tags
    )


def describe_series(series: WrittenSeries, root: Path) -> dict[str, Any]:
    return {
        "series_instance_uid": series.series_uid,
        "series_number": series.series_number,
        "series_description": series.description,
        "files": [p.relative_to(root).as_posix() for p in series.files],
        "b_value_tags": {str(b): t for b, t in series.b_value_tags.items()},
    }
