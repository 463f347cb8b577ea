"""Binary-classification metrics in plain numpy: AUC, bootstrap CI, ROC, calibration, counts.

Written without scikit-learn so that the test suite can check every number against an
independent scikit-learn computation. Conventions:

- ``y`` is a 1-D array of 0/1 truth (1 = residual tumour), ``p`` a 1-D float array in [0, 1]
  of the same length (the predicted probability of residual tumour).
- AUC is the Mann-Whitney statistic, ties counted 1/2: identical to the trapezoidal area under
  the empirical ROC curve (``sklearn.metrics.roc_auc_score``).
- Reliability bins are uniform on [0, 1], closed on the right, the first also on the left:
  ``[0, 1/n], (1/n, 2/n], ... ((n-1)/n, 1]`` (as ``sklearn.calibration.calibration_curve``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Bootstrap resamples computed at once (bounds memory to about chunk x n x 8 bytes).
_BOOTSTRAP_CHUNK = 256


@dataclass(frozen=True)
class Interval:
    """A confidence interval ``[low, high]`` at ``level`` (e.g. 0.95)."""

    low: float
    high: float
    level: float


@dataclass(frozen=True)
class BootstrapAuc:
    """AUC and its percentile bootstrap interval.

    ``resamples`` are the AUCs of the ``n`` stratified resamples, in draw order.
    """

    auc: float
    interval: Interval
    n: int
    seed: int
    resamples: FloatArray


@dataclass(frozen=True)
class RocCurve:
    """Empirical ROC curve: one point per distinct score, from (0, 0) to (1, 1).

    ``thresholds[i]`` is the score at or above which a case is called positive to reach
    ``(fpr[i], tpr[i])``; the first threshold is ``+inf`` (nobody positive).
    """

    fpr: FloatArray
    tpr: FloatArray
    thresholds: FloatArray


@dataclass(frozen=True)
class BinaryCounts:
    """Confusion counts of a thresholded score against the truth."""

    tp: int
    fn: int
    tn: int
    fp: int

    @property
    def sensitivity(self) -> float | None:
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def specificity(self) -> float | None:
        return _ratio(self.tn, self.tn + self.fp)

    @property
    def ppv(self) -> float | None:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def npv(self) -> float | None:
        return _ratio(self.tn, self.tn + self.fn)


@dataclass(frozen=True)
class ReliabilityBin:
    """One bin of the reliability curve; the means are ``None`` for an empty bin."""

    lower: float
    upper: float
    n: int
    mean_predicted: float | None
    fraction_positive: float | None


@dataclass(frozen=True)
class Calibration:
    """Brier score, reliability curve and expected calibration error (ECE).

    ECE is the count-weighted mean of ``|fraction_positive - mean_predicted|`` over the
    non-empty bins.
    """

    brier: float
    bins: tuple[ReliabilityBin, ...]
    expected_calibration_error: float


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _split(y: IntArray, p: FloatArray) -> tuple[FloatArray, FloatArray]:
    return p[y == 1], p[y == 0]


def _auc_from_counts(
    pos: FloatArray, neg_sorted: FloatArray, pos_counts: IntArray, neg_counts: IntArray
) -> FloatArray:
    """AUC of weighted samples: ``pos_counts`` (B x n_pos), ``neg_counts`` (B x n_neg).

    ``neg_counts`` columns follow ``neg_sorted``. For each positive, the number of negatives
    below it and at or below it come from the cumulative negative counts, so a resample costs
    O(n) instead of O(n_pos x n_neg).
    """
    below = np.searchsorted(neg_sorted, pos, side="left")
    at_or_below = np.searchsorted(neg_sorted, pos, side="right")
    cum = np.zeros((neg_counts.shape[0], neg_counts.shape[1] + 1), dtype=np.float64)
    np.cumsum(neg_counts, axis=1, out=cum[:, 1:])
    wins = 0.5 * (cum[:, below] + cum[:, at_or_below])  # B x n_pos
    n_pos = pos_counts.sum(axis=1)
    n_neg = neg_counts.sum(axis=1)
    result: FloatArray = (pos_counts * wins).sum(axis=1) / (n_pos * n_neg)
    return result


def auc(y: IntArray, p: FloatArray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties 1/2). Needs both classes."""
    pos, neg = _split(y, p)
    if pos.size == 0 or neg.size == 0:
        raise ValueError("AUC needs at least one positive and one negative case")
    neg_sorted = np.sort(neg)
    ones_pos = np.ones((1, pos.size), dtype=np.int64)
    ones_neg = np.ones((1, neg.size), dtype=np.int64)
    return float(_auc_from_counts(pos, neg_sorted, ones_pos, ones_neg)[0])


def _resample_counts(
    rng: np.random.Generator, rows: int, n_pos: int, n_neg: int
) -> tuple[IntArray, IntArray]:
    """Multiplicities of the positives and negatives in ``rows`` stratified resamples.

    Each resample draws ``n_pos`` positive indices, then ``n_neg`` negative indices
    (``rng.integers``, with replacement), in that order.
    """
    pos_draws = np.empty((rows, n_pos), dtype=np.int64)
    neg_draws = np.empty((rows, n_neg), dtype=np.int64)
    for r in range(rows):
        pos_draws[r] = rng.integers(0, n_pos, size=n_pos)
        neg_draws[r] = rng.integers(0, n_neg, size=n_neg)
    return _bincount_rows(pos_draws, n_pos), _bincount_rows(neg_draws, n_neg)


def _bincount_rows(draws: IntArray, n: int) -> IntArray:
    rows = draws.shape[0]
    offsets = (np.arange(rows) * n)[:, None]
    counts: IntArray = np.bincount((draws + offsets).ravel(), minlength=rows * n).reshape(rows, n)
    return counts


def bootstrap_auc(
    y: IntArray, p: FloatArray, *, n_resamples: int, seed: int, level: float = 0.95
) -> BootstrapAuc:
    """AUC with a stratified percentile bootstrap interval.

    Positives and negatives are resampled separately, with replacement, each to its own size
    (as pROC's default), so every resample has both classes. The interval is the
    ``(1 - level) / 2`` and ``(1 + level) / 2`` percentiles (linear interpolation) of the
    resampled AUCs. ``numpy.random.default_rng(seed)`` drives the draws; resample ``b`` takes
    ``integers(0, n_pos, n_pos)`` indices into the positives, then ``integers(0, n_neg, n_neg)``
    into the negatives (each in input order), so the same seed and data give the same interval
    and the resamples can be reproduced outside this code.
    """
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    point = auc(y, p)
    pos, neg = _split(y, p)
    order = np.argsort(neg, kind="stable")
    neg_sorted = neg[order]
    rng = np.random.default_rng(seed)
    chunks = []
    for start in range(0, n_resamples, _BOOTSTRAP_CHUNK):
        rows = min(_BOOTSTRAP_CHUNK, n_resamples - start)
        pos_counts, neg_counts = _resample_counts(rng, rows, pos.size, neg.size)
        # the negatives' columns follow neg_sorted
        chunks.append(_auc_from_counts(pos, neg_sorted, pos_counts, neg_counts[:, order]))
    resamples = np.concatenate(chunks)
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(resamples, [tail, 100.0 - tail])
    return BootstrapAuc(
        auc=point,
        interval=Interval(low=float(low), high=float(high), level=level),
        n=n_resamples,
        seed=seed,
        resamples=resamples,
    )


def roc_curve(y: IntArray, p: FloatArray) -> RocCurve:
    """Empirical ROC curve over every distinct score (positive when ``p >= threshold``)."""
    order = np.argsort(-p, kind="stable")
    p_sorted, y_sorted = p[order], y[order]
    last_of_value = np.r_[np.flatnonzero(np.diff(p_sorted)), p_sorted.size - 1]
    tps = np.cumsum(y_sorted)[last_of_value]
    fps = (last_of_value + 1) - tps
    n_pos, n_neg = int(y.sum()), int(y.size - y.sum())
    tpr = np.r_[0.0, tps / n_pos] if n_pos else np.zeros(tps.size + 1)
    fpr = np.r_[0.0, fps / n_neg] if n_neg else np.zeros(fps.size + 1)
    thresholds = np.r_[np.inf, p_sorted[last_of_value]]
    return RocCurve(fpr=fpr.astype(np.float64), tpr=tpr.astype(np.float64), thresholds=thresholds)


def binary_counts(y: IntArray, positive: npt.NDArray[np.bool_]) -> BinaryCounts:
    """Counts of the calls ``positive`` (bool per case) against the truth ``y``."""
    truth = y == 1
    return BinaryCounts(
        tp=int(np.sum(positive & truth)),
        fn=int(np.sum(~positive & truth)),
        tn=int(np.sum(~positive & ~truth)),
        fp=int(np.sum(positive & ~truth)),
    )


def wilson_interval(successes: int, total: int, *, level: float = 0.95) -> Interval | None:
    """Wilson score interval of a proportion (``None`` when ``total`` is 0)."""
    if total == 0:
        return None
    z = _normal_quantile(0.5 + level / 2.0)
    phat = successes / total
    den = 1.0 + z * z / total
    centre = (phat + z * z / (2 * total)) / den
    half = z * math.sqrt(phat * (1 - phat) / total + z * z / (4 * total * total)) / den
    return Interval(low=max(0.0, centre - half), high=min(1.0, centre + half), level=level)


def _normal_quantile(q: float) -> float:
    """Standard normal quantile by bisection on ``erf`` (no scipy needed; |error| < 1e-12)."""
    lo, hi = -10.0, 10.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if 0.5 * (1.0 + math.erf(mid / math.sqrt(2.0))) < q:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def brier_score(y: IntArray, p: FloatArray) -> float:
    """Mean squared difference between the probability and the 0/1 truth."""
    return float(np.mean((p - y) ** 2))


def calibration(y: IntArray, p: FloatArray, *, n_bins: int) -> Calibration:
    """Brier score and the reliability curve on ``n_bins`` uniform bins (see module notes)."""
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    ids = np.searchsorted(edges[1:-1], p)
    totals = np.bincount(ids, minlength=n_bins)
    sums = np.bincount(ids, weights=p, minlength=n_bins)
    positives = np.bincount(ids, weights=y.astype(np.float64), minlength=n_bins)
    bins = []
    gap = 0.0
    for i in range(n_bins):
        n = int(totals[i])
        mean_p = float(sums[i] / n) if n else None
        frac = float(positives[i] / n) if n else None
        if mean_p is not None and frac is not None:
            gap += n * abs(frac - mean_p)
        bins.append(
            ReliabilityBin(
                lower=float(edges[i]),
                upper=float(edges[i + 1]),
                n=n,
                mean_predicted=mean_p,
                fraction_positive=frac,
            )
        )
    return Calibration(
        brier=brier_score(y, p),
        bins=tuple(bins),
        expected_calibration_error=gap / p.size if p.size else 0.0,
    )


def confusion_matrix(
    truth: list[str], predicted: list[str], *, rows: list[str], columns: list[str]
) -> list[list[int]]:
    """Counts ``[i][j]`` of cases with truth ``rows[i]`` and prediction ``columns[j]``.

    Values outside ``rows`` / ``columns`` raise ``ValueError`` (they are coerced upstream).
    """
    row_index = {name: i for i, name in enumerate(rows)}
    col_index = {name: j for j, name in enumerate(columns)}
    matrix = [[0] * len(columns) for _ in rows]
    for t, q in zip(truth, predicted, strict=True):
        if t not in row_index or q not in col_index:
            raise ValueError(f"({t!r}, {q!r}) is outside the matrix labels")
        matrix[row_index[t]][col_index[q]] += 1
    return matrix
