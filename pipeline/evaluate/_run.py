"""One call for the CLI: read results and labels, evaluate, write the output folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.config.decision import DecisionConfig
from pipeline.evaluate._evaluate import evaluate
from pipeline.evaluate._labels import read_labels
from pipeline.evaluate._model import Evaluation, EvaluationOptions
from pipeline.evaluate._report import EvaluationFiles, write_evaluation
from pipeline.evaluate._table import labels_from_results, read_results


@dataclass(frozen=True)
class EvaluationRun:
    """The evaluation and the files written for it."""

    evaluation: Evaluation
    files: EvaluationFiles


def evaluate_files(
    results: Path,
    labels: Path | None,
    out_dir: Path,
    *,
    decision: DecisionConfig,
    options: EvaluationOptions | None = None,
    thresholds_source: str = "configs/decision.yaml",
) -> EvaluationRun:
    """Evaluate ``ccr batch`` results against reference labels and write ``out_dir``.

    Parameters
    ----------
    results
        ``results.csv``, ``results.parquet`` or the ``ccr batch --out`` folder.
    labels
        A labels CSV, a ``ccr phantom`` folder (truth.json per case, keyed by ``input``), or
        ``None`` to use the results' own ``reference_label`` column.
    out_dir
        Receives ``metrics.json`` (written last), ``roc.png``, ``calibration.png``,
        ``cases.csv`` and, for phantom labels, ``labels.csv``.
    decision, options, thresholds_source
        As for :func:`pipeline.evaluate.evaluate` (``options=None``: the defaults).
    """
    options = options or EvaluationOptions()
    table = read_results(results, score_column=options.score_column)
    reference = (
        labels_from_results(table, key=options.key)
        if labels is None
        else read_labels(labels, key=options.key)
    )
    evaluation = evaluate(
        table,
        reference,
        decision=decision,
        options=options,
        thresholds_source=thresholds_source,
    )
    return EvaluationRun(evaluation=evaluation, files=write_evaluation(evaluation, out_dir))
