"""``pipeline.batch`` without a cluster: inputs, manifest, hashes, ledger, planning, results,
the shared network, the CLI help. The runs on Dask are in ``test_batch_runs.py``."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.batch import (
    RESULT_COLUMNS,
    RUN_COLUMNS,
    InputKind,
    Status,
    StudyTask,
    discover_tasks,
    open_ledger,
    read_manifest,
)
from pipeline.batch._api import BatchOptions, _needs_run, _Planned
from pipeline.batch._hashing import config_hash, input_hash, output_hashes, outputs_intact
from pipeline.batch._ledger import LedgerRow
from pipeline.batch._results import result_row, write_results
from pipeline.batch._tasks import detect_kind
from pipeline.cli import app
from pipeline.config import load_config
from pipeline.config.series_rules import SeriesRulesConfig
from pipeline.errors import InputError
from pipeline.phantom import PhantomOptions, generate_cohort


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two small phantom cases (restaging + baseline + clinical.yaml + truth.json)."""
    root = tmp_path_factory.mktemp("batch-cohort")
    generate_cohort(root, cases=2, seed=5, options=PhantomOptions(small=True))
    return root


@pytest.fixture(scope="module")
def rules() -> SeriesRulesConfig:
    return load_config(None).series_rules


# ----------------------------------------------------------------------------- inputs
def test_case_folder_gives_one_task_per_case_and_never_reads_truth(
    cohort: Path, rules: SeriesRulesConfig
) -> None:
    assert detect_kind(cohort) is InputKind.CASES
    tasks = discover_tasks(cohort, rules=rules)
    assert [t.entry for t in tasks] == ["case-000", "case-001"]
    first = tasks[0]
    assert first.study_dir == (cohort / "case-000" / "restaging").resolve()
    assert first.baseline_dir == (cohort / "case-000" / "baseline").resolve()
    assert first.clinical_path == (cohort / "case-000" / "clinical.yaml").resolve()
    assert "truth" not in repr(tasks)


def test_study_tree_finds_studies_by_uid_and_pairs_baselines_by_patient(
    cohort: Path, rules: SeriesRulesConfig
) -> None:
    tasks = discover_tasks(cohort, kind=InputKind.STUDIES, rules=rules)
    assert len(tasks) == 4  # restaging and baseline of two patients
    assert all(t.entry == t.study_key and t.study_key.startswith("st-") for t in tasks)
    assert {t.study_dir.name for t in tasks} == {"restaging", "baseline"}
    assert all(t.study_uid is None for t in tasks)  # each study has a folder of its own

    paired = discover_tasks(
        cohort,
        kind=InputKind.STUDIES,
        rules=rules,
        pair_baseline=True,
    )
    assert len(paired) == 2
    for task in paired:
        assert task.study_dir.name == "restaging"
        assert task.baseline_dir is not None and task.baseline_dir.name == "baseline"
        assert task.baseline_dir.parent == task.study_dir.parent


def test_studies_sharing_a_folder_are_chosen_by_uid(
    cohort: Path, rules: SeriesRulesConfig, tmp_path: Path
) -> None:
    flat = tmp_path / "flat"
    flat.mkdir()
    for case in ("case-000", "case-001"):
        for file in (cohort / case / "restaging").iterdir():
            shutil.copy(file, flat / f"{case}-{file.name}")
    tasks = discover_tasks(flat, rules=rules)
    assert len(tasks) == 2
    for task in tasks:
        assert task.study_dir == flat.resolve()
        assert task.study_uid is not None
        assert len({f.name[:8] for f in task.study_files}) == 1  # one case's files only
    assert sorted(f for t in tasks for f in t.study_files) == sorted(flat.resolve().iterdir())
    assert input_hash(tasks[0]) != input_hash(tasks[1])


def test_batch_input_must_exist_and_be_a_folder_or_csv(
    tmp_path: Path, rules: SeriesRulesConfig
) -> None:
    with pytest.raises(InputError, match="batch input not found"):
        discover_tasks(tmp_path / "nowhere", rules=rules)
    (tmp_path / "list.txt").write_text("x\n")
    with pytest.raises(InputError, match=r"must be a CSV manifest \(\.csv\)"):
        discover_tasks(tmp_path / "list.txt", rules=rules)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no studies found"):
        discover_tasks(tmp_path / "empty", rules=rules)


# ----------------------------------------------------------------------------- manifest
def test_manifest_reads_relative_paths_clinical_columns_and_labels(
    cohort: Path, tmp_path: Path
) -> None:
    manifest = tmp_path / "cohort.csv"
    manifest.write_text(
        "case_id,study,baseline,clinical,reference_label,patient_key,dre,endoscopy_findings\n"
        f"a,{cohort}/case-000/restaging,{cohort}/case-000/baseline,"
        f"{cohort}/case-000/clinical.yaml,1,,,\n"
        f"b,{cohort}/case-001/restaging,,,0,,no_palpable_tumour,flat_white_scar;telangiectasia\n",
        encoding="utf-8",
    )
    a, b = read_manifest(manifest)
    assert (a.entry, a.reference_label, a.clinical_form, a.problem) == ("a", "1", None, None)
    assert a.baseline_dir == (cohort / "case-000" / "baseline").resolve()
    assert b.baseline_dir is None and b.clinical_path is None
    assert b.clinical_form == {
        "patient_key": "b",
        "dre": ["no_palpable_tumour"],
        "endoscopy": {"findings": ["flat_white_scar", "telangiectasia"]},
    }
    relative = tmp_path / "relative.csv"
    shutil.copytree(cohort / "case-001", tmp_path / "data" / "case-001")
    relative.write_text("study\ndata/case-001/restaging\n", encoding="utf-8")
    (task,) = read_manifest(relative)
    assert task.entry == "row-2"
    assert task.study_dir == (tmp_path / "data" / "case-001" / "restaging").resolve()


def test_manifest_row_problems_fail_that_row_only(tmp_path: Path, cohort: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "study,clinical,dre\n"
        f"{cohort}/case-000/restaging,,\n"
        f"{tmp_path}/missing,,\n"
        f"{cohort}/case-001/restaging,{cohort}/case-001/clinical.yaml,palpable_mass\n",
        encoding="utf-8",
    )
    ok, missing, both = read_manifest(manifest)
    assert ok.problem is None
    assert missing.problem is not None and "row 3: study folder" in missing.problem
    assert both.problem is not None and "either as a file" in both.problem


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty manifest"),
        ("baseline\nx\n", "needs a 'study' column"),
        ("study,colour\nx,y\n", "unknown manifest column.*'colour'.*use only these columns"),
        ("study,study\nx,y\n", "given twice: study"),
        ("study,case_id\nx,a\ny,a\n", "case_id given more than once: a"),
        ("study,case_id\nx\n", "row 2: 1 cells, the header has 2"),
    ],
)
def test_bad_manifests_are_refused(tmp_path: Path, text: str, match: str) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=match):
        read_manifest(manifest)


# ----------------------------------------------------------------------------- hashes
def test_input_hash_follows_contents_not_location(cohort: Path, tmp_path: Path) -> None:
    task = StudyTask(
        entry="x",
        study_dir=cohort / "case-000" / "restaging",
        clinical_path=cohort / "case-000" / "clinical.yaml",
    )
    moved = tmp_path / "moved"
    shutil.copytree(cohort / "case-000", moved)
    same = StudyTask(
        entry="renamed", study_dir=moved / "restaging", clinical_path=moved / "clinical.yaml"
    )
    assert input_hash(task) == input_hash(same)
    (moved / "clinical.yaml").write_text(
        (moved / "clinical.yaml").read_text().replace("biopsy: negative", "biopsy: positive")
    )
    assert input_hash(task) != input_hash(same)
    form = StudyTask(entry="x", study_dir=moved / "restaging", clinical_form={"dre": ["x"]})
    other = StudyTask(entry="x", study_dir=moved / "restaging", clinical_form={"dre": ["y"]})
    assert input_hash(form) != input_hash(other)


def test_config_hash_follows_config_and_output_options() -> None:
    config = load_config(None)
    base = config_hash(config, options={"dwi_grid": False})
    assert base == config_hash(load_config(None), options={"dwi_grid": False})
    assert base != config_hash(config, options={"dwi_grid": True})
    changed = config.model_copy(
        update={"diffusion": config.diffusion.model_copy(update={"high_b_value": 1400.0})}
    )
    assert base != config_hash(changed, options={"dwi_grid": False})


def test_outputs_intact_notices_a_missing_extra_or_resized_file(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "decision.json").write_text("{}")
    (folder / "t2w.nii.gz").write_bytes(b"12345")
    recorded = output_hashes(folder)
    assert recorded["t2w.nii.gz"]["bytes"] == 5
    assert outputs_intact(folder, recorded)
    (folder / "extra.txt").write_text("x")
    assert not outputs_intact(folder, recorded)
    (folder / "extra.txt").unlink()
    (folder / "t2w.nii.gz").write_bytes(b"123")
    assert not outputs_intact(folder, recorded)
    assert not outputs_intact(tmp_path / "gone", recorded)


# ----------------------------------------------------------------------------- ledger
def test_ledger_records_a_study_through_its_states(tmp_path: Path) -> None:
    with open_ledger(tmp_path) as ledger:
        ledger.queue("st-1", entry="a", input_hash="i", config_hash="c")
        ledger.start("st-1", worker_pid=123)
        ledger.fail("st-1", entry="a", input_hash="i", config_hash="c", error="boom")
        ledger.queue("st-1", entry="a2", input_hash="i", config_hash="c")
        ledger.start("st-1", worker_pid=124)
        ledger.finish(
            "st-1",
            outputs={"decision.json": {"sha256": "x", "bytes": 2}},
            duration_s=1.5,
            timings={"total": 1.2},
            peak_rss_mb=512.0,
        )
    with open_ledger(tmp_path) as ledger:  # reopened: everything was committed
        row = ledger.get("st-1")
        assert ledger.key_for_input("i") == "st-1"
        assert ledger.key_for_input("other") is None
    assert row is not None
    assert (row.status, row.attempts, row.entry, row.error) == (Status.DONE, 2, "a2", None)
    assert (row.worker_pid, row.timings, row.peak_rss_mb) == (124, {"total": 1.2}, 512.0)
    assert row.outputs == {"decision.json": {"sha256": "x", "bytes": 2}}


def test_a_file_that_is_no_ledger_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ledger.sqlite").write_text("not a database, just text" * 100)
    with pytest.raises(InputError, match="not a batch ledger"), open_ledger(tmp_path):
        pass


def _row(status: Status, *, input_hash: str = "i", config_hash: str = "c") -> LedgerRow:
    return LedgerRow(
        study_key="st-1",
        entry="a",
        input_hash=input_hash,
        config_hash=config_hash,
        status=status,
        outputs={"decision.json": {"sha256": "x", "bytes": 2}},
    )


@pytest.mark.parametrize(
    ("row", "options", "expected"),
    [
        (None, BatchOptions(), True),
        (_row(Status.DONE), BatchOptions(), False),
        (_row(Status.DONE), BatchOptions(force=True), True),
        (_row(Status.DONE, input_hash="changed"), BatchOptions(), True),
        (_row(Status.DONE, config_hash="changed"), BatchOptions(), True),
        (_row(Status.FAILED), BatchOptions(), False),
        (_row(Status.FAILED), BatchOptions(retry_failed=True), True),
        (_row(Status.FAILED, input_hash="changed"), BatchOptions(), True),
        (_row(Status.QUEUED), BatchOptions(), True),
        (_row(Status.RUNNING), BatchOptions(), True),
    ],
)
def test_rerun_skips_done_and_identical_and_redoes_the_rest(
    tmp_path: Path, row: LedgerRow | None, options: BatchOptions, expected: bool
) -> None:
    final = tmp_path / "st-1"
    final.mkdir()
    (final / "decision.json").write_text("{}")
    item = _Planned(StudyTask(entry="a", study_dir=tmp_path), "st-1", "i")
    assert _needs_run(item, row, cfg_hash="c", options=options, final=final) is expected


def test_done_study_whose_outputs_went_missing_runs_again(tmp_path: Path) -> None:
    item = _Planned(StudyTask(entry="a", study_dir=tmp_path), "st-1", "i")
    row = _row(Status.DONE)
    assert _needs_run(item, row, cfg_hash="c", options=BatchOptions(), final=tmp_path / "gone")


# ----------------------------------------------------------------------------- results
def test_results_columns_are_stable() -> None:
    assert RESULT_COLUMNS == (
        "study_key",
        "entry",
        "status",
        "decision",
        "p_residual",
        "p_residual_uncertainty",
        "scorer",
        "p_residual_rules",
        "p_residual_radiomics",
        "p_residual_network",
        "tumour_bed_status",
        "tumour_bed_volume_ml",
        "restricted_volume_ml",
        "restricted_max_extent_mm",
        "shine_through_volume_ml",
        "adc_median_bed",
        "adc_median_restricted",
        "t2_intermediate_fraction",
        "t2_bright_fraction",
        "criterion_dre",
        "criterion_endoscopy",
        "criterion_mri_t2w",
        "criterion_mri_dwi",
        "criterion_nodes",
        "criterion_biopsy",
        "criterion_quality",
        "quality_ok",
        "quality_flags",
        "missing",
        "reference_label",
        "error",
    )
    assert RUN_COLUMNS == ("attempts", "duration_s", "peak_rss_mb", "finished_at", "timings_s")


def test_results_rows_come_from_decisions_and_ledger(tmp_path: Path) -> None:
    import pandas as pd

    folder = tmp_path / "studies" / "st-b"
    folder.mkdir(parents=True)
    decision = {
        "decision": "near_cCR",
        "p_residual": 0.123456789,
        "criteria": [{"name": "dre", "status": "met"}, {"name": "quality", "status": "not_met"}],
        "missing": ["clinical.mri_nodes"],
        "quality": {"ok": False, "flags": [{"problem": "adc_fit_poor", "detail": "x"}]},
        "imaging": {"scorer": "rules-v1", "tumour_bed_volume_ml": 2.5, "p_residual_rules": 0.1},
    }
    (folder / "decision.json").write_text(json.dumps(decision))
    done = LedgerRow(
        "st-b", "b", "i", "c", Status.DONE, attempts=2, duration_s=3.0, timings={"total": 2.9}
    )
    failed = LedgerRow("st-a", "a", "i", "c", Status.FAILED, attempts=1, error="boom")
    rows = [
        result_row("st-b", entry="b", reference_label="1", ledger=done, folder=folder),
        result_row("st-a", entry="a", reference_label=None, ledger=failed, folder=tmp_path / "x"),
    ]
    parquet, csv = write_results(tmp_path, rows)
    table = pd.read_csv(csv, dtype=str, keep_default_na=False)
    assert tuple(table.columns) == RESULT_COLUMNS
    assert list(table["entry"]) == ["a", "b"]  # sorted by entry
    a, b = table.to_dict("records")
    assert (a["status"], a["error"], a["decision"]) == ("failed", "boom", "")
    assert (b["decision"], b["p_residual"], b["criterion_dre"]) == ("near_cCR", "0.123457", "met")
    assert (b["criterion_quality"], b["criterion_nodes"], b["quality_ok"]) == (
        "not_met",
        "",
        "False",
    )
    assert (b["quality_flags"], b["missing"], b["reference_label"]) == (
        "adc_fit_poor",
        "clinical.mri_nodes",
        "1",
    )
    assert (b["scorer"], b["tumour_bed_volume_ml"]) == ("rules-v1", "2.5")
    full = pd.read_parquet(parquet)
    assert tuple(full.columns) == (*RESULT_COLUMNS, *RUN_COLUMNS)
    assert full.loc[1, "p_residual"] == 0.123456789
    assert int(full.loc[1, "attempts"]) == 2
    assert json.loads(full.loc[1, "timings_s"]) == {"total": 2.9}
    assert not list(tmp_path.glob(".tmp-*"))


# ----------------------------------------------------------------------------- shared network
def test_shared_network_merges_concurrent_calls_into_one_batch() -> None:
    import torch

    from pipeline.batch._worker import shared_network

    class Slow(torch.nn.Module):
        """A linear layer whose first call waits, so the next callers queue up behind it."""

        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(4, 2)
            self.calls = 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.calls += 1
            if self.calls == 1:
                time.sleep(0.5)
            return self.linear(x)

    torch.manual_seed(0)
    inner = Slow()
    shared = shared_network(inner, device="cpu", max_batch=8)
    assert shared.to("cuda") is shared  # the shared copy never moves
    inputs = [torch.randn(2, 4) for _ in range(4)]
    outputs: dict[int, torch.Tensor] = {}

    def call(i: int) -> None:
        with torch.inference_mode():
            outputs[i] = shared(inputs[i])

    first = threading.Thread(target=call, args=(0,))
    first.start()
    time.sleep(0.1)  # the first call now holds the network
    rest = [threading.Thread(target=call, args=(i,)) for i in (1, 2, 3)]
    for thread in rest:
        thread.start()
    for thread in [first, *rest]:
        thread.join(timeout=30)
    assert shared.batch_sizes == [1, 3]
    with torch.inference_mode():
        for i, x in enumerate(inputs):
            assert torch.allclose(outputs[i], inner.linear(x), atol=1e-6)


def test_shared_network_hands_an_error_to_every_caller() -> None:
    import torch

    from pipeline.batch._worker import shared_network

    class Broken(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise ValueError("bad input")

    shared = shared_network(Broken(), device="cpu", max_batch=2)
    with pytest.raises(ValueError, match="bad input"):
        shared(torch.zeros(1, 3))


# ----------------------------------------------------------------------------- CLI
def test_batch_command_is_registered_and_documents_its_options() -> None:
    runner = CliRunner()
    top = runner.invoke(app, ["--help"])
    assert top.exit_code == 0 and "batch" in top.output
    result = runner.invoke(app, ["batch", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in (
        "--out",
        "--input-kind",
        "--pair-baseline",
        "--workers",
        "--scheduler",
        "--study-timeout",
        "--memory-limit",
        "--compute-threads",
        "--gpu-batch",
        "--device",
        "--retry-failed",
        "--force",
        "--keep-identifiers",
        "--dwi-grid",
        "--config",
    ):
        assert option in result.output, option


def test_batch_command_exits_1_on_bad_input(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["batch", str(tmp_path / "nowhere"), "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "batch input not found" in result.output
