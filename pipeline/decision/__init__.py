"""The cCR decision: clinical form + imaging findings -> outcome with every criterion.

:func:`decide` states cCR, near_cCR, incomplete or indeterminate by the rule table in
:mod:`pipeline.decision._rules` (Maastricht / OPRA practice); :func:`decision_to_dict` gives
the content of ``decision.json`` (schema: :func:`decision_schema`). Research use only.
"""

from __future__ import annotations

from pipeline.decision._json import (
    DECISION_SCHEMA_FILE,
    DECISION_SCHEMA_VERSION,
    decision_schema,
    decision_to_dict,
)
from pipeline.decision._model import (
    ContextNote,
    Criterion,
    CriterionName,
    CriterionStatus,
    Decision,
    Finding,
    Outcome,
    PetAssessment,
    SurveillancePlan,
    SurveillanceVisit,
)
from pipeline.decision._mri_criteria import QUALITY_AFFECTS
from pipeline.decision._rules import combine, decide

__all__ = [
    "DECISION_SCHEMA_FILE",
    "DECISION_SCHEMA_VERSION",
    "QUALITY_AFFECTS",
    "ContextNote",
    "Criterion",
    "CriterionName",
    "CriterionStatus",
    "Decision",
    "Finding",
    "Outcome",
    "PetAssessment",
    "SurveillancePlan",
    "SurveillanceVisit",
    "combine",
    "decide",
    "decision_schema",
    "decision_to_dict",
]
