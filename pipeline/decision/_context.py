"""Context recorded with a decision (regimen, MMR, M stage) and supportive PET evidence.

Neither ever changes the outcome.
"""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.clinical import ClinicalInputs, MmrStatus, MStage, NeoadjuvantRegimen
from pipeline.config.decision import DecisionConfig
from pipeline.decision._model import ContextNote, PetAssessment

#: Note code -> text. Codes are stable (reports may key on them); texts may be reworded.
NOTE_TEXTS: Mapping[str, str] = {
    "dmmr_immunotherapy": (
        "dMMR/MSI-H tumour: immune checkpoint inhibition is the recommended first-line "
        "treatment to consider and can give very high complete-response rates; dMMR tumours "
        "respond less to fluorouracil-based chemotherapy."
    ),
    "scrt_tnt_regrowth": (
        "Short-course radiotherapy-based TNT: higher local regrowth and locoregional "
        "recurrence have been reported than after long-course chemoradiotherapy with "
        "consolidation chemotherapy (RAPIDO: 10 % vs 6 %); weigh this for non-operative "
        "management."
    ),
    "m1_systemic_risk": (
        "M1 disease: the primary may still be managed without surgery, but the competing "
        "systemic risk (metastatic disease) dominates the outcome; decide in the "
        "multidisciplinary team."
    ),
}


def context_of(clinical: ClinicalInputs | None) -> dict[str, str | None]:
    """Regimen, MMR status and M stage as recorded (``None`` without a form)."""
    if clinical is None:
        return {"neoadjuvant_regimen": None, "mmr_status": None, "m_stage": None}
    regimen = clinical.neoadjuvant_regimen
    return {
        "neoadjuvant_regimen": regimen.value if regimen is not None else None,
        "mmr_status": clinical.mmr_status.value,
        "m_stage": clinical.m_stage.value,
    }


def context_notes(clinical: ClinicalInputs | None) -> tuple[ContextNote, ...]:
    """The notes the patient's context calls for, in a fixed order."""
    if clinical is None:
        return ()
    codes: list[str] = []
    if clinical.mmr_status is MmrStatus.DMMR:
        codes.append("dmmr_immunotherapy")
    if clinical.neoadjuvant_regimen is NeoadjuvantRegimen.SCRT_TNT:
        codes.append("scrt_tnt_regrowth")
    if clinical.m_stage is MStage.M1:
        codes.append("m1_systemic_risk")
    return tuple(ContextNote(code=code, text=NOTE_TEXTS[code]) for code in codes)


def pet_assessment(clinical: ClinicalInputs | None, config: DecisionConfig) -> PetAssessment | None:
    """PET as supportive evidence: SUVmax after below the maximum, or a large enough fall."""
    if clinical is None or clinical.pet is None:
        return None
    before, after = clinical.pet.suvmax_before, clinical.pet.suvmax_after
    fall = None if before is None else 100.0 * (before - after) / before
    low_after = after < config.pet_suvmax_ccr_max
    large_fall = fall is not None and fall > config.pet_suv_fall_min_percent
    reasons = []
    if low_after:
        reasons.append(f"SUVmax after {after:g} < {config.pet_suvmax_ccr_max:g}")
    if large_fall:
        reasons.append(f"SUVmax fall {fall:.0f} % > {config.pet_suv_fall_min_percent:g} %")
    note = (
        "supportive of a complete response: " + "; ".join(reasons)
        if reasons
        else ("not supportive of a complete response")
    )
    return PetAssessment(
        suvmax_before=before,
        suvmax_after=after,
        fall_percent=fall,
        supportive=low_after or large_fall,
        suvmax_after_max=config.pet_suvmax_ccr_max,
        fall_min_percent=config.pet_suv_fall_min_percent,
        note=note + " (PET is supportive only and never decides)",
    )
