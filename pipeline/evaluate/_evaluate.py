"""The evaluation itself: joined cases -> AUC, operating points, calibration, decision tables."""

from __future__ import annotations

import logging

import numpy as np

from pipeline.config.decision import DecisionConfig
from pipeline.errors import InputError
from pipeline.evaluate._metrics import (
    FloatArray,
    IntArray,
    binary_counts,
    bootstrap_auc,
    calibration,
    confusion_matrix,
    roc_curve,
    wilson_interval,
)
from pipeline.evaluate._model import (
    CaseRecord,
    Counts,
    DecisionMatrix,
    Evaluation,
    EvaluationOptions,
    LabelsTable,
    OperatingPoint,
    OperatingPointName,
    ResultsTable,
)
from pipeline.evaluate._table import join, outcome_names

log = logging.getLogger(__name__)

#: Row names of the decision-vs-residual table.
RESIDUAL_ROWS = ("residual", "no_residual")

#: Fewer cases than this in a class: the intervals are flagged as unreliable.
_SMALL_CLASS = 10


def _arrays(cases: list[CaseRecord]) -> tuple[IntArray, FloatArray]:
    y = np.asarray([1 if c.residual else 0 for c in cases], dtype=np.int64)
    p = np.asarray([c.score for c in cases], dtype=np.float64)
    return y, p


def _need_scored_cases(
    counts: Counts, results: ResultsTable, labels: LabelsTable, score_column: str
) -> None:
    where = f"results {results.path}, labels {labels.source}"
    if counts.evaluated == 0:
        status = ", ".join(f"{n} {s}" for s, n in counts.excluded_status.items()) or "none"
        raise InputError(
            f"{where}: no study can be evaluated ({counts.results_rows} results rows; left out "
            f"by status: {status}; without a label: {counts.excluded_no_label}; "
            f"{counts.labels_without_result} of {counts.label_rows} labels match no results "
            f"row by {labels.key_column.value!r})",
            fix="check that the labels use the same key values as the results "
            "(study_key, or input = the input entry name).",
        )
    if counts.scored == 0:
        raise InputError(
            f"{where}: none of the {counts.evaluated} labelled studies has a {score_column}",
            fix="evaluate a batch run with a scorer that gives a probability, or choose the "
            "column with --score.",
        )


def _operating_points(
    y: IntArray, p: FloatArray, *, decision: DecisionConfig, options: EvaluationOptions
) -> tuple[OperatingPoint, ...]:
    specs = [
        (
            OperatingPointName.CCR_MAX,
            decision.p_residual_ccr_max,
            p > decision.p_residual_ccr_max,
            f"{options.score_column} > {decision.p_residual_ccr_max:g}",
            "decision config p_residual_ccr_max: at or below it the MRI score supports a cCR",
        ),
        (
            OperatingPointName.TUMOUR_MIN,
            decision.p_residual_tumour_min,
            p >= decision.p_residual_tumour_min,
            f"{options.score_column} >= {decision.p_residual_tumour_min:g}",
            "decision config p_residual_tumour_min: at or above it the MRI score shows tumour",
        ),
    ]
    if options.threshold is not None:
        specs.append(
            (
                OperatingPointName.CUSTOM,
                options.threshold,
                p >= options.threshold,
                f"{options.score_column} >= {options.threshold:g}",
                "--threshold",
            )
        )
    points = []
    for name, threshold, positive, rule, source in specs:
        counts = binary_counts(y, positive)
        points.append(
            OperatingPoint(
                name=name,
                threshold=float(threshold),
                positive_when=rule,
                source=source,
                counts=counts,
                sensitivity_ci=wilson_interval(
                    counts.tp, counts.tp + counts.fn, level=options.ci_level
                ),
                specificity_ci=wilson_interval(
                    counts.tn, counts.tn + counts.fp, level=options.ci_level
                ),
            )
        )
    return tuple(points)


def _decision_tables(
    evaluated: list[CaseRecord], *, with_reference: bool
) -> tuple[DecisionMatrix | None, DecisionMatrix | None]:
    outcomes = outcome_names()
    decided = [c for c in evaluated if c.outcome is not None]
    if not decided:
        return None, None
    by_residual = confusion_matrix(
        [RESIDUAL_ROWS[0] if c.residual else RESIDUAL_ROWS[1] for c in decided],
        [c.outcome.value for c in decided if c.outcome is not None],
        rows=list(RESIDUAL_ROWS),
        columns=list(outcomes),
    )
    vs_residual = DecisionMatrix(
        rows=RESIDUAL_ROWS, columns=outcomes, matrix=tuple(tuple(r) for r in by_residual)
    )
    referenced = [c for c in decided if c.reference_outcome is not None]
    if not with_reference or not referenced:
        return vs_residual, None
    by_reference = confusion_matrix(
        [c.reference_outcome.value for c in referenced if c.reference_outcome is not None],
        [c.outcome.value for c in referenced if c.outcome is not None],
        rows=list(outcomes),
        columns=list(outcomes),
    )
    vs_reference = DecisionMatrix(
        rows=outcomes, columns=outcomes, matrix=tuple(tuple(r) for r in by_reference)
    )
    return vs_residual, vs_reference


def evaluate(
    results: ResultsTable,
    labels: LabelsTable,
    *,
    decision: DecisionConfig,
    options: EvaluationOptions,
    thresholds_source: str = "configs/decision.yaml",
) -> Evaluation:
    """Evaluate the batch results against reference labels.

    Parameters
    ----------
    results, labels
        From :func:`read_results` and :func:`read_labels`, joined on ``labels.key_column``.
    decision
        The decision thresholds; ``p_residual_ccr_max`` and ``p_residual_tumour_min`` give
        the operating points (the primary one is ``ccr_max``, or ``custom`` with a threshold).
    options
        Score column, bootstrap, calibration bins, extra threshold.
    thresholds_source
        Where ``decision`` came from, recorded in ``metrics.json``.

    Raises
    ------
    InputError
        No study can be evaluated, none has a score, or the scored studies lack residual or
        non-residual cases (the AUC needs both).
    """
    cases, counts = join(results, labels)
    _need_scored_cases(counts, results, labels, options.score_column)
    evaluated = [c for c in cases if c.excluded is None]
    scored = [c for c in evaluated if c.score is not None]
    y, p = _arrays(scored)
    n_pos, n_neg = int(y.sum()), int(y.size - y.sum())
    if n_pos == 0 or n_neg == 0:
        missing = "residual-tumour (label 1)" if n_pos == 0 else "no-residual (label 0)"
        raise InputError(
            f"results {results.path}, labels {labels.source}: the {y.size} scored, labelled "
            f"studies have no {missing} case ({n_pos} residual, {n_neg} no residual); AUC, "
            "sensitivity and specificity need both",
            fix="evaluate a cohort with both residual and complete-response cases.",
        )
    warnings = []
    if min(n_pos, n_neg) < _SMALL_CLASS:
        warnings.append(
            f"only {n_pos} residual and {n_neg} no-residual scored studies: the intervals "
            "are wide and the bootstrap unreliable"
        )
    if not results.has_status:
        warnings.append("the results have no 'status' column: every row was taken as done")
    if not results.has_outcome:
        warnings.append("the results have no 'outcome' column: no decision tables")
    if counts.labels_without_result:
        warnings.append(
            f"{counts.labels_without_result} of {counts.label_rows} labels match no results "
            f"row by {labels.key_column.value!r}"
        )
    if counts.excluded_no_score:
        warnings.append(
            f"{counts.excluded_no_score} labelled studies have no {options.score_column} and "
            "are left out of the score metrics (kept in the decision tables)"
        )
    for text in warnings:
        log.warning(text)
    vs_residual, vs_reference = _decision_tables(
        evaluated, with_reference=labels.has_reference_outcome
    )
    return Evaluation(
        options=options,
        results=results,
        labels=labels,
        counts=counts,
        auc=bootstrap_auc(
            y, p, n_resamples=options.n_bootstrap, seed=options.seed, level=options.ci_level
        ),
        roc=roc_curve(y, p),
        operating_points=_operating_points(y, p, decision=decision, options=options),
        primary=OperatingPointName.CUSTOM
        if options.threshold is not None
        else OperatingPointName.CCR_MAX,
        calibration=calibration(y, p, n_bins=options.calibration_bins),
        decision_vs_residual=vs_residual,
        decision_vs_reference=vs_reference,
        cases=cases,
        thresholds_source=thresholds_source,
        warnings=tuple(warnings),
    )
