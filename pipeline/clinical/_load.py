"""Reading one clinical form (YAML or JSON) and turning validation errors into clear messages."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from pipeline.clinical._schema import SCHEMA_VERSION, Cea, ClinicalInputs, Endoscopy, Pet
from pipeline.errors import ClinicalInputError

#: Suffix -> format of :func:`load_clinical`.
SUFFIXES: Mapping[str, str] = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}

#: The sub-form at each location, to list the allowed keys of an unknown one.
_FORMS: Mapping[tuple[str, ...], type[BaseModel]] = {
    (): ClinicalInputs,
    ("endoscopy",): Endoscopy,
    ("cea",): Cea,
    ("pet",): Pet,
}

_DATE_ERRORS = frozenset(
    {"date_parsing", "date_from_datetime_parsing", "date_from_datetime_inexact", "date_type"}
)


def _field_name(loc: tuple[str | int, ...], columns: Mapping[str, str] | None) -> str:
    dotted = ".".join(str(part) for part in loc if not isinstance(part, int))
    if columns is not None:
        return columns.get(dotted, dotted)
    return dotted


def _describe(error: ErrorDetails, columns: Mapping[str, str] | None) -> str:
    """One validation error as ``field 'x': what is wrong``."""
    loc = tuple(error["loc"])
    kind = error["type"]
    given = error.get("input")
    if kind == "extra_forbidden":
        parent = tuple(str(p) for p in loc[:-1] if not isinstance(p, int))
        form = _FORMS.get(parent)
        allowed = (
            ", ".join(_field_name((*parent, f), columns) for f in form.model_fields) if form else ""
        )
        return f"unknown field '{_field_name(loc, columns)}'; allowed fields: {allowed}"
    if not loc:
        return str(error["msg"])
    field = f"field '{_field_name(loc, columns)}'"
    if kind == "missing":
        return f"{field} is required"
    if kind == "literal_error" and loc == ("schema_version",):
        return f"{field}: {given!r} is not supported; supported: {SCHEMA_VERSION}"
    if kind in _DATE_ERRORS:
        return f"{field}: {given!r} is not a date (expected YYYY-MM-DD)"
    if kind == "model_type":
        form = _FORMS.get(tuple(str(p) for p in loc if not isinstance(p, int)))
        keys = ", ".join(form.model_fields) if form else "its fields"
        return f"{field}: expected a mapping with keys {keys}, got {given!r}"
    if kind == "too_short" and isinstance(given, list | tuple):
        return f"{field}: empty list; give at least one value, or leave the section out if not done"
    if kind in {"choice", "empty", "patient_key"}:
        return f"{field}: {error['msg']}"
    return f"{field}: {error['msg']} (got {given!r})"


def validation_message(exc: ValidationError, columns: Mapping[str, str] | None = None) -> str:
    """All errors of ``exc``, each naming its field; ``columns`` renames fields (CSV)."""
    errors = exc.errors()
    deeper = {tuple(e["loc"][:-1]) for e in errors if e["loc"] and isinstance(e["loc"][-1], int)}
    # A list whose only entries are invalid is also "too short": report the entries only.
    kept = [e for e in errors if not (e["type"] == "too_short" and tuple(e["loc"]) in deeper)]
    return "; ".join(_describe(error, columns) for error in kept)


def clinical_from_mapping(
    data: Mapping[str, Any], *, source: str = "clinical", file: Path | None = None
) -> ClinicalInputs:
    """Validate one form given as a mapping (what YAML/JSON parse to).

    Parameters
    ----------
    data
        The form's keys and values (see :class:`ClinicalInputs`).
    source
        Name used as the source in the decision's evidence (a file name, not a path).
    file
        Named in errors.

    Raises
    ------
    ClinicalInputError
        A value is missing, unknown or malformed; the message names the field and lists
        the allowed values.
    """
    try:
        form = ClinicalInputs.model_validate(dict(data))
    except ValidationError as exc:
        raise ClinicalInputError(validation_message(exc), file=file) from exc
    return form.with_source(source)


def _parse(path: Path, text: str) -> object:
    kind = SUFFIXES[path.suffix.lower()]
    if kind == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ClinicalInputError(f"not valid JSON: {exc}", file=path) from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ClinicalInputError(f"not valid YAML: {exc}", file=path) from exc


def load_clinical(path: Path) -> ClinicalInputs:
    """Read one patient's clinical form from a YAML (``.yaml``/``.yml``) or JSON file.

    Raises
    ------
    ClinicalInputError
        The file is missing, not parseable, or a field is invalid (the message names the
        file and the field and lists the allowed values).
    """
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise ClinicalInputError(
            f"unsupported file type {path.suffix!r}; use one of {', '.join(SUFFIXES)}",
            file=path,
            fix="save the form as YAML or JSON, or use load_clinical_csv for a cohort CSV.",
        )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ClinicalInputError("clinical form not found", file=path) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ClinicalInputError(f"cannot read the clinical form: {exc}", file=path) from exc
    data = _parse(path, text)
    if not isinstance(data, dict):
        raise ClinicalInputError(
            f"top level must be a mapping of fields, got {type(data).__name__}", file=path
        )
    return clinical_from_mapping(data, source=path.name, file=path)
