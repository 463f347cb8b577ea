"""Surveillance plans from the template in ``configs/decision.yaml`` (``surveillance``).

cCR: watch and wait, visits from the phases of ``surveillance.ccr``. near-cCR: one
reassessment visit ``surveillance.near_ccr`` weeks after the assessment. Dates count from the
form's ``assessment_date`` (calendar months; a day past the month's end is clamped).
"""

from __future__ import annotations

import calendar
import datetime as dt

from pipeline.config.decision import SurveillanceConfig, SurveillanceTest
from pipeline.decision._model import Outcome, SurveillancePlan, SurveillanceVisit

_TEST_ORDER = tuple(SurveillanceTest)


def add_months(start: dt.date, months: int) -> dt.date:
    """``start`` plus whole calendar months (31 Jan + 1 month = 28/29 Feb)."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def _span(unit: str, first: int, last: int) -> str:
    return f"{unit}s {first}-{last}" if last != first else f"{unit} {first}"


def _ccr_visits(
    config: SurveillanceConfig, assessment: dt.date | None
) -> tuple[SurveillanceVisit, ...]:
    months: dict[int, tuple[int, set[SurveillanceTest]]] = {}
    for phase in config.ccr:
        month = phase.start_month + phase.every_months
        while month <= phase.end_month:
            window, tests = months.get(month, (0, set()))
            months[month] = (max(window, phase.window_months), tests | set(phase.tests))
            month += phase.every_months
    visits = []
    for month in sorted(months):
        window, tests = months[month]
        visits.append(
            SurveillanceVisit(
                label=_span("month", month, month + window),
                due_date=add_months(assessment, month) if assessment else None,
                latest_date=add_months(assessment, month + window) if assessment else None,
                tests=tuple(t for t in _TEST_ORDER if t in tests),
            )
        )
    return tuple(visits)


def surveillance_plan(
    outcome: Outcome, config: SurveillanceConfig, assessment: dt.date | None
) -> SurveillancePlan | None:
    """The plan for ``outcome`` (``None`` for incomplete and indeterminate)."""
    if outcome is Outcome.CCR:
        return SurveillancePlan(
            kind="watch_and_wait",
            visits=_ccr_visits(config, assessment),
            basis="configs/decision.yaml: surveillance.ccr",
            note=(
                "Research template of watch-and-wait surveillance (DRE, endoscopy, MRI with DWI, "
                "CEA), more often in the first two years when most regrowth occurs; follow the "
                "local protocol."
            ),
        )
    if outcome is Outcome.NEAR_CCR:
        near = config.near_ccr
        visit = SurveillanceVisit(
            label=_span("week", near.earliest_weeks, near.latest_weeks),
            due_date=assessment + dt.timedelta(weeks=near.earliest_weeks) if assessment else None,
            latest_date=assessment + dt.timedelta(weeks=near.latest_weeks) if assessment else None,
            tests=tuple(t for t in _TEST_ORDER if t in near.tests),
        )
        return SurveillancePlan(
            kind="reassessment",
            visits=(visit,),
            basis="configs/decision.yaml: surveillance.near_ccr",
            note=("Near-complete response: reassess to decide between watch and wait and surgery."),
        )
    return None
