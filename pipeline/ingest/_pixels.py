"""Pixel data: read each file once, cut frames / mosaic tiles, apply RescaleSlope/Intercept."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from pipeline.errors import DicomError
from pipeline.ingest._crawl import GZIP_MAGIC, read_dataset
from pipeline.ingest._headers import PixelFormat, SliceRecord
from pipeline.ingest._mosaic import tile

#: Native (uncompressed) little-endian transfer syntaxes read by :func:`read_native`.
NATIVE_LITTLE_ENDIAN = frozenset({"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"})
_PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"


class PixelCache:
    """Pixel arrays of the files of one series, read on first use (kept for one load)."""

    def __init__(self) -> None:
        self._arrays: dict[Path, npt.NDArray[np.generic]] = {}

    def array(
        self, file: Path, *, series: str, record: SliceRecord | None = None
    ) -> npt.NDArray[np.generic]:
        if file not in self._arrays:
            fast = None if record is None else read_native(record)
            self._arrays[file] = fast if fast is not None else _read_pixels(file, series=series)
        return self._arrays[file]


def read_native(record: SliceRecord) -> npt.NDArray[np.generic] | None:
    """Pixels of a native little-endian file read straight from its last bytes, or ``None``.

    The header scan already knows rows, columns, frames and bits; in an uncompressed file
    Pixel Data (7FE0,0010) is the last element, so its value is the file's last
    ``rows * columns * frames * bytes`` bytes. They are used only when the element header just
    before them is (7FE0,0010) with exactly that length; anything else (compressed or
    big-endian data, trailing elements, signed data with unused high bits, colour, gzip)
    returns ``None`` and the file is read by pydicom. Unused high bits of unsigned data are
    masked off, as pydicom does.
    """
    fmt: PixelFormat | None = record.pixel_format
    if fmt is None or fmt.transfer_syntax not in NATIVE_LITTLE_ENDIAN:
        return None
    if fmt.samples_per_pixel != 1 or fmt.bits_allocated not in (8, 16, 32):
        return None
    signed = fmt.pixel_representation == 1
    if signed and fmt.bits_stored != fmt.bits_allocated:  # needs sign extension: pydicom
        return None
    count = fmt.rows * fmt.columns * max(fmt.n_frames, 1)
    n_bytes = count * fmt.bits_allocated // 8
    length = n_bytes + (n_bytes % 2)
    try:
        data = record.file.read_bytes()
    except OSError:
        return None
    start = len(data) - length
    if count == 0 or start < 12 or data[:2] == GZIP_MAGIC:
        return None
    size = struct.pack("<I", length)
    explicit = data[start - 12 : start - 8] == _PIXEL_DATA_TAG and data[start - 4 : start] == size
    implicit = data[start - 8 : start] == _PIXEL_DATA_TAG + size
    if not (explicit or implicit):
        return None
    dtype = np.dtype(f"<{'i' if signed else 'u'}{fmt.bits_allocated // 8}")
    array = np.frombuffer(data, dtype=dtype, count=count, offset=start)
    if 0 < fmt.bits_stored < fmt.bits_allocated:  # unused high bits are not pixel data
        array = array & dtype.type((1 << fmt.bits_stored) - 1)
    if fmt.n_frames > 1:
        return array.reshape(fmt.n_frames, fmt.rows, fmt.columns)
    return array.reshape(fmt.rows, fmt.columns)


def _read_pixels(file: Path, *, series: str) -> npt.NDArray[np.generic]:
    try:
        ds = read_dataset(file, pixels=True)
    except Exception as exc:  # any read failure is one bad file
        raise DicomError(
            f"cannot read the file ({type(exc).__name__}: {exc})", file=file, series=series
        ) from exc
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise DicomError("no pixel data", file=file, series=series, tag="(7FE0,0010) PixelData")
    try:
        array = ds.pixel_array
    except Exception as exc:  # truncated or undecodable pixel data
        raise DicomError(
            f"pixel data cannot be decoded ({type(exc).__name__}: {exc})",
            file=file,
            series=series,
            tag="(7FE0,0010) PixelData",
            fix="the file may be truncated or use a transfer syntax without an installed decoder",
        ) from exc
    return np.asarray(array)


def slice_pixels(record: SliceRecord, cache: PixelCache, *, series: str) -> npt.NDArray[np.float32]:
    """The 2-D image ``[row, column]`` of one record, rescaled, as float32."""
    array = cache.array(record.file, series=series, record=record)
    if record.frame is not None:
        if array.ndim < 3 or record.frame >= array.shape[0]:
            raise DicomError(
                f"frame {record.frame + 1} not in pixel data of shape {array.shape}",
                file=record.file,
                series=series,
                tag="(0028,0008) NumberOfFrames",
            )
        array = array[record.frame]
    elif record.tile is not None:
        array = tile(array, record.tile, record.mosaic_grid)
    if array.ndim != 2 or array.shape != (record.rows, record.columns):
        raise DicomError(
            f"pixel data of shape {array.shape}, expected ({record.rows}, {record.columns}) "
            "(color or unexpected layout)",
            file=record.file,
            series=series,
            tag="(0028,0010) Rows / (0028,0011) Columns",
        )
    slope, intercept = record.rescale
    out = array.astype(np.float32)
    if slope != 1.0 or intercept != 0.0:
        out = out * np.float32(slope) + np.float32(intercept)
    return out


def stack_pixels(
    records: Sequence[SliceRecord], cache: PixelCache, *, series: str
) -> npt.NDArray[np.float32]:
    """``[z, y, x]`` float32 array of records already sorted along the slice normal."""
    return np.stack([slice_pixels(r, cache, series=series) for r in records], axis=0)
