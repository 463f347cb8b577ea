"""Hashes the ledger compares: inputs of a study, the configuration, a study's outputs.

All SHA-256, hex. Relative paths are hashed (moving a cohort keeps its hashes) and never
stored: they may carry identifiers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pipeline import __version__
from pipeline.batch._tasks import StudyTask
from pipeline.config import PipelineConfig

_CHUNK = 1 << 20


def _update_file(digest: Any, path: Path) -> None:
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)


def tree_hash(files: Iterable[Path], root: Path) -> str:
    """SHA-256 over the sorted paths (relative to ``root``) and contents of ``files``."""
    digest = hashlib.sha256()
    for file in sorted(files):
        rel = file.relative_to(root) if root in file.parents else Path(file.name)
        digest.update(rel.as_posix().encode("utf-8") + b"\0")
        _update_file(digest, file)
        digest.update(b"\0")
    return digest.hexdigest()


def folder_files(folder: Path) -> list[Path]:
    """Every file under ``folder`` (recursively), hidden ones included."""
    return sorted(p for p in folder.rglob("*") if p.is_file())


def _part(files: tuple[Path, ...], folder: Path | None) -> str | None:
    if folder is None:
        return None
    if not folder.exists():
        return "missing"
    return tree_hash(files or folder_files(folder), folder)


def input_hash(task: StudyTask) -> str:
    """What a study's result depends on besides the config: its files, which study of a shared
    folder, the baseline's files, and the clinical form (file bytes or manifest columns)."""
    clinical: str | None = None
    if task.clinical_path is not None:
        digest = hashlib.sha256()
        if task.clinical_path.is_file():
            _update_file(digest, task.clinical_path)
        clinical = f"file:{task.clinical_path.suffix.lower()}:{digest.hexdigest()}"
    elif task.clinical_form is not None:
        clinical = "form:" + json.dumps(task.clinical_form, sort_keys=True)
    parts = {
        "study": _part(task.study_files, task.study_dir),
        "study_uid": task.study_uid,
        "baseline": _part(task.baseline_files, task.baseline_dir),
        "baseline_uid": task.baseline_uid,
        "clinical": clinical,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _model_files(config: PipelineConfig) -> dict[str, str]:
    """Hashes of the model files the config names (a retrained model changes the results)."""
    from pipeline.scoring import model_path

    learned = config.scoring.learned
    hashes: dict[str, str] = {}
    if not learned.enabled:
        return hashes
    for name in (learned.radiomics_model, learned.network_model):
        path = model_path(name)
        files = [path]
        if path.suffix == ".json" and path.is_file():
            weights = json.loads(path.read_text(encoding="utf-8")).get("weights_file")
            if isinstance(weights, str):
                files.append(path.with_name(weights))
        for file in files:
            if file.is_file():
                digest = hashlib.sha256()
                _update_file(digest, file)
                hashes[file.name] = digest.hexdigest()
            else:
                hashes[file.name] = "missing"
    return hashes


def config_hash(config: PipelineConfig, *, options: Mapping[str, Any]) -> str:
    """The resolved config, the software version, the model files and the run options that
    change outputs (``options``, e.g. keep_identifiers, dwi_grid)."""
    payload = {
        "version": __version__,
        "config": config.model_dump(mode="json"),
        "models": _model_files(config),
        "options": dict(options),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def output_hashes(folder: Path) -> dict[str, dict[str, Any]]:
    """``{relative path: {"sha256": ..., "bytes": ...}}`` of every file under ``folder``."""
    out: dict[str, dict[str, Any]] = {}
    for file in folder_files(folder):
        digest = hashlib.sha256()
        _update_file(digest, file)
        out[file.relative_to(folder).as_posix()] = {
            "sha256": digest.hexdigest(),
            "bytes": file.stat().st_size,
        }
    return out


def outputs_intact(folder: Path, recorded: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether ``folder`` still holds exactly the recorded files with their sizes (a cheap
    check; sizes, not contents)."""
    if not recorded or not folder.is_dir():
        return False
    present = {f.relative_to(folder).as_posix(): f.stat().st_size for f in folder_files(folder)}
    return present == {name: int(meta["bytes"]) for name, meta in recorded.items()}
