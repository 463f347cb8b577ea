"""Training of the scorers on phantom cohorts or on a user's labelled data.

Public API::

    train_radiomics(out_dir, *, cache=None, labelled=None, cases=216, seed=1001, ...) -> Path
    train_network(out_dir, *, cache=None, labelled=None, cases=216, seed=1001, device="cpu", ...)
    prepare_phantom_cohort(cache, *, cases, seed, workers=2) -> list[Path]
    prepare_user_cohort(root, cache) -> list[Path]
"""

from __future__ import annotations

from pipeline.training._api import train_network, train_radiomics
from pipeline.training._cohort import (
    CachedCase,
    prepare_phantom_cohort,
    prepare_user_cohort,
    read_cached_case,
)
from pipeline.training._data import cached_cases

__all__ = [
    "CachedCase",
    "cached_cases",
    "prepare_phantom_cohort",
    "prepare_user_cohort",
    "read_cached_case",
    "train_network",
    "train_radiomics",
]
