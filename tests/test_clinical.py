"""Clinical inputs: YAML / JSON / CSV forms, their errors, and every shipped form and config."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from pipeline.clinical import (
    CSV_COLUMNS,
    Biopsy,
    ClinicalInputs,
    DreFinding,
    EndoscopyFinding,
    MmrStatus,
    MStage,
    NeoadjuvantRegimen,
    NodeAssessment,
    load_clinical,
    load_clinical_csv,
)
from pipeline.config import SCHEMAS, load_config, load_section
from pipeline.errors import ClinicalInputError

REPO = Path(__file__).resolve().parents[1]

FORM_YAML = """\
schema_version: "1.0"
patient_key: case-003                 # pseudonymous key
assessment_date: "2026-03-02"
dre: no_palpable_tumour
endoscopy:
  date: "2026-03-01"
  findings: [flat_white_scar, telangiectasia]
biopsy: none
mri_nodes: no_suspicious_nodes
cea: {value_ng_ml: 2.1, date: "2026-02-27"}
pet: null
neoadjuvant_regimen: lccrt_consolidation_chemo
mmr_status: pMMR
m_stage: M0
baseline_date: "2025-12-01"
"""

CSV_HEADER = ",".join(CSV_COLUMNS)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def with_line(key: str, value: str) -> str:
    """FORM_YAML with the top-level ``key`` (and its nested lines) set to ``value``."""
    lines, skipping = [], False
    for line in FORM_YAML.splitlines():
        if line.startswith(f"{key}:"):
            skipping = True
        elif skipping and line.startswith(" "):
            continue
        else:
            skipping = False
            lines.append(line)
    return "\n".join([*lines, f"{key}: {value}"]) + "\n"


def test_yaml_form_loads(tmp_path: Path) -> None:
    form = load_clinical(write(tmp_path, "clinical.yaml", FORM_YAML))
    assert form.patient_key == "case-003"
    assert form.assessment_date == dt.date(2026, 3, 2)
    assert form.dre == (DreFinding.NO_PALPABLE_TUMOUR,)
    assert form.endoscopy is not None
    assert form.endoscopy.findings == (
        EndoscopyFinding.FLAT_WHITE_SCAR,
        EndoscopyFinding.TELANGIECTASIA,
    )
    assert form.biopsy is Biopsy.NONE
    assert form.mri_nodes is NodeAssessment.NO_SUSPICIOUS_NODES
    assert form.cea is not None and form.cea.value_ng_ml == 2.1
    assert form.pet is None
    assert form.neoadjuvant_regimen is NeoadjuvantRegimen.LCCRT_CONSOLIDATION_CHEMO
    assert (form.mmr_status, form.m_stage) == (MmrStatus.PMMR, MStage.M0)
    assert form.source == "clinical.yaml"


def test_json_form_equals_yaml_form(tmp_path: Path) -> None:
    import yaml

    data = yaml.safe_load(FORM_YAML)
    from_json = load_clinical(write(tmp_path, "clinical.json", json.dumps(data)))
    from_yaml = load_clinical(write(tmp_path, "clinical.yml", FORM_YAML))
    assert from_json == from_yaml


def test_minimal_form_reads_absent_as_not_done(tmp_path: Path) -> None:
    form = load_clinical(write(tmp_path, "c.yaml", "patient_key: p1\n"))
    assert (form.dre, form.endoscopy, form.mri_nodes, form.assessment_date) == (
        None,
        None,
        None,
        None,
    )
    assert (form.biopsy, form.mmr_status, form.m_stage) == (
        Biopsy.NONE,
        MmrStatus.UNKNOWN,
        MStage.MX,
    )


@pytest.mark.parametrize(
    ("key", "value", "attribute", "expected"),
    [
        (
            "dre",
            "[no_palpable_tumour, smooth_induration]",
            "dre",
            (DreFinding.NO_PALPABLE_TUMOUR, DreFinding.SMOOTH_INDURATION),
        ),
        ("dre", "No Palpable Tumor", "dre", (DreFinding.NO_PALPABLE_TUMOUR,)),
        ("mmr_status", "MSI-H", "mmr_status", MmrStatus.DMMR),
        ("mmr_status", "MSS", "mmr_status", MmrStatus.PMMR),
        ("mmr_status", "dmmr", "mmr_status", MmrStatus.DMMR),
        ("m_stage", "M1a", "m_stage", MStage.M1),
        ("biopsy", "null", "biopsy", Biopsy.NONE),
        ("schema_version", "1.0", "schema_version", "1.0"),
        ("patient_key", "17", "patient_key", "17"),
    ],
)
def test_values_are_coerced(
    tmp_path: Path, key: str, value: str, attribute: str, expected: object
) -> None:
    form = load_clinical(write(tmp_path, "c.yaml", with_line(key, value)))
    assert getattr(form, attribute) == expected


def test_form_is_frozen(tmp_path: Path) -> None:
    form = load_clinical(write(tmp_path, "c.yaml", FORM_YAML))
    with pytest.raises(ValueError, match="frozen"):
        form.dre = None


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        (
            "dre",
            "palpable",
            r"field 'dre': 'palpable' is not one of "
            r"no_palpable_tumour, smooth_induration, palpable_mass",
        ),
        (
            "dre",
            "[no_palpable_tumour, hard]",
            r"field 'dre': 'hard' is not one of no_palpable_tumour",
        ),
        ("dre", "[]", r"field 'dre': empty list"),
        (
            "endoscopy",
            "{findings: [polyp]}",
            r"field 'endoscopy.findings': 'polyp' is not one of flat_white_scar, telangiectasia, "
            r"erythematous_ulcer, superficial_ulcer, mild_erythema, irregular_mucosa, "
            r"visible_tumour$",
        ),
        ("endoscopy", "{findings: []}", r"field 'endoscopy.findings': empty list"),
        ("endoscopy", "{date: 2026-03-01}", r"field 'endoscopy.findings' is required"),
        ("endoscopy", "done", r"field 'endoscopy': expected a mapping with keys date, findings"),
        ("biopsy", "maybe", r"field 'biopsy': 'maybe' is not one of none, negative, positive"),
        (
            "mri_nodes",
            "present",
            r"field 'mri_nodes': 'present' is not one of no_suspicious_nodes, partial_regression, "
            r"suspicious_not_regressed",
        ),
        ("neoadjuvant_regimen", "tnt", r"field 'neoadjuvant_regimen': 'tnt' is not one of lccrt, "),
        ("mmr_status", "MSI", r"field 'mmr_status': 'MSI' is not one of pMMR, dMMR, unknown"),
        ("m_stage", "M2", r"field 'm_stage': 'M2' is not one of M0, M1, MX"),
        ("assessment_date", '"2026-13-01"', r"field 'assessment_date': '2026-13-01' is not a date"),
        (
            "baseline_date",
            '"2026-06-01"',
            r"baseline_date 2026-06-01 is after assessment_date 2026-03-02",
        ),
        (
            "schema_version",
            '"2.0"',
            r"field 'schema_version': '2.0' is not supported; supported: 1.0",
        ),
        (
            "patient_key",
            "John Smith",
            r"field 'patient_key': 'John Smith' is not a pseudonymous key",
        ),
        ("cea", "{value_ng_ml: -1}", r"field 'cea.value_ng_ml': .*greater than or equal to 0"),
        ("pet", "{suvmax_before: 12}", r"field 'pet.suvmax_after' is required"),
        (
            "dre_result",
            "no_palpable_tumour",
            r"unknown field 'dre_result'; allowed fields: schema_version, ",
        ),
    ],
)
def test_bad_yaml_names_field_and_allowed_values(
    tmp_path: Path, key: str, value: str, match: str
) -> None:
    path = write(tmp_path, "clinical.yaml", with_line(key, value))
    with pytest.raises(ClinicalInputError, match=match) as info:
        load_clinical(path)
    assert "clinical.yaml" in str(info.value)


def test_missing_patient_key(tmp_path: Path) -> None:
    with pytest.raises(ClinicalInputError, match="field 'patient_key' is required"):
        load_clinical(write(tmp_path, "c.yaml", "dre: palpable_mass\n"))


@pytest.mark.parametrize(
    ("name", "text", "match"),
    [
        ("c.yaml", "dre: [unclosed\n", "not valid YAML"),
        ("c.json", "{not json", "not valid JSON"),
        ("c.yaml", "- a\n- b\n", "top level must be a mapping of fields, got list"),
        (
            "c.txt",
            "patient_key: p\n",
            r"unsupported file type '.txt'; use one of .yaml, .yml, .json",
        ),
    ],
)
def test_bad_files(tmp_path: Path, name: str, text: str, match: str) -> None:
    with pytest.raises(ClinicalInputError, match=match):
        load_clinical(write(tmp_path, name, text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ClinicalInputError, match="clinical form not found"):
        load_clinical(tmp_path / "absent.yaml")


# --- CSV ---------------------------------------------------------------------------------


def csv_row(**cells: str) -> str:
    return ",".join(cells.get(column, "") for column in CSV_COLUMNS)


def test_csv_cohort_loads(tmp_path: Path) -> None:
    text = "\n".join(
        [
            CSV_HEADER,
            csv_row(
                patient_key="case-001",
                assessment_date="2026-03-02",
                dre="no_palpable_tumour",
                endoscopy_date="2026-03-01",
                endoscopy_findings="flat_white_scar; telangiectasia",
                biopsy="none",
                mri_nodes="no_suspicious_nodes",
                cea_ng_ml="2.1",
                cea_date="2026-02-27",
                neoadjuvant_regimen="lccrt_consolidation_chemo",
                mmr_status="pMMR",
                m_stage="M0",
                baseline_date="2025-12-01",
            ),
            csv_row(
                patient_key="case-002",
                dre="smooth_induration;no_palpable_tumour",
                pet_suvmax_before="12.3",
                pet_suvmax_after="3.1",
                mmr_status="MSI-H",
            ),
            csv_row(),  # blank row: skipped
        ]
    )
    forms = load_clinical_csv(write(tmp_path, "cohort.csv", "\ufeff" + text + "\n"))
    assert list(forms) == ["case-001", "case-002"]
    first, second = forms["case-001"], forms["case-002"]
    yaml_form = load_clinical(
        write(tmp_path, "clinical.yaml", FORM_YAML.replace("case-003", "case-001"))
    )
    assert first == yaml_form
    assert second.dre == (DreFinding.SMOOTH_INDURATION, DreFinding.NO_PALPABLE_TUMOUR)
    assert second.endoscopy is None and second.mri_nodes is None
    assert second.pet is not None and second.pet.suvmax_after == 3.1
    assert second.mmr_status is MmrStatus.DMMR
    assert second.source == "cohort.csv row 3"


def test_csv_may_leave_out_columns(tmp_path: Path) -> None:
    forms = load_clinical_csv(write(tmp_path, "c.csv", "patient_key,dre\np1,palpable_mass\n"))
    assert forms["p1"].dre == (DreFinding.PALPABLE_MASS,)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "patient_key,dre\np1,palpable\n",
            r"row 2: field 'dre': 'palpable' is not one of "
            r"no_palpable_tumour, smooth_induration, palpable_mass",
        ),
        (
            "patient_key,endoscopy_findings\np1,flat_white_scar;polyp\n",
            r"row 2: field 'endoscopy_findings': 'polyp' is not one of flat_white_scar",
        ),
        (
            "patient_key,endoscopy_date\np1,2026-03-01\n",
            r"row 2: field 'endoscopy_findings' is required",
        ),
        ("patient_key,cea_date\np1,2026-03-01\n", r"row 2: field 'cea_ng_ml' is required"),
        ("patient_key,cea_ng_ml\np1,high\n", r"row 2: field 'cea_ng_ml': .*valid number"),
        (
            "patient_key,dre_result\np1,x\n",
            r"unknown column\(s\) 'dre_result'; allowed columns: patient_key, ",
        ),
        ("dre\npalpable_mass\n", r"the column 'patient_key' is required"),
        ("patient_key,dre,dre\np1,a,b\n", r"column\(s\) given twice: dre"),
        (
            "patient_key,dre\np1,palpable_mass\np1,palpable_mass\n",
            r"row 3: patient_key 'p1' appears twice",
        ),
        ("patient_key,dre\np1,palpable_mass,extra\n", r"row 2: 3 cells, the header has 2"),
        ("", r"empty CSV"),
    ],
)
def test_bad_csv_names_row_column_and_allowed_values(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(ClinicalInputError, match=match) as info:
        load_clinical_csv(write(tmp_path, "cohort.csv", text))
    assert "cohort.csv" in str(info.value)


def test_csv_columns_cover_every_form_field() -> None:
    top = {field.split(".")[0] for field in CSV_COLUMNS.values()}
    assert top == set(ClinicalInputs.model_fields)


# --- everything shipped loads --------------------------------------------------------------


def test_every_shipped_config_loads() -> None:
    import yaml

    config = load_config()
    shipped = sorted((REPO / "configs").glob("*.yaml"))
    assert {p.stem for p in shipped} >= set(SCHEMAS)
    for path in shipped:
        if path.stem in SCHEMAS:
            section = load_section(path.stem)
            assert isinstance(section, SCHEMAS[path.stem])
            assert getattr(config, path.stem) == section
        else:  # a config read by a third-party tool (e.g. pyradiomics params)
            assert isinstance(yaml.safe_load(path.read_text(encoding="utf-8")), dict)


def test_every_shipped_clinical_form_loads() -> None:
    paths = sorted(
        p
        for suffix in ("yaml", "yml", "json")
        for p in (REPO / "data_samples").glob(f"**/clinical.{suffix}")
    )
    if not paths:
        pytest.skip("no clinical forms shipped in data_samples/ yet")
    for path in paths:
        assert load_clinical(path).schema_version == "1.0"
