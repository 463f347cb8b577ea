"""Diffusion maps: ADC fit (log-linear / weighted least squares) and computed high-b."""

from __future__ import annotations

from pipeline.diffusion._fit import VoxelFit, fit_log_linear
from pipeline.diffusion._fit_torch import fit_log_linear_torch
from pipeline.diffusion._maps import (
    ADC_UNITS,
    DiffusionMaps,
    DiffusionQc,
    compute_maps,
    estimate_noise_sigma,
    select_b_values,
)
from pipeline.diffusion._vendor import compare_vendor_adc, detect_adc_units, wall_ring

__all__ = [
    "ADC_UNITS",
    "DiffusionMaps",
    "DiffusionQc",
    "VoxelFit",
    "compare_vendor_adc",
    "compute_maps",
    "detect_adc_units",
    "estimate_noise_sigma",
    "fit_log_linear",
    "fit_log_linear_torch",
    "select_b_values",
    "wall_ring",
]
