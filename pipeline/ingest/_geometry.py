"""Slice geometry: sort along the slice normal and check that a regular grid can be trusted.

Slices are ordered by ImagePositionPatient projected on the normal ``row x column`` of
ImageOrientationPatient, never by InstanceNumber. Tolerances are module constants; beyond the
warn level a warning is recorded on the series, beyond the error level :class:`GeometryError`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.errors import GeometryError
from pipeline.ingest._headers import SliceRecord
from pipeline.volume import Mat3, Vec3

#: Orientation cosines of slices in one volume may differ by this much before a warning ...
ORIENTATION_WARN_TOL = 1e-4
#: ... and by this much before the volume is refused (mixed orientation).
ORIENTATION_ERROR_TOL = 1e-2
#: Slice gaps may differ from their median by this fraction before a warning ...
SPACING_WARN_RTOL = 0.01
#: ... and by this fraction before the volume is refused (missing slice, irregular spacing).
SPACING_ERROR_RTOL = 0.10
#: Two slices closer than this (mm, along the normal) are duplicates.
DUPLICATE_TOL_MM = 0.01
#: Slice stacking off the normal (gantry tilt / shear) warns above this angle (degrees) ...
TILT_WARN_DEG = 0.05
#: ... and is refused above this one (the regular grid would misplace voxels by >0.9 mm/100 mm).
TILT_ERROR_DEG = 0.5


@dataclass(frozen=True)
class Grid:
    """A checked slice stack: records sorted along the normal and the grid they define."""

    records: tuple[SliceRecord, ...]
    spacing: Vec3
    origin: Vec3
    direction: Mat3
    warnings: tuple[str, ...]


def normal_of(orientation: Sequence[float] | np.ndarray) -> np.ndarray:
    row = np.asarray(orientation[:3], dtype=float)
    col = np.asarray(orientation[3:], dtype=float)
    normal = np.cross(row, col)
    norm = float(np.linalg.norm(normal))
    if norm < 1e-6:
        raise GeometryError(
            f"ImageOrientationPatient {tuple(orientation)} has parallel row and column cosines",
            tag="(0020,0037)",
        )
    return normal / norm


def build_grid(records: Sequence[SliceRecord], *, series: str) -> Grid:
    """Sort the records of one volume along the slice normal and check the grid.

    Parameters
    ----------
    records
        One record per slice position, in any order.
    series
        Log-safe series label for messages.

    Raises
    ------
    GeometryError
        Missing position/orientation on every slice, mixed orientation, duplicate positions,
        missing slices or irregular spacing beyond :data:`SPACING_ERROR_RTOL`, or gantry tilt
        beyond :data:`TILT_ERROR_DEG`.
    """
    warnings: list[str] = []
    usable = []
    for record in records:
        if record.position is None or record.orientation is None or record.pixel_spacing is None:
            missing = (
                "ImagePositionPatient (0020,0032)" if record.position is None
                else "ImageOrientationPatient (0020,0037)" if record.orientation is None
                else "PixelSpacing (0028,0030)"
            )  # fmt: skip
            warnings.append(f"file {record.where}: no {missing}; slice left out")
            continue
        usable.append(record)
    if not usable:
        raise GeometryError(
            "no slice has ImagePositionPatient, ImageOrientationPatient and PixelSpacing",
            series=series,
            tag="(0020,0032)",
            fix="the series cannot be placed in space; re-export it from the scanner or PACS",
        )
    iops = np.asarray([r.orientation for r in usable], dtype=float)
    spread = float(np.max(np.abs(iops - iops[0])))
    if spread > ORIENTATION_ERROR_TOL:
        raise GeometryError(
            f"slices of one volume have different orientations (cosines differ by {spread:.3g}, "
            f"tolerance {ORIENTATION_ERROR_TOL})",
            series=series,
            tag="(0020,0037) ImageOrientationPatient",
        )
    if spread > ORIENTATION_WARN_TOL:
        warnings.append(f"slice orientations differ by up to {spread:.2g} (cosines)")
    orientation = iops.mean(axis=0)
    row = orientation[:3] / np.linalg.norm(orientation[:3])
    col = orientation[3:] / np.linalg.norm(orientation[3:])
    normal = normal_of(np.concatenate([row, col]))
    positions = np.asarray([r.position for r in usable], dtype=float)
    along = positions @ normal
    order = np.argsort(along, kind="stable")
    usable = [usable[i] for i in order]
    positions, along = positions[order], along[order]
    spacings = {r.pixel_spacing for r in usable}
    if len(spacings) > 1:
        raise GeometryError(
            f"slices have different PixelSpacing {sorted(s for s in spacings if s is not None)}",
            series=series,
            tag="(0028,0030) PixelSpacing",
        )
    row_spacing, col_spacing = usable[0].pixel_spacing or (1.0, 1.0)
    dz = _slice_spacing(usable, along, positions, normal, series, warnings)
    direction = np.column_stack([row, col, normal])
    origin = positions[0]
    return Grid(
        records=tuple(usable),
        spacing=(float(col_spacing), float(row_spacing), float(dz)),
        origin=(float(origin[0]), float(origin[1]), float(origin[2])),
        direction=tuple(float(v) for v in direction.ravel()),  # type: ignore[arg-type]
        warnings=tuple(warnings),
    )


def _slice_spacing(
    records: Sequence[SliceRecord],
    along: np.ndarray,
    positions: np.ndarray,
    normal: np.ndarray,
    series: str,
    warnings: list[str],
) -> float:
    if len(records) == 1:
        first = records[0]
        return float(first.spacing_between_slices or first.slice_thickness or 1.0)
    gaps = np.diff(along)
    if float(gaps.min()) < DUPLICATE_TOL_MM:
        i = int(np.argmin(gaps))
        raise GeometryError(
            f"two slices at the same position {along[i]:.2f} mm: {records[i].where} and "
            f"{records[i + 1].where}",
            series=series,
            tag="(0020,0032) ImagePositionPatient",
            fix="remove the duplicate file",
        )
    median = float(np.median(gaps))
    smallest = float(gaps.min())
    multiples = gaps / smallest
    if np.all(np.abs(multiples - np.round(multiples)) < 0.1):  # e.g. 3, 6, 3: a slice missing
        median = smallest
    deviation = np.abs(gaps - median) / median
    worst = int(np.argmax(deviation))
    if deviation[worst] > SPACING_ERROR_RTOL:
        ratio = gaps[worst] / median
        whole = abs(ratio - round(ratio)) < 0.1 and ratio > 1.5
        what = f"{round(ratio) - 1} missing slice(s)" if whole else "irregular slice spacing"
        raise GeometryError(
            f"{what}: gap of {gaps[worst]:.3f} mm between {records[worst].where} and "
            f"{records[worst + 1].where}, expected {median:.3f} mm "
            f"(tolerance {SPACING_ERROR_RTOL:.0%})",
            series=series,
            tag="(0020,0032) ImagePositionPatient",
            fix="check that every slice file of the series is present",
        )
    if deviation[worst] > SPACING_WARN_RTOL:
        warnings.append(
            f"slice spacing varies by up to {deviation[worst]:.1%} around {median:.3f} mm"
        )
    step = (positions[-1] - positions[0]) / (len(records) - 1)
    along_step = float(step @ normal)
    off_normal = float(np.linalg.norm(step - along_step * normal))
    tilt = math.degrees(math.atan2(off_normal, abs(along_step)))
    if tilt > TILT_ERROR_DEG:
        raise GeometryError(
            f"slices are stacked {tilt:.2f} degrees off the slice normal (gantry tilt or "
            f"sheared stack), tolerance {TILT_ERROR_DEG} degrees",
            series=series,
            tag="(0020,0032) ImagePositionPatient",
            fix="resample the series onto an orthogonal grid before use",
        )
    if tilt > TILT_WARN_DEG:
        warnings.append(f"slice stack is tilted {tilt:.2f} degrees off the normal")
    return (along[-1] - along[0]) / (len(records) - 1)
