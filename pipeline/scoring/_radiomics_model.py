"""Radiomics classifier (``radiomics-v1``): feature row -> P(residual tumour).

A standardised L2 logistic regression over a fixed feature list, stored as plain JSON (feature
names, scaler means and scales, coefficients, intercept, library versions, training-set
description), never as a pickle. It is fitted with scikit-learn by
:func:`pipeline.training.train_radiomics`; applying it needs numpy only.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import ConfigError, InputError

RADIOMICS_NAME = "radiomics-v1"


@dataclass(frozen=True)
class RadiomicsModel:
    """A linear model on standardised radiomics features."""

    name: str
    features: tuple[str, ...]
    means: tuple[float, ...]
    scales: tuple[float, ...]
    coefficients: tuple[float, ...]
    intercept: float
    metadata: dict[str, Any]
    sha256: str = ""

    def logit(self, row: Mapping[str, float]) -> float:
        """Linear predictor for one feature row (missing or non-finite features raise)."""
        missing = [f for f in self.features if f not in row or not math.isfinite(row[f])]
        if missing:
            raise InputError(
                f"{self.name}: {len(missing)} feature(s) missing or not finite, e.g. {missing[:3]}",
                fix="extract features with the configs/radiomics.yaml the model was trained with",
            )
        x = np.asarray([row[f] for f in self.features], np.float64)
        z = (x - np.asarray(self.means)) / np.asarray(self.scales)
        return float(z @ np.asarray(self.coefficients) + self.intercept)

    def predict(self, row: Mapping[str, float]) -> float:
        """P(residual tumour) for one feature row."""
        z = self.logit(row)
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": "standardised L2 logistic regression",
            "features": list(self.features),
            "means": list(self.means),
            "scales": list(self.scales),
            "coefficients": list(self.coefficients),
            "intercept": self.intercept,
            **self.metadata,
        }


def save_radiomics_model(model: RadiomicsModel, path: Path) -> Path:
    """Write the model as JSON (``path``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(model.to_json(), indent=2) + "\n")
    return path


def load_radiomics_model(path: Path) -> RadiomicsModel:
    """Read a model written by :func:`save_radiomics_model` (from disk, never downloaded)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"radiomics model {path} not found",
            file=path,
            fix="train one with `ccr train radiomics` or point configs/scoring.yaml at models/",
        )
    raw = path.read_bytes()
    data = json.loads(raw)
    keys = ("name", "features", "means", "scales", "coefficients", "intercept")
    absent = [k for k in keys if k not in data]
    lengths = {len(data.get(k, [])) for k in ("features", "means", "scales", "coefficients")}
    if absent or len(lengths) != 1:
        raise ConfigError(
            f"radiomics model {path.name} is malformed (missing {absent} or unequal lengths)",
            file=path,
            fix="retrain with `ccr train radiomics`",
        )
    meta = {k: v for k, v in data.items() if k not in (*keys, "kind")}
    return RadiomicsModel(
        name=str(data["name"]),
        features=tuple(data["features"]),
        means=tuple(float(v) for v in data["means"]),
        scales=tuple(float(v) for v in data["scales"]),
        coefficients=tuple(float(v) for v in data["coefficients"]),
        intercept=float(data["intercept"]),
        metadata=meta,
        sha256=hashlib.sha256(raw).hexdigest(),
    )
