"""Partial-volume rendering of the analytic anatomy on an image grid.

Each voxel is split into ``factors = (kx, ky, kz)`` sub-samples; each sub-sample gets the tissue
of the last structure that contains it (painter's order), evaluated only inside the structure's
bounding box. A voxel's signal is the mean of the per-tissue signal over its sub-samples, which
is exact partial-volume mixing of the tissue signals (e.g. ``S0 exp(-b ADC)`` per b-value).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from pipeline.phantom._anatomy import Structure
from pipeline.phantom._geometry import F32, Coords, Grid, IdentitySampler, Sampler
from pipeline.phantom._shapes import Shape

SubBox = tuple[slice, slice, slice]

#: Spacing (mm) of the lattice on which non-affine mappings are evaluated exactly.
LATTICE_MM = 5.0


def _interp_axis(values: F32, axis: int, coarse: npt.NDArray[np.int64], n: int) -> F32:
    """Linear interpolation along ``axis`` from samples at indices ``coarse`` to ``0..n-1``."""
    if len(coarse) == 1:
        return np.repeat(values, n, axis=axis)
    fine = np.arange(n)
    j = np.clip(np.searchsorted(coarse, fine, side="right") - 1, 0, len(coarse) - 2)
    t = ((fine - coarse[j]) / (coarse[j + 1] - coarse[j])).astype(np.float32)
    shape = [1, 1, 1]
    shape[axis] = n
    t = t.reshape(shape)
    return np.asarray(
        np.take(values, j, axis=axis) * (1.0 - t) + np.take(values, j + 1, axis=axis) * t,
        dtype=np.float32,
    )


def _take(array: F32, box: SubBox) -> F32:
    """Slice a broadcastable coordinate array with a sub-box (size-1 axes kept whole)."""
    parts = tuple(slice(None) if array.shape[i] == 1 else box[i] for i in range(3))
    return array[parts]


class SampledGrid:
    """The sub-sample points of one image grid, mapped into the patient frame.

    Parameters
    ----------
    grid
        The image grid.
    sampler
        Maps image LPS points to patient-frame points (and patient boxes to image boxes).
    factors
        Sub-samples per voxel along x, y, z.
    """

    def __init__(self, grid: Grid, sampler: Sampler, factors: tuple[int, int, int]) -> None:
        self.grid = grid
        self.sampler = sampler
        self.factors = factors
        nx, ny, nz = grid.size
        kx, ky, kz = factors
        self.shape = (nz * kz, ny * ky, nx * kx)
        x, y, z = grid.subsample_coords(factors)
        if isinstance(sampler, IdentitySampler):
            self.coords: Coords = (x, y, z)
        else:
            self.coords = self._mapped(x, y, z)

    def _mapped(self, x: F32, y: F32, z: F32) -> Coords:
        """Patient coordinates of all sub-samples: the sampler's affine part everywhere plus
        its smooth remainder, evaluated exactly on a lattice of about ``LATTICE_MM`` and
        interpolated linearly (error well below 0.05 mm for the phantom's deformations)."""
        shape = self.shape
        lin = [np.broadcast_to(v, shape) for v in self.sampler.linear(x, y, z)]
        picks = []
        for axis in range(3):
            n = shape[axis]
            step_mm = self.grid.spacing[2 - axis] / self.factors[2 - axis]
            stride = max(1, int(LATTICE_MM / step_mm))
            picks.append(np.unique(np.r_[np.arange(0, n, stride), n - 1]))
        cx, cy, cz = (
            np.ascontiguousarray(np.broadcast_to(v, shape)[np.ix_(*picks)]) for v in (x, y, z)
        )
        exact = self.sampler.to_patient(cx, cy, cz)
        approx = self.sampler.linear(cx, cy, cz)
        out = []
        for axis_values, e, a in zip(lin, exact, approx, strict=True):
            rest = np.asarray(e - a, dtype=np.float32)
            for axis in range(3):
                rest = _interp_axis(rest, axis, picks[axis], shape[axis])
            out.append(np.asarray(axis_values + rest, dtype=np.float32))
        return out[0], out[1], out[2]

    def sub_box(self, shape: Shape) -> SubBox | None:
        """Sub-sample index box that can hold ``shape``; ``None`` when it misses the grid."""
        lo, hi = shape.bbox()
        wlo, whi = self.sampler.image_box(lo, hi)
        corners = np.array(
            [
                [a, b, c]
                for a in (wlo[0], whi[0])
                for b in (wlo[1], whi[1])
                for c in (wlo[2], whi[2])
            ]
        )
        corners = np.nan_to_num(corners, posinf=1e6, neginf=-1e6)
        idx = self.grid.world_to_index(corners)
        out = []
        for axis, (n, k) in enumerate(zip(self.grid.size, self.factors, strict=True)):
            first = max(math.floor(idx[:, axis].min()) - 1, 0)
            last = min(math.ceil(idx[:, axis].max()) + 2, n)
            if first >= last:
                return None
            out.append(slice(first * k, last * k))
        return out[2], out[1], out[0]

    def _inside(self, shape: Shape, box: SubBox) -> npt.NDArray[np.bool_]:
        x, y, z = (_take(c, box) for c in self.coords)
        sub_shape = tuple(s.stop - s.start for s in box)
        return np.broadcast_to(shape.contains(x, y, z), sub_shape)

    def labels(self, structures: Sequence[Structure]) -> npt.NDArray[np.uint8]:
        """Tissue code of every sub-sample, ``(nz*kz, ny*ky, nx*kx)`` uint8."""
        out = np.zeros(self.shape, dtype=np.uint8)
        for structure in structures:
            box = self.sub_box(structure.shape)
            if box is None:
                continue
            view = out[box]
            view[self._inside(structure.shape, box)] = np.uint8(structure.tissue)
        return out

    def region(self, shapes: Sequence[Shape]) -> npt.NDArray[np.float32]:
        """Fraction of each voxel inside the union of ``shapes``, ``(nz, ny, nx)``."""
        hits = np.zeros(self.shape, dtype=bool)
        for shape in shapes:
            box = self.sub_box(shape)
            if box is not None:
                hits[box] |= self._inside(shape, box)
        return self.block_mean(hits.astype(np.float32))

    def block_mean(self, values: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Average sub-samples back to voxels: ``(nz*kz, ny*ky, nx*kx)`` -> ``(nz, ny, nx)``."""
        nx, ny, nz = self.grid.size
        kx, ky, kz = self.factors
        blocks = values.reshape(nz, kz, ny, ky, nx, kx)
        return np.asarray(blocks.mean(axis=(1, 3, 5), dtype=np.float32))

    def signal(
        self, labels: npt.NDArray[np.uint8], table: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float32]:
        """Partial-volume signal of a per-tissue ``table`` (indexed by tissue code)."""
        lut = np.asarray(table, dtype=np.float32)
        return self.block_mean(lut[labels])

    def fraction(
        self, labels: npt.NDArray[np.uint8], tissues: Sequence[int]
    ) -> npt.NDArray[np.float32]:
        """Fraction of each voxel made of any of ``tissues``."""
        table = np.zeros(256, dtype=np.float64)
        table[list(tissues)] = 1.0
        return self.signal(labels, table)

    def centre_labels(self, labels: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        """The tissue at each voxel centre (the middle sub-sample), ``(nz, ny, nx)``."""
        nx, ny, nz = self.grid.size
        kx, ky, kz = self.factors
        blocks = labels.reshape(nz, kz, ny, ky, nx, kx)
        return np.ascontiguousarray(blocks[:, kz // 2, :, ky // 2, :, kx // 2])

    @property
    def block_shape(self) -> tuple[int, int, int]:
        nx, ny, nz = self.grid.size
        return (nz, ny, nx)
