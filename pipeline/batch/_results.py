"""The results table of a batch: ``results.parquet`` and ``results.csv``, one row per study.

Rows come from the ledger and each done study's ``decision.json``; keys are de-identified, no
DICOM identifier or tag value is written. Rows are sorted by ``entry`` then ``study_key``.
``results.csv`` holds :data:`RESULT_COLUMNS` only, floats with 6 significant digits, so the
same inputs and config give the same file whatever the run history (interrupted, resumed,
other workers); ``results.parquet`` adds :data:`RUN_COLUMNS` (attempts, timings, memory) at
full precision. Column names are stable: new columns may be added, none renamed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipeline.batch._ledger import LedgerRow, Status
from pipeline.decision import CriterionName

RESULTS_CSV = "results.csv"
RESULTS_PARQUET = "results.parquet"

#: ``decision.json`` ``imaging`` fields copied as columns of the same name (mL, mm,
#: ADC 1e-3 mm^2/s, fractions 0-1).
IMAGING_COLUMNS = (
    "p_residual_uncertainty",
    "scorer",
    "p_residual_rules",
    "p_residual_radiomics",
    "p_residual_network",
    "tumour_bed_status",
    "tumour_bed_volume_ml",
    "restricted_volume_ml",
    "restricted_max_extent_mm",
    "shine_through_volume_ml",
    "adc_median_bed",
    "adc_median_restricted",
    "t2_intermediate_fraction",
    "t2_bright_fraction",
)
CRITERION_COLUMNS = tuple(f"criterion_{c.value}" for c in CriterionName)

#: Columns of both files, in order.
RESULT_COLUMNS = (
    "study_key",
    "entry",
    "status",
    "decision",
    "p_residual",
    *IMAGING_COLUMNS,
    *CRITERION_COLUMNS,
    "quality_ok",
    "quality_flags",
    "missing",
    "reference_label",
    "error",
)
#: Columns of ``results.parquet`` only: they differ from run to run.
RUN_COLUMNS = ("attempts", "duration_s", "peak_rss_mb", "finished_at", "timings_s")

_TEXT_COLUMNS = frozenset(
    {
        "study_key",
        "entry",
        "status",
        "decision",
        "scorer",
        "tumour_bed_status",
        *CRITERION_COLUMNS,
        "quality_flags",
        "missing",
        "reference_label",
        "error",
        "finished_at",
        "timings_s",
    }
)


def _decision_columns(decision: Mapping[str, Any]) -> dict[str, Any]:
    imaging = decision.get("imaging") or {}
    quality = decision.get("quality") or {}
    criteria = {c.get("name"): c.get("status") for c in decision.get("criteria", [])}
    return {
        "decision": decision.get("decision"),
        "p_residual": decision.get("p_residual"),
        **{name: imaging.get(name) for name in IMAGING_COLUMNS},
        **{f"criterion_{c.value}": criteria.get(c.value) for c in CriterionName},
        "quality_ok": quality.get("ok"),
        "quality_flags": ";".join(str(f.get("problem")) for f in quality.get("flags", [])),
        "missing": ";".join(str(m) for m in decision.get("missing", [])),
    }


def result_row(
    key: str,
    *,
    entry: str,
    reference_label: str | None,
    ledger: LedgerRow | None,
    folder: Path,
) -> dict[str, Any]:
    """One study's row; ``folder`` is its output folder (read when the study is done)."""
    row: dict[str, Any] = dict.fromkeys((*RESULT_COLUMNS, *RUN_COLUMNS))
    row.update(study_key=key, entry=entry, reference_label=reference_label)
    if ledger is None:
        row["status"] = Status.QUEUED.value
        return row
    row.update(
        status=ledger.status.value,
        error=" ".join(ledger.error.split()) if ledger.error else None,  # one line per row
        attempts=ledger.attempts,
        duration_s=ledger.duration_s,
        peak_rss_mb=ledger.peak_rss_mb,
        timings_s=json.dumps(ledger.timings, sort_keys=True) if ledger.timings else None,
        finished_at=(
            datetime.fromtimestamp(ledger.finished_at, tz=timezone.utc).isoformat(
                timespec="seconds"
            )
            if ledger.finished_at is not None
            else None
        ),
    )
    if ledger.status is Status.DONE:
        decision = json.loads((folder / "decision.json").read_text(encoding="utf-8"))
        row.update(_decision_columns(decision))
    return row


def results_frame(rows: Sequence[Mapping[str, Any]]) -> Any:
    """The rows as a typed, sorted :class:`pandas.DataFrame` (every column, CSV's first)."""
    import pandas as pd

    frame = pd.DataFrame(list(rows), columns=[*RESULT_COLUMNS, *RUN_COLUMNS])
    for column in frame.columns:
        if column in _TEXT_COLUMNS:
            frame[column] = frame[column].astype("string")
        elif column == "quality_ok":
            frame[column] = frame[column].astype("boolean")
        elif column == "attempts":
            frame[column] = frame[column].astype("Int64")
        else:
            frame[column] = pd.to_numeric(frame[column]).astype("float64")
    return frame.sort_values(["entry", "study_key"], kind="stable").reset_index(drop=True)


def write_results(out_dir: Path, rows: Sequence[Mapping[str, Any]]) -> tuple[Path, Path]:
    """Write ``results.parquet`` (all columns) and ``results.csv`` (stable columns), each under
    a temporary name first; returns both paths."""
    from pipeline._io import atomic_path

    frame = results_frame(rows)
    parquet = out_dir / RESULTS_PARQUET
    with atomic_path(parquet) as tmp:
        frame.to_parquet(tmp, index=False)
    csv = out_dir / RESULTS_CSV
    with atomic_path(csv) as tmp:
        frame[list(RESULT_COLUMNS)].to_csv(tmp, index=False, float_format="%.6g")
    return parquet, csv
