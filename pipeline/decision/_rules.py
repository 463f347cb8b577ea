"""The cCR decision (Maastricht / OPRA practice): criteria, then one combination rule.

Every threshold comes from :class:`~pipeline.config.decision.DecisionConfig`
(``configs/decision.yaml``); the names in double back-quotes below are its fields.

Per-criterion findings
----------------------

=========  =============  ===============================================================
criterion  finding        when
=========  =============  ===============================================================
dre        complete       no_palpable_tumour (every examiner)
           near_complete  smooth_induration
           tumour         palpable_mass
endoscopy  complete       only flat_white_scar and/or telangiectasia
           near_complete  worst entry superficial_ulcer, mild_erythema, irregular_mucosa
                          or erythematous_ulcer
           tumour         visible_tumour listed (next to a scar too: regrowth at the scar)
mri_t2w    complete       intermediate fraction <= ``t2_intermediate_fraction_max``
                          (dark fibrosis; bright oedema allowed)
           tumour         above that AND (true restriction in a trusted DWI, i.e.
                          restricted volume > 0, OR more intermediate than dark signal)
           near_complete  above that otherwise (some intermediate signal)
mri_dwi    tumour         restricted volume > ``restricted_focus_small_max_ml``, whatever
                          P(residual) says (even when it is missing)
           near_complete  0 < restricted volume <= ``restricted_focus_small_max_ml``
                          (P known), or volume 0 and
                          ``p_residual_ccr_max`` < P < ``p_residual_tumour_min``
           complete       restricted volume == 0 AND P <= ``p_residual_ccr_max``
           unknown        volume 0 but P >= ``p_residual_tumour_min`` (contradiction)
nodes      complete       no_suspicious_nodes
           near_complete  partial_regression
           tumour         suspicious_not_regressed
biopsy     complete       none (not required) or negative
           tumour         positive
quality    complete       no quality flag (status met)
           unknown        any quality flag (status not_met)
=========  =============  ===============================================================

Combination (first row that applies)
------------------------------------

===  =================================================================  =============
row  condition                                                          outcome
===  =================================================================  =============
1    any criterion is ``tumour``: frank tumour shown by a valid,        incomplete
     quality-passed input (a missing other input cannot make a cCR)
2    any criterion is ``unknown``, or any quality flag                  indeterminate
3    any criterion is ``near_complete``                                 near_cCR
4    every criterion is ``complete`` (met)                              cCR
===  =================================================================  =============

So cCR implies every criterion met; missing, contradictory or quality-failed input never gives
cCR. PET (supportive only), CEA and context (regimen, MMR, M stage) never change the outcome.
"""

from __future__ import annotations

from pipeline.clinical import ClinicalInputs
from pipeline.config.decision import DecisionConfig
from pipeline.decision._clinical_criteria import (
    Log,
    biopsy_criterion,
    dre_criterion,
    endoscopy_criterion,
    no_form,
    nodes_criterion,
)
from pipeline.decision._context import context_notes, context_of, pet_assessment
from pipeline.decision._model import Criterion, CriterionName, Decision, Finding, Outcome
from pipeline.decision._mri_criteria import (
    affected,
    check_findings,
    dwi_criterion,
    quality_criterion,
    restriction_present,
    t2w_criterion,
)
from pipeline.decision._surveillance import surveillance_plan
from pipeline.findings import ImagingFindings, RoiStatus


def _names(criteria: list[Criterion], finding: Finding) -> str:
    return ", ".join(c.name.value for c in criteria if c.finding is finding)


def combine(criteria: list[Criterion], *, quality_ok: bool) -> tuple[Outcome, str]:
    """The outcome and a one-line rationale (rows 1-4 of the module's table)."""
    if any(c.finding is Finding.TUMOUR for c in criteria):
        return Outcome.INCOMPLETE, f"frank tumour on: {_names(criteria, Finding.TUMOUR)}"
    if not quality_ok or any(c.finding is Finding.UNKNOWN for c in criteria):
        unknown = _names(criteria, Finding.UNKNOWN)
        return Outcome.INDETERMINATE, f"missing, contradictory or quality-failed: {unknown}"
    if any(c.finding is Finding.NEAR_COMPLETE for c in criteria):
        near = _names(criteria, Finding.NEAR_COMPLETE)
        return Outcome.NEAR_CCR, f"no frank tumour; near-complete signs on: {near}"
    return Outcome.CCR, "every criterion met (DRE, endoscopy, MRI T2W and DWI, nodes, biopsy)"


def _criteria(
    clinical: ClinicalInputs | None, imaging: ImagingFindings, config: DecisionConfig, log: Log
) -> list[Criterion]:
    if clinical is None:
        log.missing.append("clinical")
        dre = no_form(CriterionName.DRE)
        endoscopy = no_form(CriterionName.ENDOSCOPY)
        nodes = no_form(CriterionName.NODES)
        biopsy = no_form(CriterionName.BIOPSY)
    else:
        dre = dre_criterion(clinical, log)
        endoscopy = endoscopy_criterion(clinical, log)
        nodes = nodes_criterion(clinical, log)
        biopsy = biopsy_criterion(clinical)
    if imaging.tumour_bed_status is RoiStatus.MISSING:
        log.missing.append("imaging.tumour_bed")
    problems = affected(imaging)
    dwi_problems = problems.get(CriterionName.MRI_DWI, ())
    t2w = t2w_criterion(
        imaging,
        config,
        log,
        problems=problems.get(CriterionName.MRI_T2W, ()),
        restriction=restriction_present(imaging, dwi_problems),
    )
    dwi = dwi_criterion(imaging, config, log, problems=dwi_problems)
    return [dre, endoscopy, t2w, dwi, nodes, biopsy, quality_criterion(imaging)]


def decide(
    clinical: ClinicalInputs | None, imaging: ImagingFindings, *, config: DecisionConfig
) -> Decision:
    """State whether the patient meets cCR criteria, with every criterion and its evidence.

    Parameters
    ----------
    clinical
        The clinical form, or ``None`` when there is none (the decision is then
        indeterminate unless MRI shows frank tumour).
    imaging
        Findings in the restaging tumour bed (``None`` values = not measured).
    config
        Thresholds and surveillance template (``configs/decision.yaml``).

    Returns
    -------
    Decision
        Outcome by the rule table in this module's docstring; surveillance for cCR and
        near-cCR.

    Raises
    ------
    ProcessingError
        ``imaging`` holds NaN, negative or out-of-range values.
    """
    check_findings(imaging)
    log = Log()
    criteria = _criteria(clinical, imaging, config, log)
    outcome, rationale = combine(criteria, quality_ok=imaging.quality_ok)
    assessment = clinical.assessment_date if clinical is not None else None
    return Decision(
        outcome=outcome,
        rationale=rationale,
        criteria=tuple(criteria),
        p_residual=imaging.p_residual,
        missing=tuple(dict.fromkeys(log.missing)),
        contradictions=tuple(log.contradictions),
        context=context_of(clinical),
        context_notes=context_notes(clinical),
        pet=pet_assessment(clinical, config),
        surveillance=surveillance_plan(outcome, config.surveillance, assessment),
        imaging=imaging,
        quality=imaging.quality,
    )
