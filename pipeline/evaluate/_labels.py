"""Reference labels: a labels CSV, or the truth files of a ``ccr phantom`` folder.

Labels CSV (UTF-8, header row, one row per study):

- a key column: ``study_key`` (the de-identified key of the batch results) or ``input`` (the
  input entry name, e.g. the case folder ``case-003``; the results' ``entry`` column, and a
  labels column named ``entry`` is read as ``input``);
- one label column: ``residual`` (also spelt ``residual_tumour``) or ``label``; each accepts
  ``1``/``0``, ``true``/``false``, ``yes``/``no`` and ``residual``/``complete`` (any case);
  an empty cell means "no label" (the study is counted and left out);
- optionally ``reference_outcome``: the reference decision, one of the decision layer's
  outcomes (``cCR``, ``near_cCR``, ``incomplete``, ``indeterminate``; any case).

Other columns are ignored.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
from pathlib import Path

from pipeline.decision import Outcome
from pipeline.errors import InputError
from pipeline.evaluate._model import JoinKey, LabelRow, LabelsKind, LabelsTable

#: Accepted label columns, in the order they are looked for.
LABEL_COLUMNS = ("residual", "residual_tumour", "label")
REFERENCE_OUTCOME_COLUMN = "reference_outcome"
#: ``ccr batch`` names the input entry ``entry``; a labels column of that name is ``input``.
ENTRY_ALIAS = "entry"

_TRUE = frozenset({"1", "1.0", "true", "yes", "residual"})
_FALSE = frozenset({"0", "0.0", "false", "no", "complete"})
_VALID_LABELS = "1/0, true/false, yes/no, residual/complete (or empty for no label)"


def parse_residual(value: object, *, where: str, file: Path) -> bool | None:
    """``True`` for residual tumour, ``False`` for none, ``None`` for an empty cell."""
    if value is None or (isinstance(value, float) and value != value):  # NaN from Parquet
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text == "":
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InputError(
        f"{where}: label {value!r} is not one of {_VALID_LABELS}",
        file=file,
        fix="write 1 for residual tumour and 0 for none.",
    )


def parse_outcome(value: object, *, where: str, file: Path) -> Outcome | None:
    """A decision outcome from its value or enum name, any case; ``None`` for an empty cell."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()
    if text == "":
        return None
    for outcome in Outcome:
        if text.lower() in (outcome.value.lower(), outcome.name.lower()):
            return outcome
    raise InputError(
        f"{where}: outcome {value!r} is not one of {', '.join(o.value for o in Outcome)}",
        file=file,
        fix="use the decision values of decision.json.",
    )


def _choose_key(header: list[str], key: JoinKey, path: Path) -> JoinKey:
    if key is not JoinKey.AUTO:
        if key.value not in header:
            raise InputError(
                f"labels have no {key.value!r} column (columns: {', '.join(header)})",
                file=path,
                fix=f"add a {key.value!r} column or choose another --key.",
            )
        return key
    for candidate in (JoinKey.STUDY_KEY, JoinKey.INPUT):
        if candidate.value in header:
            return candidate
    raise InputError(
        f"labels have no key column: need 'study_key' or 'input' (columns: {', '.join(header)})",
        file=path,
        fix="name the column with the batch's study_key 'study_key', or the input entry "
        "name (e.g. the case folder) 'input'.",
    )


def _choose_label(header: list[str], path: Path) -> str:
    present = [c for c in LABEL_COLUMNS if c in header]
    if not present:
        raise InputError(
            f"labels have no label column: need one of {', '.join(LABEL_COLUMNS)} "
            f"(columns: {', '.join(header)})",
            file=path,
            fix="add a 'residual' column with 1 (residual tumour) or 0 (none).",
        )
    if len(present) > 1:
        raise InputError(
            f"labels have several label columns ({', '.join(present)}); which one is meant "
            "is ambiguous",
            file=path,
            fix="keep one of them.",
        )
    return present[0]


def read_labels_csv(path: Path, *, key: JoinKey = JoinKey.AUTO) -> LabelsTable:
    """Read a labels CSV (format in the module notes). Duplicate keys are an error."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the labels: {exc}", file=path) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError("labels are not UTF-8 text", file=path, fix="save as UTF-8 CSV.") from exc
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        raise InputError("labels file is empty (no header row)", file=path)
    if JoinKey.INPUT.value not in header and ENTRY_ALIAS in header:
        header = [JoinKey.INPUT.value if h == ENTRY_ALIAS else h for h in header]
    reader.fieldnames = header
    key_column = _choose_key(header, key, path)
    label_column = _choose_label(header, path)
    has_reference = REFERENCE_OUTCOME_COLUMN in header
    rows: list[LabelRow] = []
    seen: dict[str, int] = {}
    for record in reader:
        line = reader.line_num
        key_value = (record.get(key_column.value) or "").strip()
        if not key_value:
            raise InputError(
                f"line {line}: empty {key_column.value!r}", file=path, fix="fill in every key."
            )
        if key_value in seen:
            raise InputError(
                f"line {line}: {key_column.value} {key_value!r} repeats line {seen[key_value]}",
                file=path,
                fix="give one label per study.",
            )
        seen[key_value] = line
        where = f"line {line}, column {label_column!r}"
        rows.append(
            LabelRow(
                key=key_value,
                residual=parse_residual(record.get(label_column), where=where, file=path),
                reference_outcome=parse_outcome(
                    record.get(REFERENCE_OUTCOME_COLUMN),
                    where=f"line {line}, column {REFERENCE_OUTCOME_COLUMN!r}",
                    file=path,
                )
                if has_reference
                else None,
                line=line,
            )
        )
    return LabelsTable(
        source=path,
        kind=LabelsKind.CSV,
        key_column=key_column,
        rows=tuple(rows),
        has_reference_outcome=has_reference,
        sha256=hashlib.sha256(raw).hexdigest(),
    )


def phantom_labels(folder: Path) -> LabelsTable:
    """Labels of a ``ccr phantom`` folder, keyed by ``input`` = the case folder name.

    Reads ``<folder>/<case>/truth.json``: ``residual_tumour`` is the label and
    ``expected_decision`` the reference outcome.
    """
    truths = sorted(p for p in folder.glob("*/truth.json") if p.is_file())
    if not truths:
        raise InputError(
            "no <case>/truth.json found: not a ccr phantom folder",
            file=folder,
            fix="give the folder that 'ccr phantom OUT' wrote, or a labels CSV.",
        )
    rows = []
    for line, truth_path in enumerate(truths, start=2):
        try:
            truth = json.loads(truth_path.read_text(encoding="utf-8"))
            residual = truth["residual_tumour"]
            expected = truth["expected_decision"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(
                f"unreadable phantom truth ({type(exc).__name__}: {exc}); expected JSON with "
                "'residual_tumour' and 'expected_decision'",
                file=truth_path,
                fix="regenerate the case with ccr phantom.",
            ) from exc
        if not isinstance(residual, bool):
            raise InputError(
                f"'residual_tumour' is {residual!r}, expected true or false", file=truth_path
            )
        rows.append(
            LabelRow(
                key=truth_path.parent.name,
                residual=residual,
                reference_outcome=parse_outcome(
                    expected, where="expected_decision", file=truth_path
                ),
                line=line,
            )
        )
    table = LabelsTable(
        source=folder,
        kind=LabelsKind.PHANTOM_TRUTH,
        key_column=JoinKey.INPUT,
        rows=tuple(rows),
        has_reference_outcome=True,
        sha256="",
    )
    digest = hashlib.sha256(labels_to_csv(table).encode("utf-8")).hexdigest()
    return dataclasses.replace(table, sha256=digest)


def labels_to_csv(table: LabelsTable) -> str:
    """The labels as CSV text: key column, ``residual`` (1/0/empty), ``reference_outcome``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = [table.key_column.value, "residual"]
    if table.has_reference_outcome:
        header.append(REFERENCE_OUTCOME_COLUMN)
    writer.writerow(header)
    for row in table.rows:
        cells = [row.key, "" if row.residual is None else str(int(row.residual))]
        if table.has_reference_outcome:
            cells.append("" if row.reference_outcome is None else row.reference_outcome.value)
        writer.writerow(cells)
    return buffer.getvalue()


def read_labels(path: Path, *, key: JoinKey = JoinKey.AUTO) -> LabelsTable:
    """A labels CSV, or a ``ccr phantom`` folder (then keyed by ``input``)."""
    if path.is_dir():
        if key is JoinKey.STUDY_KEY:
            raise InputError(
                "phantom labels are keyed by 'input' (the case folder name), not 'study_key'",
                file=path,
                fix="use --key input or --key auto.",
            )
        return phantom_labels(path)
    if not path.is_file():
        raise InputError("labels not found", file=path, fix="give a labels CSV or phantom folder.")
    return read_labels_csv(path, key=key)
