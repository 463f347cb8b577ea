"""Learned scorers of one tumour bed: radiomics-v1 and segnet-v2, fused (fusion-v1)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.config.scoring import LearnedScoringConfig
from pipeline.errors import PipelineError
from pipeline.resources import models_dir
from pipeline.scoring._crop import make_crop
from pipeline.scoring._fusion import FusedScore, fuse
from pipeline.scoring._network import (
    TTA_FLIPS,
    NetworkScore,
    SegNet,
    load_network,
    probability_on,
    score_crops,
)
from pipeline.scoring._radiomics_model import RadiomicsModel, load_radiomics_model
from pipeline.volume import Volume, VolumeKind

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LearnedScorers:
    """Loaded models (``None`` where absent) and why any is absent."""

    radiomics: RadiomicsModel | None
    network: SegNet | None
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class LearnedAssessment:
    """Each learned scorer's P(residual) and the fused one (``None`` where not run)."""

    p_radiomics: float | None
    network: NetworkScore | None
    fused: FusedScore | None
    warnings: tuple[str, ...] = field(default=())
    models: dict[str, str] = field(default_factory=dict)
    #: The network's residual-tumour probability on the T2W grid and its segmentation
    #: (probability > the card's ``segmentation.threshold``); ``None`` when it did not run.
    network_probability: Volume | None = None
    network_tumour: Volume | None = None


def model_path(name: str) -> Path:
    """A model file named in the config: absolute, or relative to the shipped ``models/``."""
    path = Path(name)
    return path if path.is_absolute() else models_dir() / path


def load_learned(config: LearnedScoringConfig) -> LearnedScorers:
    """Load the configured models from disk; a missing or bad model is reported, not fatal."""
    if not config.enabled:
        return LearnedScorers(None, None, ("learned scorers disabled in configs/scoring.yaml",))
    problems: list[str] = []
    radiomics: RadiomicsModel | None = None
    network: SegNet | None = None
    try:
        radiomics = load_radiomics_model(model_path(config.radiomics_model))
    except (PipelineError, FileNotFoundError) as exc:
        problems.append(f"radiomics model not loaded: {exc}")
    try:
        network = load_network(model_path(config.network_model))
    except (PipelineError, FileNotFoundError) as exc:
        problems.append(f"network not loaded: {exc}")
    return LearnedScorers(radiomics, network, tuple(problems))


def assess_learned(
    t2w: Volume,
    adc: Volume,
    high_b: Volume,
    bed: Volume,
    *,
    features: Mapping[str, float] | None,
    scorers: LearnedScorers,
    config: LearnedScoringConfig,
    device: str = "cpu",
) -> LearnedAssessment:
    """Score one bed with every loaded learned scorer and fuse the results.

    Volumes on the restaging T2W grid (ADC in 1e-3 mm^2/s); ``features`` is the radiomics row
    of the same bed (``None`` when extraction failed).
    """
    warnings = list(scorers.problems)
    p_radiomics: float | None = None
    if scorers.radiomics is not None and features is not None:
        try:
            p_radiomics = scorers.radiomics.predict(features)
        except PipelineError as exc:
            warnings.append(f"radiomics classifier skipped: {exc}")
    network: NetworkScore | None = None
    network_probability: Volume | None = None
    network_tumour: Volume | None = None
    if scorers.network is not None:
        crop = make_crop(t2w, high_b, adc, bed, spec=scorers.network.spec)
        network = score_crops(  # one study; batch many with score_crops directly
            scorers.network,
            [crop],
            device=device,
            mixed_precision=config.mixed_precision,
            flips=TTA_FLIPS if config.test_time_flips else ((),),
        )[0]
        network_probability = probability_on(t2w, crop.grid, network.probability)
        network_tumour = t2w.with_array(
            (network_probability.array > scorers.network.segmentation_threshold).astype(np.uint8),
            kind=VolumeKind.LABEL,
            units="",
        )
    probabilities: dict[str, float] = {}
    names: dict[str, str] = {}
    if p_radiomics is not None and scorers.radiomics is not None:
        probabilities["radiomics"], names["radiomics"] = p_radiomics, scorers.radiomics.name
    if network is not None and scorers.network is not None:
        probabilities["network"], names["network"] = network.p_residual, scorers.network.name
    fused = (
        fuse(
            probabilities,
            names=names,
            weights=config.fusion,
            network_spread=network.uncertainty if network is not None else 0.0,
        )
        if probabilities
        else None
    )
    models = {}
    if scorers.radiomics is not None:
        models[scorers.radiomics.name] = f"sha256:{scorers.radiomics.sha256}"
    if scorers.network is not None:
        models[scorers.network.name] = f"sha256:{scorers.network.sha256}"
    return LearnedAssessment(
        p_radiomics,
        network,
        fused,
        tuple(warnings),
        models,
        network_probability=network_probability,
        network_tumour=network_tumour,
    )
