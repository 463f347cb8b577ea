"""RTSTRUCT -> voxel masks on the grid of the referenced image series.

Each closed planar contour is mapped to continuous voxel indices of the reference volume,
assigned to the nearest slice, and filled with the even-odd rule on pixel centres; contours on
the same slice are combined by XOR, so a contour inside another one is a hole.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset

from pipeline.errors import DicomError
from pipeline.volume import Volume

#: A contour whose points lie farther than this (in slices) from a slice centre is off-grid.
OFF_SLICE_TOL = 0.25


@dataclass(frozen=True)
class RoiContours:
    """Contours of one ROI: a list of ``(N, 3)`` LPS point arrays in mm."""

    name: str
    number: int
    contours: tuple[npt.NDArray[np.float64], ...]


@dataclass(frozen=True)
class StructureSet:
    file: Path
    referenced_series_uids: tuple[str, ...]
    referenced_sop_uids: frozenset[str]
    rois: tuple[RoiContours, ...]


def read_structure_set(ds: Dataset, file: Path) -> StructureSet:
    """ROIs and their closed planar contours from an RTSTRUCT dataset."""
    series_uids: list[str] = []
    sop_uids: set[str] = set()
    for frame_ref in ds.get("ReferencedFrameOfReferenceSequence") or []:
        for study in frame_ref.get("RTReferencedStudySequence") or []:
            for series in study.get("RTReferencedSeriesSequence") or []:
                uid = str(series.get("SeriesInstanceUID", ""))
                if uid and uid not in series_uids:
                    series_uids.append(uid)
                for image in series.get("ContourImageSequence") or []:
                    sop_uids.add(str(image.get("ReferencedSOPInstanceUID", "")))
    names = {
        int(item.ROINumber): str(item.get("ROIName", f"roi{item.ROINumber}")).strip()
        for item in ds.get("StructureSetROISequence") or []
        if "ROINumber" in item
    }
    rois = []
    for roi in ds.get("ROIContourSequence") or []:
        number = int(roi.get("ReferencedROINumber", -1))
        contours = []
        for contour in roi.get("ContourSequence") or []:
            kind = str(contour.get("ContourGeometricType", "CLOSED_PLANAR")).upper()
            data = contour.get("ContourData")
            if data is None or kind not in ("CLOSED_PLANAR", "CLOSEDPLANAR"):
                continue
            points = np.asarray([float(v) for v in data], dtype=float)
            if points.size < 9 or points.size % 3:
                raise DicomError(
                    f"ROI {number}: ContourData with {points.size} values (need 3 per point, "
                    ">= 3 points)",
                    file=file,
                    tag="(3006,0050) ContourData",
                )
            contours.append(points.reshape(-1, 3))
            for image in contour.get("ContourImageSequence") or []:
                sop_uids.add(str(image.get("ReferencedSOPInstanceUID", "")))
        rois.append(RoiContours(names.get(number, f"roi{number}"), number, tuple(contours)))
    return StructureSet(file, tuple(series_uids), frozenset(sop_uids), tuple(rois))


def fill_polygon(
    xs: npt.NDArray[np.float64], ys: npt.NDArray[np.float64], shape: tuple[int, int]
) -> npt.NDArray[np.bool_]:
    """Pixels ``[y, x]`` whose centres lie inside the polygon (even-odd rule)."""
    rows, cols = shape
    out = np.zeros(shape, dtype=bool)
    x0, y0 = xs, ys
    x1, y1 = np.roll(xs, -1), np.roll(ys, -1)
    lo = max(int(np.ceil(ys.min())), 0)
    hi = min(int(np.floor(ys.max())), rows - 1)
    for row in range(lo, hi + 1):
        crosses = ((y0 <= row) & (y1 > row)) | ((y1 <= row) & (y0 > row))
        if not crosses.any():
            continue
        t = (row - y0[crosses]) / (y1[crosses] - y0[crosses])
        xc = np.sort(x0[crosses] + t * (x1[crosses] - x0[crosses]))
        for start, stop in zip(xc[0::2], xc[1::2], strict=False):
            first = max(int(np.ceil(start)), 0)
            last = min(int(np.ceil(stop)) - 1, cols - 1)
            if last >= first:
                out[row, first : last + 1] = True
    return out


def rasterise(roi: RoiContours, reference: Volume) -> tuple[npt.NDArray[np.uint8], list[str]]:
    """A ``uint8`` 0/1 array on the reference grid ``[z, y, x]`` and warnings."""
    nz, ny, nx = reference.shape
    mask = np.zeros((nz, ny, nx), dtype=bool)
    warnings: list[str] = []
    per_slice: dict[int, list[npt.NDArray[np.float64]]] = defaultdict(list)
    outside = off_slice = 0
    for contour in roi.contours:
        index = reference.world_to_index(contour)
        z = float(index[:, 2].mean())
        k = round(z)
        if abs(z - k) > OFF_SLICE_TOL or np.ptp(index[:, 2]) > 2 * OFF_SLICE_TOL:
            off_slice += 1
        if not 0 <= k < nz:
            outside += 1
            continue
        per_slice[k].append(index)
    for k, contours in per_slice.items():
        for index in contours:
            mask[k] ^= fill_polygon(index[:, 0], index[:, 1], (ny, nx))
    if outside:
        warnings.append(f"ROI '{roi.name}': {outside} contour(s) outside the image slices")
    if off_slice:
        warnings.append(
            f"ROI '{roi.name}': {off_slice} contour(s) not on an image slice plane "
            f"(more than {OFF_SLICE_TOL} slice off); assigned to the nearest slice"
        )
    return mask.astype(np.uint8), warnings
