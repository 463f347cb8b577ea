"""Analytic shapes of the phantom, in patient LPS millimetres.

Every shape answers ``contains(x, y, z)`` for float arrays of one shape (broadcasting allowed)
and gives an axis-aligned bounding box ``bbox() -> (lo, hi)`` in LPS mm, used to evaluate it
only where it can be. Shapes tied to the rectum use cylindrical coordinates about the curved
rectal axis: ``r`` the distance from the axis in the axial plane, ``theta = atan2(dy, dx)``
(0 = patient left, +90 deg = posterior), ``z`` the superior coordinate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]
Box = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]

#: z extent used for shapes that run through the whole imaged volume.
Z_FAR = 400.0


class Shape(Protocol):
    """An analytic region of space."""

    def contains(self, x: FloatArray, y: FloatArray, z: FloatArray) -> BoolArray: ...

    def bbox(self) -> Box: ...


@dataclass(frozen=True)
class RectalAxis:
    """The curved rectal axis: its axial-plane centre as a function of ``z`` (all mm).

    ``centre(z) = (x0 + sx * dz, y0 + sy * dz + k * dz**2)`` with ``dz = z - z0``.
    """

    x0: float
    y0: float
    z0: float
    sx: float = 0.0
    sy: float = 0.0
    k: float = 0.0

    def centre(self, z: FloatArray) -> tuple[FloatArray, FloatArray]:
        dz = z - np.float32(self.z0)
        cx = np.float32(self.x0) + np.float32(self.sx) * dz
        cy = np.float32(self.y0) + np.float32(self.sy) * dz + np.float32(self.k) * dz * dz
        return cx, cy

    def extent(self, z_lo: float, z_hi: float) -> Box:
        """Bounding box of the axis centre for ``z`` in ``[z_lo, z_hi]``."""
        zs = np.linspace(z_lo, z_hi, 33, dtype=np.float32)
        cx, cy = self.centre(zs)
        lo = np.array([cx.min(), cy.min(), z_lo], dtype=np.float64)
        hi = np.array([cx.max(), cy.max(), z_hi], dtype=np.float64)
        return lo, hi

    def polar(
        self, x: FloatArray, y: FloatArray, z: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``(dx, dy, r)`` of points relative to the axis."""
        cx, cy = self.centre(z)
        dx = x - cx
        dy = y - cy
        return dx, dy, np.sqrt(dx * dx + dy * dy)


def _grow(box: Box, margin: float) -> Box:
    return box[0] - margin, box[1] + margin


@dataclass(frozen=True)
class EllipticCylinder:
    """An elliptic cylinder along z, optionally centred on the rectal axis and tapered.

    Semi-axes at ``z`` are ``(a, b) * (1 + taper * (z - z_ref))``; ``angle_deg`` rotates the
    ellipse in the axial plane. ``y_min`` keeps only the part with ``y >= y_min`` relative to
    the centre (e.g. the posterior half for the levator sling).
    """

    cx: float
    cy: float
    a: float
    b: float
    angle_deg: float = 0.0
    z_lo: float = -Z_FAR
    z_hi: float = Z_FAR
    taper: float = 0.0
    z_ref: float = 0.0
    y_min: float | None = None
    axis: RectalAxis | None = None

    def _scale_max(self) -> float:
        return max(
            1.0 + self.taper * (self.z_lo - self.z_ref), 1.0 + self.taper * (self.z_hi - self.z_ref)
        )

    def contains(self, x: FloatArray, y: FloatArray, z: FloatArray) -> BoolArray:
        if self.axis is not None:
            ax, ay = self.axis.centre(z)
            dx = x - (ax + np.float32(self.cx))
            dy = y - (ay + np.float32(self.cy))
        else:
            dx = x - np.float32(self.cx)
            dy = y - np.float32(self.cy)
        if self.angle_deg:
            c = np.float32(math.cos(math.radians(self.angle_deg)))
            s = np.float32(math.sin(math.radians(self.angle_deg)))
            dx, dy = c * dx + s * dy, -s * dx + c * dy
        q = (dx * np.float32(1.0 / self.a)) ** 2
        q = q + (dy * np.float32(1.0 / self.b)) ** 2
        if self.taper:
            scale = np.float32(1.0) + np.float32(self.taper) * (z - np.float32(self.z_ref))
            inside = q <= scale * scale
        else:
            inside = q <= np.float32(1.0)
        if self.z_lo > -Z_FAR:
            inside &= z >= np.float32(self.z_lo)
        if self.z_hi < Z_FAR:
            inside &= z <= np.float32(self.z_hi)
        if self.y_min is not None:
            inside &= dy >= np.float32(self.y_min)
        return np.asarray(inside)

    def bbox(self) -> Box:
        reach = max(self.a, self.b) * self._scale_max()
        if self.axis is not None:
            lo, hi = self.axis.extent(self.z_lo, self.z_hi)
            lo = lo + np.array([self.cx - reach, self.cy - reach, 0.0])
            hi = hi + np.array([self.cx + reach, self.cy + reach, 0.0])
            return lo, hi
        lo = np.array([self.cx - reach, self.cy - reach, self.z_lo])
        hi = np.array([self.cx + reach, self.cy + reach, self.z_hi])
        return lo, hi


@dataclass(frozen=True)
class Ellipsoid:
    """An ellipsoid: centre (LPS mm), semi-axes (mm) and a rotation (3x3, columns = axes)."""

    centre: tuple[float, float, float]
    semi_axes: tuple[float, float, float]
    rotation: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)

    def contains(self, x: FloatArray, y: FloatArray, z: FloatArray) -> BoolArray:
        rot = np.asarray(self.rotation, dtype=np.float32).reshape(3, 3)
        dx = x - np.float32(self.centre[0])
        dy = y - np.float32(self.centre[1])
        dz = z - np.float32(self.centre[2])
        total = np.zeros(np.broadcast(dx, dy, dz).shape, dtype=np.float32)
        for k in range(3):
            u = rot[0, k] * dx + rot[1, k] * dy + rot[2, k] * dz
            total += (u / np.float32(self.semi_axes[k])) ** 2
        return np.asarray(total <= 1.0)

    def bbox(self) -> Box:
        reach = max(self.semi_axes)
        c = np.asarray(self.centre, dtype=np.float64)
        return c - reach, c + reach


@dataclass(frozen=True)
class AxisDisk:
    """All points within ``radius`` mm of the rectal axis, for ``z`` in ``[z_lo, z_hi]``."""

    axis: RectalAxis
    radius: float
    z_lo: float = -Z_FAR
    z_hi: float = Z_FAR

    def contains(self, x: FloatArray, y: FloatArray, z: FloatArray) -> BoolArray:
        cx, cy = self.axis.centre(z)
        dx = x - cx
        dy = y - cy
        inside = dx * dx + dy * dy <= np.float32(self.radius**2)
        if self.z_lo > -Z_FAR:
            inside &= z >= np.float32(self.z_lo)
        if self.z_hi < Z_FAR:
            inside &= z <= np.float32(self.z_hi)
        return np.asarray(inside)

    def bbox(self) -> Box:
        return _grow(self.axis.extent(self.z_lo, self.z_hi), self.radius)


@dataclass(frozen=True)
class WallDome:
    """A wall-based lesion in cylindrical coordinates about the rectal axis.

    Inside where ``(dtheta/alpha)^2 + ((z-z0)/h)^2 + ((r-r_mid)/half_thick)^2 <= 1 + lobe``,
    ``lobe = lobulation * sin(3 theta + phase) * cos(2 (z - z0)/h + phase)``, and
    ``r_min <= r <= r_max``. ``theta0``/``alpha`` in degrees (``alpha`` = half the angular
    extent), lengths in mm.
    """

    axis: RectalAxis
    theta0_deg: float
    alpha_deg: float
    z0: float
    h: float
    r_mid: float
    half_thick: float
    lobulation: float = 0.0
    phase: float = 0.0
    r_min: float = 0.0
    r_max: float = math.inf

    def contains(self, x: FloatArray, y: FloatArray, z: FloatArray) -> BoolArray:
        dx, dy, r = self.axis.polar(x, y, z)
        theta = np.arctan2(dy, dx)
        dtheta = np.angle(np.exp(1j * (theta - np.float32(math.radians(self.theta0_deg)))))
        dtheta = dtheta.astype(np.float32)
        dz = z - np.float32(self.z0)
        value = (
            (dtheta / np.float32(math.radians(self.alpha_deg))) ** 2
            + (dz / np.float32(self.h)) ** 2
            + ((r - np.float32(self.r_mid)) / np.float32(self.half_thick)) ** 2
        )
        limit = np.float32(1.0)
        if self.lobulation:
            limit = limit + np.float32(self.lobulation) * np.sin(
                3.0 * theta + np.float32(self.phase)
            ) * np.cos(2.0 * dz / np.float32(self.h) + np.float32(self.phase))
        inside = (value <= limit) & (r >= np.float32(self.r_min))
        if math.isfinite(self.r_max):
            inside &= r <= np.float32(self.r_max)
        return np.asarray(inside)

    def bbox(self) -> Box:
        grow = math.sqrt(1.0 + abs(self.lobulation))
        reach = (self.r_mid + self.half_thick * grow) + 0.5
        half_z = self.h * grow
        lo, hi = self.axis.extent(self.z0 - half_z, self.z0 + half_z)
        return lo - np.array([reach, reach, 0.0]), hi + np.array([reach, reach, 0.0])

    def extent_mm(self) -> dict[str, float]:
        """Nominal sizes: longitudinal, circumferential arc at ``r_mid`` and radial thickness."""
        return {
            "longitudinal_mm": round(2.0 * self.h, 2),
            "circumferential_mm": round(2.0 * math.radians(self.alpha_deg) * self.r_mid, 2),
            "thickness_mm": round(2.0 * self.half_thick, 2),
        }
