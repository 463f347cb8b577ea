"""Training of the radiomics classifier (``ccr train radiomics``)."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import InputError
from pipeline.scoring._radiomics_model import (
    RADIOMICS_NAME,
    RadiomicsModel,
    save_radiomics_model,
)
from pipeline.training._cohort import read_cached_case

log = logging.getLogger(__name__)


def feature_table(paths: Sequence[Path]) -> tuple[list[str], np.ndarray, np.ndarray, list[str]]:
    """Feature names common to every case (finite, not constant), matrix, labels, case types."""
    rows, labels, types = [], [], []
    for path in paths:
        case = read_cached_case(path)
        if not case.features:
            log.warning("%s has no radiomics features; left out", path.name)
            continue
        rows.append(case.features)
        labels.append(case.label)
        types.append(case.case_type)
    if not rows:
        raise InputError("no training case has radiomics features")
    names = sorted(set.intersection(*(set(r) for r in rows)))
    names = [n for n in names if all(math.isfinite(r[n]) for r in rows)]
    x = np.asarray([[r[n] for n in names] for r in rows], np.float64)
    keep = x.std(axis=0) > 1e-9
    names = [n for n, k in zip(names, keep, strict=True) if k]
    return names, x[:, keep], np.asarray(labels, bool), types


def fit_radiomics(
    names: Sequence[str], x: np.ndarray, y: np.ndarray, *, c: float, seed: int
) -> tuple[RadiomicsModel, dict[str, Any]]:
    """Fit StandardScaler + L2 logistic regression; 5-fold cross-validated AUC as a check."""
    import sklearn
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(set(y.tolist())) < 2:
        raise InputError("the training cases hold only one class; both are needed")
    pipe = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000))
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    oof = cross_val_predict(pipe, x, y, cv=folds, method="predict_proba")[:, 1]
    pipe.fit(x, y)
    scaler, clf = pipe[0], pipe[1]
    metrics = {
        "cv5_auc": float(roc_auc_score(y, oof)),
        "train_auc": float(roc_auc_score(y, pipe.predict_proba(x)[:, 1])),
        "n_cases": len(y),
        "n_residual": int(y.sum()),
    }
    model = RadiomicsModel(
        name=RADIOMICS_NAME,
        features=tuple(names),
        means=tuple(float(v) for v in scaler.mean_),
        scales=tuple(float(v) for v in scaler.scale_),
        coefficients=tuple(float(v) for v in clf.coef_[0]),
        intercept=float(clf.intercept_[0]),
        metadata={
            "regularisation_C": c,
            "versions": {"scikit-learn": sklearn.__version__, "numpy": np.__version__},
            "metrics": metrics,
        },
    )
    return model, metrics


def train_radiomics_on(
    paths: Sequence[Path], out_dir: Path, *, c: float, seed: int, training_set: dict[str, Any]
) -> Path:
    """Fit on cached cases and write ``out_dir/radiomics-v1.json`` (+ ``metrics.json``)."""
    names, x, y, types = feature_table(paths)
    model, metrics = fit_radiomics(names, x, y, c=c, seed=seed)
    from collections import Counter

    model = RadiomicsModel(
        **{
            **model.__dict__,
            "metadata": {
                **model.metadata,
                "training_set": {**training_set, "case_types": dict(Counter(types))},
            },
        }
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    path = save_radiomics_model(model, out_dir / f"{RADIOMICS_NAME}.json")
    (out_dir / "radiomics-metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    log.info("radiomics: %d features, CV AUC %.3f", len(names), metrics["cv5_auc"])
    return path
