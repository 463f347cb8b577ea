"""Schema of ``configs/decision.yaml``: thresholds of the cCR decision and surveillance.

Units: volumes in mL, P(residual) 0..1, fractions 0..1, SUV unitless, intervals in months
or weeks as the field name says. How the thresholds are used is the rule table in
:mod:`pipeline.decision._rules`.
"""

from __future__ import annotations

from enum import Enum

from pydantic import Field, model_validator

from pipeline.config._base import FrozenModel


class SurveillanceTest(str, Enum):
    """What is done at a surveillance visit."""

    DRE = "dre"
    ENDOSCOPY = "endoscopy"
    MRI_DWI = "mri_dwi"
    CEA = "cea"


class SurveillancePhase(FrozenModel):
    """Visits every ``every_months`` after ``start_month`` up to and including ``end_month``.

    Months count from the assessment date. A visit is due from its date to its date plus
    ``window_months`` (so ``every_months: 3, window_months: 1`` reads "every 3-4 months").
    Phases may overlap (e.g. MRI every 6 months while DRE/endoscopy are every 3); visits that
    fall in the same month are merged.
    """

    start_month: int = Field(ge=0)
    end_month: int = Field(gt=0)
    every_months: int = Field(ge=1)
    window_months: int = Field(default=0, ge=0)
    tests: tuple[SurveillanceTest, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> SurveillancePhase:
        if self.end_month <= self.start_month:
            raise ValueError("end_month must be after start_month")
        if len(set(self.tests)) != len(self.tests):
            raise ValueError("tests must not repeat")
        return self


class NearCcrReassessment(FrozenModel):
    """The one reassessment visit after a near-complete response."""

    earliest_weeks: int = Field(default=8, ge=1)
    latest_weeks: int = Field(default=12, ge=1)
    tests: tuple[SurveillanceTest, ...] = Field(
        default=(
            SurveillanceTest.DRE,
            SurveillanceTest.ENDOSCOPY,
            SurveillanceTest.MRI_DWI,
            SurveillanceTest.CEA,
        ),
        min_length=1,
    )

    @model_validator(mode="after")
    def _ordered(self) -> NearCcrReassessment:
        if self.latest_weeks < self.earliest_weeks:
            raise ValueError("latest_weeks must not be before earliest_weeks")
        return self


def _default_ccr_phases() -> tuple[SurveillancePhase, ...]:
    every = tuple(SurveillanceTest)
    return (
        SurveillancePhase(
            start_month=0, end_month=24, every_months=3, window_months=1, tests=every
        ),
        SurveillancePhase(
            start_month=24, end_month=60, every_months=6, window_months=0, tests=every
        ),
    )


class SurveillanceConfig(FrozenModel):
    """Watch-and-wait template (after cCR) and near-cCR reassessment."""

    ccr: tuple[SurveillancePhase, ...] = Field(default_factory=_default_ccr_phases, min_length=1)
    near_ccr: NearCcrReassessment = NearCcrReassessment()


class DecisionConfig(FrozenModel):
    p_residual_ccr_max: float = Field(
        default=0.2, ge=0, le=1, description="P(residual) at or below which MRI supports cCR"
    )
    p_residual_tumour_min: float = Field(
        default=0.8, ge=0, le=1, description="P(residual) at or above which MRI shows tumour"
    )
    restricted_focus_small_max_ml: float = Field(
        default=0.35, ge=0, description="a restricted focus up to this volume is 'small'"
    )
    t2_intermediate_fraction_max: float = Field(
        default=0.3, ge=0, le=1, description="intermediate T2 fraction allowed for a cCR"
    )
    t2_fraction_sum_tolerance: float = Field(
        default=0.02,
        ge=0,
        le=0.5,
        description="intermediate + bright fractions above 1 + this are contradictory",
    )
    pet_suvmax_ccr_max: float = Field(
        default=4.3, gt=0, description="SUVmax after therapy below this is supportive"
    )
    pet_suv_fall_min_percent: float = Field(
        default=66.0, ge=0, le=100, description="a fall of SUVmax above this % is supportive"
    )
    surveillance: SurveillanceConfig = SurveillanceConfig()

    @model_validator(mode="after")
    def _ordered(self) -> DecisionConfig:
        if self.p_residual_ccr_max >= self.p_residual_tumour_min:
            raise ValueError("p_residual_ccr_max must be below p_residual_tumour_min")
        return self
