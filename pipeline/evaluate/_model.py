"""Typed records of an evaluation: options, input rows, joined cases and results."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from pipeline.decision import Outcome
from pipeline.errors import InputError
from pipeline.evaluate._keys import JoinKey
from pipeline.evaluate._metrics import BinaryCounts, BootstrapAuc, Calibration, Interval, RocCurve

#: Version of the ``metrics.json`` layout (fields are added, never renamed).
METRICS_SCHEMA_VERSION = "1.0"

__all__ = [
    "DONE",
    "METRICS_SCHEMA_VERSION",
    "CaseRecord",
    "Counts",
    "DecisionMatrix",
    "Evaluation",
    "EvaluationOptions",
    "JoinKey",
    "LabelRow",
    "LabelsKind",
    "LabelsTable",
    "OperatingPoint",
    "OperatingPointName",
    "ResultRow",
    "ResultsTable",
]

#: Status value of a study that finished in the batch results.
DONE = "done"


class OperatingPointName(str, Enum):
    """Where a score is cut into residual / no residual.

    ``ccr_max``: positive when P > ``p_residual_ccr_max`` (the MRI score does not support a
    cCR); ``tumour_min``: positive when P >= ``p_residual_tumour_min`` (the MRI score shows
    tumour); ``custom``: positive when P >= ``--threshold``.
    """

    CCR_MAX = "ccr_max"
    TUMOUR_MIN = "tumour_min"
    CUSTOM = "custom"


class LabelsKind(str, Enum):
    """Where the reference labels came from."""

    CSV = "csv"
    PHANTOM_TRUTH = "phantom_truth"
    RESULTS_REFERENCE_LABEL = "results_reference_label"


@dataclass(frozen=True)
class EvaluationOptions:
    """How to evaluate; every field is recorded in ``metrics.json``.

    Parameters
    ----------
    score_column
        Results column with the probability of residual tumour (0..1).
    key
        Join column; ``auto`` uses ``study_key`` when the labels have it, else ``input``.
    n_bootstrap
        Stratified bootstrap resamples for the AUC interval.
    seed
        Seed of the bootstrap (``numpy.random.default_rng``).
    ci_level
        Confidence level of every interval (AUC bootstrap, Wilson for proportions).
    calibration_bins
        Uniform bins of the reliability curve on [0, 1].
    threshold
        An extra operating point (positive when P >= threshold); it becomes the primary one.
    """

    score_column: str = "p_residual"
    key: JoinKey = JoinKey.AUTO
    n_bootstrap: int = 2000
    seed: int = 0
    ci_level: float = 0.95
    calibration_bins: int = 10
    threshold: float | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.n_bootstrap < 100:
            problems.append(f"n_bootstrap {self.n_bootstrap} < 100")
        if not 0.5 <= self.ci_level < 1.0:
            problems.append(f"ci_level {self.ci_level} not in [0.5, 1)")
        if not 2 <= self.calibration_bins <= 100:
            problems.append(f"calibration_bins {self.calibration_bins} not in 2..100")
        if self.threshold is not None and not (
            math.isfinite(self.threshold) and 0.0 <= self.threshold <= 1.0
        ):
            problems.append(f"threshold {self.threshold} not in [0, 1]")
        if not self.score_column:
            problems.append("score_column is empty")
        if problems:
            raise InputError(
                f"evaluation options: {'; '.join(problems)}",
                fix="use n_bootstrap >= 100, ci_level in [0.5, 1), calibration_bins 2..100 "
                "and a threshold between 0 and 1.",
            )


@dataclass(frozen=True)
class ResultRow:
    """One study of the batch results, as far as the evaluation needs it."""

    study_key: str | None
    input: str | None
    status: str
    outcome: Outcome | None
    score: float | None
    reference_label: bool | None = None
    reference_outcome: Outcome | None = None


@dataclass(frozen=True)
class ResultsTable:
    """Batch results: ``path`` is the file read (CSV or Parquet), ``sha256`` its digest."""

    path: Path
    sha256: str
    rows: tuple[ResultRow, ...]
    columns: tuple[str, ...]
    score_column: str
    has_status: bool
    has_outcome: bool


@dataclass(frozen=True)
class LabelRow:
    """One reference label; ``line`` is the 1-based line of the labels file (header = 1)."""

    key: str
    residual: bool | None
    reference_outcome: Outcome | None
    line: int


@dataclass(frozen=True)
class LabelsTable:
    """Reference labels keyed by ``key_column`` (``study_key`` or ``input``).

    ``source`` is the labels CSV, a phantom folder, or the results file (labels taken from
    its ``reference_label`` column); ``sha256`` is that of the bytes the labels came from.
    """

    source: Path
    kind: LabelsKind
    key_column: JoinKey
    rows: tuple[LabelRow, ...]
    has_reference_outcome: bool
    sha256: str


@dataclass(frozen=True)
class CaseRecord:
    """A results row joined to its label; ``excluded`` names why it is left out, if it is."""

    key: str
    input: str | None
    status: str
    residual: bool | None
    score: float | None
    outcome: Outcome | None
    reference_outcome: Outcome | None
    excluded: str | None


@dataclass(frozen=True)
class Counts:
    """How many rows went where; nothing is dropped without being counted here."""

    results_rows: int
    label_rows: int
    labels_without_result: int
    excluded_status: dict[str, int]
    excluded_no_label: int
    evaluated: int
    residual: int
    no_residual: int
    scored: int
    scored_residual: int
    scored_no_residual: int
    excluded_no_score: int
    with_decision: int
    with_reference_outcome: int


@dataclass(frozen=True)
class OperatingPoint:
    """Sensitivity / specificity of the score cut at ``threshold``."""

    name: OperatingPointName
    threshold: float
    positive_when: str
    source: str
    counts: BinaryCounts
    sensitivity_ci: Interval | None
    specificity_ci: Interval | None


@dataclass(frozen=True)
class DecisionMatrix:
    """Counts ``matrix[i][j]`` of truth ``rows[i]`` with decision ``columns[j]``."""

    rows: tuple[str, ...]
    columns: tuple[str, ...]
    matrix: tuple[tuple[int, ...], ...]

    @property
    def n(self) -> int:
        return sum(sum(row) for row in self.matrix)


@dataclass(frozen=True)
class Evaluation:
    """Everything ``metrics.json`` reports, plus the curves for the plots."""

    options: EvaluationOptions
    results: ResultsTable
    labels: LabelsTable
    counts: Counts
    auc: BootstrapAuc
    roc: RocCurve
    operating_points: tuple[OperatingPoint, ...]
    primary: OperatingPointName
    calibration: Calibration
    decision_vs_residual: DecisionMatrix | None
    decision_vs_reference: DecisionMatrix | None
    cases: tuple[CaseRecord, ...]
    thresholds_source: str
    warnings: tuple[str, ...] = ()
