"""Schema of ``configs/series_rules.yaml``: how series are given their role."""

from __future__ import annotations

from enum import Enum

from pydantic import Field

from pipeline.config._base import FrozenModel
from pipeline.study import SeriesRole


class SeriesRule(FrozenModel):
    """One rule; the first rule whose every given condition holds assigns ``role``.

    Patterns are case-insensitive regular expressions searched in the text.
    """

    name: str
    role: SeriesRole
    modality: str | None = None
    description_pattern: str | None = None
    protocol_pattern: str | None = None
    image_type_contains: tuple[str, ...] = ()
    image_type_excludes: tuple[str, ...] = ()
    scanning_sequence_contains: tuple[str, ...] = ()
    requires_b_values: bool | None = None
    min_distinct_b_values: int | None = Field(default=None, ge=1)


class TraceMean(str, Enum):
    """How directional DWI volumes of one b-value are combined into a trace image."""

    GEOMETRIC = "geometric"  # what scanners compute: exp(mean(log S_i)), exact for ADC
    ARITHMETIC = "arithmetic"


class SeriesRulesConfig(FrozenModel):
    rules: tuple[SeriesRule, ...] = Field(min_length=1)
    philips_dummy_b_max: float = Field(
        default=0.005, ge=0, description="Philips writes b=0 as tiny values such as 0.001"
    )
    ge_b_value_offset: float = Field(default=1e9, gt=0)
    trace_mean: TraceMean = Field(
        default=TraceMean.GEOMETRIC,
        description="combination of directional volumes of one b-value when no trace is given",
    )
