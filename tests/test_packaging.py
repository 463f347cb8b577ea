"""A non-editable install carries configs, weights and samples (``pip install .``)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_ships_resources_and_loads_them_installed(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(REPO),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next((tmp_path / "dist").glob("ccr_pipeline-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for config in (REPO / "configs").glob("*.yaml"):
        assert f"pipeline/_resources/configs/{config.name}" in names
    assert "pipeline/schemas/decision.schema.json" in names
    samples = [p for p in (REPO / "data_samples").rglob("*") if p.is_file()]
    for sample in samples[:20]:
        rel = sample.relative_to(REPO).as_posix()
        assert f"pipeline/_resources/{rel}" in names

    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    probe = (
        "import pipeline, pipeline.resources as r; from pipeline.config import load_config;"
        "load_config(); print(pipeline.__file__); print(r.configs_dir())"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env={"PYTHONPATH": str(target)},
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert out[0].startswith(str(target)) and out[1].startswith(str(target)), out
