"""The inventory as plain data (``ccr inspect --json``) and as a terminal table.

Stable JSON contract (``schema`` 1)::

    {
      "schema": 1,
      "research_use": "...",
      "layout": "dicom" | "nifti" | "nnunet" | "picai",
      "skipped_files": int,
      "errors": [str, ...],
      "studies": [
        {"key": "st-...", "n_series": int, "warnings": [...],
         "series": [
           {"key": "se-...", "series_number": int | null, "series_description": str,
            "role": "t2w" | "dwi" | "adc" | "highb" | "other", "role_reason": str,
            "b_values": [float, ...]  (one per volume, acquisition order; [] if none),
            "b_value_source": str, "size": [x, y, z] (voxels of one volume),
            "n_volumes": int, "spacing": [x, y, z] mm | null, "orientation": "axial" |
            "coronal" | "sagittal" | "oblique" | "unknown", "n_files": int, "vendor": str,
            "modality": str, "warnings": [str, ...]}
         ]}
      ]
    }

No patient identifier (PatientName, PatientID, BirthDate), no date and no file path is
written; keys are de-identified hashes; the patient's ID and name parts are redacted from
series descriptions (:func:`redact`). Error and warning messages name files, as every
pipeline message does.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pipeline import RESEARCH_USE_STATEMENT
from pipeline.ingest._model import Inventory, SeriesGeometry
from pipeline.study import PatientIdentity, Series, Study

if TYPE_CHECKING:
    from rich.table import Table

#: Version of the JSON layout written by :func:`inventory_to_dict`.
INVENTORY_SCHEMA = 1
#: Identifier fragments shorter than this are not redacted (too likely to be ordinary text).
REDACT_MIN_CHARS = 3
REDACTED = "[redacted]"


def redact(text: str, identity: PatientIdentity) -> str:
    """``text`` with the patient's ID, name parts and birth date removed (case-insensitive).

    Exports often copy the PatientID into SeriesDescription (e.g. ``IBSI_1_STS_001_MR_T1``).
    """
    parts = [identity.patient_id, identity.birth_date]
    parts += re.split(r"[\^ ,]+", identity.patient_name)
    for part in sorted({p.strip() for p in parts if len(p.strip()) >= REDACT_MIN_CHARS}, key=len)[
        ::-1
    ]:
        text = re.sub(re.escape(part), REDACTED, text, flags=re.IGNORECASE)
    return text


def _round(values: tuple[float, ...] | None, digits: int = 4) -> list[float] | None:
    return None if values is None else [round(float(v), digits) for v in values]


def _series_dict(
    series: Series, geometry: SeriesGeometry | None, identity: PatientIdentity
) -> dict[str, Any]:
    warnings = list(series.warnings)
    if geometry is not None:
        warnings.extend(w for w in geometry.warnings if w not in warnings)
    return {
        "key": series.key,
        "series_number": series.series_number,
        "series_description": redact(series.description, identity),
        "role": series.role.value,
        "role_reason": series.role_reason,
        "b_values": [round(float(b), 4) for b in series.b_values],
        "b_value_source": series.b_value_source,
        "size": list(geometry.size) if geometry is not None else None,
        "n_volumes": geometry.n_volumes if geometry is not None else None,
        "spacing": _round(geometry.spacing if geometry is not None else None),
        "orientation": geometry.orientation if geometry is not None else "unknown",
        "n_files": len(series.files),
        "vendor": series.vendor,
        "modality": series.modality,
        "warnings": [redact(w, identity) for w in warnings],
    }


def _study_dict(study: Study, inventory: Inventory) -> dict[str, Any]:
    return {
        "key": study.key,
        "n_series": len(study.series),
        "warnings": [redact(w, study.identity) for w in study.warnings],
        "series": [
            _series_dict(s, inventory.geometry.get(s.key), study.identity) for s in study.series
        ],
    }


def inventory_to_dict(inventory: Inventory) -> dict[str, Any]:
    """JSON-ready description of an :class:`Inventory` (the ``ccr inspect --json`` contract).

    Parameters
    ----------
    inventory
        What :func:`~pipeline.ingest.scan` returned.

    Returns
    -------
    dict
        See the module docstring: ``studies`` -> ``series`` with ``series_number``,
        ``series_description``, ``role``, ``b_values`` (one per volume), ``size`` ``(x, y, z)``,
        ``spacing`` mm ``(x, y, z)``, ``n_files``, ``warnings``, ``orientation``, ``vendor``,
        ``role_reason``, ``b_value_source``; top level ``skipped_files``, ``errors`` and
        ``research_use``. Only de-identified keys, never patient identifiers or paths.
    """
    return {
        "schema": INVENTORY_SCHEMA,
        "research_use": RESEARCH_USE_STATEMENT,
        "layout": inventory.layout or "dicom",
        "skipped_files": inventory.skipped_files,
        "errors": list(inventory.errors),
        "studies": [_study_dict(s, inventory) for s in inventory.studies],
    }


def _fmt_b(values: list[float]) -> str:
    if not values:
        return ""
    distinct = sorted(set(values))
    text = ", ".join(f"{b:g}" for b in distinct)
    return text if len(values) == len(distinct) else f"{text} ({len(values)} vol)"


def render_inventory(inventory: Inventory) -> Table:
    """A :class:`rich.table.Table` of the inventory: one row per series, grouped by study."""
    from rich.markup import escape
    from rich.table import Table

    data = inventory_to_dict(inventory)
    table = Table(
        title=f"{len(data['studies'])} stud(ies), {data['skipped_files']} file(s) skipped, "
        f"{len(data['errors'])} error(s)",
        caption=RESEARCH_USE_STATEMENT,
    )
    for name, justify in (
        ("study", "left"),
        ("series", "right"),
        ("description", "left"),
        ("role", "left"),
        ("b-values (s/mm²)", "left"),
        ("size x·y·z", "right"),
        ("spacing mm", "right"),
        ("plane", "left"),
        ("files", "right"),
        ("vendor", "left"),
        ("warnings", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for study in data["studies"]:
        for index, series in enumerate(study["series"]):
            size = series["size"]
            spacing = series["spacing"]
            table.add_row(
                study["key"] if index == 0 else "",
                "?" if series["series_number"] is None else str(series["series_number"]),
                escape(series["series_description"]),
                series["role"],
                _fmt_b(series["b_values"]),
                ""
                if size is None
                else "x".join(str(v) for v in size)
                + (f" ({series['n_volumes']} vol)" if (series["n_volumes"] or 1) > 1 else ""),
                "" if spacing is None else "x".join(f"{v:.3g}" for v in spacing),
                series["orientation"],
                str(series["n_files"]),
                escape(series["vendor"]),
                str(len(series["warnings"])) if series["warnings"] else "",
            )
        table.add_section()
    return table
