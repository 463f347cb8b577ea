"""``ccr batch`` end to end on Dask, as a user runs it (a subprocess per batch).

One cohort of 20 small phantom cases serves every test; three of them are corrupted (DICOM
overwritten with garbage, DICOM truncated, a clinical form that is no YAML). The
uninterrupted run of all 20 is the reference: the other runs (killed and resumed, on an
existing scheduler, with a lost worker, with --gpu-batch) cover subsets of it and must give
the same rows. Studies run without their baseline (a manifest without that column) to keep
the suite fast; the case-folder input with baselines is covered by ``test_batch.py`` and the
benchmark.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil
import pytest

from pipeline.batch._hashing import output_hashes
from pipeline.phantom import PhantomOptions, generate_cohort

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

N_CASES = 20
GARBAGE, TRUNCATED, BAD_CLINICAL = "case-003", "case-008", "case-013"
CORRUPTED = (GARBAGE, TRUNCATED, BAD_CLINICAL)


@dataclass(frozen=True)
class Cohort:
    root: Path
    reference: Path  # output folder of the uninterrupted run of every case
    reference_rc: int
    reference_log: str

    def manifest(self, name: str, cases: Sequence[str]) -> Path:
        """A manifest of ``cases`` (restaging study, clinical form, reference label)."""
        path = self.root / f"{name}.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["case_id", "study", "clinical", "reference_label"])
            for case in cases:
                folder = self.root / "cases" / case
                truth = json.loads((folder / "truth.json").read_text())
                label = "1" if truth["residual_tumour"] else "0"
                writer.writerow(
                    [case, f"cases/{case}/restaging", f"cases/{case}/clinical.yaml", label]
                )
        return path

    def reference_csv(self, cases: Sequence[str]) -> str:
        """The reference results.csv restricted to ``cases``: its header and those rows,
        byte for byte (every row is one line)."""
        lines = (self.reference / "results.csv").read_text(encoding="utf-8").splitlines(True)
        rows = [line for line in lines[1:] if line.split(",")[1] in cases]
        assert len(rows) == len(cases)
        return lines[0] + "".join(rows)


def _batch(*args: str | Path, log: Path | None = None) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "pipeline.cli", "batch", *map(str, args)]
    out = log.open("wb") if log is not None else subprocess.DEVNULL
    return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)


def _run_batch(*args: str | Path, log: Path) -> tuple[int, str]:
    process = _batch(*args, log=log)
    rc = process.wait(timeout=600)
    return rc, log.read_text(encoding="utf-8", errors="replace")


def _ledger(out: Path) -> dict[str, dict[str, object]]:
    path = out / "ledger.sqlite"
    if not path.exists():
        return {}
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    db.row_factory = sqlite3.Row
    try:
        return {r["study_key"]: dict(r) for r in db.execute("SELECT * FROM studies")}
    except sqlite3.OperationalError:  # tables not created yet
        return {}
    finally:
        db.close()


def _wait_for(out: Path, condition: str, process: subprocess.Popen[bytes]) -> dict[str, dict]:
    """Poll the ledger until ``condition`` (``running`` or ``done>=k``) holds."""
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline:
        assert process.poll() is None, "the batch ended before the kill point"
        rows = _ledger(out)
        statuses = [r["status"] for r in rows.values()]
        if condition == "running":
            if "running" in statuses and "done" not in statuses:
                return rows
        elif statuses.count("done") >= int(condition.removeprefix("done>=")):
            return rows
        time.sleep(0.1)
    raise AssertionError(f"kill point {condition} not reached")


def _kill_batch(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the batch process; its Dask worker processes must go away by themselves."""
    children = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    _, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, f"worker processes left behind: {[p.pid for p in alive]}"


def _corrupt(cases: Path) -> None:
    rng = np.random.default_rng(0)
    for file in (cases / GARBAGE / "restaging").iterdir():
        file.write_bytes(rng.integers(0, 256, file.stat().st_size, dtype=np.uint8).tobytes())
    for file in (cases / TRUNCATED / "restaging").iterdir():
        os.truncate(file, int(file.stat().st_size * 0.6))
    (cases / BAD_CLINICAL / "clinical.yaml").write_text("dre: [no_palpable_tumour\nbiopsy: :\n")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cohort]:
    root = tmp_path_factory.mktemp("batch-runs")
    generate_cohort(root / "cases", cases=N_CASES, seed=7, options=PhantomOptions(small=True))
    _corrupt(root / "cases")
    cases = [f"case-{i:03d}" for i in range(N_CASES)]
    probe = Cohort(root, root / "reference", 0, "")
    manifest = probe.manifest("all", cases)
    rc, log = _run_batch(
        manifest, "--out", root / "reference", "--workers", "2", log=root / "ref.log"
    )
    yield Cohort(root, root / "reference", rc, log)


def _assert_clean(out: Path) -> None:
    """Only the expected files: every done study once, with exactly its recorded outputs."""
    rows = _ledger(out)
    done = {key for key, row in rows.items() if row["status"] == "done"}
    assert {p.name for p in (out / "studies").iterdir()} == done
    for key in done:
        assert output_hashes(out / "studies" / key) == json.loads(str(rows[key]["outputs"]))
    assert not any((out / ".tmp").iterdir())
    assert not [p for p in out.rglob("*") if p.name.startswith(".tmp-")]
    assert {p.name for p in out.iterdir()} == {
        ".lock",
        ".tmp",
        "ledger.sqlite",
        "studies",
        "results.csv",
        "results.parquet",
    }


def test_three_corrupted_studies_among_twenty_fail_alone(cohort: Cohort) -> None:
    assert cohort.reference_rc == 2, cohort.reference_log
    rows = _ledger(cohort.reference)
    by_entry = {row["entry"]: row for row in rows.values()}
    assert len(by_entry) == N_CASES
    failed = {entry for entry, row in by_entry.items() if row["status"] == "failed"}
    assert failed == set(CORRUPTED)
    assert sum(row["status"] == "done" for row in rows.values()) == N_CASES - 3
    assert "imaging input unreadable: no study found" in str(by_entry[GARBAGE]["error"])
    assert "imaging input unreadable" in str(by_entry[TRUNCATED]["error"])
    assert "pixel data" in str(by_entry[TRUNCATED]["error"])
    assert str(by_entry[BAD_CLINICAL]["error"]).startswith("ClinicalInputError")
    assert "17 done, 3 failed" in cohort.reference_log
    for entry in CORRUPTED:  # the summary table names every failed study
        assert entry in cohort.reference_log
    table = list(csv.DictReader(io.StringIO((cohort.reference / "results.csv").read_text())))
    assert [r["entry"] for r in table] == sorted(by_entry)
    assert {r["entry"]: r["status"] for r in table if r["status"] == "failed"}.keys() == failed
    for row in table:
        assert row["reference_label"] in ("0", "1")
        assert (row["decision"] != "") == (row["status"] == "done")
    _assert_clean(cohort.reference)


def test_rerun_skips_what_is_done(cohort: Cohort, tmp_path: Path) -> None:
    before = (cohort.reference / "results.csv").read_text()
    attempts = {k: r["attempts"] for k, r in _ledger(cohort.reference).items()}
    manifest = cohort.manifest("all", [f"case-{i:03d}" for i in range(N_CASES)])
    rc, log = _run_batch(manifest, "--out", cohort.reference, "--workers", "2", log=tmp_path / "l")
    assert rc == 2
    assert "0 run now, 20 kept from earlier runs" in log
    assert (cohort.reference / "results.csv").read_text() == before
    assert {k: r["attempts"] for k, r in _ledger(cohort.reference).items()} == attempts


def test_sigkill_at_three_points_then_resume_gives_the_uninterrupted_results(
    cohort: Cohort, tmp_path: Path
) -> None:
    cases = [f"case-{i:03d}" for i in range(5)]  # four studies and the garbage one
    manifest = cohort.manifest("killed", cases)
    out = tmp_path / "out"
    for point in ("running", "done>=1", "done>=3"):
        process = _batch(manifest, "--out", out, "--workers", "2", log=tmp_path / f"{point}.log")
        _wait_for(out, point, process)
        _kill_batch(process)
    rc, log = _run_batch(manifest, "--out", out, "--workers", "2", log=tmp_path / "final.log")
    assert rc == 2, log  # the garbage study fails, as in the reference
    assert (out / "results.csv").read_text() == cohort.reference_csv(cases)
    rows = _ledger(out)
    assert sorted(r["entry"] for r in rows.values()) == cases
    assert all(r["status"] == "done" for r in rows.values() if r["entry"] != GARBAGE)
    assert all(int(r["attempts"]) >= 1 for r in rows.values() if r["entry"] != GARBAGE)
    _assert_clean(out)


def test_existing_scheduler_with_two_workers_gives_the_same_results(
    cohort: Cohort, tmp_path: Path
) -> None:
    cases = ["case-000", "case-001", GARBAGE]
    manifest = cohort.manifest("scheduler", cases)
    scheduler_file = tmp_path / "scheduler.json"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "distributed.cli.dask_scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(scheduler_file),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        for _ in range(2):
            processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "distributed.cli.dask_worker",
                        address,
                        "--nthreads",
                        "1",
                        "--no-dashboard",
                        "--memory-limit",
                        "4GB",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    env=env,
                    cwd=tmp_path,
                )
            )
        out = tmp_path / "out"
        rc, log = _run_batch(manifest, "--out", out, "--scheduler", address, log=tmp_path / "l")
        assert rc == 2, log
        assert (out / "results.csv").read_text() == cohort.reference_csv(cases)
        pids = {int(r["worker_pid"]) for r in _ledger(out).values() if r["worker_pid"]}
        worker_pids = {p.pid for p in processes[1:]} | {
            c.pid for p in processes[1:] for c in psutil.Process(p.pid).children(recursive=True)
        }
        assert pids and pids <= worker_pids  # the studies ran on the external workers
        _assert_clean(out)
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def test_a_killed_worker_fails_its_study_only_and_retry_failed_redoes_it(
    cohort: Cohort, tmp_path: Path
) -> None:
    cases = ["case-004", "case-005"]
    manifest = cohort.manifest("lost-worker", cases)
    out = tmp_path / "out"
    process = _batch(manifest, "--out", out, "--workers", "2", log=tmp_path / "first.log")
    rows = _wait_for(out, "running", process)
    victim = next(r for r in rows.values() if r["status"] == "running" and r["worker_pid"])
    os.kill(int(victim["worker_pid"]), signal.SIGKILL)
    assert process.wait(timeout=600) == 2
    after = {r["entry"]: r for r in _ledger(out).values()}
    assert after[victim["entry"]]["status"] == "failed"
    assert "worker process died" in str(after[victim["entry"]]["error"])
    assert sorted(e for e, r in after.items() if r["status"] == "done") == sorted(
        set(cases) - {victim["entry"]}
    )
    _assert_clean(out)

    rc, log = _run_batch(
        manifest, "--out", out, "--workers", "2", "--retry-failed", log=tmp_path / "retry.log"
    )
    assert rc == 0, log
    assert (out / "results.csv").read_text() == cohort.reference_csv(cases)
    _assert_clean(out)


def test_study_timeout_fails_each_slow_study_and_the_batch_ends(
    cohort: Cohort, tmp_path: Path
) -> None:
    manifest = cohort.manifest("timeout", ["case-009", "case-010"])
    out = tmp_path / "out"
    start = time.monotonic()
    rc, log = _run_batch(
        manifest, "--out", out, "--workers", "1", "--study-timeout", "1", log=tmp_path / "l"
    )
    assert rc == 2, log
    assert time.monotonic() - start < 240
    rows = _ledger(out)
    assert [r["status"] for r in rows.values()] == ["failed", "failed"]
    assert all(r["error"] == "timed out after 1 s (--study-timeout)" for r in rows.values())
    _assert_clean(out)


def _form_columns(form: dict[str, object]) -> dict[str, str]:
    """A clinical form (as YAML) as the manifest's clinical columns."""
    from pipeline.clinical import CSV_COLUMNS

    cells = {}
    for column, field in CSV_COLUMNS.items():
        value: object = form
        for part in field.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None:
            cells[column] = ";".join(value) if isinstance(value, list) else str(value)
    return cells


def test_gpu_batch_shares_one_network_per_worker_on_cpu(cohort: Cohort, tmp_path: Path) -> None:
    """Two studies at once in one worker sharing its network; one of them with its clinical
    form as manifest columns, and a third whose columns are invalid."""
    import yaml

    from pipeline.clinical import CSV_COLUMNS

    cases = cohort.root / "cases"
    form = yaml.safe_load((cases / "case-012" / "clinical.yaml").read_text())
    rows = [
        {
            "case_id": "case-011",
            "study": "cases/case-011/restaging",
            "clinical": "cases/case-011/clinical.yaml",
        },
        {"case_id": "case-012", "study": "cases/case-012/restaging", **_form_columns(form)},
        {"case_id": "case-014", "study": "cases/case-014/restaging", "dre": "palpable"},
    ]
    for row in rows:
        truth = json.loads((cases / row["case_id"] / "truth.json").read_text())
        row["reference_label"] = "1" if truth["residual_tumour"] else "0"
    manifest = cohort.root / "shared.csv"
    with manifest.open("w", encoding="utf-8", newline="") as handle:
        columns = ["case_id", "study", "clinical", "reference_label", *CSV_COLUMNS]
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "out"
    rc, log = _run_batch(
        manifest, "--out", out, "--workers", "1", "--gpu-batch", "2", log=tmp_path / "l"
    )
    assert rc == 2, log
    got = list(csv.DictReader(io.StringIO((out / "results.csv").read_text())))
    want = list(csv.DictReader(io.StringIO(cohort.reference_csv(["case-011", "case-012"]))))
    for a, b in zip(got[:2], want, strict=True):
        for column, value in b.items():
            if column.startswith("p_residual") and value:
                assert float(a[column]) == pytest.approx(float(value), abs=1e-4), column
            else:
                assert a[column] == value, column
    bad = got[2]
    assert (bad["entry"], bad["status"]) == ("case-014", "failed")
    assert bad["error"].startswith("ClinicalInputError: manifest clinical columns: field 'dre'")
    pids = {r["worker_pid"] for r in _ledger(out).values()}
    assert len(pids) == 1  # every study in the one worker process
    logs = "".join((p / "batch.log").read_text() for p in (out / "studies").iterdir())
    if "segnet" in got[0]["scorer"]:
        assert "network shared by up to 2 studies" in logs
