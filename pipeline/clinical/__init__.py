"""Clinical restaging inputs: DRE, endoscopy, biopsy, MRI nodes, CEA, PET and context.

One patient's form is YAML or JSON (:func:`load_clinical`); a cohort is one CSV, one row per
patient (:func:`load_clinical_csv`, columns in :mod:`pipeline.clinical._csv`). The form::

    schema_version: "1.0"
    patient_key: case-003                 # pseudonymous key
    assessment_date: "2026-03-02"
    dre: no_palpable_tumour               # or a list (several examiners); absent = not done
    endoscopy:                            # absent = not done
      date: "2026-03-01"
      findings: [flat_white_scar, telangiectasia]
    biopsy: none                          # none | negative | positive
    mri_nodes: no_suspicious_nodes        # absent = not assessed
    cea: {value_ng_ml: 2.1, date: "2026-02-27"}
    pet: null                             # or {suvmax_before: 12.3, suvmax_after: 3.1}
    neoadjuvant_regimen: lccrt_consolidation_chemo
    mmr_status: pMMR                      # MSI-H read as dMMR, MSS as pMMR
    m_stage: M0
    baseline_date: "2025-12-01"

Every invalid value raises :class:`~pipeline.errors.ClinicalInputError` naming the file, the
field and the allowed values.
"""

from __future__ import annotations

from pipeline.clinical._choices import (
    Biopsy,
    DreFinding,
    EndoscopyFinding,
    MmrStatus,
    MStage,
    NeoadjuvantRegimen,
    NodeAssessment,
    allowed_values,
)
from pipeline.clinical._csv import CSV_COLUMNS, LIST_COLUMNS, load_clinical_csv
from pipeline.clinical._load import clinical_from_mapping, load_clinical
from pipeline.clinical._schema import SCHEMA_VERSION, Cea, ClinicalInputs, Endoscopy, Pet

__all__ = [
    "CSV_COLUMNS",
    "LIST_COLUMNS",
    "SCHEMA_VERSION",
    "Biopsy",
    "Cea",
    "ClinicalInputs",
    "DreFinding",
    "Endoscopy",
    "EndoscopyFinding",
    "MStage",
    "MmrStatus",
    "NeoadjuvantRegimen",
    "NodeAssessment",
    "Pet",
    "allowed_values",
    "clinical_from_mapping",
    "load_clinical",
    "load_clinical_csv",
]
