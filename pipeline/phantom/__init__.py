"""Physics-based rectal MRI phantoms with known truth, for tests, samples and benchmarks.

Each case is a patient with a baseline and a restaging MRI study written as real-looking DICOM
(T2W, multi-b DWI, optional vendor ADC, tumour masks as SEG or RTSTRUCT in the styles of
Siemens, GE and Philips), its clinical inputs (``clinical.yaml``) and its ground truth
(``truth.json`` and NIfTI masks): tissue ADCs, the applied DWI misalignment and
baseline-to-restaging deformation, every series' geometry, and the decision the pipeline
should reach. Research use only.

Public API::

    generate_case(out_dir, *, case_id, case_type, seed, options=PhantomOptions()) -> Path
    generate_cohort(out, *, cases, seed, options=..., case_types=None, progress=None)
"""

from __future__ import annotations

from pipeline.phantom._case import generate_case, generate_cohort
from pipeline.phantom._options import (
    EXPECTED_DECISION,
    SCHEMA_VERSION,
    CaseType,
    ExpectedDecision,
    MaskFormat,
    PhantomOptions,
    Vendor,
)

__all__ = [
    "EXPECTED_DECISION",
    "SCHEMA_VERSION",
    "CaseType",
    "ExpectedDecision",
    "MaskFormat",
    "PhantomOptions",
    "Vendor",
    "generate_case",
    "generate_cohort",
]
