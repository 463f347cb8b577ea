"""Radiomics features of the tumour bed (pyradiomics), settings from ``configs/radiomics.yaml``."""

from __future__ import annotations

from pipeline.radiomics._extract import FeatureRow, extract_features

__all__ = ["FeatureRow", "extract_features"]
