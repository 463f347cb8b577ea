"""What a batch runs: one :class:`StudyTask` per restaging study, found in its input.

Three inputs (:class:`InputKind`):

``studies``
    Any tree :func:`pipeline.ingest.scan` reads (DICOM in any layout, or a NIfTI / nnU-Net /
    PI-CAI data set). One task per study found by StudyInstanceUID (or layout case), never by
    folder name. No clinical form and no baseline, unless ``pair_baseline``: then the studies
    of one patient (same PatientID) become one task, the latest study restaging and the one
    before it its baseline.
``cases``
    A folder of cases as ``ccr phantom`` writes them: ``<case>/restaging/``, optional
    ``<case>/baseline/`` and ``<case>/clinical.yaml`` (or ``.yml`` / ``.json``). Any other file
    (``truth.json``) is never read.
``manifest``
    A CSV file, one row per study (columns in :mod:`pipeline.batch._manifest`).
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.errors import InputError

if TYPE_CHECKING:
    from pipeline.config.series_rules import SeriesRulesConfig
    from pipeline.ingest import Inventory
    from pipeline.study import Study

log = logging.getLogger(__name__)

#: Clinical form names looked for in a case folder, in this order.
CLINICAL_NAMES = ("clinical.yaml", "clinical.yml", "clinical.json")


class InputKind(str, Enum):
    """How ``ccr batch`` reads its INPUT (``auto``: a ``.csv`` file is a manifest, a folder
    whose sub-folders hold ``restaging/`` is a case folder, any other folder a study tree)."""

    AUTO = "auto"
    STUDIES = "studies"
    CASES = "cases"
    MANIFEST = "manifest"


@dataclass(frozen=True)
class StudyTask:
    """One restaging study to assess, with what belongs to it.

    Attributes
    ----------
    entry
        The name the user knows the study by: case folder name, manifest ``case_id`` (else
        ``row-<n>``), or the study key for a study tree. Shown in results; never a DICOM tag.
    study_dir
        Folder that holds the restaging study.
    study_uid
        Which study of ``study_dir`` (StudyInstanceUID, or case id / key of a layout) when the
        folder holds several; in memory only, never written.
    baseline_dir, baseline_uid
        The baseline study, when there is one.
    clinical_path
        The clinical form (YAML / JSON).
    clinical_form
        The clinical form given as manifest columns (nested as the YAML form), instead of a file.
    reference_label
        Reference standard from the manifest, copied to the results as given.
    study_key
        De-identified study key, when discovery already knows it.
    study_files, baseline_files
        The study's own files where its folder is shared with other studies (hashed instead
        of the whole folder).
    problem
        Why the task cannot run (found at discovery); it is recorded as failed.
    """

    entry: str
    study_dir: Path
    study_uid: str | None = field(default=None, repr=False)
    baseline_dir: Path | None = None
    baseline_uid: str | None = field(default=None, repr=False)
    clinical_path: Path | None = None
    clinical_form: Mapping[str, Any] | None = None
    reference_label: str | None = None
    study_key: str | None = None
    study_files: tuple[Path, ...] = field(default=(), repr=False)
    baseline_files: tuple[Path, ...] = field(default=(), repr=False)
    problem: str | None = None


def detect_kind(path: Path) -> InputKind:
    """The :class:`InputKind` of ``path`` (see :class:`InputKind` for the rule)."""
    if not path.exists():
        raise InputError("batch input not found", file=path, fix="check the path")
    if path.is_file():
        if path.suffix.lower() == ".csv":
            return InputKind.MANIFEST
        raise InputError(
            "a batch input file must be a CSV manifest (.csv)",
            file=path,
            fix="pass a folder of studies or cases, or a manifest with a .csv suffix",
        )
    if any(child.is_dir() and (child / "restaging").is_dir() for child in _subfolders(path)):
        return InputKind.CASES
    return InputKind.STUDIES


def discover_tasks(
    path: Path,
    *,
    kind: InputKind = InputKind.AUTO,
    rules: SeriesRulesConfig,
    pair_baseline: bool = False,
) -> list[StudyTask]:
    """The tasks of a batch input, in a stable order (by entry).

    Parameters
    ----------
    path
        Folder of studies, folder of cases, or CSV manifest.
    kind
        How to read ``path``; ``AUTO`` detects it (:func:`detect_kind`).
    rules
        Series classification rules (a study tree is scanned).
    pair_baseline
        Study tree only: one task per patient, the study before the latest as its baseline.

    Raises
    ------
    InputError
        ``path`` is missing, is not of the kind asked for, or holds no study / case / row.
    """
    path = Path(path).resolve()  # workers may run elsewhere: every path handed on is absolute
    if kind is InputKind.AUTO:
        kind = detect_kind(path)
    if kind is InputKind.MANIFEST:
        from pipeline.batch._manifest import read_manifest

        tasks = read_manifest(path)
    elif kind is InputKind.CASES:
        tasks = case_tasks(path)
    else:
        tasks = study_tree_tasks(path, rules=rules, pair_baseline=pair_baseline)
    if not tasks:
        raise InputError(
            f"no {kind.value} found in the batch input",
            file=path,
            fix="check the path, or choose the input kind with --input-kind",
        )
    return sorted(tasks, key=lambda t: (t.entry, t.study_key or ""))


def _subfolders(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def case_tasks(root: Path) -> list[StudyTask]:
    """One task per ``<case>/restaging/`` folder under ``root`` (``ccr phantom`` layout)."""
    if not root.is_dir():
        raise InputError("a case folder must be a folder", file=root)
    tasks = []
    for case in _subfolders(root):
        restaging = case / "restaging"
        if not restaging.is_dir():
            log.warning("skipped %s: no restaging/ folder", case.name)
            continue
        baseline = case / "baseline"
        clinical = next((case / n for n in CLINICAL_NAMES if (case / n).is_file()), None)
        tasks.append(
            StudyTask(
                entry=case.name,
                study_dir=restaging,
                baseline_dir=baseline if baseline.is_dir() else None,
                clinical_path=clinical,
            )
        )
    return tasks


def study_files(inventory: Inventory, study: Study) -> tuple[Path, ...]:
    """Every file that belongs to ``study``: its series and its masks."""
    files = {f for s in study.series for f in s.files}
    files.update(m.file for m in inventory.mask_refs if m.study_uid == study.study_uid)
    case = inventory.layout_cases.get(study.key)
    if case is not None:
        files.update(image.file for image in case.images)
        files.update(mask.file for mask in case.masks)
    return tuple(sorted(files))


def _own_folders(root: Path, files: Mapping[str, Sequence[Path]]) -> dict[str, Path]:
    """Per study key, the deepest folder under ``root`` holding all its files and no file of
    another study; studies without such a folder are left out."""
    owners: dict[Path, set[str]] = defaultdict(set)
    for key, paths in files.items():
        for path in paths:
            for folder in path.parents:
                owners[folder].add(key)
                if folder == root:
                    break
    own = {}
    for key, paths in files.items():
        if not paths:
            continue
        common = Path(os.path.commonpath([str(p.parent) for p in paths]))
        if owners.get(common) == {key} and (common == root or root in common.parents):
            own[key] = common
    return own


def study_tree_tasks(
    root: Path, *, rules: SeriesRulesConfig, pair_baseline: bool = False
) -> list[StudyTask]:
    """One task per study found under ``root`` by :func:`pipeline.ingest.scan`.

    A study whose files sit in a folder of their own is run on that folder; studies that share
    a folder are run on ``root`` with their StudyInstanceUID (each run then reads the headers
    of the whole folder again: slower, same result).
    """
    from pipeline.ingest import scan

    inventory = scan(root, rules=rules)
    files = {s.key: study_files(inventory, s) for s in inventory.studies}
    own = {} if inventory.layout else _own_folders(root, files)
    placed: dict[str, tuple[Path, str | None]] = {}
    for study in inventory.studies:
        if inventory.layout:  # NIfTI-type layouts are chosen by case, in the root folder
            placed[study.key] = (root, study.key)
        elif study.key in own:
            placed[study.key] = (own[study.key], None)
        else:
            placed[study.key] = (root, study.study_uid)
    shared = sum(1 for _, uid in placed.values() if uid is not None and not inventory.layout)
    if shared:
        log.warning(
            "%d studies share a folder with other studies: each of their runs reads the whole "
            "folder's headers again (sort each study into a folder of its own to go faster)",
            shared,
        )
    groups = _patients(inventory.studies) if pair_baseline else [[s] for s in inventory.studies]
    tasks = []
    for group in groups:
        study = group[-1]
        baseline = group[-2] if len(group) > 1 else None
        folder, uid = placed[study.key]
        task = StudyTask(
            entry=study.key,
            study_dir=folder,
            study_uid=uid,
            study_key=study.key,
            study_files=files[study.key] if uid is not None else (),
        )
        if baseline is not None:
            base_folder, base_uid = placed[baseline.key]
            task = replace(
                task,
                baseline_dir=base_folder,
                baseline_uid=base_uid,
                baseline_files=files[baseline.key] if base_uid is not None else (),
            )
        tasks.append(task)
    return tasks


def _patients(studies: Sequence[Study]) -> list[list[Study]]:
    """Studies grouped by patient (PatientID), each group sorted by study date.

    A study without a PatientID stays alone. Identifiers are compared, never kept.
    """
    from pipeline.study import deidentified_key

    groups: dict[str, list[Study]] = defaultdict(list)
    for study in studies:
        patient = study.identity.patient_id.strip()
        group = deidentified_key("patient", patient) if patient else f"study:{study.key}"
        groups[group].append(study)
    return [sorted(g, key=lambda s: (s.study_date, s.key)) for _, g in sorted(groups.items())]
