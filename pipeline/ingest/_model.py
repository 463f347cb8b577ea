"""What :func:`~pipeline.ingest.scan` returns: :class:`Inventory` and per-series header geometry.

Geometry here comes from headers only (DICOM tags, NIfTI/MHA headers), never from pixel data.
Vectors are in ITK order ``(x, y, z)``, LPS, mm, as in :mod:`pipeline.volume`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pipeline.study import Study

if TYPE_CHECKING:
    from pipeline.ingest._crawl import MaskFile
    from pipeline.ingest._layouts import LayoutCase, LayoutImage
    from pipeline.ingest._series import PreparedPart

#: A slice normal within this angle (degrees) of a patient axis names the plane; else "oblique".
PLANE_TOL_DEG = 10.0


def orientation_label(direction: Sequence[float] | None) -> str:
    """``axial``, ``coronal``, ``sagittal``, ``oblique`` or ``unknown`` from a slice normal.

    Parameters
    ----------
    direction
        Either a 3x3 row-major direction matrix (columns x, y, z in LPS; the third column is the
        slice normal) or a 6-value ImageOrientationPatient (row and column cosines).
    """
    if direction is None:
        return "unknown"
    values = np.asarray(direction, dtype=float).ravel()
    if values.size == 6:
        normal = np.cross(values[:3], values[3:])
    elif values.size == 9:
        normal = values.reshape(3, 3)[:, 2]
    else:
        return "unknown"
    norm = float(np.linalg.norm(normal))
    if not np.isfinite(norm) or norm < 1e-6:
        return "unknown"
    normal = np.abs(normal / norm)
    axis = int(np.argmax(normal))
    if float(normal[axis]) < float(np.cos(np.radians(PLANE_TOL_DEG))):
        return "oblique"
    return ("sagittal", "coronal", "axial")[axis]


@dataclass(frozen=True)
class SeriesGeometry:
    """Grid of one series as its headers describe it (no pixel data read).

    Attributes
    ----------
    size
        Voxels ``(x, y, z)`` of one volume.
    spacing
        Voxel size ``(x, y, z)`` in mm; ``None`` when the headers do not define a regular grid
        (the reason is in ``warnings``).
    orientation
        :func:`orientation_label` of the slice normal.
    n_volumes
        Images per slice position (b-values and directions of a DWI series, repeats, channels).
    direction
        Row-major 3x3 direction cosines (LPS), when known.
    warnings
        Problems found in the headers that the load will meet (missing slice, tilt, ...).
    """

    size: tuple[int, int, int]
    spacing: tuple[float, float, float] | None
    orientation: str
    n_volumes: int = 1
    direction: tuple[float, ...] | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Inventory:
    """What :func:`scan` found under a folder (headers only, no pixel data).

    Attributes
    ----------
    studies
        One :class:`Study` per StudyInstanceUID (or per case of a NIfTI/MHA layout); its series
        carry no volume.
    skipped_files
        Files not used as images or masks (not DICOM, DICOMDIR, unreadable, non-image objects).
    errors
        One message per unreadable file that looked like DICOM (file and reason).
    mask_files
        RTSTRUCT and SEG files found (loaded by :func:`load_study`), or mask files of a layout.
    geometry
        Header geometry per series key (:class:`SeriesGeometry`); may lack a series.
    layout
        Name of the non-DICOM layout read (``"nifti"``, ``"nnunet"``, ``"picai"``), or ``""``.
    parts
        Headers kept from the scan so that :func:`load_series_volume` does not read them again.
    layout_images
        The same for series of a non-DICOM layout.
    mask_refs
        RTSTRUCT / SEG files with their study, for :func:`load_scanned_study`.
    layout_cases
        Layout cases by study key, for :func:`load_scanned_study`.
    """

    studies: tuple[Study, ...]
    skipped_files: int
    errors: tuple[str, ...]
    mask_files: tuple[Path, ...] = ()
    geometry: Mapping[str, SeriesGeometry] = field(default_factory=dict, compare=False)
    layout: str = ""
    parts: Mapping[str, PreparedPart] = field(default_factory=dict, repr=False, compare=False)
    layout_images: Mapping[str, LayoutImage] = field(
        default_factory=dict, repr=False, compare=False
    )
    mask_refs: tuple[MaskFile, ...] = field(default=(), repr=False, compare=False)
    layout_cases: Mapping[str, LayoutCase] = field(default_factory=dict, repr=False, compare=False)
