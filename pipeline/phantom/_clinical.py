"""The clinical inputs of a phantom case (``clinical.yaml``), consistent with its truth.

The format is the one the clinical schema parses (``schema_version`` "1.0"); absent keys mean
"not done / not assessed".
"""

from __future__ import annotations

from typing import Any

import numpy as np
import yaml

from pipeline.phantom._identity import StudyDates
from pipeline.phantom._options import CaseType

CLINICAL_SCHEMA_VERSION = "1.0"

_REGIMENS = (
    "lccrt",
    "lccrt_consolidation_chemo",
    "lccrt_induction_chemo",
    "scrt_tnt",
    "scrt",
    "chemo_only",
    "immunotherapy",
)
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
    return ["flat_white_scar", "telangiectasia"] if rng.random() < 0.5 else ["flat_white_scar"]


def draw_clinical(
    rng: np.random.Generator, case_type: CaseType, *, case_id: str, dates: StudyDates
) -> dict[str, Any]:
    """Draw the clinical form of one case; keys in the order of the documented format."""
    dre: str | list[str]
    findings: list[str]
    biopsy = "none"
    nodes = "no_suspicious_nodes"
    if case_type in _CCR_LIKE:
        dre, findings = "no_palpable_tumour", _scar(rng)
        biopsy = str(rng.choice(["none", "none", "negative"]))
    elif case_type is CaseType.NEAR_COMPLETE:
        dre = "smooth_induration"
        findings = ["flat_white_scar", str(rng.choice(["superficial_ulcer", "mild_erythema"]))]
        nodes = str(rng.choice(["no_suspicious_nodes", "partial_regression"]))
    else:  # residual tumour
        dre = "palpable_mass"
        findings = ["visible_tumour"] + (["irregular_mucosa"] if rng.random() < 0.5 else [])
        biopsy = str(rng.choice(["none", "positive"]))
        nodes = str(rng.choice(["no_suspicious_nodes", "partial_regression"]))
    if case_type is CaseType.SUSPICIOUS_NODE:
        nodes = "suspicious_not_regressed"
    if case_type is CaseType.CONTRADICTORY_INPUTS:
        dre = ["no_palpable_tumour", "palpable_mass"]
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
