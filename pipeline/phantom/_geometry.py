"""Image grids, rigid transforms and the smooth deformations of the phantom.

Frames
------
* The *patient frame* is the LPS frame (mm) of the restaging T2W series; the anatomy is
  defined in it.
* The restaging DWI was acquired after the patient moved: DWI pixel centre ``q`` (DWI LPS)
  shows patient point ``p = T^-1(q + u(q) e_pe)``, ``T`` the rigid :class:`RigidTransform`
  T2W -> DWI and ``u`` the :class:`EpiDistortion` along the phase-encode direction.
* The baseline study is another session: baseline point ``q = M (p + w(p))`` for patient
  point ``p``, ``M`` rigid and ``w`` a :class:`GaussianDeformation`.

All transforms follow ITK: a transform maps points of the *fixed* space (the restaging T2W) to
the *moving* space (DWI, baseline), so registering the moving image onto the fixed one should
recover it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
Coords = tuple[F32, F32, F32]


@dataclass(frozen=True)
class Grid:
    """A voxel grid in ITK convention: ``size``/``spacing`` ``(x, y, z)``, LPS mm.

    ``direction`` is the row-major 3x3 matrix whose columns are the x, y, z index axes.
    """

    size: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]

    @property
    def matrix(self) -> F64:
        """3x3 matrix from index (x, y, z) offsets to LPS mm (direction x spacing)."""
        return np.asarray(self.direction, dtype=np.float64).reshape(3, 3) @ np.diag(self.spacing)

    @property
    def normal(self) -> F64:
        return np.asarray(self.direction, dtype=np.float64).reshape(3, 3)[:, 2]

    def world_to_index(self, points: F64) -> F64:
        """``(N, 3)`` LPS points -> continuous ``(N, 3)`` indices (x, y, z)."""
        return np.asarray((points - np.asarray(self.origin)) @ np.linalg.inv(self.matrix).T)

    def index_to_world(self, index: F64) -> F64:
        return np.asarray(index @ self.matrix.T + np.asarray(self.origin))

    def slice_position(self, k: int) -> F64:
        """LPS position of the first voxel of slice ``k`` (DICOM ImagePositionPatient)."""
        return self.index_to_world(np.array([[0.0, 0.0, float(k)]]))[0]

    def subsample_coords(self, factors: tuple[int, int, int]) -> Coords:
        """LPS coordinates of ``factors`` (x, y, z) sub-samples per voxel.

        Arrays are broadcastable to ``(nz*kz, ny*ky, nx*kx)``; terms with a zero direction
        coefficient are left out so that axis-aligned grids stay cheap.
        """
        axes = []
        for n, k in zip(self.size, factors, strict=True):
            axes.append((np.arange(n * k, dtype=np.float64) + 0.5) / k - 0.5)
        shapes = ((1, 1, -1), (1, -1, 1), (-1, 1, 1))
        m = self.matrix
        out = []
        for row in range(3):
            total: Any = np.float64(self.origin[row])
            for col in range(3):
                if abs(m[row, col]) > 1e-12:
                    total = total + m[row, col] * axes[col].reshape(shapes[col])
            out.append(np.asarray(total, dtype=np.float32).reshape(np.shape(total) or (1, 1, 1)))
        return out[0], out[1], out[2]

    def as_dict(self) -> dict[str, Any]:
        return {
            "size": list(self.size),
            "spacing": [round(v, 6) for v in self.spacing],
            "origin": [round(v, 6) for v in self.origin],
            "direction": [round(v, 9) for v in self.direction],
        }


def rotation_matrix(axis: F64, angle_deg: float) -> F64:
    """Rodrigues rotation about a unit ``axis`` by ``angle_deg`` (right-handed)."""
    a = np.asarray(axis, dtype=np.float64)
    a = a / np.linalg.norm(a)
    theta = math.radians(angle_deg)
    k = np.array([[0.0, -a[2], a[1]], [a[2], 0.0, -a[0]], [-a[1], a[0], 0.0]])
    return np.asarray(np.eye(3) + math.sin(theta) * k + (1.0 - math.cos(theta)) * (k @ k))


@dataclass(frozen=True)
class RigidTransform:
    """``p -> R (p - c) + c + t`` (ITK ``Euler3DTransform``/``VersorRigid3DTransform`` form)."""

    rotation: F64
    centre: F64
    translation: F64

    @classmethod
    def draw(
        cls, rng: np.random.Generator, *, centre: F64, max_deg: float, max_mm: float
    ) -> RigidTransform:
        axis = rng.normal(size=3)
        angle = rng.uniform(0.3 * max_deg, max_deg) * rng.choice([-1.0, 1.0])
        direction = rng.normal(size=3)
        shift = direction / np.linalg.norm(direction) * rng.uniform(0.3 * max_mm, max_mm)
        return cls(rotation_matrix(axis, angle), np.asarray(centre, float), shift)

    @property
    def matrix(self) -> F64:
        """4x4 homogeneous matrix of the transform (acts on column vectors ``(x, y, z, 1)``)."""
        out = np.eye(4)
        out[:3, :3] = self.rotation
        out[:3, 3] = self.centre + self.translation - self.rotation @ self.centre
        return out

    @property
    def angle_deg(self) -> float:
        cos = (np.trace(self.rotation) - 1.0) / 2.0
        return math.degrees(math.acos(max(-1.0, min(1.0, cos))))

    def apply(self, points: F64) -> F64:
        return np.asarray((points - self.centre) @ self.rotation.T + self.centre + self.translation)

    def apply_inverse_coords(self, x: F32, y: F32, z: F32) -> Coords:
        """Inverse transform of broadcastable coordinate arrays (float32)."""
        off = self.centre + self.translation
        dx, dy, dz = x - np.float32(off[0]), y - np.float32(off[1]), z - np.float32(off[2])
        r = self.rotation.astype(np.float32)  # inverse = transpose
        c = self.centre.astype(np.float32)
        px = r[0, 0] * dx + r[1, 0] * dy + r[2, 0] * dz + c[0]
        py = r[0, 1] * dx + r[1, 1] * dy + r[2, 1] * dz + c[1]
        pz = r[0, 2] * dx + r[1, 2] * dy + r[2, 2] * dz + c[2]
        return px, py, pz

    def as_dict(self) -> dict[str, Any]:
        axis = np.array(
            [
                self.rotation[2, 1] - self.rotation[1, 2],
                self.rotation[0, 2] - self.rotation[2, 0],
                self.rotation[1, 0] - self.rotation[0, 1],
            ]
        )
        norm = np.linalg.norm(axis)
        inverse = np.linalg.inv(self.matrix)
        return {
            "matrix_4x4": _rounded(self.matrix),
            "inverse_matrix_4x4": _rounded(inverse),
            "rotation_matrix": _rounded(self.rotation),
            "rotation_axis": _rounded(axis / norm if norm > 0 else np.array([0.0, 0.0, 1.0])),
            "rotation_deg": round(self.angle_deg, 6),
            "centre_lps_mm": _rounded(self.centre),
            "translation_mm": _rounded(self.translation),
            "translation_norm_mm": round(float(np.linalg.norm(self.translation)), 6),
        }


def _rounded(values: npt.ArrayLike) -> list[Any]:
    rounded: list[Any] = np.round(np.asarray(values, dtype=np.float64), 9).tolist()
    return rounded


@dataclass(frozen=True)
class EpiDistortion:
    """Smooth shift along the phase-encode direction, in DWI coordinates.

    ``u(q) = amplitude * exp(-rho^2 / (2 sigma^2))`` mm along ``pe_direction``, where ``rho`` is
    the in-plane distance of ``q`` from ``centre`` (the component along the slice ``normal``
    removed). DWI pixel ``q`` shows what an undistorted image shows at ``q + u(q) pe``.
    """

    amplitude_mm: float
    sigma_mm: float
    centre: F64
    pe_direction: F64
    normal: F64

    def shift(self, x: F32, y: F32, z: F32) -> Coords:
        c = self.centre.astype(np.float32)
        n = self.normal.astype(np.float32)
        dx, dy, dz = x - c[0], y - c[1], z - c[2]
        along = dx * n[0] + dy * n[1] + dz * n[2]
        rho2 = dx * dx + dy * dy + dz * dz - along * along
        u = np.float32(self.amplitude_mm) * np.exp(-rho2 / np.float32(2.0 * self.sigma_mm**2))
        e = self.pe_direction.astype(np.float32)
        return x + u * e[0], y + u * e[1], z + u * e[2]

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": "u(q) = amplitude_mm * exp(-rho^2 / (2 sigma_mm^2)) along pe_direction; "
            "rho = in-plane distance of DWI point q from centre (slice-normal part removed); "
            "DWI pixel q shows the undistorted DWI content at q + u(q) * pe_direction",
            "amplitude_mm": round(self.amplitude_mm, 6),
            "sigma_mm": round(self.sigma_mm, 6),
            "centre_lps_mm": _rounded(self.centre),
            "pe_direction": _rounded(self.pe_direction),
            "slice_normal": _rounded(self.normal),
        }


@dataclass(frozen=True)
class GaussianDeformation:
    """``w(p) = sum_k a_k exp(-|p - c_k|^2 / (2 s_k^2))``, a smooth displacement in mm."""

    centres: F64  # (K, 3)
    amplitudes: F64  # (K, 3)
    sigmas: F64  # (K,)

    def displacement(self, x: F32, y: F32, z: F32) -> Coords:
        shape = np.broadcast(x, y, z).shape
        wx = np.zeros(shape, np.float32)
        wy = np.zeros(shape, np.float32)
        wz = np.zeros(shape, np.float32)
        for c, a, s in zip(self.centres, self.amplitudes, self.sigmas, strict=True):
            d2 = (x - np.float32(c[0])) ** 2 + (y - np.float32(c[1])) ** 2
            g = np.exp(-(d2 + (z - np.float32(c[2])) ** 2) / np.float32(2.0 * s * s))
            wx += np.float32(a[0]) * g
            wy += np.float32(a[1]) * g
            wz += np.float32(a[2]) * g
        return wx, wy, wz

    @property
    def max_displacement_mm(self) -> float:
        return float(np.linalg.norm(self.amplitudes, axis=1).sum())

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": "w(p) = sum_k amplitude_k * exp(-|p - centre_k|^2 / (2 sigma_k^2)), "
            "p in restaging-T2W LPS mm",
            "bumps": [
                {"centre_lps_mm": _rounded(c), "amplitude_mm": _rounded(a), "sigma_mm": float(s)}
                for c, a, s in zip(self.centres, self.amplitudes, self.sigmas, strict=True)
            ],
            "max_displacement_bound_mm": round(self.max_displacement_mm, 6),
        }


class Sampler(Protocol):
    """Maps the pixel centres of an image to the patient frame, where the anatomy lives."""

    def to_patient(self, x: F32, y: F32, z: F32) -> Coords: ...

    def linear(self, x: F32, y: F32, z: F32) -> Coords:
        """The affine part of :meth:`to_patient` (the rest is smooth and small)."""
        ...

    def image_box(self, lo: F64, hi: F64) -> tuple[F64, F64]: ...


def _corners(lo: F64, hi: F64) -> F64:
    return np.array(
        [[a, b, c] for a in (lo[0], hi[0]) for b in (lo[1], hi[1]) for c in (lo[2], hi[2])],
        dtype=np.float64,
    )


@dataclass(frozen=True)
class IdentitySampler:
    """The restaging T2W: image LPS = patient frame."""

    def to_patient(self, x: F32, y: F32, z: F32) -> Coords:
        return x, y, z

    def linear(self, x: F32, y: F32, z: F32) -> Coords:
        return x, y, z

    def image_box(self, lo: F64, hi: F64) -> tuple[F64, F64]:
        return lo, hi


@dataclass(frozen=True)
class MovedSampler:
    """A series acquired after rigid motion (and optional EPI distortion).

    Image point ``q`` shows patient point ``rigid^-1(q + u(q) e)``; ``rigid`` maps patient
    (restaging T2W or baseline patient-aligned) points into this image's LPS frame.
    """

    rigid: RigidTransform
    distortion: EpiDistortion | None = None
    inner: Sampler = field(default_factory=IdentitySampler)

    def to_patient(self, x: F32, y: F32, z: F32) -> Coords:
        if self.distortion is not None:
            x, y, z = self.distortion.shift(x, y, z)
        px, py, pz = self.rigid.apply_inverse_coords(x, y, z)
        return self.inner.to_patient(px, py, pz)

    def linear(self, x: F32, y: F32, z: F32) -> Coords:
        return self.inner.linear(*self.rigid.apply_inverse_coords(x, y, z))

    def image_box(self, lo: F64, hi: F64) -> tuple[F64, F64]:
        lo, hi = self.inner.image_box(lo, hi)
        pts = self.rigid.apply(_corners(lo, hi))
        pad = abs(self.distortion.amplitude_mm) + 1.0 if self.distortion is not None else 0.0
        return pts.min(axis=0) - pad, pts.max(axis=0) + pad


@dataclass(frozen=True)
class BaselineSampler:
    """Baseline image point ``q`` shows patient point ``p`` with ``q = M (p + w(p))``.

    ``p`` is found by the fixed-point iteration ``p <- M^-1 q - w(p)`` (|grad w| << 1).
    """

    rigid: RigidTransform
    deformation: GaussianDeformation
    iterations: int = 6

    def to_patient(self, x: F32, y: F32, z: F32) -> Coords:
        x, y, z = (np.broadcast_to(v, np.broadcast(x, y, z).shape) for v in (x, y, z))
        p0 = self.rigid.apply_inverse_coords(x, y, z)
        px, py, pz = p0
        for _ in range(self.iterations):
            wx, wy, wz = self.deformation.displacement(px, py, pz)
            px, py, pz = p0[0] - wx, p0[1] - wy, p0[2] - wz
        return px, py, pz

    def linear(self, x: F32, y: F32, z: F32) -> Coords:
        return self.rigid.apply_inverse_coords(x, y, z)

    def forward(self, points: F64) -> F64:
        """Patient points ``(N, 3)`` -> baseline LPS points (exact)."""
        p = points.astype(np.float32)
        w = self.deformation.displacement(p[:, 0], p[:, 1], p[:, 2])
        moved = points + np.stack([np.asarray(v, np.float64) for v in w], axis=1)
        return self.rigid.apply(moved)

    def image_box(self, lo: F64, hi: F64) -> tuple[F64, F64]:
        pts = self.rigid.apply(_corners(lo, hi))
        pad = self.deformation.max_displacement_mm + 1.0
        return pts.min(axis=0) - pad, pts.max(axis=0) + pad
