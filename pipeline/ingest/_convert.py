"""``ccr convert``: every series of a tree to NIfTI, named by de-identified keys only.

Output layout (``out`` = ``DIR``)::

    DIR/<study key>/<series_number>_<role>.nii.gz       float32, 3-D; DWI 4-D, one volume per b
    DIR/<study key>/<series_number>_<role>.bval         DWI only: one b-value (s/mm^2) per volume
    DIR/<study key>/<series_number>_<role>.json         sidecar: geometry, b-values, role, ...
    DIR/<study key>/<series_number>_mask_<roi>.nii.gz   uint8 0/1 on the grid of its image

``<series_number>`` is the DICOM SeriesNumber (``na`` when absent); when two series of a study
would get the same name (a series split by orientation, say) the later ones get ``-2``, ``-3``.
A mask's ``<series_number>`` is that of the image it belongs to; ``<roi>`` is its ROI name
reduced to ``[A-Za-z0-9_-]`` (at most 64 characters). NIfTI files store RAS as NIfTI requires
(SimpleITK converts from our LPS); the JSON sidecar states the LPS geometry of the volume.
Every file is written atomically. A series that cannot be loaded or written gives one failure
naming file, series and tag; the others are still converted.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline import RESEARCH_USE_STATEMENT, __version__
from pipeline._io import atomic_path, write_json, write_text
from pipeline.config.series_rules import SeriesRulesConfig
from pipeline.errors import InputError, PipelineError
from pipeline.ingest._api import load_scanned_study, scan
from pipeline.ingest._inventory import redact
from pipeline.study import RoiMask, Series, Study
from pipeline.volume import Volume

logger = logging.getLogger(__name__)

#: Progress callback: ``(done, total, label)`` after each series; ``label`` is log-safe.
ProgressCallback = Callable[[int, int, str], None]

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
ROI_NAME_MAX = 64


def safe_name(text: str, *, default: str = "roi") -> str:
    """``text`` reduced to ``[A-Za-z0-9_-]`` (runs of others become ``_``), at most 64 chars."""
    cleaned = _UNSAFE.sub("_", text).strip("_-")[:ROI_NAME_MAX].strip("_-")
    return cleaned or default


@dataclass(frozen=True)
class ConvertFailure:
    """A series or mask that was not written, and why (names file, series and tag)."""

    study_key: str
    what: str
    message: str


@dataclass(frozen=True)
class ConvertReport:
    """What :func:`convert_tree` wrote and what failed.

    Attributes
    ----------
    out
        The output folder.
    written
        Every file written (NIfTI, ``.bval``, JSON), in order.
    failures
        One entry per series or mask not written.
    skipped_files
        Files of the input tree not used (as :attr:`Inventory.skipped_files`).
    errors
        Unreadable files of the input tree (as :attr:`Inventory.errors`).
    """

    out: Path
    written: tuple[Path, ...]
    failures: tuple[ConvertFailure, ...]
    skipped_files: int = 0
    errors: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.failures and not self.errors

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (paths relative to ``out``; no identifiers)."""
        return {
            "research_use": RESEARCH_USE_STATEMENT,
            "written": [p.relative_to(self.out).as_posix() for p in self.written],
            "failures": [
                {"study": f.study_key, "what": f.what, "message": f.message} for f in self.failures
            ],
            "skipped_files": self.skipped_files,
            "errors": list(self.errors),
        }


def _number(series: Series) -> str:
    return "na" if series.series_number is None else str(series.series_number)


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}-{n}"
    taken.add(candidate)
    return candidate


def write_nifti(volume: Volume, target: Path) -> Path:
    """Write a 3-D or 4-D (one volume per channel) :class:`Volume` as NIfTI, atomically."""
    import SimpleITK as sitk

    if volume.array.ndim == 4:
        image = sitk.JoinSeries([volume.to_sitk(channel=i) for i in range(volume.n_channels)])
    else:
        image = volume.to_sitk()
    with atomic_path(target) as tmp:
        sitk.WriteImage(image, str(tmp), useCompression=target.name.endswith(".gz"))
    return target


def _sidecar(study: Study, series: Series, volume: Volume, source: str) -> dict[str, Any]:
    return {
        "research_use": RESEARCH_USE_STATEMENT,
        "software": f"ccr-pipeline {__version__}",
        "source_format": source,
        "study_key": study.key,
        "series_key": series.key,
        "series_number": series.series_number,
        "series_description": redact(series.description, study.identity),
        "role": series.role.value,
        "role_reason": series.role_reason,
        "modality": series.modality,
        "vendor": series.vendor,
        "n_files": len(series.files),
        "b_values": list(volume.b_values),
        "b_values_acquired": list(series.b_values),
        "b_value_source": series.b_value_source,
        "channels": list(volume.channels),
        "units": volume.units,
        "geometry": {
            "coordinate_system": "LPS mm (DICOM); the NIfTI file stores the same grid as RAS",
            "array_order": "NIfTI i, j, k = x, y, z below; 4th axis = channels (b-values)",
            "size_xyz": list(volume.size_xyz),
            "spacing_xyz_mm": [round(v, 6) for v in volume.spacing],
            "origin_lps_mm": [round(v, 6) for v in volume.origin],
            "direction_lps": [round(v, 8) for v in volume.direction],
            "frame_of_reference_uid_present": volume.frame_of_reference_uid is not None,
        },
        "warnings": [redact(w, study.identity) for w in series.warnings],
    }


def _mask_owner(mask: RoiMask, study: Study) -> Series | None:
    owners = [s for s in study.series if s.series_uid == mask.referenced_series_uid]
    for series in owners:
        if series.volume is not None:
            grid = series.volume if series.volume.array.ndim == 3 else series.volume.channel(0)
            if grid.same_grid(mask.volume):
                return series
    return owners[0] if owners else None


def convert_tree(
    path: Path,
    out: Path,
    *,
    rules: SeriesRulesConfig,
    progress: ProgressCallback | None = None,
) -> ConvertReport:
    """Convert every series (and mask) under ``path`` to NIfTI under ``out``.

    Parameters
    ----------
    path
        A DICOM tree (any layout, see :func:`~pipeline.ingest.scan`) or a NIfTI/MHA layout.
    out
        Output folder, created if needed; files are named by de-identified keys only.
    rules
        Series classification rules (``configs/series_rules.yaml``).
    progress
        Called as ``progress(done, total, label)`` after each series.

    Returns
    -------
    ConvertReport
        Files written and one failure per series or mask not written.

    Raises
    ------
    InputError
        When ``path`` does not exist or holds no image.
    """
    out = Path(out)
    inventory = scan(Path(path), rules=rules)
    if not inventory.studies:
        raise InputError(
            f"no image found ({inventory.skipped_files} file(s) skipped, "
            f"{len(inventory.errors)} unreadable)",
            file=path,
            fix="point to a folder holding DICOM files or a NIfTI/MHA data set layout",
        )
    source = inventory.layout or "dicom"
    total = sum(len(s.series) for s in inventory.studies)
    done = 0
    written: list[Path] = []
    failures: list[ConvertFailure] = []
    for scanned in inventory.studies:
        folder = out / scanned.key
        try:
            study = load_scanned_study(inventory, scanned, rules=rules)
        except PipelineError as exc:
            failures.append(ConvertFailure(scanned.key, "study", str(exc)))
            done += len(scanned.series)
            if progress is not None:
                progress(done, total, f"study {scanned.key}")
            continue
        taken: set[str] = set()
        for series in study.series:
            done += 1
            what = series.label
            try:
                written.extend(_write_series(study, series, folder, taken, source))
            except (PipelineError, RuntimeError, OSError) as exc:
                message = str(exc).strip()
                logger.warning("study %s %s: not converted: %s", study.key, what, message)
                failures.append(ConvertFailure(study.key, what, message))
            if progress is not None:
                progress(done, total, f"study {study.key} {what}")
        for warning in study.warnings:
            if "not loaded" not in warning:
                logger.warning("study %s: %s", study.key, warning)
        for mask in study.masks:
            owner = _mask_owner(mask, study)
            number = "na" if owner is None else _number(owner)
            name = _unique(f"{number}_mask_{safe_name(mask.name)}", taken)
            try:
                written.append(write_nifti(mask.volume, folder / f"{name}.nii.gz"))
            except (RuntimeError, OSError) as exc:
                failures.append(ConvertFailure(study.key, f"mask {name}", str(exc).strip()))
    return ConvertReport(
        out=out,
        written=tuple(written),
        failures=tuple(failures),
        skipped_files=inventory.skipped_files,
        errors=inventory.errors,
    )


def _write_series(
    study: Study, series: Series, folder: Path, taken: set[str], source: str
) -> list[Path]:
    if series.volume is None:
        reason = next(
            (w.removeprefix("not loaded: ") for w in series.warnings if "not loaded" in w),
            "pixel data not loaded",
        )
        raise InputError(reason)
    volume = series.volume
    stem = _unique(f"{_number(series)}_{series.role.value}", taken)
    paths = [write_nifti(volume, folder / f"{stem}.nii.gz")]
    if volume.b_values:
        text = " ".join(f"{b:g}" for b in volume.b_values) + "\n"
        paths.append(write_text(folder / f"{stem}.bval", text))
    paths.append(write_json(folder / f"{stem}.json", _sidecar(study, series, volume, source)))
    return paths
