"""Siemens mosaic: one file holds all slices of a volume as tiles of one large image.

The number of slices comes from the CSA image header (``NumberOfImagesInMosaic``) or the
private tag (0019,100A); tiles are laid out row by row on a ``ceil(sqrt(n))`` grid.
ImagePositionPatient of a mosaic refers to the whole mosaic and is moved to the first tile;
slice ``i`` lies ``i * spacing`` mm along the CSA ``SliceNormalVector``.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from pipeline.ingest._bvalues import SIEMENS_CSA, SIEMENS_MR
from pipeline.ingest._csa import csa_float, csa_floats, parse_csa2
from pipeline.ingest._headers import HeaderSource, SliceRecord, as_int, private_value


def is_mosaic(ds: HeaderSource) -> bool:
    image_type = [str(v).upper() for v in (ds.get("ImageType") or ())]
    return "MOSAIC" in image_type


def mosaic_count(ds: HeaderSource) -> int | None:
    """Number of slices in the mosaic, or ``None`` when it cannot be found."""
    raw = private_value(ds, 0x0029, SIEMENS_CSA, 0x10)
    csa = parse_csa2(raw) if isinstance(raw, bytes) else {}
    count = csa_float(csa, "NumberOfImagesInMosaic")
    if count is None:
        count = as_int(private_value(ds, 0x0019, SIEMENS_MR, 0x0A))
    return None if count is None or count < 1 else int(count)


def mosaic_records(ds: HeaderSource, record: SliceRecord) -> list[SliceRecord]:
    """Split the record of a mosaic file into one record per tile, positions corrected.

    Raises
    ------
    ValueError
        When the slice count or geometry needed to split the mosaic is missing.
    """
    count = mosaic_count(ds)
    if count is None:
        raise ValueError("mosaic without NumberOfImagesInMosaic (CSA header or (0019,100A))")
    grid = math.ceil(math.sqrt(count))
    if record.rows % grid or record.columns % grid:
        raise ValueError(f"mosaic of {record.rows}x{record.columns} does not split into {grid}^2")
    rows, cols = record.rows // grid, record.columns // grid
    if record.position is None or record.orientation is None or record.pixel_spacing is None:
        return [
            replace(record, rows=rows, columns=cols, tile=i, mosaic_grid=grid) for i in range(count)
        ]
    row_dir = np.asarray(record.orientation[:3])
    col_dir = np.asarray(record.orientation[3:])
    row_spacing, col_spacing = record.pixel_spacing
    first = (
        np.asarray(record.position)
        + row_dir * col_spacing * (record.columns - cols) / 2.0
        + col_dir * row_spacing * (record.rows - rows) / 2.0
    )
    raw = private_value(ds, 0x0029, SIEMENS_CSA, 0x10)
    csa = parse_csa2(raw) if isinstance(raw, bytes) else {}
    normal = np.asarray(csa_floats(csa, "SliceNormalVector") or np.cross(row_dir, col_dir))
    normal = normal / np.linalg.norm(normal)
    step = record.spacing_between_slices or record.slice_thickness or 1.0
    out = []
    for i in range(count):
        pos = first + normal * step * i
        out.append(
            replace(
                record,
                rows=rows,
                columns=cols,
                tile=i,
                mosaic_grid=grid,
                position=(float(pos[0]), float(pos[1]), float(pos[2])),
            )
        )
    return out


def tile(array: npt.NDArray[np.generic], index: int, grid: int) -> npt.NDArray[np.generic]:
    """Tile ``index`` (row-major on a ``grid x grid`` layout) of a mosaic pixel array."""
    rows, cols = array.shape[0] // grid, array.shape[1] // grid
    r, c = divmod(index, grid)
    return array[r * rows : (r + 1) * rows, c * cols : (c + 1) * cols]
