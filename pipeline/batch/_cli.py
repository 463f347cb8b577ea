"""``ccr batch``: the typer command over :func:`pipeline.batch.run_batch` (registered in
:mod:`pipeline.cli`). Heavy imports happen inside the command."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pipeline.batch._tasks import InputKind
from pipeline.device import DeviceChoice

if TYPE_CHECKING:
    from rich.progress import Task, TaskID
    from rich.text import Text

    from pipeline.batch._api import BatchSummary

EXIT_STUDIES_FAILED = 2
EXIT_INTERRUPTED = 130


@contextmanager
def _progress_bar() -> Iterator[Callable[[str, int, int], None]]:
    """A rich bar with count, rate (studies/min), elapsed time and ETA."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            if speed is None or task.description != "running":
                return Text("")
            return Text(f"{speed * 60:.1f} studies/min")

    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def advance(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        yield advance


def _dask_log_level(verbose: int) -> int:
    """Dask's own messages (a worker lost, restarted) repeat what the batch reports per study:
    shown with -v (warnings) and -vv (all)."""
    import logging

    return logging.CRITICAL if verbose == 0 else logging.WARNING if verbose == 1 else logging.INFO


def _report(summary: BatchSummary) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from pipeline import RESEARCH_USE_STATEMENT

    console = Console(soft_wrap=True)
    if summary.failures:
        table = Table(title=f"{summary.failed} failed stud(ies)", title_style="bold red")
        for name in ("study", "entry", "error"):
            table.add_column(name, overflow="fold")
        for failure in summary.failures:
            error = failure.error if len(failure.error) <= 400 else failure.error[:400] + " ..."
            table.add_row(failure.study_key, escape(failure.entry), escape(error))
        console.print(table)
    console.print(
        f"{summary.total} studies: {summary.done} done, {summary.failed} failed "
        f"({summary.ran} run now, {summary.skipped} kept from earlier runs). "
        f"Results: {summary.results_csv}",
        highlight=False,
    )
    console.print(RESEARCH_USE_STATEMENT, highlight=False)


def batch_command(
    input_path: Annotated[
        Path,
        typer.Argument(
            metavar="INPUT",
            help="A folder of studies (DICOM in any layout, or a NIfTI / nnU-Net / PI-CAI data "
            "set: one task per study, found by StudyInstanceUID), a folder of cases as `ccr "
            "phantom` writes them (<case>/restaging/, baseline/, clinical.yaml), or a CSV "
            "manifest (columns in the README).",
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Output folder: ledger.sqlite, studies/<study key>/, results.parquet and "
            "results.csv. Run again on the same folder to resume.",
        ),
    ],
    input_kind: Annotated[
        InputKind,
        typer.Option(
            help="How to read INPUT. auto: a .csv file is a manifest, a folder whose "
            "sub-folders hold restaging/ is a case folder, any other folder a study tree."
        ),
    ] = InputKind.AUTO,
    pair_baseline: Annotated[
        bool,
        typer.Option(
            "--pair-baseline",
            help="Study tree only: one task per patient (same PatientID), the latest study "
            "assessed with the study before it as its baseline.",
        ),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Worker processes of the local Dask cluster, each running one study at a "
            "time (--gpu-batch: several). Default: one per CPU core. Ignored with --scheduler.",
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Address of an existing Dask scheduler (tcp://HOST:PORT) to run on instead "
            "of a local cluster; its workers need ccr-pipeline installed and must see INPUT "
            "and --out at the same paths.",
        ),
    ] = None,
    study_timeout: Annotated[
        float | None,
        typer.Option(
            min=1.0,
            help="Seconds a study may run; a study past it fails ('timed out') and its worker "
            "is restarted. Default: no limit.",
        ),
    ] = None,
    memory_limit: Annotated[
        str,
        typer.Option(
            help="Memory per local worker (e.g. 4GB). A worker past 95 % of it is restarted "
            "and its study fails. auto: the machine's memory / workers.",
        ),
    ] = "auto",
    compute_threads: Annotated[
        int,
        typer.Option(
            min=1,
            help="Threads one study uses (NumPy/BLAS, SimpleITK, PyTorch). Keep workers x "
            "gpu-batch x compute threads <= cores.",
        ),
    ] = 1,
    gpu_batch: Annotated[
        int,
        typer.Option(
            min=1,
            help="Studies one worker runs at once, sharing its one copy of the network (kept "
            "on the GPU); network passes that coincide run as one batch. For a CUDA worker; "
            "works (slower) on CPU.",
        ),
    ] = 1,
    device: Annotated[
        DeviceChoice,
        typer.Option(help="Compute device, resolved on each worker (auto: CUDA if it sees one)."),
    ] = DeviceChoice.AUTO,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed",
            help="Run again the studies that failed before, even when nothing changed "
            "(failed studies whose inputs or config changed always run again).",
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Run every study again, done or not."),
    ] = False,
    keep_identifiers: Annotated[
        bool,
        typer.Option(
            "--keep-identifiers",
            help="Copy the source's patient module into the DICOM outputs (default: "
            "pseudonymised).",
        ),
    ] = False,
    dwi_grid: Annotated[
        bool,
        typer.Option("--dwi-grid", help="Also write ADC and high-b on the native DWI grid."),
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="YAML file overriding shipped defaults (section names as top-level keys).",
        ),
    ] = None,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More log output (-v, -vv).")
    ] = 0,
) -> None:
    """Assess every study of a cohort, resumably, on Dask; one results table.

    Each study runs as `ccr run` does, into OUT/studies/<study key>/ (written under a
    temporary name and renamed when complete). OUT/ledger.sqlite records every study's inputs
    hash, config hash, status, attempts, error, timings and output hashes: running the same
    command again skips what is done and unchanged, and runs what failed (with
    --retry-failed), changed or was interrupted. A study that raises, times out or loses its
    worker fails alone; the others go on.

    Results: OUT/results.csv and OUT/results.parquet, one row per study with de-identified
    keys (columns in the README). Exit codes: 0 every study done, 1 bad input, 2 one or more
    studies failed (listed at the end), 130 interrupted (Ctrl-C; run again to resume).
    Research use only, not a medical device.
    """
    import logging

    from pipeline.batch._api import BatchOptions, default_workers, run_batch
    from pipeline.cli import _configure_logging, _fail, _require
    from pipeline.config import load_config
    from pipeline.errors import PipelineError

    _configure_logging(verbose)
    logging.getLogger("distributed").setLevel(_dask_log_level(verbose))
    try:
        _require(config, folder=False, what="--config")
        options = BatchOptions(
            input_kind=input_kind,
            pair_baseline=pair_baseline,
            workers=workers or default_workers(),
            scheduler=scheduler,
            study_timeout=study_timeout,
            memory_limit=memory_limit,
            compute_threads=compute_threads,
            gpu_batch=gpu_batch,
            device=device,
            keep_identifiers=keep_identifiers,
            dwi_grid=dwi_grid,
            retry_failed=retry_failed,
            force=force,
            dask_log_level=_dask_log_level(verbose),
        )
        with _progress_bar() as advance:
            summary = run_batch(
                input_path,
                out_dir=out,
                config=load_config(config),
                options=options,
                progress=advance,
            )
    except PipelineError as exc:
        raise _fail(exc) from exc
    except KeyboardInterrupt:
        typer.echo("interrupted: run the same command again to resume", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    _report(summary)
    if not summary.ok:
        raise typer.Exit(EXIT_STUDIES_FAILED)
