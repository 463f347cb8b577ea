"""Run provenance: versions, resolved config, input hashes, seeds, threads, timings."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
from pathlib import Path
from typing import Any

from pipeline import RESEARCH_USE_STATEMENT, __version__
from pipeline.config import PipelineConfig

_LIBRARIES = ("numpy", "scipy", "SimpleITK", "pydicom", "highdicom", "pydantic", "torch", "monai")


def library_versions() -> dict[str, str]:
    versions = {"ccr-pipeline": __version__, "python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def hash_tree(path: Path) -> dict[str, Any]:
    """SHA-256 over the sorted relative paths and contents of every file under ``path``.

    Relative paths are hashed, never reported: they may carry identifiers.
    """
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        rel = file.relative_to(path) if path.is_dir() else Path(file.name)
        digest.update(str(rel).encode())
        with file.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return {"sha256": digest.hexdigest(), "n_files": len(files)}


def build_provenance(
    *,
    config: PipelineConfig,
    inputs: dict[str, Path | None],
    stages: dict[str, Any],
    timings: dict[str, float],
    warnings: list[str],
) -> dict[str, Any]:
    return {
        "research_use": RESEARCH_USE_STATEMENT,
        "versions": library_versions(),
        "platform": {
            "system": platform.system(),
            "machine": platform.machine(),
            "cpu_count": os.cpu_count(),
        },
        "config": config.model_dump(mode="json"),
        "seeds": {"registration_sampling": config.registration.sampling_seed},
        "threads": {"registration": config.registration.threads or "SimpleITK default"},
        "inputs": {
            name: hash_tree(path) if path is not None else None for name, path in inputs.items()
        },
        "stages": stages,
        "timings_s": timings,
        "warnings": warnings,
    }
