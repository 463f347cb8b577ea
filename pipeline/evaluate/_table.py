"""Reading the batch results (CSV, Parquet or the batch folder) and joining the labels.

Only the columns the evaluation needs are required: the join key (``study_key`` or
``input``) and the score (``p_residual`` unless told otherwise). ``status`` (rows other than
``done`` are left out and counted), ``outcome`` (the decision), ``reference_label`` and
``reference_outcome`` are used when present. ``entry`` is read as ``input`` and ``decision``
as ``outcome`` where those are absent (:data:`COLUMN_ALIASES`).
"""

from __future__ import annotations

import hashlib
import io
import math
from collections import Counter
from pathlib import Path
from typing import Any

from pipeline.decision import Outcome
from pipeline.errors import InputError
from pipeline.evaluate._labels import parse_outcome, parse_residual
from pipeline.evaluate._model import (
    DONE,
    CaseRecord,
    Counts,
    JoinKey,
    LabelRow,
    LabelsKind,
    LabelsTable,
    ResultRow,
    ResultsTable,
)

RESULT_FILES = ("results.parquet", "results.csv")
STATUS_COLUMN = "status"
OUTCOME_COLUMN = "outcome"
REFERENCE_LABEL_COLUMN = "reference_label"
REFERENCE_OUTCOME_COLUMN = "reference_outcome"

#: Other spellings of a column, used when the column itself is absent.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    JoinKey.INPUT.value: ("entry",),
    OUTCOME_COLUMN: ("decision",),
}


def resolve_results_path(path: Path) -> Path:
    """``path`` itself for a file; ``results.parquet`` (else ``results.csv``) in a folder."""
    if path.is_dir():
        for name in RESULT_FILES:
            candidate = path / name
            if candidate.is_file():
                return candidate
        raise InputError(
            f"no {' or '.join(RESULT_FILES)} in this folder",
            file=path,
            fix="give the folder that 'ccr batch --out' wrote, or the results file itself.",
        )
    if not path.is_file():
        raise InputError("results not found", file=path, fix="check the path.")
    if path.suffix.lower() not in (".csv", ".parquet"):
        raise InputError(
            f"results must be .csv or .parquet, got {path.suffix or 'no suffix'!r}", file=path
        )
    return path


def _read_frame(path: Path) -> tuple[list[dict[str, Any]], tuple[str, ...], str]:
    """Records, column names and the SHA-256 of the bytes read."""
    import pandas as pd

    try:
        raw = path.read_bytes()
        if path.suffix.lower() == ".parquet":
            frame = pd.read_parquet(io.BytesIO(raw))
        else:
            frame = pd.read_csv(
                io.BytesIO(raw), dtype=str, keep_default_na=False, encoding="utf-8-sig"
            )
    except (OSError, ValueError, ImportError) as exc:
        raise InputError(f"cannot read the results table: {exc}", file=path) from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    for column, aliases in COLUMN_ALIASES.items():
        alias = next((a for a in aliases if a in frame.columns), None)
        if column not in frame.columns and alias is not None:
            frame = frame.rename(columns={alias: column})
    records: list[dict[str, Any]] = frame.to_dict(orient="records")
    return records, tuple(frame.columns), hashlib.sha256(raw).hexdigest()


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return True
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    return isinstance(value, str) and value.strip() == ""


def _text(value: Any) -> str | None:
    return None if _missing(value) else str(value).strip()


def _score(value: Any, *, column: str, where: str, path: Path) -> float | None:
    if _missing(value):
        return None
    try:
        score = float(value)
    except (TypeError, ValueError):
        raise InputError(
            f"{where}: {column} {value!r} is not a number",
            file=path,
            fix=f"{column} must be a probability between 0 and 1, or empty.",
        ) from None
    if not (math.isfinite(score) and 0.0 <= score <= 1.0):
        raise InputError(
            f"{where}: {column} {score} is outside [0, 1]",
            file=path,
            fix=f"{column} must be a probability between 0 and 1, or empty.",
        )
    return score


def read_results(path: Path, *, score_column: str = "p_residual") -> ResultsTable:
    """Read the batch results table; see the module notes for the columns used.

    ``path`` is ``results.csv``, ``results.parquet`` or the batch output folder (Parquet
    preferred, as it keeps types). A score outside [0, 1] or an unknown outcome is an error.
    """
    path = resolve_results_path(path)
    records, columns, digest = _read_frame(path)
    if not records:
        raise InputError("the results table has no rows", file=path, fix="run ccr batch first.")
    if not any(key.value in columns for key in (JoinKey.STUDY_KEY, JoinKey.INPUT)):
        raise InputError(
            f"results have no key column: need 'study_key' or 'input' "
            f"(columns: {', '.join(columns)})",
            file=path,
            fix="give the results.csv / results.parquet written by ccr batch.",
        )
    if score_column not in columns:
        raise InputError(
            f"results have no score column {score_column!r} (columns: {', '.join(columns)})",
            file=path,
            fix="choose the probability column with --score.",
        )
    has_outcome = OUTCOME_COLUMN in columns
    rows = []
    for index, record in enumerate(records):
        key = _text(record.get(JoinKey.STUDY_KEY.value))
        entry = _text(record.get(JoinKey.INPUT.value))
        where = f"row {index + 1} ({key or entry or 'no key'})"
        status = _text(record.get(STATUS_COLUMN)) if STATUS_COLUMN in columns else DONE
        rows.append(
            ResultRow(
                study_key=key,
                input=entry,
                status=(status or "missing").lower(),
                outcome=parse_outcome(
                    record.get(OUTCOME_COLUMN), where=f"{where}, {OUTCOME_COLUMN}", file=path
                )
                if has_outcome
                else None,
                score=_score(record.get(score_column), column=score_column, where=where, path=path),
                reference_label=parse_residual(
                    record.get(REFERENCE_LABEL_COLUMN),
                    where=f"{where}, {REFERENCE_LABEL_COLUMN}",
                    file=path,
                )
                if REFERENCE_LABEL_COLUMN in columns
                else None,
                reference_outcome=parse_outcome(
                    record.get(REFERENCE_OUTCOME_COLUMN),
                    where=f"{where}, {REFERENCE_OUTCOME_COLUMN}",
                    file=path,
                )
                if REFERENCE_OUTCOME_COLUMN in columns
                else None,
            )
        )
    return ResultsTable(
        path=path,
        sha256=digest,
        rows=tuple(rows),
        columns=columns,
        score_column=score_column,
        has_status=STATUS_COLUMN in columns,
        has_outcome=has_outcome,
    )


def labels_from_results(results: ResultsTable, *, key: JoinKey = JoinKey.AUTO) -> LabelsTable:
    """Labels carried by the results themselves (a manifest's ``reference_label``)."""
    if REFERENCE_LABEL_COLUMN not in results.columns:
        raise InputError(
            f"no --labels given and the results have no {REFERENCE_LABEL_COLUMN!r} column",
            file=results.path,
            fix="give --labels LABELS.csv (or a phantom folder).",
        )
    if key is JoinKey.AUTO:
        key = JoinKey.STUDY_KEY if JoinKey.STUDY_KEY.value in results.columns else JoinKey.INPUT
    rows = []
    for index, row in enumerate(results.rows):
        value = row.study_key if key is JoinKey.STUDY_KEY else row.input
        if value is None:
            continue
        rows.append(
            LabelRow(
                key=value,
                residual=row.reference_label,
                reference_outcome=row.reference_outcome,
                line=index + 2,
            )
        )
    return LabelsTable(
        source=results.path,
        kind=LabelsKind.RESULTS_REFERENCE_LABEL,
        key_column=key,
        rows=tuple(rows),
        has_reference_outcome=REFERENCE_OUTCOME_COLUMN in results.columns,
        sha256=results.sha256,
    )


def join(results: ResultsTable, labels: LabelsTable) -> tuple[tuple[CaseRecord, ...], Counts]:
    """Join on ``labels.key_column``; every results row becomes a case, excluded or not.

    Exclusion, first reason that applies: status other than ``done`` (``status:<value>``),
    no label (``no_label``: no labels row, or an empty label). Evaluated cases without a
    score are kept for the decision tables and counted in ``excluded_no_score``.
    """
    column = labels.key_column.value
    if column not in results.columns:
        raise InputError(
            f"labels are keyed by {column!r} but the results have no {column!r} column "
            f"(columns: {', '.join(results.columns)})",
            file=results.path,
            fix="key the labels by a column the results have (study_key or input).",
        )
    by_key = {row.key: row for row in labels.rows}
    keys = [getattr(row, column) for row in results.rows]
    repeated = sorted(k for k, n in Counter(k for k in keys if k is not None).items() if n > 1)
    if repeated:
        raise InputError(
            f"{column} {repeated[0]!r} appears in {keys.count(repeated[0])} results rows "
            f"({len(repeated)} repeated {column} value(s)); the join is ambiguous",
            file=results.path,
            fix="key the labels by study_key (one row per study)."
            if column == JoinKey.INPUT.value
            else "remove the repeated rows.",
        )
    cases = []
    excluded_status: Counter[str] = Counter()
    for row, key in zip(results.rows, keys, strict=True):
        label = by_key.get(key) if key is not None else None
        residual = label.residual if label is not None else None
        excluded: str | None = None
        if row.status != DONE:
            excluded = f"status:{row.status}"
            excluded_status[row.status] += 1
        elif residual is None:
            excluded = "no_label"
        cases.append(
            CaseRecord(
                key=key or "",
                input=row.input,
                status=row.status,
                residual=residual,
                score=row.score,
                outcome=row.outcome,
                reference_outcome=label.reference_outcome if label is not None else None,
                excluded=excluded,
            )
        )
    matched = {k for k in keys if k is not None}
    evaluated = [c for c in cases if c.excluded is None]
    scored = [c for c in evaluated if c.score is not None]
    counts = Counts(
        results_rows=len(results.rows),
        label_rows=len(labels.rows),
        labels_without_result=sum(1 for row in labels.rows if row.key not in matched),
        excluded_status=dict(sorted(excluded_status.items())),
        excluded_no_label=sum(1 for c in cases if c.excluded == "no_label"),
        evaluated=len(evaluated),
        residual=sum(1 for c in evaluated if c.residual),
        no_residual=sum(1 for c in evaluated if c.residual is False),
        scored=len(scored),
        scored_residual=sum(1 for c in scored if c.residual),
        scored_no_residual=sum(1 for c in scored if c.residual is False),
        excluded_no_score=len(evaluated) - len(scored),
        with_decision=sum(1 for c in evaluated if c.outcome is not None),
        with_reference_outcome=sum(
            1 for c in evaluated if c.outcome is not None and c.reference_outcome is not None
        ),
    )
    return tuple(cases), counts


def outcome_names() -> tuple[str, ...]:
    """Decision outcomes in the decision layer's order (columns of the decision tables)."""
    return tuple(o.value for o in Outcome)
