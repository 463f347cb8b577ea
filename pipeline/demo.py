"""``ccr demo``: run the shipped sample patients and set their decisions beside the truth.

Only this comparison column reads a phantom's ``truth.json``; the pipeline never does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from pipeline.config import load_config
from pipeline.errors import InputError
from pipeline.resources import samples_dir
from pipeline.run import run_study


@dataclass(frozen=True)
class DemoRow:
    case: str
    case_type: str
    expected: str
    decision: str
    p_residual: float | None
    seconds: float

    @property
    def agrees(self) -> bool:
        return self.expected == self.decision


def sample_cases(root: Path | None = None) -> list[Path]:
    """Sample case folders: each has ``restaging/`` and ``clinical.yaml``."""
    base = root or samples_dir()
    cases = sorted(p for p in base.iterdir() if (p / "restaging").is_dir())
    if not cases:
        raise InputError(f"no sample cases (folders with restaging/) found in {base}")
    return cases


def run_demo(out: Path, *, root: Path | None = None) -> list[DemoRow]:
    """Run every sample case into ``out/<case>/`` and return one row per case."""
    from rich.progress import Progress

    config = load_config()
    rows = []
    cases = sample_cases(root)
    with Progress(transient=True) as progress:
        task = progress.add_task("running sample patients", total=len(cases))
        for case in cases:
            baseline = case / "baseline"
            clinical = case / "clinical.yaml"
            result = run_study(
                case / "restaging",
                clinical_path=clinical if clinical.exists() else None,
                out_dir=out / case.name,
                config=config,
                baseline_dir=baseline if baseline.is_dir() else None,
            )
            truth_file = case / "truth.json"
            truth = json.loads(truth_file.read_text()) if truth_file.exists() else {}
            provenance = json.loads((out / case.name / "provenance.json").read_text())
            rows.append(
                DemoRow(
                    case=case.name,
                    case_type=str(truth.get("case_type", "?")),
                    expected=str(truth.get("expected_decision", "?")),
                    decision=str(result.decision["decision"]),
                    p_residual=result.decision.get("p_residual"),
                    seconds=float(provenance["timings_s"]["total"]),
                )
            )
            progress.advance(task)
    return rows


def render_demo_table(rows: list[DemoRow]) -> Table:
    table = Table(title="ccr demo: sample patients (research use only)")
    for column in ("case", "case type", "truth", "decision", "P(residual)", "agrees", "seconds"):
        table.add_column(column)
    for row in rows:
        p = "-" if row.p_residual is None else f"{row.p_residual:.2f}"
        mark = "[green]yes[/]" if row.agrees else "[red]NO[/]"
        table.add_row(
            row.case, row.case_type, row.expected, row.decision, p, mark, f"{row.seconds:.1f}"
        )
    return table
