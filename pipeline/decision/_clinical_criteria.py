"""The clinical criteria: DRE, endoscopy, nodes (radiologist's read) and biopsy.

Each function returns the :class:`Criterion` and, through ``log``, the missing items and
contradictions it found. Per-value findings are the tables below (see also the rule table in
:mod:`pipeline.decision._rules`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pipeline.clinical import (
    Biopsy,
    ClinicalInputs,
    DreFinding,
    EndoscopyFinding,
    NodeAssessment,
)
from pipeline.decision._model import (
    Criterion,
    CriterionName,
    CriterionStatus,
    EvidenceValue,
    Finding,
)

DRE_FINDING: Mapping[DreFinding, Finding] = {
    DreFinding.NO_PALPABLE_TUMOUR: Finding.COMPLETE,
    DreFinding.SMOOTH_INDURATION: Finding.NEAR_COMPLETE,
    DreFinding.PALPABLE_MASS: Finding.TUMOUR,
}

ENDOSCOPY_FINDING: Mapping[EndoscopyFinding, Finding] = {
    EndoscopyFinding.FLAT_WHITE_SCAR: Finding.COMPLETE,
    EndoscopyFinding.TELANGIECTASIA: Finding.COMPLETE,
    EndoscopyFinding.ERYTHEMATOUS_ULCER: Finding.NEAR_COMPLETE,
    EndoscopyFinding.SUPERFICIAL_ULCER: Finding.NEAR_COMPLETE,
    EndoscopyFinding.MILD_ERYTHEMA: Finding.NEAR_COMPLETE,
    EndoscopyFinding.IRREGULAR_MUCOSA: Finding.NEAR_COMPLETE,
    EndoscopyFinding.VISIBLE_TUMOUR: Finding.TUMOUR,
}

NODE_FINDING: Mapping[NodeAssessment, Finding] = {
    NodeAssessment.NO_SUSPICIOUS_NODES: Finding.COMPLETE,
    NodeAssessment.PARTIAL_REGRESSION: Finding.NEAR_COMPLETE,
    NodeAssessment.SUSPICIOUS_NOT_REGRESSED: Finding.TUMOUR,
}

BIOPSY_FINDING: Mapping[Biopsy, Finding] = {
    Biopsy.NONE: Finding.COMPLETE,
    Biopsy.NEGATIVE: Finding.COMPLETE,
    Biopsy.POSITIVE: Finding.TUMOUR,
}

#: Severity order used to take the worst of several known findings.
SEVERITY: Mapping[Finding, int] = {
    Finding.COMPLETE: 0,
    Finding.NEAR_COMPLETE: 1,
    Finding.TUMOUR: 2,
}


@dataclass
class Log:
    """Missing items and contradictions collected while the criteria are evaluated."""

    missing: list[str] = field(default_factory=list)
    contradictions: list[str] = field(default_factory=list)


def status_of(finding: Finding) -> CriterionStatus:
    """``complete`` -> met, ``unknown`` -> unknown, anything else -> not met."""
    if finding is Finding.COMPLETE:
        return CriterionStatus.MET
    if finding is Finding.UNKNOWN:
        return CriterionStatus.UNKNOWN
    return CriterionStatus.NOT_MET


def worst(findings: list[Finding]) -> Finding:
    """The most severe of known findings (``complete`` for an empty list)."""
    return max(findings, key=lambda f: SEVERITY[f], default=Finding.COMPLETE)


def make(name: CriterionName, finding: Finding, evidence: dict[str, EvidenceValue]) -> Criterion:
    """A criterion whose status follows from its finding."""
    return Criterion(name=name, status=status_of(finding), finding=finding, evidence=evidence)


def no_form(name: CriterionName) -> Criterion:
    """The criterion when there is no clinical form at all."""
    return make(name, Finding.UNKNOWN, {"value": None, "source": "clinical form (not given)"})


def dre_criterion(clinical: ClinicalInputs, log: Log) -> Criterion:
    source = f"{clinical.source}: dre"
    if clinical.dre is None:
        log.missing.append("clinical.dre")
        return make(
            CriterionName.DRE,
            Finding.UNKNOWN,
            {"value": None, "source": source, "note": "DRE not done"},
        )
    values = tuple(d.value for d in clinical.dre)
    evidence: dict[str, EvidenceValue] = {
        "value": values,
        "required": DreFinding.NO_PALPABLE_TUMOUR.value,
        "source": source,
    }
    if len(set(clinical.dre)) > 1:
        log.contradictions.append(f"dre: examiners disagree ({', '.join(values)})")
        evidence["note"] = "examiners disagree"
        return make(CriterionName.DRE, Finding.UNKNOWN, evidence)
    return make(CriterionName.DRE, DRE_FINDING[clinical.dre[0]], evidence)


def endoscopy_criterion(clinical: ClinicalInputs, log: Log) -> Criterion:
    source = f"{clinical.source}: endoscopy.findings"
    if clinical.endoscopy is None:
        log.missing.append("clinical.endoscopy")
        return make(
            CriterionName.ENDOSCOPY,
            Finding.UNKNOWN,
            {"value": None, "source": source, "note": "endoscopy not done"},
        )
    findings = clinical.endoscopy.findings
    evidence: dict[str, EvidenceValue] = {
        "value": tuple(f.value for f in findings),
        "allowed_for_ccr": (
            EndoscopyFinding.FLAT_WHITE_SCAR.value,
            EndoscopyFinding.TELANGIECTASIA.value,
        ),
        "date": clinical.endoscopy.date.isoformat() if clinical.endoscopy.date else None,
        "source": source,
    }
    if EndoscopyFinding.VISIBLE_TUMOUR in findings and EndoscopyFinding.FLAT_WHITE_SCAR in findings:
        evidence["note"] = "visible tumour at the scar is read as regrowth, not a contradiction"
    return make(CriterionName.ENDOSCOPY, worst([ENDOSCOPY_FINDING[f] for f in findings]), evidence)


def nodes_criterion(clinical: ClinicalInputs, log: Log) -> Criterion:
    source = f"{clinical.source}: mri_nodes (radiologist)"
    if clinical.mri_nodes is None:
        log.missing.append("clinical.mri_nodes")
        return make(
            CriterionName.NODES,
            Finding.UNKNOWN,
            {"value": None, "source": source, "note": "nodes not assessed"},
        )
    evidence: dict[str, EvidenceValue] = {
        "value": clinical.mri_nodes.value,
        "required": NodeAssessment.NO_SUSPICIOUS_NODES.value,
        "source": source,
    }
    return make(CriterionName.NODES, NODE_FINDING[clinical.mri_nodes], evidence)


def biopsy_criterion(clinical: ClinicalInputs) -> Criterion:
    evidence: dict[str, EvidenceValue] = {
        "value": clinical.biopsy.value,
        "required": "not positive (a biopsy is not required; a negative one does not overrule)",
        "source": f"{clinical.source}: biopsy",
    }
    return make(CriterionName.BIOPSY, BIOPSY_FINDING[clinical.biopsy], evidence)
