"""ADC, S0, fit-residual and computed high-b maps from a multi-b DWI volume."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from pipeline.config.diffusion import AdcFit, DiffusionConfig
from pipeline.diffusion._fit import fit_log_linear
from pipeline.errors import InputError
from pipeline.volume import Volume, VolumeKind

log = logging.getLogger(__name__)

ADC_UNITS = "1e-3 mm2/s"
#: b-values closer than this (s/mm^2) count as the same weighting.
B_VALUE_TOL = 1.0


@dataclass(frozen=True)
class DiffusionQc:
    """Quality figures of one fit."""

    b_values_used: tuple[float, ...]
    noise_sigma: float
    noise_method: str
    snr_b_low: float
    fitted_fraction: float
    median_rms_residual: float

    def as_dict(self) -> dict[str, object]:
        return {
            "b_values_used": list(self.b_values_used),
            "noise_sigma": round(self.noise_sigma, 6),
            "noise_method": self.noise_method,
            "snr_b_low": round(self.snr_b_low, 2),
            "fitted_fraction": round(self.fitted_fraction, 4),
            "median_rms_residual": round(self.median_rms_residual, 5),
        }


@dataclass(frozen=True)
class DiffusionMaps:
    """Maps on the DWI grid. ``adc`` in 1e-3 mm^2/s, 0 outside ``mask``."""

    adc: Volume
    high_b: Volume
    s0: Volume
    residual: Volume
    mask: Volume
    high_b_value: float
    qc: DiffusionQc


def select_b_values(available: tuple[float, ...], config: DiffusionConfig) -> tuple[int, ...]:
    """Indices of the channels used for the fit, by the configured b-value window."""
    upper = config.max_b_value if config.max_b_value is not None else np.inf
    chosen = [i for i, b in enumerate(available) if config.min_b_value <= b <= upper]
    distinct = {round(available[i]) for i in chosen}
    if len(distinct) < 2 and config.fallback_include_b0:
        chosen = [i for i, b in enumerate(available) if b <= upper]
        distinct = {round(available[i]) for i in chosen}
    if len(distinct) < 2:
        raise InputError(
            f"ADC needs at least two distinct b-values in [{config.min_b_value}, {upper}] "
            f"s/mm^2; the series has {available}",
            fix="lower diffusion.min_b_value or enable fallback_include_b0",
        )
    return tuple(chosen)


def _background_sigma(low_b: npt.NDArray[np.floating], threshold: float) -> float | None:
    """Sigma from the Rayleigh background below ``threshold``, or ``None`` if it is not one.

    The median of the voxels in ``(0, threshold)`` is matched to that of a Rayleigh
    distribution truncated at the threshold (fixed-point iteration). A truncated Rayleigh has
    a median below ``threshold / sqrt(2)``; a larger median means the "background" is tissue.
    """
    background = low_b[(low_b > 0) & (low_b < threshold)]
    if background.size < max(500, low_b.size // 100):
        return None
    median = float(np.median(background))
    if median >= 0.68 * threshold:
        return None
    sigma = median / np.sqrt(2.0 * np.log(2.0))
    for _ in range(100):
        cut = 1.0 - np.exp(-(threshold**2) / (2.0 * sigma * sigma))
        updated = median / np.sqrt(-2.0 * np.log(1.0 - 0.5 * cut))
        if abs(updated - sigma) < 1e-6 * sigma:
            return float(updated)
        sigma = updated
    return None


def _laplacian_sigma(low_b: npt.NDArray[np.floating]) -> float:
    """Immerkaer's estimate (mean absolute Laplacian difference), median over slices.

    Works without background; overestimates where the image has much structure.
    """
    kernel = np.array([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]])
    estimates = []
    for plane in np.asarray(low_b, dtype=np.float64):
        if min(plane.shape) < 3:
            continue
        response = ndimage.convolve(plane, kernel, mode="reflect")[1:-1, 1:-1]
        estimates.append(np.sqrt(np.pi / 2.0) * np.abs(response).mean() / 6.0)
    return float(np.median(estimates)) if estimates else 0.0


def estimate_noise_sigma(
    low_b: npt.NDArray[np.floating], background_threshold: float
) -> tuple[float, str]:
    """Gaussian-equivalent noise sigma of a magnitude image and the method that gave it.

    The Rayleigh background is used when there is one; otherwise (small field of view, no air)
    Immerkaer's Laplacian estimate.
    """
    sigma = _background_sigma(low_b, background_threshold)
    if sigma is not None:
        return sigma, "rayleigh-background"
    return _laplacian_sigma(low_b), "laplacian"


def body_mask(low_b: npt.NDArray[np.floating], threshold: float) -> npt.NDArray[np.bool_]:
    """Voxels above ``threshold`` after an in-plane opening that drops isolated noise voxels."""
    structure = np.zeros((1, 3, 3), dtype=bool)
    structure[0, 1, :] = structure[0, :, 1] = True
    return np.asarray(ndimage.binary_opening(low_b > threshold, structure=structure))


def rician_corrected(signal: npt.NDArray[np.float64], sigma: float) -> npt.NDArray[np.float64]:
    """Second-moment correction of the Rician bias: ``E[M^2] = A^2 + 2 sigma^2``."""
    return np.sqrt(np.maximum(signal * signal - 2.0 * sigma * sigma, 0.0))


def compute_maps(
    dwi: Volume, *, config: DiffusionConfig, device: str | None = None
) -> DiffusionMaps:
    """Fit ADC per voxel and compute the high-b image.

    Parameters
    ----------
    dwi
        4-D DWI volume ``[b, z, y, x]`` with ``b_values`` in s/mm^2 (trace images).
    config
        Fit settings (b-value window, noise floor, high-b value).
    device
        ``None``: numpy fit on the CPU. ``"cpu"`` or ``"cuda"``: the PyTorch fit on that device
        (same results within float32 tolerance).

    Returns
    -------
    DiffusionMaps
        ADC in 1e-3 mm^2/s, computed high-b at ``config.high_b_value`` s/mm^2, S0, RMS log
        residual and the mask of fitted voxels, all on the DWI grid.
    """
    if dwi.array.ndim != 4 or not dwi.b_values:
        raise InputError("DWI volume must be 4-D with one b-value per channel")
    if not np.all(np.isfinite(dwi.array)):
        raise InputError("DWI volume holds NaN or infinite values")
    chosen = select_b_values(dwi.b_values, config)
    b = np.asarray([dwi.b_values[i] for i in chosen])
    data = np.asarray(dwi.array[list(chosen)], dtype=np.float64)
    low_b = np.asarray(dwi.array[int(np.argmin(dwi.b_values))], dtype=np.float64)

    body_threshold = config.background_fraction * float(np.percentile(low_b, 99))
    sigma, noise_method = estimate_noise_sigma(low_b, body_threshold)
    body = body_mask(low_b, max(body_threshold, 3.0 * sigma))
    flat = data.reshape(len(chosen), -1)[:, body.ravel()]
    if config.quantisation_offset > 0 and np.array_equal(flat, np.round(flat)):
        flat = flat + config.quantisation_offset
    valid = flat > config.noise_floor_factor * sigma if sigma > 0 else None
    if config.rician_correction and sigma > 0:
        flat = rician_corrected(flat, sigma)
    weighted = config.fit is AdcFit.WEIGHTED
    if device is None:
        fit = fit_log_linear(flat, b, valid=valid, weighted=weighted)
    else:
        from pipeline.diffusion._fit_torch import fit_log_linear_torch

        fit = fit_log_linear_torch(flat, b, valid=valid, weighted=weighted, device=device)

    adc_mm2s = np.clip(fit.adc, 0.0, config.adc_max * 1e-3)
    good = np.isfinite(fit.adc)
    shape = dwi.shape

    def scatter(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
        out = np.zeros(int(np.prod(shape)), dtype=np.float32)
        idx = np.flatnonzero(body.ravel())
        out[idx[good]] = values[good]
        return out.reshape(shape)

    high_b = fit.s0 * np.exp(-config.high_b_value * adc_mm2s)
    fitted = np.zeros(shape, dtype=np.uint8)
    fitted.ravel()[np.flatnonzero(body.ravel())[good]] = 1
    body_signal = low_b[body]
    qc = DiffusionQc(
        b_values_used=tuple(float(x) for x in b),
        noise_sigma=sigma,
        noise_method=noise_method,
        snr_b_low=float(np.median(body_signal) / sigma) if sigma > 0 else float("inf"),
        fitted_fraction=float(good.mean()) if good.size else 0.0,
        median_rms_residual=float(np.median(fit.rms_residual[good])) if good.any() else np.nan,
    )
    log.info(
        "ADC fit: b=%s, %d voxels, SNR(b_low)=%.1f",
        qc.b_values_used,
        int(good.sum()),
        qc.snr_b_low,
    )
    base = dwi.channel(0)
    return DiffusionMaps(
        adc=base.with_array(scatter(adc_mm2s * 1e3), units=ADC_UNITS),
        high_b=base.with_array(scatter(high_b), units="a.u."),
        s0=base.with_array(scatter(fit.s0), units="a.u."),
        residual=base.with_array(scatter(fit.rms_residual), units="log signal"),
        mask=base.with_array(fitted, kind=VolumeKind.LABEL, units=""),
        high_b_value=config.high_b_value,
        qc=qc,
    )
