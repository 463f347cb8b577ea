"""The cCR decision: rule table, evidence, PET, context, surveillance, decision.json schema."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import math
from typing import Any

import jsonschema
import pytest

from pipeline import RESEARCH_USE_STATEMENT
from pipeline.clinical import Biopsy, ClinicalInputs, clinical_from_mapping
from pipeline.config import load_section
from pipeline.config.decision import DecisionConfig
from pipeline.decision import (
    QUALITY_AFFECTS,
    CriterionName,
    CriterionStatus,
    Decision,
    Finding,
    Outcome,
    decide,
    decision_schema,
    decision_to_dict,
)
from pipeline.decision._surveillance import add_months
from pipeline.errors import ConfigError, ProcessingError
from pipeline.findings import ImagingFindings, QualityFlag, QualityProblem, RoiStatus

CFG = DecisionConfig()
NO_FORM = "no clinical form"

COMPLETE_FORM: dict[str, Any] = {
    "schema_version": "1.0",
    "patient_key": "case-001",
    "assessment_date": "2026-03-02",
    "dre": "no_palpable_tumour",
    "endoscopy": {"date": "2026-03-01", "findings": ["flat_white_scar", "telangiectasia"]},
    "biopsy": "none",
    "mri_nodes": "no_suspicious_nodes",
    "neoadjuvant_regimen": "lccrt_consolidation_chemo",
    "mmr_status": "pMMR",
    "m_stage": "M0",
}

COMPLETE_IMAGING = ImagingFindings(
    p_residual=0.05,
    scorer="rules-v1",
    tumour_bed_status=RoiStatus.GIVEN,
    tumour_bed_volume_ml=3.0,
    restricted_volume_ml=0.0,
    shine_through_volume_ml=0.0,
    adc_median_bed=1.4,
    t2_intermediate_fraction=0.1,
    t2_bright_fraction=0.2,
)


def form(changes: dict[str, Any] | str | None = None) -> ClinicalInputs | None:
    """The complete form with ``changes``; ``None`` values remove the key."""
    if changes == NO_FORM:
        return None
    data = dict(COMPLETE_FORM)
    for key, value in (changes or {}).items():  # type: ignore[union-attr]
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return clinical_from_mapping(data, source="clinical.yaml")


def findings(**changes: Any) -> ImagingFindings:
    return dataclasses.replace(COMPLETE_IMAGING, **changes)


def flag(problem: QualityProblem) -> tuple[QualityFlag, ...]:
    return (QualityFlag(problem=problem, detail="test"),)


def scar_with(*extra: str) -> dict[str, Any]:
    return {"endoscopy": {"findings": ["flat_white_scar", *extra]}}


CCR, NEAR, INCOMPLETE, INDET = (
    Outcome.CCR,
    Outcome.NEAR_CCR,
    Outcome.INCOMPLETE,
    Outcome.INDETERMINATE,
)
PET_GOOD = {"pet": {"suvmax_before": 12.3, "suvmax_after": 3.1}}
PET_BAD = {"pet": {"suvmax_before": 9.0, "suvmax_after": 7.5}}

#: (id, clinical changes or NO_FORM, imaging changes, expected outcome)
TABLE: list[tuple[str, Any, dict[str, Any], Outcome]] = [
    ("all complete", {}, {}, CCR),
    # each single criterion near-complete
    ("dre induration", {"dre": "smooth_induration"}, {}, NEAR),
    ("endo superficial ulcer", scar_with("superficial_ulcer"), {}, NEAR),
    ("endo mild erythema", scar_with("mild_erythema"), {}, NEAR),
    ("endo irregular mucosa", scar_with("irregular_mucosa"), {}, NEAR),
    ("endo erythematous ulcer", scar_with("erythematous_ulcer"), {}, NEAR),
    ("t2 some intermediate", {}, {"t2_intermediate_fraction": 0.4}, NEAR),
    ("dwi small focus", {}, {"restricted_volume_ml": 0.3, "p_residual": 0.5}, NEAR),
    ("dwi small focus, P high", {}, {"restricted_volume_ml": 0.3, "p_residual": 0.95}, NEAR),
    ("P intermediate, no restriction", {}, {"p_residual": 0.5}, NEAR),
    ("nodes partial regression", {"mri_nodes": "partial_regression"}, {}, NEAR),
    # each single criterion tumour
    ("dre palpable mass", {"dre": "palpable_mass"}, {}, INCOMPLETE),
    ("endo visible tumour", {"endoscopy": {"findings": ["visible_tumour"]}}, {}, INCOMPLETE),
    ("endo regrowth at scar", scar_with("visible_tumour"), {}, INCOMPLETE),
    ("dwi clear restriction", {}, {"restricted_volume_ml": 2.0, "p_residual": 0.97}, INCOMPLETE),
    (
        "t2 intermediate with restriction",
        {},
        {"t2_intermediate_fraction": 0.4, "restricted_volume_ml": 0.2, "p_residual": 0.5},
        INCOMPLETE,
    ),
    (
        "t2 more intermediate than dark",
        {},
        {"t2_intermediate_fraction": 0.6, "t2_bright_fraction": 0.1},
        INCOMPLETE,
    ),
    ("nodes not regressed", {"mri_nodes": "suspicious_not_regressed"}, {}, INCOMPLETE),
    ("biopsy positive", {"biopsy": "positive"}, {}, INCOMPLETE),
    # each single input missing
    ("dre not done", {"dre": None}, {}, INDET),
    ("endoscopy not done", {"endoscopy": None}, {}, INDET),
    ("nodes not assessed", {"mri_nodes": None}, {}, INDET),
    ("no clinical form", NO_FORM, {}, INDET),
    ("p_residual None", {}, {"p_residual": None}, INDET),
    ("restricted volume None", {}, {"restricted_volume_ml": None}, INDET),
    ("t2 fraction None", {}, {"t2_intermediate_fraction": None}, INDET),
    ("no tumour bed", {}, {"tumour_bed_status": RoiStatus.MISSING}, INDET),
    # contradictions
    ("dre disagree mass", {"dre": ["no_palpable_tumour", "palpable_mass"]}, {}, INDET),
    ("dre disagree induration", {"dre": ["no_palpable_tumour", "smooth_induration"]}, {}, INDET),
    ("dre examiners agree", {"dre": ["no_palpable_tumour", "no_palpable_tumour"]}, {}, CCR),
    ("t2 fractions > 1", {}, {"t2_intermediate_fraction": 0.2, "t2_bright_fraction": 0.9}, INDET),
    ("P high, no restriction", {}, {"p_residual": 0.9}, INDET),
    # quality
    (
        "quality + near",
        {"dre": "smooth_induration"},
        {"quality": flag(QualityProblem.ADC_FIT_POOR)},
        INDET,
    ),
    (
        "doubtful DWI cannot call tumour",
        {},
        {"restricted_volume_ml": 2.0, "quality": flag(QualityProblem.DWI_REGISTRATION_DOUBTFUL)},
        INDET,
    ),
    (
        "quality + palpable mass",
        {"dre": "palpable_mass"},
        {"quality": flag(QualityProblem.NO_DWI)},
        INCOMPLETE,
    ),
    # frank tumour wins over missing / contradictory input
    ("dre missing + visible tumour", {"dre": None, **scar_with("visible_tumour")}, {}, INCOMPLETE),
    ("no form + MRI tumour", NO_FORM, {"restricted_volume_ml": 3.0}, INCOMPLETE),
    (
        "dre disagree + nodes",
        {"dre": ["no_palpable_tumour", "palpable_mass"], "mri_nodes": "suspicious_not_regressed"},
        {},
        INCOMPLETE,
    ),
    (
        "P missing + clear restriction",
        {},
        {"p_residual": None, "restricted_volume_ml": 2.0},
        INCOMPLETE,
    ),
    # biopsy: a negative one never rescues
    ("biopsy negative, complete", {"biopsy": "negative"}, {}, CCR),
    ("biopsy negative + induration", {"biopsy": "negative", "dre": "smooth_induration"}, {}, NEAR),
    (
        "biopsy negative + tumour",
        {"biopsy": "negative", **scar_with("visible_tumour")},
        {},
        INCOMPLETE,
    ),
    ("biopsy negative + no endoscopy", {"biopsy": "negative", "endoscopy": None}, {}, INDET),
    # PET never decides
    ("PET supportive + near", {"dre": "smooth_induration", **PET_GOOD}, {}, NEAR),
    ("PET not supportive + complete", PET_BAD, {}, CCR),
    ("PET supportive + missing", {"mri_nodes": None, **PET_GOOD}, {}, INDET),
    ("PET supportive + tumour", {"dre": "palpable_mass", **PET_GOOD}, {}, INCOMPLETE),
    # imaging look-alikes that are not tumour
    (
        "shine-through only",
        {},
        {"shine_through_volume_ml": 2.5, "t2_bright_fraction": 0.5, "adc_median_bed": 1.9},
        CCR,
    ),
    ("fibrosis with oedema", {}, {"t2_intermediate_fraction": 0.1, "t2_bright_fraction": 0.7}, CCR),
    # context and CEA never change the outcome
    (
        "dMMR, M1, SCRT-TNT",
        {"mmr_status": "MSI-H", "m_stage": "M1", "neoadjuvant_regimen": "scrt_tnt"},
        {},
        CCR,
    ),
    ("high CEA", {"cea": {"value_ng_ml": 50.0}}, {}, CCR),
    # thresholds are inclusive as documented
    ("focus at small max", {}, {"restricted_volume_ml": 0.35, "p_residual": 0.5}, NEAR),
    ("focus above small max", {}, {"restricted_volume_ml": 0.3501, "p_residual": 0.5}, INCOMPLETE),
    ("P at ccr max", {}, {"p_residual": 0.2}, CCR),
    ("P just above ccr max", {}, {"p_residual": 0.2001}, NEAR),
    ("t2 at max", {}, {"t2_intermediate_fraction": 0.3}, CCR),
]
TABLE += [
    (f"quality {problem.value}", {}, {"quality": flag(problem)}, INDET)
    for problem in QualityProblem
]


def run_row(clinical: Any, imaging: dict[str, Any]) -> Decision:
    return decide(form(clinical), findings(**imaging), config=CFG)


@pytest.mark.parametrize(
    ("clinical", "imaging", "expected"), [r[1:] for r in TABLE], ids=[r[0] for r in TABLE]
)
def test_rule_table(clinical: Any, imaging: dict[str, Any], expected: Outcome) -> None:
    decision = run_row(clinical, imaging)
    assert decision.outcome is expected, decision.rationale


@pytest.mark.parametrize(
    ("clinical", "imaging", "expected"), [r[1:] for r in TABLE], ids=[r[0] for r in TABLE]
)
def test_every_row_is_valid_decision_json(
    clinical: Any, imaging: dict[str, Any], expected: Outcome
) -> None:
    payload = decision_to_dict(
        run_row(clinical, imaging), study_key="case-001", provenance_ref=None
    )
    jsonschema.validate(payload, decision_schema(), cls=jsonschema.Draft202012Validator)
    assert payload["decision"] == expected.value
    assert payload["research_use"] == RESEARCH_USE_STATEMENT
    assert [c["name"] for c in payload["criteria"]] == [n.value for n in CriterionName]
    assert all(c["evidence"]["source"] for c in payload["criteria"])


@pytest.mark.parametrize(
    ("clinical", "imaging", "missing"),
    [
        ({"dre": None}, {}, ("clinical.dre",)),
        ({"endoscopy": None}, {}, ("clinical.endoscopy",)),
        ({"mri_nodes": None}, {}, ("clinical.mri_nodes",)),
        (NO_FORM, {}, ("clinical",)),
        ({}, {"p_residual": None}, ("imaging.p_residual",)),
        ({}, {"restricted_volume_ml": None}, ("imaging.restricted_volume_ml",)),
        ({}, {"t2_intermediate_fraction": None}, ("imaging.t2_intermediate_fraction",)),
        ({}, {"tumour_bed_status": RoiStatus.MISSING}, ("imaging.tumour_bed",)),
        (
            {"dre": None, "mri_nodes": None},
            {"p_residual": None},
            ("clinical.dre", "clinical.mri_nodes", "imaging.p_residual"),
        ),
    ],
)
def test_missing_items_are_named(
    clinical: Any, imaging: dict[str, Any], missing: tuple[str, ...]
) -> None:
    assert run_row(clinical, imaging).missing == missing


def test_bare_findings_name_the_tumour_bed() -> None:
    decision = decide(form(), ImagingFindings(), config=CFG)
    assert decision.outcome is INDET
    assert "imaging.tumour_bed" in decision.missing
    assert decision.criterion("mri_dwi").status is CriterionStatus.UNKNOWN


def test_contradictions_are_named() -> None:
    decision = run_row({"dre": ["no_palpable_tumour", "palpable_mass"]}, {})
    assert decision.contradictions == (
        "dre: examiners disagree (no_palpable_tumour, palpable_mass)",
    )
    assert decision.criterion("dre").finding is Finding.UNKNOWN
    scar = run_row(scar_with("visible_tumour"), {})
    assert scar.contradictions == ()
    assert scar.criterion("endoscopy").finding is Finding.TUMOUR


def test_evidence_has_values_thresholds_and_sources() -> None:
    decision = run_row(
        {}, {"restricted_volume_ml": 0.3, "shine_through_volume_ml": 1.2, "p_residual": 0.5}
    )
    dwi = decision.criterion(CriterionName.MRI_DWI).evidence
    assert dwi["restricted_volume_ml"] == 0.3
    assert dwi["shine_through_volume_ml"] == 1.2
    assert dwi["restricted_focus_small_max_ml"] == CFG.restricted_focus_small_max_ml
    assert dwi["p_residual_ccr_max"] == CFG.p_residual_ccr_max
    assert "restricted volume in tumour bed" in str(dwi["source"])
    t2 = decision.criterion("mri_t2w").evidence
    assert t2["t2_intermediate_fraction_max"] == CFG.t2_intermediate_fraction_max
    assert decision.criterion("dre").evidence["source"] == "clinical.yaml: dre"
    assert decision.criterion("endoscopy").evidence["value"] == (
        "flat_white_scar",
        "telangiectasia",
    )


def test_quality_keeps_measured_finding_and_is_not_met() -> None:
    decision = run_row(
        {}, {"restricted_volume_ml": 2.0, "quality": flag(QualityProblem.ADC_FIT_POOR)}
    )
    dwi = decision.criterion("mri_dwi")
    assert (dwi.status, dwi.evidence["measured_finding"]) == (CriterionStatus.UNKNOWN, "tumour")
    assert decision.criterion("quality").status is CriterionStatus.NOT_MET
    assert decision.criterion("mri_t2w").status is CriterionStatus.MET


def test_decision_is_frozen() -> None:
    decision = run_row({}, {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.outcome = Outcome.INCOMPLETE  # type: ignore[misc]
    with pytest.raises(TypeError):
        decision.criteria[0].evidence["value"] = "x"  # type: ignore[index]


@pytest.mark.parametrize(
    "bad",
    [
        {"p_residual": math.nan},
        {"p_residual": 1.5},
        {"restricted_volume_ml": -0.1},
        {"t2_intermediate_fraction": 1.2},
        {"adc_median_bed": math.inf},
    ],
)
def test_invalid_findings_are_refused(bad: dict[str, Any]) -> None:
    name = next(iter(bad))
    with pytest.raises(ProcessingError, match=f"imaging findings: {name} = "):
        run_row({}, bad)


# --- PET, context notes, surveillance -----------------------------------------------------


@pytest.mark.parametrize(
    ("pet", "supportive"),
    [
        ({"suvmax_before": 12.3, "suvmax_after": 3.1}, True),  # after < 4.3
        ({"suvmax_after": 4.3}, False),  # not below 4.3, no baseline
        ({"suvmax_before": 20.0, "suvmax_after": 5.0}, True),  # fall 75 % > 66 %
        ({"suvmax_before": 12.0, "suvmax_after": 5.0}, False),  # fall 58 %
    ],
)
def test_pet_is_supportive_only(pet: dict[str, float], supportive: bool) -> None:
    decision = run_row({"pet": pet}, {})
    assert decision.pet is not None
    assert decision.pet.supportive is supportive
    assert decision.outcome is CCR


WITH_FORM = [r for r in TABLE if r[1] != NO_FORM]


@pytest.mark.parametrize(
    ("clinical", "imaging", "expected"), [r[1:] for r in WITH_FORM], ids=[r[0] for r in WITH_FORM]
)
def test_pet_never_changes_the_outcome(
    clinical: Any, imaging: dict[str, Any], expected: Outcome
) -> None:
    for pet in (PET_GOOD, PET_BAD):
        assert run_row({**clinical, **pet}, imaging).outcome is expected


@pytest.mark.parametrize(
    ("changes", "codes"),
    [
        ({}, ()),
        ({"mmr_status": "dMMR"}, ("dmmr_immunotherapy",)),
        ({"mmr_status": "MSI-H"}, ("dmmr_immunotherapy",)),
        ({"neoadjuvant_regimen": "scrt_tnt"}, ("scrt_tnt_regrowth",)),
        ({"m_stage": "M1"}, ("m1_systemic_risk",)),
        (
            {"mmr_status": "dMMR", "neoadjuvant_regimen": "scrt_tnt", "m_stage": "M1c"},
            ("dmmr_immunotherapy", "scrt_tnt_regrowth", "m1_systemic_risk"),
        ),
    ],
)
def test_context_notes(changes: dict[str, Any], codes: tuple[str, ...]) -> None:
    decision = run_row(changes, {})
    assert tuple(note.code for note in decision.context_notes) == codes
    assert decision.context["mmr_status"] == form(changes).mmr_status.value  # type: ignore[union-attr]


def test_ccr_surveillance_follows_the_template() -> None:
    plan = run_row({}, {}).surveillance
    assert plan is not None and plan.kind == "watch_and_wait"
    labels = [v.label for v in plan.visits]
    assert labels[:2] == ["months 3-4", "months 6-7"]
    assert len(plan.visits) == 8 + 6  # every 3 months to month 24, every 6 to month 60
    assert plan.visits[0].due_date == dt.date(2026, 6, 2)
    assert plan.visits[-1].due_date == dt.date(2031, 3, 2)
    assert [t.value for t in plan.visits[0].tests] == ["dre", "endoscopy", "mri_dwi", "cea"]


def test_near_ccr_reassessment_in_8_to_12_weeks() -> None:
    plan = run_row({"dre": "smooth_induration"}, {}).surveillance
    assert plan is not None and plan.kind == "reassessment"
    (visit,) = plan.visits
    assert (visit.due_date, visit.latest_date) == (dt.date(2026, 4, 27), dt.date(2026, 5, 25))


def test_no_surveillance_unless_ccr_or_near() -> None:
    assert run_row({"dre": "palpable_mass"}, {}).surveillance is None
    assert run_row({"dre": None}, {}).surveillance is None


def test_surveillance_without_assessment_date_has_no_dates() -> None:
    plan = run_row({"assessment_date": None}, {}).surveillance
    assert plan is not None
    assert all(v.due_date is None and v.latest_date is None for v in plan.visits)


def test_add_months_clamps_to_month_end() -> None:
    assert add_months(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2026, 11, 15), 3) == dt.date(2027, 2, 15)


# --- property: cCR implies every criterion met --------------------------------------------

DRE_VALUES = [
    None,
    "no_palpable_tumour",
    "smooth_induration",
    "palpable_mass",
    ["no_palpable_tumour", "palpable_mass"],
]
ENDO_VALUES = [None, ["flat_white_scar"], ["flat_white_scar", "mild_erythema"], ["visible_tumour"]]
NODE_VALUES = [None, "no_suspicious_nodes", "partial_regression", "suspicious_not_regressed"]
BIOPSY_VALUES = ["none", "negative", "positive"]
VOLUME_VALUES = [None, 0.0, 0.3, 2.0]
P_VALUES = [None, 0.1, 0.5, 0.9]
T2_VALUES = [None, 0.1, 0.4, 0.7]
QUALITY_VALUES: list[tuple[QualityFlag, ...]] = [(), flag(QualityProblem.DWI_REGISTRATION_DOUBTFUL)]


def _forms() -> list[ClinicalInputs | None]:
    forms: list[ClinicalInputs | None] = [None]
    for dre, endo, nodes, biopsy in itertools.product(
        DRE_VALUES, ENDO_VALUES, NODE_VALUES, BIOPSY_VALUES
    ):
        forms.append(
            form(
                {
                    "dre": dre,
                    "endoscopy": endo and {"findings": endo},
                    "mri_nodes": nodes,
                    "biopsy": biopsy,
                }
            )
        )
    return forms


def _images() -> list[ImagingFindings]:
    return [
        findings(restricted_volume_ml=v, p_residual=p, t2_intermediate_fraction=t2, quality=q)
        for v, p, t2, q in itertools.product(VOLUME_VALUES, P_VALUES, T2_VALUES, QUALITY_VALUES)
    ]


def test_properties_over_all_combinations() -> None:
    schema = decision_schema()
    counts = dict.fromkeys(Outcome, 0)
    for index, (clinical, imaging) in enumerate(itertools.product(_forms(), _images())):
        decision = decide(clinical, imaging, config=CFG)
        counts[decision.outcome] += 1
        findings_seen = {c.finding for c in decision.criteria}
        if decision.outcome is CCR:
            assert all(c.status is CriterionStatus.MET for c in decision.criteria)
            assert not decision.missing and not decision.contradictions and not decision.quality
        assert (decision.outcome is INCOMPLETE) == (Finding.TUMOUR in findings_seen)
        if decision.missing or decision.contradictions or decision.quality:
            assert decision.outcome in (INCOMPLETE, INDET)
        if clinical is not None and clinical.biopsy is Biopsy.POSITIVE:
            assert decision.outcome is INCOMPLETE
        if clinical is not None and clinical.biopsy is Biopsy.NEGATIVE:
            without = decide(
                clinical.model_copy(update={"biopsy": Biopsy.NONE}), imaging, config=CFG
            )
            assert without.outcome is decision.outcome
        if index % 211 == 0:
            payload = decision_to_dict(decision, study_key="prop", provenance_ref=None)
            jsonschema.validate(payload, schema, cls=jsonschema.Draft202012Validator)
    assert all(counts.values()), counts  # the value sets reach every outcome


# --- config and schema --------------------------------------------------------------------


def test_shipped_decision_config_loads_and_equals_defaults() -> None:
    assert load_section("decision") == CFG


def test_shipped_config_drives_the_decision(tmp_path: Any) -> None:
    override = tmp_path / "decision.yaml"
    override.write_text("restricted_focus_small_max_ml: 0.1\n", encoding="utf-8")
    config = load_section("decision", override)
    assert isinstance(config, DecisionConfig)
    imaging = findings(restricted_volume_ml=0.3, p_residual=0.5)
    assert decide(form(), imaging, config=CFG).outcome is NEAR
    assert decide(form(), imaging, config=config).outcome is INCOMPLETE


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("p_residual_ccr_max: 0.9\n", "p_residual_ccr_max must be below p_residual_tumour_min"),
        (
            "surveillance:\n  ccr: [{start_month: 24, end_month: 12, every_months: 3, "
            "tests: [dre]}]\n",
            "end_month",
        ),
        (
            "surveillance:\n  ccr: [{start_month: 0, end_month: 12, every_months: 3, "
            "tests: [ct]}]\n",
            "tests",
        ),
        ("t2_threshold: 0.3\n", "t2_threshold"),
    ],
)
def test_bad_decision_config_is_refused(tmp_path: Any, text: str, match: str) -> None:
    override = tmp_path / "decision.yaml"
    override.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=match):
        load_section("decision", override)


def test_every_quality_problem_is_mapped_to_mri_criteria() -> None:
    assert set(QUALITY_AFFECTS) == set(QualityProblem)


def test_unreadable_imaging_payload_with_error_is_valid() -> None:
    imaging = ImagingFindings(quality=flag(QualityProblem.IMAGING_UNREADABLE))
    decision = decide(form(), imaging, config=CFG)
    payload = decision_to_dict(decision, study_key="unknown", provenance_ref="provenance.json")
    payload["error"] = "file x: not DICOM"  # what the run layer adds
    jsonschema.validate(payload, decision_schema(), cls=jsonschema.Draft202012Validator)
    assert (payload["decision"], payload["p_residual"]) == ("indeterminate", None)


def test_schema_is_valid_and_rejects_drift() -> None:
    schema = decision_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    payload = decision_to_dict(
        run_row({}, {}), study_key="case-001", provenance_ref="provenance.json"
    )
    jsonschema.validate(payload, schema, cls=jsonschema.Draft202012Validator)
    for broken in (
        {**payload, "decision": "maybe"},
        {**payload, "schema_version": "2.0"},
        {**payload, "criteria": [{**payload["criteria"][0], "status": "partly"}]},
        {k: v for k, v in payload.items() if k != "p_residual"},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, schema, cls=jsonschema.Draft202012Validator)
