"""Walk a folder tree and read DICOM headers: images become :class:`SliceRecord`, masks are listed.

Any layout is accepted: flat or nested folders, files without a ``.dcm`` suffix, a DICOMDIR
(the files next to it are crawled; the DICOMDIR itself is skipped) and gzip-compressed files
(``.dcm.gz`` or any file starting with the gzip magic bytes).
"""

from __future__ import annotations

import gzip
import io
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from pipeline.config.series_rules import SeriesRulesConfig
from pipeline.ingest._bvalues import classic_diffusion
from pipeline.ingest._enhanced import enhanced_records, is_multiframe
from pipeline.ingest._fastdicom import read_fast_header
from pipeline.ingest._headers import (
    IMAGE_SOP_CLASSES,
    RTSTRUCT,
    SEG,
    HeaderSource,
    SliceRecord,
    as_float,
    as_int,
    orientation6,
    patient_identity,
    rescale_of,
    series_common,
    spacing2,
    text,
    vec3,
)
from pipeline.ingest._mosaic import is_mosaic, mosaic_records
from pipeline.study import PatientIdentity

logger = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b"
#: Suffixes that announce DICOM; such a file that cannot be read is an error, not a skip.
DICOM_SUFFIXES = (".dcm", ".dicom", ".ima", ".dcm.gz")
#: Suffixes of files that are never DICOM: skipped (and counted) without being opened, so that
#: large NIfTI/MHA files of a mixed folder are not decompressed just to be rejected.
NOT_DICOM_SUFFIXES = (
    ".nii", ".nii.gz", ".mha", ".mhd", ".nrrd", ".nhdr", ".bval", ".bvec", ".json", ".txt",
    ".csv", ".tsv", ".md", ".yaml", ".yml", ".html", ".pdf", ".png", ".jpg", ".jpeg",
)  # fmt: skip


class NotDicomError(Exception):
    """The file is not DICOM (skipped and counted, not an error)."""


@dataclass(frozen=True)
class MaskFile:
    """An RTSTRUCT or SEG found in the tree (read fully at load time)."""

    file: Path
    study_uid: str
    kind: str  # "rtstruct" | "seg"


@dataclass
class CrawlResult:
    """Everything the header pass found."""

    records: list[SliceRecord] = field(default_factory=list)
    masks: list[MaskFile] = field(default_factory=list)
    identities: dict[str, PatientIdentity] = field(default_factory=dict)
    skipped: int = 0
    errors: list[str] = field(default_factory=list)


def iter_files(root: Path) -> Iterator[Path]:
    """Every regular file under ``root`` (or ``root`` itself), in sorted order."""
    if root.is_file():
        yield root
        return
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            yield path


def _open(path: Path) -> BinaryIO:
    with path.open("rb") as handle:
        head = handle.read(2)
    if head == GZIP_MAGIC:
        with gzip.open(path, "rb") as handle:
            return io.BytesIO(handle.read())
    return path.open("rb")


def looks_like_dicom_name(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(DICOM_SUFFIXES)


def read_dataset(path: Path, *, pixels: bool) -> Dataset:
    """Read one DICOM file (gzip allowed).

    Raises
    ------
    NotDicomError
        The file is empty or holds no DICOM header.
    OSError, ValueError, EOFError
        The file is DICOM but unreadable (truncated, corrupt).
    """
    if path.stat().st_size == 0:
        raise NotDicomError("empty file (0 bytes)")
    try:
        with _open(path) as handle:
            try:
                return pydicom.dcmread(handle, stop_before_pixels=not pixels)
            except InvalidDicomError:
                handle.seek(0)
                try:
                    ds = pydicom.dcmread(handle, stop_before_pixels=not pixels, force=True)
                except Exception as exc:  # forced reads of junk fail in any way
                    raise NotDicomError("no DICOM header (no 'DICM' preamble)") from exc
                if "SOPClassUID" not in ds or "StudyInstanceUID" not in ds:
                    raise NotDicomError("no DICOM header (no 'DICM' preamble)") from None
                return ds
    except (gzip.BadGzipFile, EOFError) as exc:
        raise OSError(f"cannot decompress or read: {exc}") from exc


def classic_record(ds: HeaderSource, path: Path, rules: SeriesRulesConfig) -> SliceRecord:
    """The record of a classic single-frame image."""
    return SliceRecord(
        **series_common(ds, path),
        pixel_spacing=spacing2(ds.get("PixelSpacing")),
        position=vec3(ds.get("ImagePositionPatient")),
        orientation=orientation6(ds.get("ImageOrientationPatient")),
        slice_thickness=as_float(ds.get("SliceThickness")),
        spacing_between_slices=as_float(ds.get("SpacingBetweenSlices")),
        echo_time=as_float(ds.get("EchoTime")),
        temporal_position=as_int(ds.get("TemporalPositionIdentifier")),
        rescale=rescale_of(ds),
        diffusion=classic_diffusion(ds, rules),
    )


def records_of(ds: HeaderSource, path: Path, rules: SeriesRulesConfig) -> list[SliceRecord]:
    """Image records of one dataset (frames of a multi-frame file, tiles of a mosaic)."""
    if is_multiframe(ds):
        return enhanced_records(ds, path, rules)
    record = classic_record(ds, path, rules)
    if is_mosaic(ds):
        return mosaic_records(ds, record)
    return [record]


def crawl(root: Path, rules: SeriesRulesConfig) -> CrawlResult:
    """Read the header of every file under ``root`` (no pixel data).

    Headers are read by the fast reader (:mod:`._fastdicom`) where it can; any file it
    declines, and any file whose header it cannot answer for, is read by pydicom.
    """
    result = CrawlResult()
    for path in iter_files(root):
        if path.name.lower().endswith(NOT_DICOM_SUFFIXES):
            result.skipped += 1
            continue
        outcome = _fast_outcome(path, rules, result.identities)
        if outcome is None:
            outcome = _pydicom_outcome(path, rules, result.identities)
        _apply(result, outcome)
    return result


@dataclass(frozen=True)
class _Outcome:
    """What one file adds to a :class:`CrawlResult`."""

    records: tuple[SliceRecord, ...] = ()
    mask: MaskFile | None = None
    identity: tuple[str, PatientIdentity] | None = None
    error: str | None = None  # skipped with this message (a warning)
    skipped: bool = False


def _apply(result: CrawlResult, outcome: _Outcome) -> None:
    if outcome.error is not None:
        result.errors.append(outcome.error)
        logger.warning(outcome.error)
    if outcome.skipped:
        result.skipped += 1
    if outcome.mask is not None:
        result.masks.append(outcome.mask)
    result.records.extend(outcome.records)
    if outcome.identity is not None:
        result.identities.setdefault(*outcome.identity)


def _fast_outcome(
    path: Path, rules: SeriesRulesConfig, identities: Mapping[str, PatientIdentity]
) -> _Outcome | None:
    """The file read by the fast header reader, or ``None`` when pydicom must read it."""
    ds = read_fast_header(path)
    if ds is None:
        return None
    try:
        return _examine(ds, path, rules, identities)
    except Exception:  # FastReadError, or anything odd: pydicom reads it and says what is wrong
        return None


def _pydicom_outcome(
    path: Path, rules: SeriesRulesConfig, identities: Mapping[str, PatientIdentity]
) -> _Outcome:
    try:
        ds = read_dataset(path, pixels=False)
    except NotDicomError as exc:
        if looks_like_dicom_name(path):
            return _Outcome(
                error=f"file {path}: not readable as DICOM ({exc}); skipped", skipped=True
            )
        return _Outcome(skipped=True)
    except Exception as exc:  # one bad file must not stop the crawl
        return _unreadable(path, exc)
    try:
        return _examine(ds, path, rules, identities)
    except Exception as exc:  # pydicom decodes on access: e.g. a number of the wrong length
        return _unreadable(path, exc)


def _unreadable(path: Path, exc: Exception) -> _Outcome:
    return _Outcome(
        error=f"file {path}: unreadable DICOM header ({type(exc).__name__}: {exc}); skipped",
        skipped=True,
    )


def _examine(
    ds: HeaderSource,
    path: Path,
    rules: SeriesRulesConfig,
    identities: Mapping[str, PatientIdentity],
) -> _Outcome:
    """Classify one header: image records, a mask, or a skip (with a message when odd)."""
    meta = getattr(ds, "file_meta", None)
    sop_class = text(ds, "SOPClassUID") or (text(meta, "MediaStorageSOPClassUID") if meta else "")
    study_uid = text(ds, "StudyInstanceUID")
    if not sop_class:
        return _Outcome(
            error=f"file {path}: DICOM header without SOPClassUID (0008,0016) (truncated or "
            "incomplete); skipped",
            skipped=True,
        )
    if sop_class in (RTSTRUCT, SEG):
        kind = "rtstruct" if sop_class == RTSTRUCT else "seg"
        return _Outcome(mask=MaskFile(file=path, study_uid=study_uid, kind=kind))
    if sop_class not in IMAGE_SOP_CLASSES and not (
        "ImagePositionPatient" in ds or "PerFrameFunctionalGroupsSequence" in ds
    ):
        # DICOMDIR, presentation states, private non-image objects
        logger.debug("file %s: not an image (SOP class %s); skipped", path, sop_class)
        return _Outcome(skipped=True)
    if not study_uid or not text(ds, "SeriesInstanceUID"):
        return _Outcome(
            error=f"file {path}: missing StudyInstanceUID (0020,000D) or SeriesInstanceUID "
            "(0020,000E); skipped",
            skipped=True,
        )
    try:
        records = records_of(ds, path, rules)
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        return _Outcome(
            error=f"file {path}: cannot read image header ({exc}); skipped", skipped=True
        )
    identity = None if study_uid in identities else (study_uid, patient_identity(ds))
    return _Outcome(records=tuple(records), identity=identity)


def header_records(path: Path, rules: SeriesRulesConfig) -> list[SliceRecord]:
    """Image records of one file (fast reader, else pydicom); raises when unreadable."""
    fast = read_fast_header(path)
    if fast is not None:
        try:
            return records_of(fast, path, rules)
        except Exception:  # FastReadError or anything odd: pydicom reads it and says why
            pass
    return records_of(read_dataset(path, pixels=False), path, rules)
