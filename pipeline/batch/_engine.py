"""Running study jobs on Dask: an embedded LocalCluster, or an existing cluster.

Failure isolation
-----------------
* An exception or unreadable imaging fails the study on the worker (:func:`process_study`).
* ``study_timeout``: workers announce each start (a Dask event); a study running longer is
  given up (its result, should it come, is ignored) and its worker is restarted through its
  nanny, which ends the hung computation.
* A worker process that dies (killed by the OS, out of memory, past the nanny's memory limit)
  fails the study it was running. The embedded cluster allows no retry of a task whose worker
  died (``allowed-failures: 0``); on an existing cluster its scheduler's ``allowed-failures``
  applies. A study blamed for a worker it had not started on yet (Dask may queue studies on a
  worker), or that shared a worker restarted for another study's time-out, is run again
  (at most :data:`MAX_REQUEUE` times).

Worker processes of the embedded cluster exit on their own when the batch process dies (Dask
watches the parent through a pipe), so a killed batch leaves no worker behind.
"""

from __future__ import annotations

import logging
import queue
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from pipeline.batch._worker import (
    PLUGIN_NAME,
    START_TOPIC,
    BatchWorkerPlugin,
    StudyJob,
    StudyOutcome,
    WorkerSettings,
    process_study,
)
from pipeline.errors import InputError, ProcessingError

if TYPE_CHECKING:
    from distributed import Client, Future

log = logging.getLogger(__name__)

#: Thread-count variables of BLAS / OpenMP libraries, set in every local worker's environment.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)

#: Dask settings of the embedded cluster (see the module docstring). Memory: no spilling or
#: pausing (a study holds no Dask data); the nanny still restarts a worker past 95 % of its
#: memory limit, which fails only that worker's study.
LOCAL_DASK_CONFIG: dict[str, Any] = {
    "distributed.scheduler.allowed-failures": 0,
    "distributed.scheduler.worker-saturation": 1.0,
    "distributed.worker.memory.target": False,
    "distributed.worker.memory.spill": False,
    "distributed.worker.memory.pause": False,
    "distributed.worker.memory.terminate": 0.95,
}

WORKER_DIED = (
    "the worker process died while running this study (killed by the operating system, e.g. "
    "out of memory, past the worker memory limit, or crashed)"
)

_POLL_S = 0.2
#: Times a study whose worker died before it started (or for another study) is run again.
MAX_REQUEUE = 2


@dataclass(frozen=True)
class EngineOptions:
    """Where and how the jobs run.

    Attributes
    ----------
    workers
        Worker processes of the embedded cluster (ignored with ``scheduler``).
    scheduler
        Address of an existing Dask scheduler (``tcp://host:port``); None: embedded cluster.
    study_timeout
        Seconds a study may run before it is given up; None: no limit.
    memory_limit
        Memory limit per embedded worker (Dask syntax: ``"4GB"``, ``"auto"`` = RAM / workers).
    worker
        Set-up of every worker.
    dask_log_level
        Level of Dask's own log messages in the embedded cluster (they repeat what the batch
        reports per study).
    """

    workers: int = 1
    scheduler: str | None = None
    study_timeout: float | None = None
    memory_limit: str = "auto"
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    dask_log_level: int = logging.CRITICAL


class EngineHandler(Protocol):
    """What the engine reports, from the batch process's main thread."""

    def started(self, job: StudyJob, worker_pid: int | None) -> None: ...

    def finished(self, job: StudyJob, outcome: StudyOutcome) -> None: ...

    def lost(self, job: StudyJob, error: str) -> None: ...


@dataclass
class _Running:
    since: float
    worker: str
    pid: int | None


@contextmanager
def connect(options: EngineOptions) -> Iterator[Client]:
    """A client of the embedded LocalCluster or of ``options.scheduler``."""
    import dask
    from distributed import Client, LocalCluster

    if options.scheduler is not None:
        try:
            client = Client(options.scheduler, timeout="30s")
        except (OSError, TimeoutError) as exc:
            raise InputError(
                f"cannot reach the Dask scheduler at {options.scheduler}: {exc}",
                fix="start it (`dask scheduler`) or check the address (tcp://HOST:PORT)",
            ) from exc
        with client:
            yield client
        return
    env = {name: str(options.worker.compute_threads) for name in THREAD_VARIABLES}
    with (
        dask.config.set(LOCAL_DASK_CONFIG),
        LocalCluster(
            n_workers=options.workers,
            threads_per_worker=options.worker.gpu_batch,
            processes=True,
            memory_limit=options.memory_limit,
            dashboard_address="127.0.0.1:0",  # a free port: no clash, no warning
            silence_logs=options.dask_log_level,
            host="127.0.0.1",
            env=env,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _fresh(job: StudyJob) -> StudyJob:
    """The same study with a new token and temporary folder (to run it again)."""
    token = uuid.uuid4().hex[:12]
    return replace(job, token=token, temp_dir=job.temp_dir.with_name(f"{job.study_key}.{token}"))


class _Run:
    """Book-keeping of one :func:`execute` call (main thread only)."""

    def __init__(self, client: Client, options: EngineOptions, handler: EngineHandler) -> None:
        self.client = client
        self.options = options
        self.handler = handler
        self.pending: dict[str, tuple[Future, StudyJob]] = {}
        self.running: dict[str, _Running] = {}
        self.restarted: set[str] = set()
        self.requeued: Counter[str] = Counter()
        self.events: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()

    def submit(self, job: StudyJob) -> None:
        future = self.client.submit(process_study, job, key=job.dask_key, pure=False, retries=0)
        self.pending[job.token] = (future, job)

    def drain_events(self, wait_s: float) -> None:
        try:
            event = self.events.get(timeout=wait_s)
        except queue.Empty:
            return
        while True:
            _, message = event
            token = str(message.get("token", ""))
            if token in self.pending and token not in self.running:
                pid = message.get("pid")
                self.running[token] = _Running(
                    time.monotonic(), str(message.get("worker", "")), int(pid) if pid else None
                )
                self.handler.started(self.pending[token][1], self.running[token].pid)
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                return

    def collect(self) -> None:
        from distributed import KilledWorker

        for token, (future, job) in list(self.pending.items()):
            if not future.done():
                continue
            del self.pending[token]
            running = self.running.pop(token, None)
            if future.status == "finished":
                outcome: StudyOutcome = future.result()
                if running is None:
                    self.handler.started(job, outcome.worker_pid)
                self.handler.finished(job, outcome)
                continue
            if future.status == "cancelled":
                self.handler.lost(job, "cancelled")
                continue
            error = future.exception()
            if not isinstance(error, KilledWorker):
                self.handler.lost(job, f"{type(error).__name__}: {error}")
                continue
            innocent = running is None or running.worker in self.restarted
            if innocent and self.requeued[job.study_key] < MAX_REQUEUE:
                # it was only waiting on that worker, or shared a worker restarted for another
                # study's time-out: not its fault, so it runs again
                self.requeued[job.study_key] += 1
                log.info("study %s lost its worker before or without fault", job.study_key)
                self.submit(_fresh(job))
                continue
            self.handler.lost(job, WORKER_DIED)

    def enforce_timeout(self) -> None:
        limit = self.options.study_timeout
        if limit is None:
            return
        now = time.monotonic()
        for token, running in list(self.running.items()):
            if now - running.since <= limit or token not in self.pending:
                continue
            future, job = self.pending.pop(token)
            del self.running[token]
            future.cancel()
            self.handler.lost(job, f"timed out after {limit:g} s (--study-timeout)")
            self.restart(running.worker)

    def restart(self, worker: str) -> None:
        """Restart a worker to end a computation that was given up."""
        if not worker:
            return
        self.restarted.add(worker)
        try:
            self.client.restart_workers([worker], raise_for_error=True)
        except Exception as exc:  # no nanny (plain worker), or the worker is gone already
            log.warning(
                "could not restart worker %s (%s); the given-up study keeps it busy until it "
                "ends, and its result is ignored",
                worker,
                exc,
            )


def execute(jobs: Sequence[StudyJob], *, options: EngineOptions, handler: EngineHandler) -> None:
    """Run ``jobs`` on Dask; every job ends in exactly one ``handler.finished`` or ``lost``.

    Raises
    ------
    InputError
        The scheduler cannot be reached.
    ProcessingError
        The workers could not be set up.
    """
    if not jobs:
        return
    with connect(options) as client:
        try:
            client.register_plugin(BatchWorkerPlugin(options.worker), name=PLUGIN_NAME)
        except Exception as exc:
            raise ProcessingError(
                f"setting up the Dask workers failed: {type(exc).__name__}: {exc}",
                fix="install ccr-pipeline in the workers' Python environment",
            ) from exc
        run = _Run(client, options, handler)
        client.subscribe_topic(START_TOPIC, run.events.put)
        try:
            for job in jobs:
                run.submit(job)
            while run.pending:
                run.drain_events(_POLL_S)
                run.collect()
                run.enforce_timeout()
        finally:
            client.unsubscribe_topic(START_TOPIC)
            for future, _ in run.pending.values():
                future.cancel()
