"""The clinical inputs of a phantom case (``clinical.yaml``), consistent with its truth.

The format is the one the clinical schema parses (``schema_version`` "1.0"); absent keys mean
"not done / not assessed".
"""

from __future__ import annotations

from typing import Any

import numpy as np
import yaml

from pipeline.clinical._choices import (
    Biopsy,
    DreFinding,
    EndoscopyFinding,
    NeoadjuvantRegimen,
    NodeAssessment,
)
from pipeline.phantom._identity import StudyDates
from pipeline.phantom._options import CaseType

CLINICAL_SCHEMA_VERSION = "1.0"

_R = NeoadjuvantRegimen
_REGIMENS = tuple(
    r.value
    for r in (
        _R.LCCRT,
        _R.LCCRT_CONSOLIDATION_CHEMO,
        _R.LCCRT_INDUCTION_CHEMO,
        _R.SCRT_TNT,
        _R.SCRT,
        _R.CHEMO_ONLY,
        _R.IMMUNOTHERAPY,
    )
)
# The form's vocabulary comes from the clinical schema's enums, so a phantom never writes a
# value the schema would refuse.
_SCAR = EndoscopyFinding.FLAT_WHITE_SCAR.value
_TELANGIECTASIA = EndoscopyFinding.TELANGIECTASIA.value
_NO_MASS = DreFinding.NO_PALPABLE_TUMOUR.value
_MASS = DreFinding.PALPABLE_MASS.value
_NO_NODES = NodeAssessment.NO_SUSPICIOUS_NODES.value
_PARTIAL_NODES = NodeAssessment.PARTIAL_REGRESSION.value
_NO_BIOPSY = Biopsy.NONE.value
_REGIMEN_WEIGHTS = (0.2, 0.3, 0.15, 0.2, 0.05, 0.05, 0.05)

_CCR_LIKE = (
    CaseType.COMPLETE_RESPONSE,
    CaseType.FIBROSIS_OEDEMA,
    CaseType.SHINE_THROUGH,
    CaseType.RESIDUAL_SUBMUCOSAL,
    CaseType.SUSPICIOUS_NODE,
    CaseType.MISSING_INPUTS,
    CaseType.CONTRADICTORY_INPUTS,
)


def _scar(rng: np.random.Generator) -> list[str]:
    return [_SCAR, _TELANGIECTASIA] if rng.random() < 0.5 else [_SCAR]


def draw_clinical(
    rng: np.random.Generator, case_type: CaseType, *, case_id: str, dates: StudyDates
) -> dict[str, Any]:
    """Draw the clinical form of one case; keys in the order of the documented format."""
    dre: str | list[str]
    findings: list[str]
    biopsy = _NO_BIOPSY
    nodes = _NO_NODES
    if case_type in _CCR_LIKE:
        dre, findings = _NO_MASS, _scar(rng)
        biopsy = str(rng.choice([_NO_BIOPSY, _NO_BIOPSY, Biopsy.NEGATIVE.value]))
    elif case_type is CaseType.NEAR_COMPLETE:
        dre = DreFinding.SMOOTH_INDURATION.value
        mild = [EndoscopyFinding.SUPERFICIAL_ULCER.value, EndoscopyFinding.MILD_ERYTHEMA.value]
        findings = [_SCAR, str(rng.choice(mild))]
        nodes = str(rng.choice([_NO_NODES, _PARTIAL_NODES]))
    else:  # residual tumour
        dre = _MASS
        irregular = [EndoscopyFinding.IRREGULAR_MUCOSA.value] if rng.random() < 0.5 else []
        findings = [EndoscopyFinding.VISIBLE_TUMOUR.value, *irregular]
        biopsy = str(rng.choice([_NO_BIOPSY, Biopsy.POSITIVE.value]))
        nodes = str(rng.choice([_NO_NODES, _PARTIAL_NODES]))
    if case_type is CaseType.SUSPICIOUS_NODE:
        nodes = NodeAssessment.SUSPICIOUS_NOT_REGRESSED.value
    if case_type is CaseType.CONTRADICTORY_INPUTS:
        dre = [_NO_MASS, _MASS]
        if rng.random() < 0.5:
            dre.reverse()

    residual = case_type in (CaseType.RESIDUAL_TUMOUR, CaseType.NEAR_COMPLETE)
    cea = round(float(rng.uniform(3.0, 9.0) if residual else rng.uniform(0.6, 4.5)), 1)
    regimen = str(rng.choice(_REGIMENS, p=_REGIMEN_WEIGHTS))
    mmr = str(rng.choice(["pMMR", "dMMR", "unknown"], p=[0.85, 0.1, 0.05]))
    if regimen == "immunotherapy":
        mmr = "dMMR"
    m_stage = str(rng.choice(["M0", "M1", "MX"], p=[0.88, 0.06, 0.06]))

    form: dict[str, Any] = {
        "schema_version": CLINICAL_SCHEMA_VERSION,
        "patient_key": case_id,
        "assessment_date": dates.restaging.isoformat(),
        "dre": dre,
    }
    if case_type is not CaseType.MISSING_INPUTS:
        form["endoscopy"] = {"date": dates.endoscopy.isoformat(), "findings": findings}
    form["biopsy"] = biopsy
    form["mri_nodes"] = nodes
    form["cea"] = {"value_ng_ml": cea, "date": dates.cea.isoformat()}
    if rng.random() < 0.2:
        before = round(float(rng.uniform(8.0, 20.0)), 1)
        after = round(float(rng.uniform(4.5, 9.0) if residual else rng.uniform(1.5, 3.8)), 1)
        form["pet"] = {"suvmax_before": before, "suvmax_after": after}
    else:
        form["pet"] = None
    form["neoadjuvant_regimen"] = regimen
    form["mmr_status"] = mmr
    form["m_stage"] = m_stage
    form["baseline_date"] = dates.baseline.isoformat()
    return form


def clinical_yaml(form: dict[str, Any]) -> str:
    """Serialise the form; dates stay quoted strings (never YAML dates)."""
    header = "# Clinical inputs of a synthetic phantom case (research use only).\n"
    return header + yaml.safe_dump(
        form, sort_keys=False, allow_unicode=True, default_flow_style=None
    )


def clinical_summary(form: dict[str, Any]) -> dict[str, Any]:
    """What truth.json records about the clinical inputs."""
    endoscopy = form.get("endoscopy")
    return {
        "dre": form.get("dre"),
        "endoscopy_findings": endoscopy["findings"] if endoscopy else None,
        "endoscopy_missing": endoscopy is None,
        "dre_contradictory": isinstance(form.get("dre"), list),
        "biopsy": form.get("biopsy"),
        "mri_nodes": form.get("mri_nodes"),
        "cea_ng_ml": form["cea"]["value_ng_ml"],
        "pet": form.get("pet"),
        "neoadjuvant_regimen": form.get("neoadjuvant_regimen"),
        "mmr_status": form.get("mmr_status"),
        "m_stage": form.get("m_stage"),
    }
