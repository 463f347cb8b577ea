"""What runs on a Dask worker: the worker's set-up (:class:`BatchWorkerPlugin`) and one study
(:func:`process_study`).

The plugin is the worker process's entry configuration, as the CLI is for ``ccr run``: it sets
the compute threads of PyTorch and SimpleITK, routes log records to the log file of the study
that emitted them, and keeps the learned models, loaded once per worker and shared by its
studies (on a GPU, or with ``gpu_batch`` > 1, as one :func:`shared_network`). Nothing here
writes the ledger or renames outputs into place: the batch process does, so that a study given
up on (timed out, worker lost) can never land in the results.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distributed import WorkerPlugin, get_worker

from pipeline.config import PipelineConfig
from pipeline.config.scoring import LearnedScoringConfig
from pipeline.device import DeviceChoice

if TYPE_CHECKING:
    import torch
    from distributed import Worker

    from pipeline.scoring import LearnedScorers

PLUGIN_NAME = "ccr-batch"
#: Dask event topic on which a worker announces that it started a study.
START_TOPIC = "ccr-batch-start"
#: Log file of one study, written into its output folder.
STUDY_LOG = "batch.log"
_DETAIL_CHARS = 20_000

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerSettings:
    """How every worker of a batch is set up.

    Attributes
    ----------
    compute_threads
        Threads one study may use (PyTorch intra-op, SimpleITK default, BLAS via the
        environment of a local cluster).
    device
        ``auto`` | ``cpu`` | ``cuda``, resolved on each worker (a remote worker may have a GPU
        that the batch process lacks).
    gpu_batch
        Studies a worker runs at once, sharing its one model; their network passes are merged
        into batches of up to this many studies.
    log_level
        Level of the per-study ``batch.log``.
    """

    compute_threads: int = 1
    device: DeviceChoice = DeviceChoice.AUTO
    gpu_batch: int = 1
    log_level: int = logging.INFO


@dataclass(frozen=True)
class StudyJob:
    """One study, as a worker needs it. ``temp_dir`` does not exist yet; the worker fills it."""

    study_key: str
    token: str
    study_dir: Path
    temp_dir: Path
    config: PipelineConfig
    study_uid: str | None = field(default=None, repr=False)
    baseline_dir: Path | None = None
    baseline_uid: str | None = field(default=None, repr=False)
    clinical_path: Path | None = None
    clinical_form: Mapping[str, Any] | None = None
    keep_identifiers: bool = False
    dwi_grid: bool = False

    @property
    def dask_key(self) -> str:
        return f"ccr-study-{self.token}"


@dataclass(frozen=True)
class StudyOutcome:
    """What a worker reports back: done (outputs in ``temp_dir``) or failed (no outputs)."""

    study_key: str
    token: str
    ok: bool
    error: str | None = None
    detail: str | None = None
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    duration_s: float = 0.0
    peak_rss_mb: float | None = None
    worker_pid: int = 0


class _TaskLogRouter(logging.Handler):
    """Sends each record to the log file of the study running in the emitting thread."""

    def __init__(self) -> None:
        super().__init__()
        self._files: dict[int, logging.Handler] = {}

    @contextmanager
    def study_log(self, path: Path, level: int) -> Iterator[None]:
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setLevel(level)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        ident = threading.get_ident()
        self._files[ident] = handler
        try:
            yield
        finally:
            self._files.pop(ident, None)
            handler.close()

    def emit(self, record: logging.LogRecord) -> None:
        target = self._files.get(threading.get_ident())
        if target is not None and record.levelno >= target.level:
            target.handle(record)


def shared_network(inner: torch.nn.Module, *, device: str, max_batch: int) -> torch.nn.Module:
    """A module that keeps ``inner`` on ``device`` for good and merges forward calls.

    Studies running at once in one worker (threads) call it concurrently; each call's input
    is queued, and whichever caller holds the network runs every queued input (up to
    ``max_batch`` calls, same shape) as one batch, then hands each caller its slice. A call
    alone runs alone: nothing waits for company. ``.to()`` is a no-op, so no study moves the
    shared copy between devices.
    """
    import torch

    class _Request:
        def __init__(self, x: torch.Tensor) -> None:
            self.x = x
            self.out: torch.Tensor | None = None
            self.error: BaseException | None = None
            self.done = threading.Event()

    class _Merged(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = inner.to(device).eval()
            self._running = threading.Lock()
            self._queue_lock = threading.Lock()
            self._queue: list[_Request] = []
            self.batch_sizes: list[int] = []

        def to(self, *args: Any, **kwargs: Any) -> _Merged:
            return self

        def _run(self, requests: list[_Request]) -> None:
            try:
                merged = torch.cat([r.x for r in requests]) if len(requests) > 1 else requests[0].x
                out = self.inner(merged)
                self.batch_sizes.append(len(requests))
                start = 0
                for request in requests:
                    n = request.x.shape[0]
                    request.out = out[start : start + n]
                    start += n
            except BaseException as exc:  # handed to every caller of this batch
                for request in requests:
                    request.error = exc
            finally:
                for request in requests:
                    request.done.set()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            request = _Request(x)
            with self._queue_lock:
                self._queue.append(request)
            while not request.done.is_set():
                if not self._running.acquire(timeout=0.005):
                    continue
                try:
                    with self._queue_lock:
                        shape = self._queue[0].x.shape[1:] if self._queue else None
                        batch = [r for r in self._queue if r.x.shape[1:] == shape][:max_batch]
                        self._queue = [r for r in self._queue if r not in batch]
                    if batch:
                        self._run(batch)
                finally:
                    self._running.release()
            if request.error is not None:
                raise request.error
            if request.out is None:  # pragma: no cover - _run always sets one of the two
                raise RuntimeError("shared network returned nothing")
            return request.out

    return _Merged()


class BatchWorkerPlugin(WorkerPlugin):
    """Set-up of one batch worker; the worker keeps it as ``worker.plugins["ccr-batch"]``."""

    name = PLUGIN_NAME

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._scorers: dict[str, LearnedScorers] = {}
        self._device: str | None = None
        self._router: _TaskLogRouter | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"settings": self.settings}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["settings"])  # type: ignore[misc]

    def setup(self, worker: Worker) -> None:
        threads = self.settings.compute_threads
        import SimpleITK as sitk
        import torch

        torch.set_num_threads(threads)
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
        chatty = logging.getLogger("radiomics")  # pyradiomics adds a stderr handler at import
        import radiomics  # noqa: F401

        chatty.handlers.clear()
        chatty.propagate = True
        chatty.setLevel(logging.ERROR)
        self._router = _TaskLogRouter()
        root = logging.getLogger()
        root.addHandler(self._router)
        logging.getLogger("pipeline").setLevel(self.settings.log_level)
        logging.captureWarnings(True)

    def teardown(self, worker: Worker) -> None:
        if self._router is not None:
            logging.getLogger().removeHandler(self._router)
            self._router = None

    @property
    def router(self) -> _TaskLogRouter:
        if self._router is None:  # a worker that skipped setup (should not happen)
            self._router = _TaskLogRouter()
        return self._router

    def device(self) -> str:
        """The resolved device of this worker (raises DeviceError for cuda without a GPU)."""
        from pipeline.device import resolve_device

        with self._lock:
            if self._device is None:
                self._device = resolve_device(self.settings.device)
            return self._device

    def scorers(self, config: LearnedScoringConfig) -> LearnedScorers:
        """The learned models of ``config``, loaded on first use and kept for the worker's life.

        On a GPU, or with ``gpu_batch`` > 1, the network is wrapped in :func:`shared_network`:
        one copy on the device, the forward passes of concurrent studies merged.
        """
        from pipeline.scoring import load_learned

        key = config.model_dump_json()
        device = self.device()
        with self._lock:
            if key not in self._scorers:
                scorers = load_learned(config)
                if scorers.network is not None and (
                    device == "cuda" or self.settings.gpu_batch > 1
                ):
                    module = shared_network(
                        scorers.network.module, device=device, max_batch=self.settings.gpu_batch
                    )
                    scorers = replace(scorers, network=replace(scorers.network, module=module))
                    log.info(
                        "network shared by up to %d studies on %s", self.settings.gpu_batch, device
                    )
                self._scorers[key] = scorers
            return self._scorers[key]


def _peak_rss_mb() -> float | None:
    """Peak resident memory of this process so far, MB (None where the OS does not say)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    peak = float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def _stage_timings(folder: Path) -> dict[str, float]:
    try:
        provenance = json.loads((folder / "provenance.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    timings = provenance.get("timings_s", {})
    return {str(k): float(v) for k, v in timings.items() if isinstance(v, int | float)}


def _plugin() -> BatchWorkerPlugin:
    plugin = get_worker().plugins.get(PLUGIN_NAME)
    if not isinstance(plugin, BatchWorkerPlugin):
        plugin = BatchWorkerPlugin(WorkerSettings())  # a worker that joined without set-up
    return plugin


def _run(job: StudyJob, plugin: BatchWorkerPlugin) -> str | None:
    """Run the study into ``job.temp_dir``; returns the imaging error (None: readable).

    A clinical form given as manifest columns is written to ``clinical.json`` beside the
    temporary folder for the run (its evidence then cites ``clinical.json``), and its errors
    name the manifest columns, not that file.
    """
    from pipeline._io import write_json
    from pipeline.errors import ClinicalInputError
    from pipeline.run import run_study

    clinical_path = job.clinical_path
    inputs = job.temp_dir.with_name(f"{job.temp_dir.name}.inputs")
    try:
        if job.clinical_form is not None:
            clinical_path = write_json(inputs / "clinical.json", dict(job.clinical_form))
        learned = job.config.scoring.learned
        result = run_study(
            job.study_dir,
            clinical_path=clinical_path,
            out_dir=job.temp_dir,
            config=job.config,
            baseline_dir=job.baseline_dir,
            device=plugin.device(),
            keep_identifiers=job.keep_identifiers,
            dwi_grid=job.dwi_grid,
            study_uid=job.study_uid,
            baseline_uid=job.baseline_uid,
            scorers=plugin.scorers(learned) if learned.enabled else None,
        )
    except ClinicalInputError as exc:
        if job.clinical_form is None:
            raise
        raise ClinicalInputError(f"manifest clinical columns: {exc.message}", fix=exc.fix) from exc
    finally:
        shutil.rmtree(inputs, ignore_errors=True)
    return result.error


def _log_tail(path: Path, chars: int = 4000) -> str | None:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return text[-chars:] or None


def process_study(job: StudyJob) -> StudyOutcome:
    """Assess one study into ``job.temp_dir`` (runs on a Dask worker).

    Never raises for a study's own problem: an exception, or imaging that cannot be read
    (``run_study`` then decides ``indeterminate``), is a failed outcome with the error (and
    the traceback or the end of the study's log as detail), and the temporary folder is
    removed. Done: the outputs stay in ``temp_dir``, with their hashes in the outcome.
    """
    from pipeline.batch._hashing import output_hashes

    start = time.perf_counter()
    worker = get_worker()
    worker.log_event(
        START_TOPIC, {"token": job.token, "pid": os.getpid(), "worker": worker.address}
    )
    plugin = _plugin()
    error: str | None = None
    detail: str | None = None
    outputs: dict[str, dict[str, Any]] = {}
    timings: dict[str, float] = {}
    job.temp_dir.mkdir(parents=True, exist_ok=False)
    try:
        with plugin.router.study_log(job.temp_dir / STUDY_LOG, plugin.settings.log_level):
            try:
                imaging_error = _run(job, plugin)
                if imaging_error is not None:
                    error = f"imaging input unreadable: {imaging_error}"
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                detail = traceback.format_exc()[-_DETAIL_CHARS:]
                log.error("study failed: %s", error)
        if error is None:
            outputs = output_hashes(job.temp_dir)
            timings = _stage_timings(job.temp_dir)
        else:
            detail = detail or _log_tail(job.temp_dir / STUDY_LOG)
            shutil.rmtree(job.temp_dir, ignore_errors=True)
    except BaseException:
        shutil.rmtree(job.temp_dir, ignore_errors=True)
        raise
    return StudyOutcome(
        study_key=job.study_key,
        token=job.token,
        ok=error is None,
        error=error,
        detail=detail,
        outputs=outputs,
        timings=timings,
        duration_s=round(time.perf_counter() - start, 3),
        peak_rss_mb=_peak_rss_mb(),
        worker_pid=os.getpid(),
    )
