"""``metrics.json``, ``cases.csv`` and the plots of an evaluation; the printed summary.

The ``metrics.json`` fields are a stable interface (README, "Evaluating against reference
labels"): fields are added, never renamed.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import pipeline
from pipeline._io import write_json, write_text
from pipeline.decision import Outcome
from pipeline.evaluate._labels import labels_to_csv
from pipeline.evaluate._metrics import Interval
from pipeline.evaluate._model import (
    METRICS_SCHEMA_VERSION,
    DecisionMatrix,
    Evaluation,
    LabelsKind,
    OperatingPoint,
    OperatingPointName,
)
from pipeline.evaluate._plots import plot_calibration, plot_roc
from pipeline.evaluate._table import outcome_names

if TYPE_CHECKING:
    from rich.table import Table

METRICS_FILE = "metrics.json"
ROC_FILE = "roc.png"
CALIBRATION_FILE = "calibration.png"
CASES_FILE = "cases.csv"
LABELS_FILE = "labels.csv"


@dataclass(frozen=True)
class EvaluationFiles:
    """Paths written by :func:`write_evaluation` (``labels`` only for phantom labels)."""

    metrics: Path
    roc: Path
    calibration: Path
    cases: Path
    labels: Path | None


def _interval(interval: Interval | None) -> list[float] | None:
    return None if interval is None else [interval.low, interval.high]


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _point(point: OperatingPoint) -> dict[str, Any]:
    c = point.counts
    return {
        "name": point.name.value,
        "threshold": point.threshold,
        "positive_when": point.positive_when,
        "source": point.source,
        "sensitivity": c.sensitivity,
        "sensitivity_ci": _interval(point.sensitivity_ci),
        "specificity": c.specificity,
        "specificity_ci": _interval(point.specificity_ci),
        "ppv": c.ppv,
        "npv": c.npv,
        "tp": c.tp,
        "fn": c.fn,
        "tn": c.tn,
        "fp": c.fp,
    }


def _matrix(table: DecisionMatrix | None, *, agreement: bool) -> dict[str, Any] | None:
    if table is None:
        return None
    out: dict[str, Any] = {
        "rows": list(table.rows),
        "columns": list(table.columns),
        "matrix": [list(r) for r in table.matrix],
        "n": table.n,
    }
    if agreement:
        same = sum(table.matrix[i][i] for i in range(len(table.rows)))
        out["agreement"] = same / table.n if table.n else None
    return out


def evaluation_to_dict(
    evaluation: Evaluation, *, created: dt.datetime | None = None
) -> dict[str, Any]:
    """The content of ``metrics.json`` (layout in the README)."""
    ev, opts, counts = evaluation, evaluation.options, evaluation.counts
    when = created or dt.datetime.now(dt.timezone.utc)
    points = {p.name: p for p in ev.operating_points}
    return {
        "schema_version": METRICS_SCHEMA_VERSION,
        "research_use": pipeline.RESEARCH_USE_STATEMENT,
        "generator": {
            "name": "ccr evaluate",
            "version": pipeline.__version__,
            "python": platform.python_version(),
            "numpy": np.__version__,
        },
        "created_utc": when.isoformat(timespec="seconds"),
        "inputs": {
            "results": {
                "path": str(ev.results.path),
                "sha256": ev.results.sha256,
                "rows": len(ev.results.rows),
                "columns": list(ev.results.columns),
            },
            "labels": {
                "source": str(ev.labels.source),
                "kind": ev.labels.kind.value,
                "sha256": ev.labels.sha256,
                "rows": len(ev.labels.rows),
                "key_column": ev.labels.key_column.value,
                "reference_outcome": ev.labels.has_reference_outcome,
            },
        },
        "options": {
            "score_column": opts.score_column,
            "join_key": ev.labels.key_column.value,
            "n_bootstrap": opts.n_bootstrap,
            "seed": opts.seed,
            "ci_level": opts.ci_level,
            "calibration_bins": opts.calibration_bins,
            "threshold": opts.threshold,
        },
        "thresholds": {
            "p_residual_ccr_max": points[OperatingPointName.CCR_MAX].threshold,
            "p_residual_tumour_min": points[OperatingPointName.TUMOUR_MIN].threshold,
            "source": ev.thresholds_source,
        },
        "counts": {
            "results_rows": counts.results_rows,
            "label_rows": counts.label_rows,
            "labels_without_result": counts.labels_without_result,
            "excluded_status": counts.excluded_status,
            "excluded_no_label": counts.excluded_no_label,
            "evaluated": counts.evaluated,
            "residual": counts.residual,
            "no_residual": counts.no_residual,
            "scored": counts.scored,
            "scored_residual": counts.scored_residual,
            "scored_no_residual": counts.scored_no_residual,
            "excluded_no_score": counts.excluded_no_score,
            "with_decision": counts.with_decision,
            "with_reference_outcome": counts.with_reference_outcome,
        },
        "auc": {
            "value": ev.auc.auc,
            "ci_low": ev.auc.interval.low,
            "ci_high": ev.auc.interval.high,
            "ci_level": ev.auc.interval.level,
            "method": "stratified percentile bootstrap (positives and negatives resampled "
            "separately, numpy default_rng(seed))",
            "n_bootstrap": ev.auc.n,
            "seed": ev.auc.seed,
        },
        "primary_operating_point": ev.primary.value,
        "operating_points": [_point(p) for p in ev.operating_points],
        "calibration": {
            "brier": ev.calibration.brier,
            "expected_calibration_error": ev.calibration.expected_calibration_error,
            "strategy": "uniform",
            "n_bins": len(ev.calibration.bins),
            "bins": [
                {
                    "lower": b.lower,
                    "upper": b.upper,
                    "n": b.n,
                    "mean_predicted": b.mean_predicted,
                    "fraction_positive": b.fraction_positive,
                }
                for b in ev.calibration.bins
            ],
        },
        "roc": {
            "fpr": ev.roc.fpr.tolist(),
            "tpr": ev.roc.tpr.tolist(),
            "thresholds": [_finite(float(t)) for t in ev.roc.thresholds],
        },
        "decisions": {
            "outcomes": list(outcome_names()),
            "vs_residual": _matrix(ev.decision_vs_residual, agreement=False),
            "vs_reference": _matrix(ev.decision_vs_reference, agreement=True),
        },
        "warnings": list(ev.warnings),
        "files": {
            "roc_plot": ROC_FILE,
            "calibration_plot": CALIBRATION_FILE,
            "cases": CASES_FILE,
        },
    }


def cases_to_csv(evaluation: Evaluation) -> str:
    """One row per results row: join key, status, label, score, decisions, why excluded."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    key = evaluation.labels.key_column.value
    writer.writerow(
        [
            key,
            "status",
            "residual",
            evaluation.options.score_column,
            "outcome",
            "reference_outcome",
            "excluded",
        ]
    )
    for c in evaluation.cases:
        writer.writerow(
            [
                c.key,
                c.status,
                "" if c.residual is None else int(c.residual),
                "" if c.score is None else repr(c.score),
                "" if c.outcome is None else c.outcome.value,
                "" if c.reference_outcome is None else c.reference_outcome.value,
                c.excluded or "",
            ]
        )
    return buffer.getvalue()


def write_evaluation(evaluation: Evaluation, out_dir: Path) -> EvaluationFiles:
    """Write the plots, ``cases.csv``, ``labels.csv`` (phantom labels) and, last,
    ``metrics.json`` (its presence marks a complete folder). Every file is atomic."""
    out_dir.mkdir(parents=True, exist_ok=True)
    roc = plot_roc(evaluation, out_dir / ROC_FILE)
    cal = plot_calibration(evaluation, out_dir / CALIBRATION_FILE)
    cases = write_text(out_dir / CASES_FILE, cases_to_csv(evaluation))
    labels = None
    if evaluation.labels.kind is LabelsKind.PHANTOM_TRUTH:
        labels = write_text(out_dir / LABELS_FILE, labels_to_csv(evaluation.labels))
    payload = evaluation_to_dict(evaluation)
    if labels is not None:
        payload["files"]["labels"] = LABELS_FILE
    metrics = write_json(out_dir / METRICS_FILE, payload)
    return EvaluationFiles(metrics=metrics, roc=roc, calibration=cal, cases=cases, labels=labels)


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _fmt_ci(interval: Interval | None) -> str:
    return "" if interval is None else f" ({_fmt(interval.low, 2)}-{_fmt(interval.high, 2)})"


def render_summary(evaluation: Evaluation) -> Table:
    """A rich table of the headline numbers (the CLI prints it)."""
    from rich.table import Table

    ev, counts = evaluation, evaluation.counts
    table = Table(
        title=f"ccr evaluate: {ev.options.score_column} vs reference labels",
        caption=pipeline.RESEARCH_USE_STATEMENT,
        show_header=True,
    )
    table.add_column("metric")
    table.add_column("value", justify="right")
    excluded = ", ".join(f"{n} {s}" for s, n in counts.excluded_status.items()) or "none"
    table.add_row(
        "studies",
        f"{counts.evaluated} evaluated of {counts.results_rows} "
        f"(excluded: status {excluded}; no label {counts.excluded_no_label})",
    )
    table.add_row(
        "labelled / scored",
        f"{counts.evaluated} ({counts.residual} residual, {counts.no_residual} none) / "
        f"{counts.scored} ({counts.scored_residual} residual, {counts.scored_no_residual} none)",
    )
    level = f"{ev.auc.interval.level:.0%}"
    table.add_row(
        "AUC",
        f"{ev.auc.auc:.3f} ({level} CI {ev.auc.interval.low:.3f}-{ev.auc.interval.high:.3f}, "
        f"{ev.auc.n} resamples)",
    )
    for point in ev.operating_points:
        mark = " *" if point.name is ev.primary else ""
        c = point.counts
        table.add_row(
            f"{point.name.value}{mark}: {point.positive_when}",
            f"sens {_fmt(c.sensitivity)}{_fmt_ci(point.sensitivity_ci)}, "
            f"spec {_fmt(c.specificity)}{_fmt_ci(point.specificity_ci)}",
        )
    table.add_row(
        "calibration",
        f"Brier {ev.calibration.brier:.3f}, ECE {ev.calibration.expected_calibration_error:.3f}",
    )
    if ev.decision_vs_reference is not None:
        m = ev.decision_vs_reference
        same = sum(m.matrix[i][i] for i in range(len(m.rows)))
        table.add_row("decision = reference", f"{same}/{m.n}")
    if ev.decision_vs_residual is not None:
        m = ev.decision_vs_residual
        ccr = m.columns.index(Outcome.CCR.value)
        table.add_row("residual tumour called cCR", f"{m.matrix[0][ccr]}/{sum(m.matrix[0])}")
    return table
