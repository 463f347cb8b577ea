"""Vectorised mono-exponential ADC fit: log-linear and weighted least squares (numpy)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class VoxelFit:
    """Per-voxel fit results, flat over the fitted voxels.

    ``adc`` in mm^2/s, ``s0`` in signal units, ``rms_residual`` in log-signal units.
    """

    adc: FloatArray
    s0: FloatArray
    rms_residual: FloatArray
    n_points: npt.NDArray[np.int64]


def fit_log_linear(
    signal: npt.NDArray[np.floating],
    b_values: npt.NDArray[np.floating],
    *,
    valid: npt.NDArray[np.bool_] | None = None,
    weighted: bool = False,
) -> VoxelFit:
    """Fit ``log S = log S0 - b * D`` per voxel by (weighted) linear least squares.

    Parameters
    ----------
    signal
        ``[n_b, n_voxels]`` signal magnitudes (> 0 where valid).
    b_values
        ``[n_b]`` b-values in s/mm^2.
    valid
        ``[n_b, n_voxels]`` points to use (e.g. above the noise floor); all when ``None``.
    weighted
        Weight each point by ``S^2`` (the inverse variance of ``log S`` for Gaussian noise).

    Returns
    -------
    VoxelFit
        ``adc`` in mm^2/s. Voxels with fewer than two valid points get NaN.
    """
    s = np.asarray(signal, dtype=np.float64)
    b = np.asarray(b_values, dtype=np.float64)[:, None]
    ok = np.ones(s.shape, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    ok = ok & (s > 0)
    log_s = np.where(ok, np.log(np.where(ok, s, 1.0)), 0.0)
    w = np.where(ok, s * s if weighted else 1.0, 0.0)

    sw = w.sum(axis=0)
    swb = (w * b).sum(axis=0)
    swy = (w * log_s).sum(axis=0)
    swbb = (w * b * b).sum(axis=0)
    swby = (w * b * log_s).sum(axis=0)
    det = sw * swbb - swb * swb
    n_points = ok.sum(axis=0)
    good = (n_points >= 2) & (det > 1e-12 * np.maximum(sw * swbb, 1e-300))
    safe_det = np.where(good, det, 1.0)
    slope = (sw * swby - swb * swy) / safe_det
    intercept = (swbb * swy - swb * swby) / safe_det

    predicted = intercept[None, :] + slope[None, :] * b
    resid = np.where(ok, log_s - predicted, 0.0)
    rms = np.sqrt((resid * resid).sum(axis=0) / np.maximum(n_points, 1))

    nan = np.full(slope.shape, np.nan)
    return VoxelFit(
        adc=np.where(good, -slope, nan),
        s0=np.where(good, np.exp(intercept), nan),
        rms_residual=np.where(good, rms, nan),
        n_points=n_points.astype(np.int64),
    )
