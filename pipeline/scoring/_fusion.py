"""Fusion (``fusion-v1``): one P(residual tumour) with an uncertainty from several scorers.

``P = logistic(sum_i w_i * logit(p_i))`` over the available scorers (weights from
``configs/scoring.yaml``, renormalised over those present; probabilities clipped to
``[1e-4, 1 - 1e-4]`` first). The uncertainty combines the network's test-time-flip spread
``s_net`` with the disagreement of the scorers (half their range ``d``)::

    uncertainty = sqrt(s_net**2 + d**2)

rules-v1 is not part of the fused P (its P is an uncalibrated step of restricted volume), it
is reported beside it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from pipeline.config.scoring import FusionWeights

FUSION_NAME = "fusion-v1"
_EPS = 1e-4


@dataclass(frozen=True)
class FusedScore:
    """Fused P(residual), its uncertainty, and the scorer label for the findings."""

    p_residual: float
    uncertainty: float
    scorer: str
    components: dict[str, float]


def _logit(p: float) -> float:
    q = min(max(p, _EPS), 1.0 - _EPS)
    return math.log(q / (1.0 - q))


def fuse(
    probabilities: Mapping[str, float],
    *,
    names: Mapping[str, str],
    weights: FusionWeights,
    network_spread: float = 0.0,
) -> FusedScore:
    """Fuse ``{"radiomics": p, "network": p}`` (either may be absent).

    ``names`` maps each key to its model name (e.g. ``{"network": "segnet-v2"}``) for the
    scorer label ``fusion-v1(radiomics-v1, segnet-v2)``.
    """
    w = {"radiomics": weights.radiomics, "network": weights.network}
    present = {k: p for k, p in probabilities.items() if k in w and w[k] > 0}
    if not present:
        raise ValueError("fusion needs at least one scorer with a positive weight")
    total = sum(w[k] for k in present)
    z = sum(w[k] / total * _logit(p) for k, p in present.items())
    p = 1.0 / (1.0 + math.exp(-z))
    values = list(present.values())
    disagreement = (max(values) - min(values)) / 2.0
    spread = network_spread if "network" in present else 0.0
    label = f"{FUSION_NAME}({', '.join(names.get(k, k) for k in sorted(present))})"
    return FusedScore(
        p_residual=p,
        uncertainty=math.sqrt(spread**2 + disagreement**2),
        scorer=label,
        components=dict(present),
    )
