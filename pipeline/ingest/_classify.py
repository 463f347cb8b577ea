"""Series roles from ``configs/series_rules.yaml`` and the preferred order of series in a study.

The first rule whose every given condition holds assigns the role; ``role_reason`` names it.
Among several T2W series the axial one with the finest in-plane resolution comes first, so
``Study.first(SeriesRole.T2W)`` is that one; among DWI series, the one with most b-values.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.config.series_rules import SeriesRule, SeriesRulesConfig
from pipeline.ingest._headers import SliceRecord
from pipeline.study import Series, SeriesRole

#: b-values closer than this (s/mm^2) count as one distinct b-value.
B_VALUE_TOL = 1.0
#: Role order of Study.series.
ROLE_ORDER = (SeriesRole.T2W, SeriesRole.DWI, SeriesRole.ADC, SeriesRole.HIGH_B, SeriesRole.OTHER)


@dataclass(frozen=True)
class SeriesFacts:
    """What the rules look at, taken from a part's records."""

    description: str
    protocol: str
    image_type: frozenset[str]
    scanning_sequence: frozenset[str]
    modality: str
    distinct_b_values: tuple[float, ...]


def distinct_b_values(values: Sequence[float]) -> tuple[float, ...]:
    """Sorted b-values with near-equal ones (within :data:`B_VALUE_TOL`) merged."""
    out: list[float] = []
    for value in sorted(values):
        if not out or value - out[-1] > B_VALUE_TOL:
            out.append(value)
    return tuple(out)


def facts_of(records: Sequence[SliceRecord]) -> SeriesFacts:
    first = records[0]
    image_type: set[str] = set()
    sequence: set[str] = set()
    for record in records:
        image_type.update(record.image_type)
        sequence.update(record.scanning_sequence)
    b_values = [r.diffusion.b_value for r in records if r.diffusion.b_value is not None]
    return SeriesFacts(
        description=first.description,
        protocol=first.protocol,
        image_type=frozenset(image_type),
        scanning_sequence=frozenset(sequence),
        modality=first.modality.upper(),
        distinct_b_values=distinct_b_values(b_values),
    )


def _holds(rule: SeriesRule, facts: SeriesFacts) -> bool:
    if rule.modality is not None and facts.modality != rule.modality.upper():
        return False
    if rule.description_pattern is not None and not re.search(
        rule.description_pattern, facts.description, re.IGNORECASE
    ):
        return False
    if rule.protocol_pattern is not None and not re.search(
        rule.protocol_pattern, facts.protocol, re.IGNORECASE
    ):
        return False
    if any(token.upper() not in facts.image_type for token in rule.image_type_contains):
        return False
    if any(token.upper() in facts.image_type for token in rule.image_type_excludes):
        return False
    if any(
        token.upper() not in facts.scanning_sequence for token in rule.scanning_sequence_contains
    ):
        return False
    if rule.requires_b_values is not None and rule.requires_b_values != bool(
        facts.distinct_b_values
    ):
        return False
    return not (
        rule.min_distinct_b_values is not None
        and len(facts.distinct_b_values) < rule.min_distinct_b_values
    )


def classify(facts: SeriesFacts, rules: SeriesRulesConfig) -> tuple[SeriesRole, str]:
    """Role and reason (``"rule '<name>'"``) from the first matching rule."""
    for rule in rules.rules:
        if _holds(rule, facts):
            return rule.role, f"rule '{rule.name}'"
    return SeriesRole.OTHER, "no rule matched"


def is_axial(orientation: Sequence[float] | None) -> bool:
    """True when the slice normal is closest to the patient's head-feet (z) axis."""
    if orientation is None:
        return False
    normal = np.cross(np.asarray(orientation[:3]), np.asarray(orientation[3:]))
    return int(np.argmax(np.abs(normal))) == 2


def _preference(series: Series, records: Sequence[SliceRecord]) -> tuple[float, ...]:
    first = records[0]
    axial = 0.0 if is_axial(first.orientation) else 1.0
    pixel_area = float(np.prod(first.pixel_spacing)) if first.pixel_spacing else float("inf")
    thickness = first.slice_thickness or float("inf")
    if series.role is SeriesRole.T2W:
        return (axial, pixel_area, thickness)
    if series.role is SeriesRole.DWI:
        return (-float(len(distinct_b_values(series.b_values))), axial, pixel_area)
    return ()


def order_series(
    items: Sequence[tuple[Series, Sequence[SliceRecord]]],
) -> tuple[Series, ...]:
    """Series in role order, preferred first within a role, then by series number."""

    def key(item: tuple[Series, Sequence[SliceRecord]]) -> tuple[object, ...]:
        series, records = item
        number = series.series_number if series.series_number is not None else 1 << 30
        return (ROLE_ORDER.index(series.role), _preference(series, records), number, series.key)

    return tuple(series for series, _ in sorted(items, key=key))
