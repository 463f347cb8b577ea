"""``ccr evaluate``: a thin typer shell over :func:`pipeline.evaluate.evaluate_files`.

Registered in :mod:`pipeline.cli` with ``app.command("evaluate")(evaluate_command)``.
Importing this module costs only typer: numpy, pandas and matplotlib are imported inside
the command, so ``ccr --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.evaluate._keys import JoinKey


def evaluate_command(
    results: Annotated[
        Path,
        typer.Argument(
            help="The batch results: results.csv, results.parquet, or the folder that "
            "'ccr batch --out' wrote."
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Output folder for metrics.json and the plots.")
    ],
    labels: Annotated[
        Path | None,
        typer.Option(
            "--labels",
            help="Reference labels: a CSV with a key column (study_key, or input = the "
            "batch's entry) and "
            "'residual' (1/0, true/false, residual/complete) or 'label', optionally "
            "'reference_outcome' (cCR, near_cCR, incomplete, indeterminate). A folder made by "
            "'ccr phantom' also works (its truth.json files, keyed by case folder). Without "
            "it, the results' own 'reference_label' column is used.",
        ),
    ] = None,
    score: Annotated[
        str,
        typer.Option(
            "--score",
            help="Results column with the probability of residual tumour (0-1), e.g. "
            "p_residual_rules or p_residual_radiomics for one scorer.",
        ),
    ] = "p_residual",
    key: Annotated[
        JoinKey,
        typer.Option(
            "--key",
            help="Column joining labels to results; auto = study_key if the labels have it, "
            "else input.",
        ),
    ] = JoinKey.AUTO,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            min=0.0,
            max=1.0,
            help="Extra operating point (residual when P >= threshold); it becomes the "
            "primary one. Always reported: P > p_residual_ccr_max and P >= "
            "p_residual_tumour_min of the decision config.",
        ),
    ] = None,
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", min=100, help="Bootstrap resamples for the AUC CI.")
    ] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap; same seed, same CI.")] = 0,
    ci_level: Annotated[
        float, typer.Option("--ci-level", min=0.5, max=0.999, help="Confidence level.")
    ] = 0.95,
    bins: Annotated[
        int, typer.Option("--bins", min=2, max=100, help="Bins of the reliability curve.")
    ] = 10,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="YAML overriding the shipped configs; its 'decision' section sets the thresholds.",
        ),
    ] = None,
    verbose: Annotated[
        int,
        typer.Option("--verbose", "-v", count=True, help="More log output (-v info, -vv debug)."),
    ] = 0,
) -> None:
    """Compare batch results with reference labels (residual tumour yes/no).

    Reports the AUC of P(residual) with a bootstrap 95 % CI, sensitivity and
    specificity at the decision thresholds, calibration (Brier score,
    reliability curve) and the decisions against the truth.

    Writes OUT/metrics.json, roc.png, calibration.png and cases.csv (every
    study, and why it was left out if it was). Failed studies and studies
    without a label are counted, never dropped silently.

    Exit codes: 0 ok, 1 bad input (missing column, no residual or no
    complete-response cases, ...), 2 processing failure.
    Research use only, not a medical device.
    """
    from rich.console import Console

    from pipeline.cli import _configure_logging, _fail
    from pipeline.config import load_config
    from pipeline.errors import PipelineError
    from pipeline.evaluate._model import EvaluationOptions
    from pipeline.evaluate._report import render_summary
    from pipeline.evaluate._run import evaluate_files

    _configure_logging(verbose)
    try:
        options = EvaluationOptions(
            score_column=score,
            key=key,
            n_bootstrap=bootstrap,
            seed=seed,
            ci_level=ci_level,
            calibration_bins=bins,
            threshold=threshold,
        )
        decision = load_config(config).decision
        source = "configs/decision.yaml" + (f" + {config}" if config is not None else "")
        run = evaluate_files(
            results, labels, out, decision=decision, options=options, thresholds_source=source
        )
    except PipelineError as exc:
        raise _fail(exc) from exc
    console = Console()
    console.print(render_summary(run.evaluation))
    console.print(f"metrics written to {run.files.metrics}", soft_wrap=True, highlight=False)
