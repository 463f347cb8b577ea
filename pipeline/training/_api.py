"""Library entry points of ``ccr train radiomics`` and ``ccr train model``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from pipeline.training._data import training_cases
from pipeline.training._network import NetworkTrainingOptions, train_network_on
from pipeline.training._radiomics import train_radiomics_on

log = logging.getLogger(__name__)


def _training_set(cache: Path | None, labelled: Path | None, cases: int, seed: int, n: int) -> dict:
    if labelled is not None:
        return {"source": "user labelled data set", "cases": n}
    return {
        "source": "pipeline.phantom small cases (generate_cohort order), ccr run imaging stages",
        "seed": seed,
        "cases_requested": cases,
        "cases": n,
        "cache": str(cache) if cache is not None else None,
    }


def train_radiomics(
    out_dir: Path,
    *,
    cache: Path | None = None,
    labelled: Path | None = None,
    cases: int = 216,
    seed: int = 1001,
    workers: int = 2,
    regularisation: float = 0.1,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Train the radiomics classifier; returns ``out_dir/radiomics-v1.json``.

    Parameters
    ----------
    out_dir
        Receives the model JSON, ``radiomics-metrics.json`` and (phantoms) ``cache/``.
    cache
        Folder of cached cases to reuse (filled with a phantom cohort when empty).
    labelled
        A labelled data set in the layout of :func:`pipeline.training.prepare_user_cohort`.
    cases, seed
        Size and seed of the phantom cohort generated when no data is given.
    workers
        Processes for generating and analysing phantom cases.
    regularisation
        Inverse L2 strength ``C`` of the logistic regression.
    """
    paths = training_cases(
        out_dir,
        cache=cache,
        labelled=labelled,
        cases=cases,
        seed=seed,
        workers=workers,
        progress=progress,
    )
    return train_radiomics_on(
        paths,
        Path(out_dir),
        c=regularisation,
        seed=seed,
        training_set=_training_set(cache, labelled, cases, seed, len(paths)),
    )


def train_network(
    out_dir: Path,
    *,
    cache: Path | None = None,
    labelled: Path | None = None,
    cases: int = 216,
    seed: int = 1001,
    workers: int = 2,
    device: str = "cpu",
    max_epochs: int = 80,
    patience: int = 15,
    batch_size: int = 8,
    learning_rate: float = 2e-3,
    val_fraction: float = 0.2,
    start_from: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Train the MONAI network; returns ``out_dir/segnet-v2.json`` (weights ``.npz`` beside).

    ``device`` is ``"cpu"`` or ``"cuda"`` (resolve ``--device auto`` with
    :func:`pipeline.device.resolve_device` first). Data options as in :func:`train_radiomics`;
    ``start_from`` is a weights card to fine-tune (e.g. the shipped ``segnet-v2.json`` on
    your labelled data); ``progress(epoch, max_epochs)`` after each epoch.
    """
    paths = training_cases(
        out_dir, cache=cache, labelled=labelled, cases=cases, seed=seed, workers=workers
    )
    options = NetworkTrainingOptions(
        max_epochs=max_epochs,
        patience=patience,
        batch_size=batch_size,
        learning_rate=learning_rate,
        val_fraction=val_fraction,
        seed=seed,
        device=device,
        start_from=start_from,
    )
    return train_network_on(
        paths,
        Path(out_dir),
        options=options,
        training_set=_training_set(cache, labelled, cases, seed, len(paths)),
        progress=progress,
    )
