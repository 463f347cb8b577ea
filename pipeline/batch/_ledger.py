"""The batch ledger: one SQLite file in the output folder, one row per study.

Only the batch process writes it (workers never touch it, so it may live on any file system
the batch process can lock). Every change is one committed statement: a batch killed at any
moment leaves the ledger consistent, with the studies it was running as ``queued`` or
``running``, which the next run redoes.

Table ``studies``: ``study_key`` (primary key), ``entry``, ``input_hash``, ``config_hash``,
``status`` (:class:`Status`), ``attempts`` (runs started), ``error`` (one line), ``detail``
(traceback or log tail), ``queued_at`` / ``started_at`` / ``finished_at`` (Unix seconds),
``duration_s`` (wall time on the worker), ``timings`` (JSON, stage -> s), ``worker_pid``,
``peak_rss_mb`` (the worker's peak resident memory so far), ``outputs`` (JSON, file ->
``{sha256, bytes}``). Table ``batches``: one row per ``ccr batch`` run (times, counts).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from pipeline.errors import InputError

#: Version of the ledger tables; a ledger of another version is refused.
LEDGER_SCHEMA = 1
LEDGER_NAME = "ledger.sqlite"

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS studies (
    study_key TEXT PRIMARY KEY,
    entry TEXT NOT NULL,
    input_hash TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    detail TEXT,
    queued_at REAL,
    started_at REAL,
    finished_at REAL,
    duration_s REAL,
    timings TEXT,
    worker_pid INTEGER,
    peak_rss_mb REAL,
    outputs TEXT
);
CREATE INDEX IF NOT EXISTS studies_input ON studies (input_hash);
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at REAL NOT NULL,
    finished_at REAL,
    counts TEXT
);
"""


class Status(str, Enum):
    """Where a study stands. ``queued`` and ``running`` left by a killed batch are redone."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class LedgerRow:
    """One study's row (see the module docstring for the columns)."""

    study_key: str
    entry: str
    input_hash: str
    config_hash: str
    status: Status
    attempts: int = 0
    error: str | None = None
    detail: str | None = None
    queued_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    duration_s: float | None = None
    timings: dict[str, float] = field(default_factory=dict)
    worker_pid: int | None = None
    peak_rss_mb: float | None = None
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)


def _row(record: sqlite3.Row) -> LedgerRow:
    values = dict(record)
    values["status"] = Status(values["status"])
    values["timings"] = json.loads(values["timings"] or "{}")
    values["outputs"] = json.loads(values["outputs"] or "{}")
    return LedgerRow(**values)


class Ledger:
    """The SQLite ledger of one output folder (open with :func:`open_ledger`)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection

    def get(self, key: str) -> LedgerRow | None:
        record = self._db.execute("SELECT * FROM studies WHERE study_key = ?", (key,)).fetchone()
        return _row(record) if record is not None else None

    def rows(self) -> dict[str, LedgerRow]:
        return {r["study_key"]: _row(r) for r in self._db.execute("SELECT * FROM studies")}

    def key_for_input(self, input_hash: str) -> str | None:
        """The study key recorded for these exact inputs (saves a scan on a rerun)."""
        found = self._db.execute(
            "SELECT study_key FROM studies WHERE input_hash = ? LIMIT 1", (input_hash,)
        ).fetchone()
        return str(found[0]) if found is not None else None

    def queue(self, key: str, *, entry: str, input_hash: str, config_hash: str) -> None:
        """Mark a study as about to run (its attempts and last outputs are kept)."""
        self._db.execute(
            "INSERT INTO studies (study_key, entry, input_hash, config_hash, status, queued_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (study_key) DO UPDATE SET "
            "entry = excluded.entry, input_hash = excluded.input_hash, "
            "config_hash = excluded.config_hash, status = excluded.status, "
            "queued_at = excluded.queued_at, started_at = NULL, error = NULL, detail = NULL",
            (key, entry, input_hash, config_hash, Status.QUEUED.value, time.time()),
        )

    def keep(self, key: str, *, entry: str) -> None:
        """A study skipped as done and identical: only its entry name may have changed."""
        self._db.execute("UPDATE studies SET entry = ? WHERE study_key = ?", (entry, key))

    def start(self, key: str, *, worker_pid: int | None) -> None:
        self._db.execute(
            "UPDATE studies SET status = ?, attempts = attempts + 1, started_at = ?, "
            "worker_pid = ? WHERE study_key = ?",
            (Status.RUNNING.value, time.time(), worker_pid, key),
        )

    def finish(
        self,
        key: str,
        *,
        outputs: Mapping[str, Mapping[str, Any]],
        duration_s: float,
        timings: Mapping[str, float],
        peak_rss_mb: float | None,
    ) -> None:
        self._db.execute(
            "UPDATE studies SET status = ?, finished_at = ?, duration_s = ?, timings = ?, "
            "peak_rss_mb = ?, outputs = ?, error = NULL, detail = NULL WHERE study_key = ?",
            (
                Status.DONE.value,
                time.time(),
                duration_s,
                json.dumps(dict(timings)),
                peak_rss_mb,
                json.dumps({k: dict(v) for k, v in outputs.items()}, sort_keys=True),
                key,
            ),
        )

    def fail(
        self,
        key: str,
        *,
        entry: str,
        input_hash: str,
        config_hash: str,
        error: str,
        detail: str | None = None,
        duration_s: float | None = None,
        peak_rss_mb: float | None = None,
    ) -> None:
        """Record a failure (the study's row is created if it has none yet)."""
        self._db.execute(
            "INSERT INTO studies (study_key, entry, input_hash, config_hash, status, error, "
            "detail, finished_at, duration_s, peak_rss_mb, outputs) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '{}') ON CONFLICT (study_key) DO UPDATE SET "
            "entry = excluded.entry, input_hash = excluded.input_hash, "
            "config_hash = excluded.config_hash, status = excluded.status, "
            "error = excluded.error, detail = excluded.detail, "
            "finished_at = excluded.finished_at, duration_s = excluded.duration_s, "
            "peak_rss_mb = excluded.peak_rss_mb, outputs = '{}'",
            (
                key,
                entry,
                input_hash,
                config_hash,
                Status.FAILED.value,
                error,
                detail,
                time.time(),
                duration_s,
                peak_rss_mb,
            ),
        )

    def begin_batch(self) -> int:
        cursor = self._db.execute("INSERT INTO batches (started_at) VALUES (?)", (time.time(),))
        return int(cursor.lastrowid or 0)

    def end_batch(self, batch_id: int, counts: Mapping[str, int]) -> None:
        self._db.execute(
            "UPDATE batches SET finished_at = ?, counts = ? WHERE id = ?",
            (time.time(), json.dumps(dict(counts), sort_keys=True), batch_id),
        )


@contextmanager
def open_ledger(folder: Path) -> Iterator[Ledger]:
    """Open (or create) ``folder/ledger.sqlite``.

    Raises
    ------
    InputError
        The file is not a ledger of this version.
    """
    path = folder / LEDGER_NAME
    connection = sqlite3.connect(path, isolation_level=None, timeout=30.0)
    connection.row_factory = sqlite3.Row
    try:
        try:
            connection.executescript(_TABLES)
            found = connection.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise InputError(
                f"not a batch ledger: {exc}",
                file=path,
                fix="choose another output folder, or move this file away",
            ) from exc
        if found is None:
            connection.execute(
                "INSERT INTO meta (name, value) VALUES ('schema', ?)", (str(LEDGER_SCHEMA),)
            )
        elif found[0] != str(LEDGER_SCHEMA):
            raise InputError(
                f"ledger schema {found[0]}, this version writes {LEDGER_SCHEMA}",
                file=path,
                fix="use a new output folder for this version",
            )
        yield Ledger(connection)
    finally:
        connection.close()
