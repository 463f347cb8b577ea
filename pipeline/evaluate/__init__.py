"""Evaluation of cohort results against reference labels (``ccr evaluate``).

Reads the ``ccr batch`` results table and a labels CSV (or a ``ccr phantom`` folder's truth),
and reports the AUC of P(residual tumour) with a stratified bootstrap interval, sensitivity
and specificity at the decision layer's thresholds, calibration (Brier score, reliability
curve), and the decisions against the truth, as ``metrics.json`` with ROC and calibration
plots. Research use only, not a medical device.

Public API::

    evaluate_files(results, labels, out_dir, *, decision, options) -> EvaluationRun
    read_results(path, *, score_column) -> ResultsTable
    read_labels(path, *, key) -> LabelsTable          # CSV or phantom folder
    evaluate(results, labels, *, decision, options) -> Evaluation
    write_evaluation(evaluation, out_dir) -> EvaluationFiles

The names are loaded on first use (PEP 562, as scikit-image's lazy loader does), so that the
``ccr`` command line, which imports :mod:`pipeline.evaluate._cli`, does not pay for numpy,
pydantic and pandas on every ``ccr --help``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: Public name -> the private module that defines it.
_EXPORTS: dict[str, str] = {
    "METRICS_SCHEMA_VERSION": "_model",
    "CaseRecord": "_model",
    "Counts": "_model",
    "DecisionMatrix": "_model",
    "Evaluation": "_model",
    "EvaluationOptions": "_model",
    "JoinKey": "_keys",
    "LabelRow": "_model",
    "LabelsKind": "_model",
    "LabelsTable": "_model",
    "OperatingPoint": "_model",
    "OperatingPointName": "_model",
    "ResultRow": "_model",
    "ResultsTable": "_model",
    "EvaluationFiles": "_report",
    "evaluation_to_dict": "_report",
    "render_summary": "_report",
    "write_evaluation": "_report",
    "EvaluationRun": "_run",
    "evaluate_files": "_run",
    "evaluate": "_evaluate",
    "labels_to_csv": "_labels",
    "phantom_labels": "_labels",
    "read_labels": "_labels",
    "labels_from_results": "_table",
    "read_results": "_table",
}

__all__ = [
    "METRICS_SCHEMA_VERSION",
    "CaseRecord",
    "Counts",
    "DecisionMatrix",
    "Evaluation",
    "EvaluationFiles",
    "EvaluationOptions",
    "EvaluationRun",
    "JoinKey",
    "LabelRow",
    "LabelsKind",
    "LabelsTable",
    "OperatingPoint",
    "OperatingPointName",
    "ResultRow",
    "ResultsTable",
    "evaluate",
    "evaluate_files",
    "evaluation_to_dict",
    "labels_from_results",
    "labels_to_csv",
    "phantom_labels",
    "read_labels",
    "read_results",
    "render_summary",
    "write_evaluation",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from pipeline.evaluate._evaluate import evaluate
    from pipeline.evaluate._keys import JoinKey
    from pipeline.evaluate._labels import labels_to_csv, phantom_labels, read_labels
    from pipeline.evaluate._model import (
        METRICS_SCHEMA_VERSION,
        CaseRecord,
        Counts,
        DecisionMatrix,
        Evaluation,
        EvaluationOptions,
        LabelRow,
        LabelsKind,
        LabelsTable,
        OperatingPoint,
        OperatingPointName,
        ResultRow,
        ResultsTable,
    )
    from pipeline.evaluate._report import (
        EvaluationFiles,
        evaluation_to_dict,
        render_summary,
        write_evaluation,
    )
    from pipeline.evaluate._run import EvaluationRun, evaluate_files
    from pipeline.evaluate._table import labels_from_results, read_results
