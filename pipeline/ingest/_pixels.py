"""Pixel data: read each file once, cut frames / mosaic tiles, apply RescaleSlope/Intercept."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from pipeline.errors import DicomError
from pipeline.ingest._crawl import read_dataset
from pipeline.ingest._headers import SliceRecord
from pipeline.ingest._mosaic import tile


class PixelCache:
    """Pixel arrays of the files of one series, read on first use (kept for one load)."""

    def __init__(self) -> None:
        self._arrays: dict[Path, npt.NDArray[np.generic]] = {}

    def array(self, file: Path, *, series: str) -> npt.NDArray[np.generic]:
        if file not in self._arrays:
            self._arrays[file] = _read_pixels(file, series=series)
        return self._arrays[file]


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
    array = cache.array(record.file, series=series)
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
