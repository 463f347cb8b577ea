"""``run_batch``: discover, plan against the ledger, run on Dask, place outputs, write results.

Output folder::

    DIR/ledger.sqlite             the ledger (pipeline.batch._ledger)
    DIR/studies/<study key>/      outputs of each done study (as ``ccr run``, plus batch.log)
    DIR/results.parquet, .csv     one row per study of this input (pipeline.batch._results)
    DIR/.tmp/                     studies being written; emptied at the start and end of a run
    DIR/.lock                     held while a batch runs on DIR

A study is written into ``.tmp/<key>.<token>/`` and renamed to ``studies/<key>/`` by the batch
process when the worker reports it complete, before the ledger records it done. A batch killed
at any point therefore leaves only ``.tmp/`` leftovers (removed by the next run) and studies
whose ledger row is not ``done`` (run again by the next run).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from pipeline.batch._engine import EngineOptions, execute
from pipeline.batch._hashing import config_hash, input_hash, outputs_intact
from pipeline.batch._ledger import Ledger, LedgerRow, Status, open_ledger
from pipeline.batch._results import result_row, write_results
from pipeline.batch._tasks import InputKind, StudyTask, discover_tasks
from pipeline.batch._worker import StudyJob, StudyOutcome, WorkerSettings
from pipeline.config import PipelineConfig
from pipeline.config.series_rules import SeriesRulesConfig
from pipeline.device import DeviceChoice
from pipeline.errors import InputError, PipelineError
from pipeline.ingest import scan
from pipeline.study import deidentified_key

log = logging.getLogger(__name__)

STUDIES_DIR = "studies"
TEMP_DIR = ".tmp"
LOCK_FILE = ".lock"
#: Key prefix of a task in which no study could be read (hash of its input path and entry).
FALLBACK_PREFIX = "in-"

#: ``progress(phase, done, total)``; phases ``"planning"`` and ``"running"``.
Progress = Callable[[str, int, int], None]


def default_workers() -> int:
    """One worker per CPU core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class BatchOptions:
    """Options of :func:`run_batch` (the ``ccr batch`` options; see its ``--help``)."""

    input_kind: InputKind = InputKind.AUTO
    pair_baseline: bool = False
    workers: int = field(default_factory=default_workers)
    scheduler: str | None = None
    study_timeout: float | None = None
    memory_limit: str = "auto"
    compute_threads: int = 1
    gpu_batch: int = 1
    device: DeviceChoice = DeviceChoice.AUTO
    keep_identifiers: bool = False
    dwi_grid: bool = False
    retry_failed: bool = False
    force: bool = False
    dask_log_level: int = logging.CRITICAL


@dataclass(frozen=True)
class Failure:
    study_key: str
    entry: str
    error: str


@dataclass(frozen=True)
class BatchSummary:
    """What a batch did: counts over the studies of this input, failures, result files."""

    out_dir: Path
    total: int
    ran: int
    done: int
    failed: int
    skipped: int
    failures: tuple[Failure, ...]
    results_csv: Path
    results_parquet: Path

    @property
    def ok(self) -> bool:
        return self.failed == 0


@dataclass(frozen=True)
class _Planned:
    task: StudyTask
    key: str
    input_hash: str
    problem: str | None = None


@contextlib.contextmanager
def _exclusive(out_dir: Path) -> Iterator[None]:
    """Hold ``DIR/.lock``; the OS releases it when the process ends, even killed."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock
        yield
        return
    with (out_dir / LOCK_FILE).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise InputError(
                "another ccr batch is running on this output folder",
                file=out_dir,
                fix="wait for it to end, or choose another --out",
            ) from exc
        yield


def _empty(folder: Path) -> None:
    if folder.exists():
        for child in folder.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)


def _study_key(
    task: StudyTask, *, rules: SeriesRulesConfig, known: str | None
) -> tuple[str, str | None]:
    """The task's study key, and why the task cannot run (None: it can)."""
    fallback = deidentified_key("input", str(task.study_dir), task.entry, prefix=FALLBACK_PREFIX)
    if task.problem is not None:
        return fallback, task.problem
    if task.study_key is not None:
        return task.study_key, None
    if known is not None:
        return known, None
    try:
        inventory = scan(task.study_dir, rules=rules)
    except PipelineError as exc:
        return fallback, f"{type(exc).__name__}: {exc}"
    studies = inventory.studies
    if not studies:
        first = f"; first error: {inventory.errors[0]}" if inventory.errors else ""
        return fallback, (
            f"imaging input unreadable: no study found in {task.study_dir} "
            f"({inventory.skipped_files} file(s) skipped, {len(inventory.errors)} unreadable"
            f"{first})"
        )
    if len(studies) > 1:
        keys = ", ".join(s.key for s in studies)
        return fallback, (
            f"{task.study_dir} holds {len(studies)} studies ({keys}); point the entry at the "
            "folder of one study, or run the folder as a study tree (--input-kind studies)"
        )
    return studies[0].key, None


def _plan(
    tasks: list[StudyTask],
    *,
    config: PipelineConfig,
    known: Callable[[str], str | None],
    progress: Progress | None,
) -> list[_Planned]:
    """Hash every task's inputs and find its study key (from the ledger, else by a scan)."""
    planned = []
    for done, task in enumerate(tasks, start=1):
        digest = input_hash(task)
        cached = known(digest)
        if cached is not None and cached.startswith(FALLBACK_PREFIX):
            cached = None  # no study was found in these inputs last time: look again
        key, problem = _study_key(task, rules=config.series_rules, known=cached)
        planned.append(_Planned(task, key, digest, problem))
        if progress is not None:
            progress("planning", done, len(tasks))
    seen: dict[str, str] = {}
    for item in planned:
        if item.key in seen:
            raise InputError(
                f"entries {seen[item.key]!r} and {item.task.entry!r} are the same study "
                f"({item.key})",
                fix="list every study once (a study is identified by its StudyInstanceUID)",
            )
        seen[item.key] = item.task.entry
    return planned


def _needs_run(
    item: _Planned, row: LedgerRow | None, *, cfg_hash: str, options: BatchOptions, final: Path
) -> bool:
    if row is None or options.force:
        return True
    changed = row.input_hash != item.input_hash or row.config_hash != cfg_hash
    if row.status is Status.DONE:
        return changed or not outputs_intact(final, row.outputs)
    if row.status is Status.FAILED:
        return changed or options.retry_failed
    return True  # queued / running: a batch was interrupted


class _Recorder:
    """Engine handler: places outputs, writes the ledger, reports progress."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        out_dir: Path,
        planned: dict[str, _Planned],
        cfg_hash: str,
        total: int,
        progress: Progress | None,
    ) -> None:
        self.ledger = ledger
        self.out_dir = out_dir
        self.planned = planned
        self.cfg_hash = cfg_hash
        self.total = total
        self.completed = 0
        self.progress = progress

    def _advance(self) -> None:
        self.completed += 1
        if self.progress is not None:
            self.progress("running", self.completed, self.total)

    def started(self, job: StudyJob, worker_pid: int | None) -> None:
        self.ledger.start(job.study_key, worker_pid=worker_pid)

    def finished(self, job: StudyJob, outcome: StudyOutcome) -> None:
        if outcome.ok and not job.temp_dir.is_dir():
            outcome = replace(
                outcome,
                ok=False,
                error=f"the worker wrote {job.temp_dir}, which the batch process cannot see",
                detail="--out must be on a file system that the workers and the batch process "
                "share, at the same path",
            )
        if outcome.ok:
            final = self.out_dir / STUDIES_DIR / job.study_key
            trash = job.temp_dir.with_name(f"{job.study_key}.old-{job.token}")
            if final.exists():
                os.replace(final, trash)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(job.temp_dir, final)
            shutil.rmtree(trash, ignore_errors=True)
            self.ledger.finish(
                job.study_key,
                outputs=outcome.outputs,
                duration_s=outcome.duration_s,
                timings=outcome.timings,
                peak_rss_mb=outcome.peak_rss_mb,
            )
        else:
            self._fail(job, outcome.error or "failed", outcome.detail, outcome)
        self._advance()

    def lost(self, job: StudyJob, error: str) -> None:
        self._fail(job, error, None, None)
        self._advance()

    def _fail(
        self, job: StudyJob, error: str, detail: str | None, outcome: StudyOutcome | None
    ) -> None:
        item = self.planned[job.study_key]
        shutil.rmtree(self.out_dir / STUDIES_DIR / job.study_key, ignore_errors=True)
        self.ledger.fail(
            job.study_key,
            entry=item.task.entry,
            input_hash=item.input_hash,
            config_hash=self.cfg_hash,
            error=error,
            detail=detail,
            duration_s=outcome.duration_s if outcome is not None else None,
            peak_rss_mb=outcome.peak_rss_mb if outcome is not None else None,
        )
        log.warning("study %s (%s) failed: %s", job.study_key, item.task.entry, error)


def _job(
    item: _Planned, *, temp_root: Path, config: PipelineConfig, opts: BatchOptions
) -> StudyJob:
    token = uuid.uuid4().hex[:12]
    task = item.task
    return StudyJob(
        study_key=item.key,
        token=token,
        study_dir=task.study_dir,
        temp_dir=temp_root / f"{item.key}.{token}",
        config=config,
        study_uid=task.study_uid,
        baseline_dir=task.baseline_dir,
        baseline_uid=task.baseline_uid,
        clinical_path=task.clinical_path,
        clinical_form=task.clinical_form,
        keep_identifiers=opts.keep_identifiers,
        dwi_grid=opts.dwi_grid,
    )


def _queue_jobs(
    planned: list[_Planned],
    *,
    ledger: Ledger,
    out_dir: Path,
    config: PipelineConfig,
    cfg_hash: str,
    options: BatchOptions,
) -> list[StudyJob]:
    """Record what cannot run as failed, keep what is done and identical, queue the rest;
    returns the jobs to run."""
    rows = ledger.rows()
    jobs: list[StudyJob] = []
    for item in planned:
        final = out_dir / STUDIES_DIR / item.key
        if item.problem is not None:  # fails here, without a worker
            shutil.rmtree(final, ignore_errors=True)
            ledger.fail(
                item.key,
                entry=item.task.entry,
                input_hash=item.input_hash,
                config_hash=cfg_hash,
                error=item.problem,
            )
        elif _needs_run(item, rows.get(item.key), cfg_hash=cfg_hash, options=options, final=final):
            ledger.queue(
                item.key, entry=item.task.entry, input_hash=item.input_hash, config_hash=cfg_hash
            )
            jobs.append(_job(item, temp_root=out_dir / TEMP_DIR, config=config, opts=options))
        else:
            ledger.keep(item.key, entry=item.task.entry)
    return jobs


def run_batch(
    input_path: Path,
    *,
    out_dir: Path,
    config: PipelineConfig,
    options: BatchOptions,
    progress: Progress | None = None,
) -> BatchSummary:
    """Assess every study of ``input_path`` into ``out_dir``, resuming what a previous run did.

    Parameters
    ----------
    input_path
        Folder of studies, folder of cases (``ccr phantom`` layout) or CSV manifest
        (:mod:`pipeline.batch._tasks`, :mod:`pipeline.batch._manifest`).
    out_dir
        Output folder (layout in the module docstring); created if needed.
    config
        Pipeline configuration, the same for every study.
    options
        :class:`BatchOptions`.
    progress
        Called as ``progress(phase, done, total)``.

    Returns
    -------
    BatchSummary
        Counts over this input's studies and the failures (a failure does not raise).

    Raises
    ------
    InputError
        Unreadable input, the same study listed twice, another batch on ``out_dir``, an
        unreachable scheduler.
    """
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    temp_root = out_dir / TEMP_DIR
    with _exclusive(out_dir):
        _empty(temp_root)
        temp_root.mkdir(exist_ok=True)
        (out_dir / STUDIES_DIR).mkdir(exist_ok=True)
        tasks = discover_tasks(
            input_path,
            kind=options.input_kind,
            rules=config.series_rules,
            pair_baseline=options.pair_baseline,
        )
        cfg_hash = config_hash(
            config,
            options={"keep_identifiers": options.keep_identifiers, "dwi_grid": options.dwi_grid},
        )
        with open_ledger(out_dir) as ledger:
            batch_id = ledger.begin_batch()
            if progress is not None:
                progress("planning", 0, len(tasks))
            planned = _plan(tasks, config=config, known=ledger.key_for_input, progress=progress)
            jobs = _queue_jobs(
                planned,
                ledger=ledger,
                out_dir=out_dir,
                config=config,
                cfg_hash=cfg_hash,
                options=options,
            )
            recorder = _Recorder(
                ledger,
                out_dir=out_dir,
                planned={item.key: item for item in planned},
                cfg_hash=cfg_hash,
                total=len(jobs),
                progress=progress,
            )
            if progress is not None:
                progress("running", 0, len(jobs))
            execute(jobs, options=_engine_options(options), handler=recorder)
            summary = _finish(out_dir, planned, ledger.rows(), ran=len(jobs))
            ledger.end_batch(
                batch_id,
                {
                    "total": summary.total,
                    "ran": summary.ran,
                    "done": summary.done,
                    "failed": summary.failed,
                },
            )
        _empty(temp_root)
    return summary


def _engine_options(options: BatchOptions) -> EngineOptions:
    return EngineOptions(
        workers=options.workers,
        scheduler=options.scheduler,
        study_timeout=options.study_timeout,
        memory_limit=options.memory_limit,
        dask_log_level=options.dask_log_level,
        worker=WorkerSettings(
            compute_threads=options.compute_threads,
            device=options.device,
            gpu_batch=options.gpu_batch,
        ),
    )


def _finish(
    out_dir: Path, planned: list[_Planned], rows: dict[str, LedgerRow], *, ran: int
) -> BatchSummary:
    results = [
        result_row(
            item.key,
            entry=item.task.entry,
            reference_label=item.task.reference_label,
            ledger=rows.get(item.key),
            folder=out_dir / STUDIES_DIR / item.key,
        )
        for item in planned
    ]
    parquet, csv = write_results(out_dir, results)
    statuses = [rows[item.key].status if item.key in rows else None for item in planned]
    failures = tuple(
        Failure(item.key, item.task.entry, rows[item.key].error or "failed")
        for item, status in zip(planned, statuses, strict=True)
        if status is Status.FAILED
    )
    done = sum(status is Status.DONE for status in statuses)
    return BatchSummary(
        out_dir=out_dir,
        total=len(planned),
        ran=ran,
        done=done,
        failed=len(failures),
        skipped=len(planned) - ran,
        failures=failures,
        results_csv=csv,
        results_parquet=parquet,
    )
