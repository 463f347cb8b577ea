"""Data objects of the decision: :class:`Decision` and its parts (all frozen)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType

from pipeline.config.decision import SurveillanceTest
from pipeline.findings import ImagingFindings, QualityFlag

#: A value in a criterion's evidence (JSON-like; tuples become lists in decision.json).
EvidenceValue = str | int | float | bool | None | tuple[str, ...] | tuple[float, ...]


class Outcome(str, Enum):
    """The response category stated by the decision."""

    CCR = "cCR"
    NEAR_CCR = "near_cCR"
    INCOMPLETE = "incomplete"
    INDETERMINATE = "indeterminate"


class CriterionName(str, Enum):
    """The criteria of the decision, in report order."""

    DRE = "dre"
    ENDOSCOPY = "endoscopy"
    MRI_T2W = "mri_t2w"
    MRI_DWI = "mri_dwi"
    NODES = "nodes"
    BIOPSY = "biopsy"
    QUALITY = "quality"


class CriterionStatus(str, Enum):
    """Whether the cCR criterion is met."""

    MET = "met"
    NOT_MET = "not_met"
    UNKNOWN = "unknown"


class Finding(str, Enum):
    """What one criterion shows, used to combine criteria.

    For ``quality``: ``complete`` = no quality problem, ``unknown`` = problems present.
    """

    COMPLETE = "complete"
    NEAR_COMPLETE = "near_complete"
    TUMOUR = "tumour"
    UNKNOWN = "unknown"


def _frozen_mapping(values: Mapping[str, EvidenceValue]) -> Mapping[str, EvidenceValue]:
    return MappingProxyType(dict(values))


@dataclass(frozen=True)
class Criterion:
    """One criterion with its evidence.

    Attributes
    ----------
    name, status, finding
        See :class:`CriterionName`, :class:`CriterionStatus`, :class:`Finding`.
    evidence
        Read-only mapping: the value(s) seen, the threshold(s) applied and ``source``
        (e.g. ``"clinical.yaml: dre"``, ``"MRI: restricted volume in tumour bed"``).
    """

    name: CriterionName
    status: CriterionStatus
    finding: Finding
    evidence: Mapping[str, EvidenceValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "evidence", _frozen_mapping(self.evidence))


@dataclass(frozen=True)
class ContextNote:
    """A note on the patient's context (it never changes the outcome)."""

    code: str
    text: str


@dataclass(frozen=True)
class PetAssessment:
    """FDG-PET/CT, recorded as supportive evidence only; it never decides.

    ``supportive`` is ``True`` when SUVmax after therapy is below the configured maximum or
    its fall exceeds the configured percentage.
    """

    suvmax_before: float | None
    suvmax_after: float
    fall_percent: float | None
    supportive: bool
    suvmax_after_max: float
    fall_min_percent: float
    note: str


@dataclass(frozen=True)
class SurveillanceVisit:
    """One planned visit; dates are ``None`` when the form has no assessment date.

    ``label`` says when it falls after the assessment ("months 3-4", "weeks 8-12"); the visit
    is due from ``due_date`` to ``latest_date``.
    """

    label: str
    due_date: dt.date | None
    latest_date: dt.date | None
    tests: tuple[SurveillanceTest, ...]


@dataclass(frozen=True)
class SurveillancePlan:
    """Watch-and-wait surveillance (cCR) or the reassessment visit (near-cCR)."""

    kind: str
    visits: tuple[SurveillanceVisit, ...]
    basis: str
    note: str


@dataclass(frozen=True)
class Decision:
    """The response category with every criterion, its evidence and its status.

    Attributes
    ----------
    outcome
        cCR, near-cCR, incomplete or indeterminate (rule table in
        :mod:`pipeline.decision._rules`).
    rationale
        One sentence naming the rule that fired.
    criteria
        One :class:`Criterion` per :class:`CriterionName`, in that order.
    p_residual
        The scorer's P(residual tumour), as handed over (``None`` = not scored).
    missing
        Named missing inputs (e.g. ``"clinical.dre"``, ``"imaging.p_residual"``).
    contradictions
        Inputs that disagree (e.g. two DRE examiners).
    context
        Regimen, MMR status and M stage as recorded (``None`` without a clinical form).
    context_notes
        Notes triggered by the context (dMMR, SCRT-based TNT, M1).
    pet
        Supportive PET evidence, or ``None``.
    surveillance
        Plan for cCR and near-cCR, else ``None``.
    imaging, quality
        The imaging findings decided on, and their quality flags.
    """

    outcome: Outcome
    rationale: str
    criteria: tuple[Criterion, ...]
    p_residual: float | None
    missing: tuple[str, ...]
    contradictions: tuple[str, ...]
    context: Mapping[str, str | None]
    context_notes: tuple[ContextNote, ...]
    pet: PetAssessment | None
    surveillance: SurveillancePlan | None
    imaging: ImagingFindings
    quality: tuple[QualityFlag, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "context", MappingProxyType(dict(self.context)))

    def criterion(self, name: CriterionName | str) -> Criterion:
        """The criterion called ``name``."""
        wanted = CriterionName(name)
        for criterion in self.criteria:
            if criterion.name is wanted:
                return criterion
        raise KeyError(wanted.value)
