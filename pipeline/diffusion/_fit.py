"""Vectorised mono-exponential ADC fit: log-linear and weighted least squares (numpy).

The fit runs over blocks of voxels that stay in cache. In a block, voxels whose every point is
valid (the usual case) share one design matrix, so their unweighted fit is one product with its
pseudo-inverse; the others (and the weighted fit) use the per-voxel normal equations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: Voxels per block: 3 b-values x 32768 voxels x 8 bytes = 0.75 MB per temporary.
BLOCK = 32768


@dataclass(frozen=True)
class VoxelFit:
    """Per-voxel fit results, flat over the fitted voxels.

    ``adc`` in mm^2/s, ``s0`` in signal units, ``rms_residual`` in log-signal units.
    """

    adc: FloatArray
    s0: FloatArray
    rms_residual: FloatArray
    n_points: npt.NDArray[np.int64]


@dataclass(frozen=True)
class _Design:
    """The all-points design ``[1, b]``: pseudo-inverse and residual projector."""

    pinv: FloatArray  # (2, n_b): rows intercept, slope
    residual: FloatArray  # (n_b, n_b): I - X pinv
    usable: bool  # at least two distinct b-values

    @classmethod
    def of(cls, b: FloatArray) -> _Design:
        x = np.stack([np.ones_like(b), b], axis=1)
        n, sb, sbb = float(len(b)), float(b.sum()), float((b * b).sum())
        det = n * sbb - sb * sb
        usable = len(b) >= 2 and det > 1e-12 * max(n * sbb, 1e-300)
        pinv = np.linalg.pinv(x) if usable else np.zeros((2, len(b)))
        return cls(pinv=pinv, residual=np.eye(len(b)) - x @ pinv, usable=usable)


def _normal_equations(
    log_s: FloatArray, ok: BoolArray, b: FloatArray, w: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, BoolArray]:
    """Per-voxel (weighted) least squares; returns slope, intercept, rms, good."""
    bc = b[:, None]
    sw = w.sum(axis=0)
    wb = w * bc
    swb = wb.sum(axis=0)
    swbb = (wb * bc).sum(axis=0)
    swy = (w * log_s).sum(axis=0)
    swby = (wb * log_s).sum(axis=0)
    det = sw * swbb - swb * swb
    n_points = ok.sum(axis=0)
    good = (n_points >= 2) & (det > 1e-12 * np.maximum(sw * swbb, 1e-300))
    safe_det = np.where(good, det, 1.0)
    slope = (sw * swby - swb * swy) / safe_det
    intercept = (swbb * swy - swb * swby) / safe_det
    resid = np.where(ok, log_s - (intercept[None, :] + slope[None, :] * bc), 0.0)
    rms = np.sqrt((resid * resid).sum(axis=0) / np.maximum(n_points, 1))
    return slope, intercept, rms, good


def _fit_block(
    s: FloatArray,
    ok: BoolArray,
    b: FloatArray,
    design: _Design,
    weighted: bool,
    out: tuple[FloatArray, FloatArray, FloatArray, npt.NDArray[np.int64]],
) -> None:
    """Fit one block ``s`` (float64, may be overwritten) into the ``out`` slices."""
    adc, s0, rms, n_out = out
    n_b = s.shape[0]
    log_s = np.log(s, out=s, where=ok)
    np.multiply(log_s, ok, out=log_s)  # zero where not valid
    n_points = np.count_nonzero(ok, axis=0)
    n_out[:] = n_points
    partial = n_points < n_b
    if weighted or not design.usable:
        w = np.exp(2.0 * log_s) * ok if weighted else ok.astype(np.float64)
        slope, intercept, r, good = _normal_equations(log_s, ok, b, w)
    else:
        intercept, slope = design.pinv @ log_s
        resid = design.residual @ log_s
        r = np.sqrt(np.einsum("ij,ij->j", resid, resid) / n_b)
        good = np.ones(slope.shape, dtype=bool)
        if partial.any():
            idx = np.flatnonzero(partial)
            sub = log_s[:, idx]
            ok_sub = ok[:, idx]
            p_slope, p_icpt, p_rms, p_good = _normal_equations(
                sub, ok_sub, b, ok_sub.astype(np.float64)
            )
            slope[idx], intercept[idx], r[idx], good[idx] = p_slope, p_icpt, p_rms, p_good
    np.negative(slope, out=adc)
    np.exp(intercept, out=s0)
    rms[:] = r
    bad = ~good
    if bad.any():
        adc[bad] = s0[bad] = rms[bad] = np.nan


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
    s_in = np.asarray(signal)
    b = np.asarray(b_values, dtype=np.float64)
    if s_in.ndim != 2 or s_in.shape[0] != b.shape[0]:
        raise ValueError(f"signal must be [n_b={b.shape[0]}, n_voxels], got {s_in.shape}")
    valid_in = None if valid is None else np.asarray(valid, dtype=bool)
    n = s_in.shape[1]
    design = _Design.of(b)
    adc, s0, rms = (np.empty(n, dtype=np.float64) for _ in range(3))
    n_points = np.empty(n, dtype=np.int64)
    for start in range(0, n, BLOCK):
        stop = min(start + BLOCK, n)
        block = np.array(s_in[:, start:stop], dtype=np.float64)  # a copy: overwritten
        ok = block > 0
        if valid_in is not None:
            ok &= valid_in[:, start:stop]
        _fit_block(
            block,
            ok,
            b,
            design,
            weighted,
            (adc[start:stop], s0[start:stop], rms[start:stop], n_points[start:stop]),
        )
    return VoxelFit(adc=adc, s0=s0, rms_residual=rms, n_points=n_points)
