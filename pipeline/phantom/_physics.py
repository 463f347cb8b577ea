"""Scanner physics on top of the noise-free tissue signal: coil bias, Rician noise, scaling to
stored integers, and the vendor's ADC map.

Conventions: arrays are ``[z, y, x]`` float32; ADC in 1e-3 mm^2/s, b in s/mm^2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pipeline.phantom._geometry import Grid

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class BiasField:
    """Smooth multiplicative coil sensitivity ``exp(sum_k c_k m_k(u, v, w))``.

    ``(u, v, w)`` are the image-LPS coordinates minus ``centre``, divided by 100 mm;
    the monomials ``m_k`` are ``u, v, w, u^2, v^2, u v``.
    """

    coefficients: tuple[float, float, float, float, float, float]
    centre: tuple[float, float, float]

    @classmethod
    def draw(cls, rng: np.random.Generator, grid: Grid, strength: float) -> BiasField:
        lin = rng.uniform(-1.0, 1.0, size=3) * strength
        quad = rng.uniform(-1.0, 1.0, size=3) * strength * 0.6
        size = np.asarray(grid.size, dtype=float)
        centre = grid.index_to_world(((size - 1.0) / 2.0)[None, :])[0]
        c = (
            float(lin[0]),
            float(lin[1]),
            float(lin[2]),
            float(quad[0]),
            float(quad[1]),
            float(quad[2]),
        )
        return cls(c, (float(centre[0]), float(centre[1]), float(centre[2])))

    def evaluate(self, grid: Grid) -> F32:
        x, y, z = grid.subsample_coords((1, 1, 1))
        u = (x - np.float32(self.centre[0])) / np.float32(100.0)
        v = (y - np.float32(self.centre[1])) / np.float32(100.0)
        w = (z - np.float32(self.centre[2])) / np.float32(100.0)
        c = [np.float32(k) for k in self.coefficients]
        log = c[0] * u + c[1] * v + c[2] * w + c[3] * u * u + c[4] * v * v + c[5] * u * v
        nx, ny, nz = grid.size
        return np.broadcast_to(np.exp(log).astype(np.float32), (nz, ny, nx))

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": "exp(c0 u + c1 v + c2 w + c3 u^2 + c4 v^2 + c5 u v), (u, v, w) = "
            "(image LPS - centre) / 100 mm",
            "coefficients": [round(c, 6) for c in self.coefficients],
            "centre_lps_mm": [round(c, 4) for c in self.centre],
        }


def rician(signal: F32, sigma: float, rng: np.random.Generator) -> F32:
    """Magnitude of ``signal`` plus complex Gaussian noise of std ``sigma`` per channel."""
    if sigma <= 0:
        return np.asarray(signal, dtype=np.float32)
    real = signal + rng.normal(0.0, sigma, size=signal.shape).astype(np.float32)
    imag = rng.normal(0.0, sigma, size=signal.shape).astype(np.float32)
    return np.asarray(np.hypot(real, imag), dtype=np.float32)


@dataclass(frozen=True)
class Rescale:
    """Stored integer -> value: ``value = stored * slope + intercept`` (DICOM rescale)."""

    slope: float = 1.0
    intercept: float = 0.0
    written: bool = False

    def to_stored(self, values: F32) -> npt.NDArray[np.uint16]:
        stored = np.rint((values.astype(np.float64) - self.intercept) / self.slope)
        return np.clip(stored, 0, 65535).astype(np.uint16)

    def to_values(self, stored: npt.NDArray[np.uint16]) -> npt.NDArray[np.float64]:
        return np.asarray(stored, dtype=np.float64) * self.slope + self.intercept


def vendor_adc(
    images: dict[int, npt.NDArray[np.float64]], *, threshold: float
) -> npt.NDArray[np.uint16]:
    """ADC map as scanners write it: log-linear least squares over all b-values, in
    1e-6 mm^2/s integers, 0 where the lowest-b signal is below ``threshold``."""
    b_values = sorted(images)
    b = np.asarray(b_values, dtype=np.float64)
    logs = np.stack([np.log(np.maximum(images[v], 1e-6)) for v in b_values], axis=0)
    b_centred = b - b.mean()
    slope = np.tensordot(b_centred, logs - logs.mean(axis=0), axes=(0, 0)) / np.sum(b_centred**2)
    adc = np.clip(-slope * 1e6, 0.0, 4000.0)
    adc[images[b_values[0]] < threshold] = 0.0
    return np.rint(adc).astype(np.uint16)
