"""Schema of ``configs/diffusion.yaml``."""

from __future__ import annotations

from enum import Enum

from pydantic import Field

from pipeline.config._base import FrozenModel


class AdcFit(str, Enum):
    LOG_LINEAR = "log_linear"
    WEIGHTED = "weighted"


class DiffusionConfig(FrozenModel):
    fit: AdcFit = AdcFit.LOG_LINEAR
    min_b_value: float = Field(
        default=50.0, ge=0, description="s/mm^2; lower b-values are left out"
    )
    max_b_value: float | None = Field(default=None, gt=0)
    fallback_include_b0: bool = Field(
        default=True, description="use b < min_b_value when fewer than two b-values remain"
    )
    high_b_value: float = Field(default=1500.0, gt=0, description="computed high-b, s/mm^2")
    background_fraction: float = Field(
        default=0.05, ge=0, lt=1, description="voxels below this fraction of the b0 99th pct"
    )
    noise_floor_factor: float = Field(
        default=1.0, ge=0, description="signal below factor x noise sigma is left out of the fit"
    )
    rician_correction: bool = Field(
        default=True, description="remove the Rician noise bias: S' = sqrt(max(S^2 - 2 sigma^2, 0))"
    )
    quantisation_offset: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="added to integer-stored DWI signal before the fit: 0.5 undoes the bias of "
        "scanners that store by truncation (measured on Siemens XA30 derived TRACEW)",
    )
    adc_max: float = Field(default=4.0, gt=0, description="1e-3 mm^2/s; larger values clipped")
