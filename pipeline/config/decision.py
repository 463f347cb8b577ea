"""Schema of ``configs/decision.yaml``: thresholds of the cCR decision."""

from __future__ import annotations

from pydantic import Field, model_validator

from pipeline.config._base import FrozenModel


class DecisionConfig(FrozenModel):
    p_residual_ccr_max: float = Field(
        default=0.2, ge=0, le=1, description="P(residual) at or below which MRI supports cCR"
    )
    p_residual_tumour_min: float = Field(
        default=0.8, ge=0, le=1, description="P(residual) at or above which MRI shows tumour"
    )
    restricted_focus_small_max_ml: float = Field(
        default=0.5, ge=0, description="a restricted focus up to this volume is 'small'"
    )
    t2_intermediate_fraction_max: float = Field(default=0.3, ge=0, le=1)
    pet_suvmax_ccr_max: float = Field(default=4.3, gt=0)
    pet_suv_fall_min_percent: float = Field(default=66.0, ge=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> DecisionConfig:
        if self.p_residual_ccr_max >= self.p_residual_tumour_min:
            raise ValueError("p_residual_ccr_max must be below p_residual_tumour_min")
        return self
