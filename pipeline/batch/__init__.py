"""Cohort runs: many studies, resumable, on Dask (``ccr batch``).

Public surface
--------------
:func:`run_batch`, :class:`BatchOptions`, :class:`BatchSummary`
    Assess every study of a folder of studies, a folder of cases or a CSV manifest into one
    output folder; resumes from the SQLite ledger there; writes ``results.parquet`` / ``.csv``.
:func:`discover_tasks`, :class:`StudyTask`, :class:`InputKind`
    What a batch input holds, one task per restaging study.
:func:`read_manifest`, :data:`MANIFEST_COLUMNS`
    The CSV manifest.
:data:`RESULT_COLUMNS`, :data:`RUN_COLUMNS`
    Stable columns of ``results.csv`` (and ``.parquet``) and the run-dependent extra columns of
    ``results.parquet``.
:class:`Status`, :func:`open_ledger`
    The ledger (``DIR/ledger.sqlite``).

Heavy dependencies (Dask, pandas, the imaging stages) load on first use of a name, so that
``ccr`` starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.batch._api import BatchOptions, BatchSummary, Failure, run_batch
    from pipeline.batch._ledger import Status, open_ledger
    from pipeline.batch._manifest import MANIFEST_COLUMNS, read_manifest
    from pipeline.batch._results import RESULT_COLUMNS, RUN_COLUMNS
    from pipeline.batch._tasks import InputKind, StudyTask, discover_tasks

_WHERE = {
    "BatchOptions": "_api",
    "BatchSummary": "_api",
    "Failure": "_api",
    "run_batch": "_api",
    "Status": "_ledger",
    "open_ledger": "_ledger",
    "MANIFEST_COLUMNS": "_manifest",
    "read_manifest": "_manifest",
    "RESULT_COLUMNS": "_results",
    "RUN_COLUMNS": "_results",
    "InputKind": "_tasks",
    "StudyTask": "_tasks",
    "discover_tasks": "_tasks",
}

__all__ = [
    "MANIFEST_COLUMNS",
    "RESULT_COLUMNS",
    "RUN_COLUMNS",
    "BatchOptions",
    "BatchSummary",
    "Failure",
    "InputKind",
    "Status",
    "StudyTask",
    "discover_tasks",
    "open_ledger",
    "read_manifest",
    "run_batch",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
