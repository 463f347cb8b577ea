"""The batch manifest: a CSV file, one row per restaging study.

Comma-separated, UTF-8 (an Excel byte-order mark is fine), a header row naming the columns.
Paths are absolute or relative to the manifest's folder. An empty cell means absent.

=================== ========== =====================================================
column              needed     content
=================== ========== =====================================================
study               yes        folder holding the restaging study (one study)
baseline            no         folder holding the baseline study
clinical            no         clinical form (YAML / JSON), as ``ccr run --clinical``
case_id             no         your pseudonymous name of the row (default ``row-<n>``)
reference_label     no         reference standard, copied to the results as written
``patient_key``,    no         the clinical form as columns, as in the cohort CSV of
``dre``, ...                   :mod:`pipeline.clinical` (lists ``;``-separated); not
                               together with ``clinical`` in one row
=================== ========== =====================================================

A row that cannot run (its study folder is missing, or it gives both ``clinical`` and clinical
columns) fails on its own; a manifest without a ``study`` column, with an unknown or repeated
column, or without rows is refused as a whole.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline.batch._tasks import StudyTask
from pipeline.clinical import CSV_COLUMNS, LIST_COLUMNS
from pipeline.errors import InputError

#: Manifest columns other than the clinical-form columns.
MANIFEST_COLUMNS = ("study", "baseline", "clinical", "case_id", "reference_label")


def _form(cells: Mapping[str, str], entry: str) -> dict[str, Any] | None:
    """The clinical-form columns of one row nested as the YAML form (None: no cell given)."""
    form: dict[str, Any] = {}
    for column, field in CSV_COLUMNS.items():
        text = cells.get(column, "").strip()
        if not text:
            continue
        value: Any = text
        if column in LIST_COLUMNS:
            value = [part.strip() for part in text.split(";") if part.strip()]
        if "." in field:
            group, key = field.split(".", 1)
            form.setdefault(group, {})[key] = value
        else:
            form[field] = value
    if not form:
        return None
    form.setdefault("patient_key", entry)
    return form


def _path(cell: str, base: Path) -> Path | None:
    text = cell.strip()
    if not text:
        return None
    path = Path(text).expanduser()
    return (path if path.is_absolute() else base / path).resolve()


def _check_header(path: Path, header: list[str] | None) -> list[str]:
    if not header:
        raise InputError("empty manifest; the first row must name the columns", file=path)
    columns = [name.strip() for name in header]
    allowed = (*MANIFEST_COLUMNS, *CSV_COLUMNS)
    unknown = [name for name in columns if name not in allowed]
    if unknown:
        raise InputError(
            f"unknown manifest column(s) {', '.join(repr(u) for u in unknown)}",
            file=path,
            fix=f"use only these columns: {', '.join(allowed)}",
        )
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    if repeated:
        raise InputError(f"manifest column(s) given twice: {', '.join(repeated)}", file=path)
    if "study" not in columns:
        raise InputError(
            "the manifest needs a 'study' column (the restaging study folder)", file=path
        )
    return columns


def _row_task(cells: Mapping[str, str], *, line: int, base: Path) -> StudyTask:
    entry = cells.get("case_id", "").strip() or f"row-{line}"
    study = _path(cells["study"], base)
    baseline = _path(cells.get("baseline", ""), base)
    clinical = _path(cells.get("clinical", ""), base)
    form = _form(cells, entry)
    problems = []
    if study is None:
        problems.append("the 'study' cell is empty")
    elif not study.is_dir():
        problems.append(f"study folder {study} not found")
    if baseline is not None and not baseline.is_dir():
        problems.append(f"baseline folder {baseline} not found")
    if clinical is not None and form is not None:
        problems.append("give the clinical form either as a file ('clinical') or as columns")
    return StudyTask(
        entry=entry,
        study_dir=study if study is not None else base,
        baseline_dir=baseline,
        clinical_path=clinical,
        clinical_form=form,
        reference_label=cells.get("reference_label", "").strip() or None,
        problem=f"manifest row {line}: {'; '.join(problems)}" if problems else None,
    )


def read_manifest(path: Path) -> list[StudyTask]:
    """The tasks of a manifest, in file order (columns in the module docstring).

    Raises
    ------
    InputError
        Unreadable file, unknown or repeated column, no ``study`` column, repeated
        ``case_id``, a row with more or fewer cells than the header.
    """
    path = Path(path).resolve()
    base = path.parent
    tasks: list[StudyTask] = []
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            columns = _check_header(path, next(reader, None))
            for cells in reader:
                if not any(cell.strip() for cell in cells):
                    continue
                line = reader.line_num
                if len(cells) != len(columns):
                    raise InputError(
                        f"manifest row {line}: {len(cells)} cells, the header has {len(columns)}",
                        file=path,
                    )
                tasks.append(
                    _row_task(dict(zip(columns, cells, strict=True)), line=line, base=base)
                )
    except FileNotFoundError as exc:
        raise InputError("manifest not found", file=path) from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"manifest is not UTF-8 text: {exc}", file=path) from exc
    except csv.Error as exc:
        raise InputError(f"manifest is not valid CSV: {exc}", file=path) from exc
    counts = Counter(t.entry for t in tasks)
    repeated = sorted(entry for entry, n in counts.items() if n > 1)
    if repeated:
        raise InputError(
            f"case_id given more than once: {', '.join(repeated)}",
            file=path,
            fix="give every row its own case_id",
        )
    return tasks
