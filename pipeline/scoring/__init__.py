"""Scoring of the tumour bed: residual tumour versus fibrosis.

``rules-v1`` (this version) measures restriction, shine-through and T2 signal with transparent
rules; radiomics and the MONAI network come with the scoring issue.
"""

from __future__ import annotations

from pipeline.scoring._rules import SCORER_NAME, BedAssessment, assess_bed

__all__ = ["SCORER_NAME", "BedAssessment", "assess_bed"]
