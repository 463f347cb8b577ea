"""Clinical forms of a cohort as one CSV file, one row per patient.

Comma-separated, UTF-8 (an Excel byte-order mark is fine), a header row naming the columns.
Only ``patient_key`` is required; leave out a column or leave a cell empty for "absent"
(not done / not assessed). List values are ``;``-separated within their cell.

================== ============================ ==========================================
column             form field                   notes
================== ============================ ==========================================
patient_key        patient_key                  required, unique; pseudonymous key
schema_version     schema_version               ``1.0`` (default)
assessment_date    assessment_date              YYYY-MM-DD
dre                dre                          ``;``-separated, one per examiner
endoscopy_date     endoscopy.date               needs endoscopy_findings
endoscopy_findings endoscopy.findings           ``;``-separated; empty = not done
biopsy             biopsy                       none | negative | positive
mri_nodes          mri_nodes                    empty = not assessed
cea_ng_ml          cea.value_ng_ml              ng/mL
cea_date           cea.date                     needs cea_ng_ml
pet_suvmax_before  pet.suvmax_before            optional
pet_suvmax_after   pet.suvmax_after             needed for a PET entry
neoadjuvant_regimen neoadjuvant_regimen
mmr_status         mmr_status                   pMMR | dMMR | unknown (MSI-H, MSS accepted)
m_stage            m_stage                      M0 | M1 | MX
baseline_date      baseline_date                YYYY-MM-DD
================== ============================ ==========================================
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pipeline.clinical._load import validation_message
from pipeline.clinical._schema import ClinicalInputs
from pipeline.errors import ClinicalInputError

#: CSV column -> dotted form field.
CSV_COLUMNS: Mapping[str, str] = {
    "patient_key": "patient_key",
    "schema_version": "schema_version",
    "assessment_date": "assessment_date",
    "dre": "dre",
    "endoscopy_date": "endoscopy.date",
    "endoscopy_findings": "endoscopy.findings",
    "biopsy": "biopsy",
    "mri_nodes": "mri_nodes",
    "cea_ng_ml": "cea.value_ng_ml",
    "cea_date": "cea.date",
    "pet_suvmax_before": "pet.suvmax_before",
    "pet_suvmax_after": "pet.suvmax_after",
    "neoadjuvant_regimen": "neoadjuvant_regimen",
    "mmr_status": "mmr_status",
    "m_stage": "m_stage",
    "baseline_date": "baseline_date",
}

#: Columns whose cell is a ``;``-separated list.
LIST_COLUMNS = frozenset({"dre", "endoscopy_findings"})

_FIELD_TO_COLUMN: Mapping[str, str] = {field: column for column, field in CSV_COLUMNS.items()}


def _row_to_form(row: Mapping[str, str]) -> dict[str, Any]:
    """Nest the non-empty cells of one row as the YAML form would be."""
    form: dict[str, Any] = {}
    for column, cell in row.items():
        text = cell.strip()
        if not text:
            continue
        value: Any = text
        if column in LIST_COLUMNS:
            value = [part.strip() for part in text.split(";") if part.strip()]
        field = CSV_COLUMNS[column]
        if "." in field:
            group, key = field.split(".", 1)
            form.setdefault(group, {})[key] = value
        else:
            form[field] = value
    return form


def _check_header(path: Path, header: list[str] | None) -> list[str]:
    if not header:
        raise ClinicalInputError("empty CSV; the first row must name the columns", file=path)
    columns = [name.strip() for name in header]
    unknown = [name for name in columns if name not in CSV_COLUMNS]
    if unknown:
        raise ClinicalInputError(
            f"unknown column(s) {', '.join(repr(u) for u in unknown)}; "
            f"allowed columns: {', '.join(CSV_COLUMNS)}",
            file=path,
        )
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    if repeated:
        raise ClinicalInputError(f"column(s) given twice: {', '.join(repeated)}", file=path)
    if "patient_key" not in columns:
        raise ClinicalInputError("the column 'patient_key' is required", file=path)
    return columns


def load_clinical_csv(path: Path) -> dict[str, ClinicalInputs]:
    """Read a cohort's clinical forms, one row per patient (columns in the module docstring).

    Returns
    -------
    dict
        ``patient_key`` -> form, in file order.

    Raises
    ------
    ClinicalInputError
        Unknown or repeated column, repeated patient key, or an invalid cell; the message
        names the file, the row (line number), the column and the allowed values.
    """
    path = Path(path)
    forms: dict[str, ClinicalInputs] = {}
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            columns = _check_header(path, next(reader, None))
            for cells in reader:
                if not any(cell.strip() for cell in cells):
                    continue
                line = reader.line_num
                if len(cells) != len(columns):
                    raise ClinicalInputError(
                        f"row {line}: {len(cells)} cells, the header has {len(columns)}", file=path
                    )
                form = _row_to_form(dict(zip(columns, cells, strict=True)))
                try:
                    clinical = ClinicalInputs.model_validate(form)
                except ValidationError as exc:
                    message = validation_message(exc, _FIELD_TO_COLUMN)
                    raise ClinicalInputError(f"row {line}: {message}", file=path) from exc
                if clinical.patient_key in forms:
                    raise ClinicalInputError(
                        f"row {line}: patient_key {clinical.patient_key!r} appears twice", file=path
                    )
                forms[clinical.patient_key] = clinical.with_source(f"{path.name} row {line}")
    except FileNotFoundError as exc:
        raise ClinicalInputError("cohort CSV not found", file=path) from exc
    except UnicodeDecodeError as exc:
        raise ClinicalInputError(f"not UTF-8 text: {exc}", file=path) from exc
    except csv.Error as exc:
        raise ClinicalInputError(f"not valid CSV: {exc}", file=path) from exc
    return forms
