"""Scoring of the tumour bed: residual tumour versus fibrosis.

* ``rules-v1``: transparent image rules (restriction, shine-through, T2 signal);
* ``radiomics-v1``: a linear classifier on pyradiomics features (JSON, no pickle);
* ``segnet-v2``: a MONAI SegResNet on (T2W, high-b, ADC) around the bed, pooled to a study P;
  it also finds the tumour bed when no mask exists (sliding window, :func:`find_bed`);
* ``fusion-v1``: the two learned scores fused, with an uncertainty.
"""

from __future__ import annotations

from pipeline.scoring._crop import Crop, CropSpec, make_crop
from pipeline.scoring._fusion import FUSION_NAME, FusedScore, fuse
from pipeline.scoring._learned import (
    LearnedAssessment,
    LearnedScorers,
    assess_learned,
    load_learned,
    model_path,
)
from pipeline.scoring._network import (
    NETWORK_NAME,
    NetworkScore,
    SegNet,
    load_network,
    score_crops,
)
from pipeline.scoring._radiomics_model import (
    RADIOMICS_NAME,
    RadiomicsModel,
    load_radiomics_model,
)
from pipeline.scoring._rules import SCORER_NAME, BedAssessment, assess_bed
from pipeline.scoring._search import BedSearch, find_bed

__all__ = [
    "FUSION_NAME",
    "NETWORK_NAME",
    "RADIOMICS_NAME",
    "SCORER_NAME",
    "BedAssessment",
    "BedSearch",
    "Crop",
    "CropSpec",
    "FusedScore",
    "LearnedAssessment",
    "LearnedScorers",
    "NetworkScore",
    "RadiomicsModel",
    "SegNet",
    "assess_bed",
    "assess_learned",
    "find_bed",
    "fuse",
    "load_learned",
    "load_network",
    "load_radiomics_model",
    "make_crop",
    "model_path",
    "score_crops",
]
