"""The shipped sample patients: each gets the decision its truth states (``ccr demo``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.clinical import load_clinical
from pipeline.demo import run_demo, sample_cases
from pipeline.resources import samples_dir


def test_samples_are_small_and_complete() -> None:
    cases = sample_cases()
    assert 4 <= len(cases) <= 6
    total = sum(p.stat().st_size for p in samples_dir().rglob("*") if p.is_file())
    assert total < 30e6, total
    for case in cases:
        truth = json.loads((case / "truth.json").read_text())
        assert truth["expected_decision"] in {"cCR", "near_cCR", "incomplete", "indeterminate"}
        load_clinical(case / "clinical.yaml")  # valid form
        assert (case / "baseline").is_dir()


@pytest.mark.slow
def test_every_sample_gets_its_true_decision(tmp_path: Path) -> None:
    rows = run_demo(tmp_path)
    assert [r.case for r in rows] == [c.name for c in sample_cases()]
    assert all(row.agrees for row in rows), [(r.case, r.expected, r.decision) for r in rows]
    assert {r.decision for r in rows} >= {"cCR", "near_cCR", "incomplete", "indeterminate"}


@pytest.mark.slow
def test_demo_command_prints_the_table(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "decisions agree with the phantom truth" in result.output
    assert "Research use only" in result.output
