"""``decision.json``: :func:`decision_to_dict` and its JSON Schema (``schema_version`` 1.0).

Stable fields (consumers may rely on them within a major version): ``schema_version``,
``decision``, ``p_residual``, ``criteria[].name/status/evidence``. The others are described
in ``pipeline/schemas/decision.schema.json``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping
from enum import Enum
from typing import Any

from pipeline import RESEARCH_USE_STATEMENT, __version__
from pipeline.decision._model import (
    ContextNote,
    Criterion,
    Decision,
    EvidenceValue,
    PetAssessment,
    SurveillancePlan,
)
from pipeline.findings import ImagingFindings
from pipeline.resources import schemas_dir

DECISION_SCHEMA_VERSION = "1.0"
DECISION_SCHEMA_FILE = "decision.schema.json"


def _json_value(value: EvidenceValue | Enum | dt.date) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple):
        return [_json_value(v) for v in value]
    return value


def _criterion(criterion: Criterion) -> dict[str, Any]:
    return {
        "name": criterion.name.value,
        "status": criterion.status.value,
        "finding": criterion.finding.value,
        "evidence": {key: _json_value(value) for key, value in criterion.evidence.items()},
    }


def _note(note: ContextNote) -> dict[str, str]:
    return {"code": note.code, "text": note.text}


def _pet(pet: PetAssessment | None) -> dict[str, Any] | None:
    return None if pet is None else dataclasses.asdict(pet)


def _surveillance(plan: SurveillancePlan | None) -> dict[str, Any] | None:
    if plan is None:
        return None
    return {
        "kind": plan.kind,
        "basis": plan.basis,
        "note": plan.note,
        "visits": [
            {
                "label": visit.label,
                "due_date": _json_value(visit.due_date) if visit.due_date else None,
                "latest_date": _json_value(visit.latest_date) if visit.latest_date else None,
                "tests": [test.value for test in visit.tests],
            }
            for visit in plan.visits
        ],
    }


def _imaging(imaging: ImagingFindings) -> dict[str, Any]:
    """The findings without ``quality`` (given once, under the top-level ``quality``)."""
    return {
        f.name: _json_value(getattr(imaging, f.name))
        for f in dataclasses.fields(imaging)
        if f.name != "quality"
    }


def decision_to_dict(
    decision: Decision, *, study_key: str, provenance_ref: str | None
) -> dict[str, Any]:
    """The content of ``decision.json`` (valid against :func:`decision_schema`).

    Parameters
    ----------
    decision
        What :func:`~pipeline.decision.decide` returned.
    study_key
        Pseudonymous key of the study (never a DICOM identifier).
    provenance_ref
        Where the run's provenance (manifest) is, relative to decision.json, or ``None``.
    """
    return {
        "schema_version": DECISION_SCHEMA_VERSION,
        "research_use": RESEARCH_USE_STATEMENT,
        "study_key": study_key,
        "decision": decision.outcome.value,
        "rationale": decision.rationale,
        "p_residual": decision.p_residual,
        "criteria": [_criterion(c) for c in decision.criteria],
        "missing": list(decision.missing),
        "contradictions": list(decision.contradictions),
        "context": dict(decision.context),
        "context_notes": [_note(n) for n in decision.context_notes],
        "pet": _pet(decision.pet),
        "surveillance": _surveillance(decision.surveillance),
        "imaging": _imaging(decision.imaging),
        "quality": {
            "ok": not decision.quality,
            "flags": [
                {"problem": flag.problem.value, "detail": flag.detail} for flag in decision.quality
            ],
        },
        "provenance_ref": provenance_ref,
        "software": {"name": "ccr-pipeline", "version": __version__},
    }


def decision_schema() -> Mapping[str, Any]:
    """The JSON Schema (draft 2020-12) of ``decision.json``."""
    text = (schemas_dir() / DECISION_SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
