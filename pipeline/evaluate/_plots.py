"""ROC and calibration plots as PNG, drawn on a bare matplotlib ``Figure`` (Agg).

No ``pyplot`` and no ``matplotlib.use``: the global backend and rcParams stay untouched.
Each file is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pipeline import RESEARCH_USE_STATEMENT
from pipeline._io import atomic_path
from pipeline.evaluate._model import Evaluation

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_SIZE_IN = (5.5, 5.5)
_DPI = 120


def _figure() -> Figure:
    """A figure with constrained layout that leaves a strip at the bottom for the footer."""
    from matplotlib.figure import Figure
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    fig = Figure(figsize=_SIZE_IN, layout=ConstrainedLayoutEngine(rect=(0, 0.03, 1, 0.97)))
    fig.text(0.01, 0.008, RESEARCH_USE_STATEMENT, fontsize=6, color="grey")
    return fig


def _save(fig: Figure, target: Path) -> Path:
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=_DPI)
    return target


def plot_roc(evaluation: Evaluation, target: Path) -> Path:
    """ROC curve with the AUC and its interval, the operating points marked."""
    fig = _figure()
    ax = fig.add_subplot()
    auc = evaluation.auc
    ax.plot(
        evaluation.roc.fpr,
        evaluation.roc.tpr,
        drawstyle="default",
        lw=2,
        label=f"AUC {auc.auc:.3f} ({auc.interval.level:.0%} CI "
        f"{auc.interval.low:.3f}-{auc.interval.high:.3f})",
    )
    ax.plot([0, 1], [0, 1], ls=":", color="grey", lw=1)
    for point, marker in zip(evaluation.operating_points, ("o", "s", "D"), strict=False):
        sens, spec = point.counts.sensitivity, point.counts.specificity
        if sens is None or spec is None:
            continue
        ax.plot(
            [1.0 - spec],
            [sens],
            marker=marker,
            ls="none",
            ms=8,
            label=f"{point.name.value}: {point.positive_when} (sens {sens:.2f}, spec {spec:.2f})",
        )
    counts = evaluation.counts
    ax.set(
        xlim=(-0.01, 1.01),
        ylim=(-0.01, 1.01),
        xlabel="1 - specificity",
        ylabel="sensitivity",
        title=f"Residual tumour: {evaluation.options.score_column} "
        f"(n={counts.scored}, {counts.scored_residual} residual)",
    )
    ax.set_aspect("equal")
    ax.legend(loc="lower right", fontsize=7)
    return _save(fig, target)


def plot_calibration(evaluation: Evaluation, target: Path) -> Path:
    """Reliability curve (non-empty bins, marker area by count) above a histogram of P."""
    cal = evaluation.calibration
    fig = _figure()
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    filled = [b for b in cal.bins if b.n > 0]
    xs = [b.mean_predicted for b in filled]
    ys = [b.fraction_positive for b in filled]
    top.plot([0, 1], [0, 1], ls=":", color="grey", lw=1, label="perfect calibration")
    top.plot(
        xs,
        ys,
        marker="o",
        lw=1.5,
        label=f"Brier {cal.brier:.3f}, ECE {cal.expected_calibration_error:.3f}",
    )
    top.set(
        xlim=(0, 1),
        ylim=(-0.02, 1.02),
        ylabel="fraction with residual tumour",
        title=f"Calibration: {evaluation.options.score_column} ({len(cal.bins)} bins)",
    )
    top.legend(loc="upper left", fontsize=8)
    edges = [b.lower for b in cal.bins] + [cal.bins[-1].upper]
    bottom.stairs([b.n for b in cal.bins], edges, fill=True, alpha=0.6)
    bottom.set(xlabel=f"predicted {evaluation.options.score_column}", ylabel="studies")
    return _save(fig, target)
