"""Public entry points: :func:`scan`, :func:`load_study`, :func:`load_series_volume`."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from pipeline.config.series_rules import SeriesRulesConfig
from pipeline.errors import ConfigError, DicomError, InputError, PipelineError
from pipeline.ingest._classify import order_series
from pipeline.ingest._crawl import CrawlResult, MaskFile, crawl, header_records, read_dataset
from pipeline.ingest._geometry import build_grid
from pipeline.ingest._group import group_volumes, split_series
from pipeline.ingest._headers import SliceRecord
from pipeline.ingest._layout_load import (
    choose_case,
    layout_inventory,
    load_layout_image,
    load_layout_study,
)
from pipeline.ingest._layouts import LayoutCase, find_layout_cases
from pipeline.ingest._model import Inventory, SeriesGeometry, orientation_label
from pipeline.ingest._rtstruct import rasterise, read_structure_set
from pipeline.ingest._seg import seg_onto, seg_referenced_series
from pipeline.ingest._series import PreparedPart, load_part_volume, normal_of_records, prepare_part
from pipeline.study import (
    MaskSource,
    PatientIdentity,
    RoiMask,
    Series,
    SeriesRole,
    Study,
    deidentified_key,
)
from pipeline.volume import Volume, VolumeKind

logger = logging.getLogger(__name__)

DEFAULT_ROLES = (SeriesRole.T2W, SeriesRole.DWI, SeriesRole.ADC)


@dataclass(frozen=True)
class _StudyParts:
    study: Study
    parts: tuple[PreparedPart, ...]
    masks: tuple[MaskFile, ...]


def study_key(study_uid: str) -> str:
    return deidentified_key(study_uid, prefix="st-")


def part_geometry(prepared: PreparedPart) -> SeriesGeometry:
    """Grid of a part from its headers: the first volume's slices sorted and checked."""
    records = prepared.records
    groups, _ = group_volumes(records, normal_of_records(records))
    first = groups[0].records if groups else records
    head = first[0]
    try:
        grid = build_grid(first, series=prepared.series.label.removeprefix("series "))
    except InputError as exc:
        return SeriesGeometry(
            size=(head.columns, head.rows, len(first)),
            spacing=None,
            orientation=orientation_label(head.orientation),
            n_volumes=max(len(groups), 1),
            warnings=(f"not loadable as it is: {exc}",),
        )
    return SeriesGeometry(
        size=(head.columns, head.rows, len(grid.records)),
        spacing=grid.spacing,
        orientation=orientation_label(grid.direction),
        n_volumes=max(len(groups), 1),
        direction=grid.direction,
        warnings=grid.warnings,
    )


def _build(root: Path, found: CrawlResult, rules: SeriesRulesConfig) -> list[_StudyParts]:
    by_series: dict[tuple[str, str], list[SliceRecord]] = defaultdict(list)
    for record in found.records:
        by_series[(record.study_uid, record.series_uid)].append(record)
    prepared: dict[str, list[PreparedPart]] = defaultdict(list)
    for (study_uid, series_uid), records in by_series.items():
        for part in split_series(study_uid, series_uid, records):
            prepared[study_uid].append(prepare_part(part, rules))
    out = []
    for study_uid in sorted(prepared):
        parts = prepared[study_uid]
        ordered = order_series([(p.series, p.records) for p in parts])
        by_key = {p.series.key: p for p in parts}
        first = parts[0].records[0]
        study = Study(
            key=study_key(study_uid),
            study_uid=study_uid,
            series=ordered,
            study_date=first.study_date,
            source=root,
            identity=found.identities.get(study_uid, PatientIdentity()),
        )
        masks = tuple(m for m in found.masks if m.study_uid == study_uid)
        out.append(_StudyParts(study, tuple(by_key[s.key] for s in ordered), masks))
    return out


def _check_root(path: Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise InputError("folder or file not found", file=path, fix="check the path")
    return path


def scan(path: Path, *, rules: SeriesRulesConfig) -> Inventory:
    """Crawl a tree, read headers only, group and classify the series.

    Parameters
    ----------
    path
        A folder (crawled recursively; DICOMDIR and ``.dcm.gz`` accepted) or one file. A
        folder without DICOM images is read as a NIfTI/MHA layout (dcm2niix NIfTI + .bval,
        nnU-Net/MSD ``imagesTr``, PI-CAI ``*_t2w.mha``; see :mod:`pipeline.ingest._layouts`).
    rules
        Series classification rules (``configs/series_rules.yaml``).

    Returns
    -------
    Inventory
        Studies with their (split) series, roles, b-values and warnings, and the header
        geometry of each series (``Inventory.geometry``); no pixel data.

    Raises
    ------
    InputError
        When ``path`` does not exist.
    """
    root = _check_root(path)
    found = crawl(root, rules)
    if not found.records and not found.masks:
        layout, cases = find_layout_cases(root, rules)
        if cases:
            return layout_inventory(root, layout, cases, skipped=_layout_skipped(found, cases))
    studies = _build(root, found, rules)
    parts = {p.series.key: p for s in studies for p in s.parts}
    return Inventory(
        studies=tuple(s.study for s in studies),
        skipped_files=found.skipped,
        errors=tuple(found.errors),
        mask_files=tuple(m.file for m in found.masks),
        geometry={key: part_geometry(part) for key, part in parts.items()},
        parts=parts,
        mask_refs=tuple(found.masks),
    )


def _layout_skipped(found: CrawlResult, cases: Sequence[LayoutCase]) -> int:
    used = sum(len({i.file for i in c.images}) + len(c.masks) for c in cases)
    return max(found.skipped - used, 0)


def load_study(
    path: Path,
    *,
    rules: SeriesRulesConfig,
    study_uid: str | None = None,
    roles: Collection[SeriesRole] = DEFAULT_ROLES,
) -> Study:
    """Load one study: series of the given roles with pixel volumes, plus its masks.

    Parameters
    ----------
    path
        Folder holding the study (any layout, see :func:`scan`; NIfTI/MHA layouts too).
    rules
        Series classification rules.
    study_uid
        Which study to load when the folder holds several (for a NIfTI/MHA layout: the case
        id, e.g. ``10000_1000000`` of PI-CAI, or the study key).
    roles
        Series roles whose pixels are loaded; other series are listed without a volume.
        A series that an RTSTRUCT / SEG references is loaded too (the mask needs its grid).
        For a NIfTI/MHA layout the default also loads HIGH_B (PI-CAI ``hbv``).

    Returns
    -------
    Study
        DWI volumes are 4-D ``[b, z, y, x]``; masks are ``uint8`` 0/1 on the grid of the series
        they reference. A series that fails to load keeps ``volume=None`` and a warning that
        names file, series and tag; the other series still load.

    Raises
    ------
    InputError
        No image found, several studies and no ``study_uid``, or ``study_uid`` not found.
    """
    root = _check_root(path)
    found = crawl(root, rules)
    if not found.records and not found.masks:
        _, cases = find_layout_cases(root, rules)
        if cases:
            layout_roles = set(roles) | ({SeriesRole.HIGH_B} if roles == DEFAULT_ROLES else set())
            case = choose_case(cases, study_uid, root)
            return load_layout_study(case, root, rules=rules, roles=layout_roles)
    studies = _build(root, found, rules)
    chosen = _choose(studies, study_uid, root, found)
    return _load_chosen(chosen, rules, set(roles), list(found.errors))


def _load_chosen(
    chosen: _StudyParts, rules: SeriesRulesConfig, wanted: set[SeriesRole], warnings: list[str]
) -> Study:
    loaded: dict[str, Series] = {}
    study_warnings = warnings
    for part in chosen.parts:
        if part.series.role in wanted:
            loaded[part.series.key] = _load_part(part, rules, study_warnings)
    masks: list[RoiMask] = []
    for mask in chosen.masks:
        masks.extend(_load_mask(mask, chosen, loaded, rules, study_warnings))
    series = tuple(loaded.get(p.series.key, p.series) for p in chosen.parts)
    return replace(chosen.study, series=series, masks=tuple(masks), warnings=tuple(study_warnings))


def load_scanned_study(
    inventory: Inventory,
    study: Study,
    *,
    rules: SeriesRulesConfig,
    roles: Collection[SeriesRole] | None = None,
) -> Study:
    """Load a study of an :class:`Inventory` from the headers kept by :func:`scan`.

    Like :func:`load_study` without crawling the folder again.

    Parameters
    ----------
    inventory
        What :func:`scan` returned.
    study
        One of ``inventory.studies``.
    rules
        Series classification rules.
    roles
        Roles whose pixels are loaded; ``None`` loads every series.

    Raises
    ------
    InputError
        When ``study`` is not from ``inventory``.
    """
    wanted = set(SeriesRole) if roles is None else set(roles)
    case = inventory.layout_cases.get(study.key)
    if case is not None:
        return load_layout_study(case, study.source or Path("."), rules=rules, roles=wanted)
    parts = [inventory.parts.get(s.key) for s in study.series]
    if not parts or any(p is None for p in parts):
        raise InputError(
            f"study {study.key} is not part of this inventory",
            fix="pass a study of the inventory that scan() returned",
        )
    masks = tuple(m for m in inventory.mask_refs if m.study_uid == study.study_uid)
    chosen = _StudyParts(study, tuple(p for p in parts if p is not None), masks)
    return _load_chosen(chosen, rules, wanted, [])


def _choose(
    studies: Sequence[_StudyParts], study_uid: str | None, root: Path, found: CrawlResult
) -> _StudyParts:
    if not studies:
        raise InputError(
            f"no DICOM image found ({found.skipped} file(s) skipped, {len(found.errors)} "
            "unreadable)",
            file=root,
            fix="point to the folder that holds the study's DICOM files",
        )
    if study_uid is None:
        if len(studies) > 1:
            keys = ", ".join(s.study.key for s in studies)
            raise InputError(
                f"the folder holds {len(studies)} studies ({keys}); pass study_uid to choose one",
                file=root,
                fix="use ingest.scan() to list the studies, then load_study(study_uid=...)",
            )
        return studies[0]
    for item in studies:
        if item.study.study_uid == study_uid:
            return item
    raise InputError(
        f"study {study_key(study_uid)} not found; found {', '.join(s.study.key for s in studies)}",
        file=root,
    )


def _load_part(part: PreparedPart, rules: SeriesRulesConfig, warnings: list[str]) -> Series:
    notes: list[str] = []
    try:
        volume, extra = load_part_volume(part, rules, notes=notes)
    except PipelineError as exc:
        message = f"not loaded: {exc}"
        logger.warning("%s: %s", part.series.label, message)
        warnings.append(f"{part.series.label}: {message}")
        return replace(part.series, warnings=(*part.series.warnings, *notes, message))
    return replace(part.series, volume=volume, warnings=(*part.series.warnings, *extra))


def _referenced_part(
    chosen: _StudyParts, series_uids: Sequence[str], sop_uids: Collection[str]
) -> PreparedPart | None:
    candidates = [p for p in chosen.parts if p.series.series_uid in series_uids]
    if sop_uids:
        for part in candidates:
            if any(r.sop_uid in sop_uids for r in part.records):
                return part
        if not candidates:
            candidates = [p for p in chosen.parts if any(r.sop_uid in sop_uids for r in p.records)]
    return candidates[0] if candidates else None


def _load_mask(
    mask: MaskFile,
    chosen: _StudyParts,
    loaded: dict[str, Series],
    rules: SeriesRulesConfig,
    warnings: list[str],
) -> list[RoiMask]:
    def warn(message: str) -> list[RoiMask]:
        text = f"file {mask.file}: {message}"
        logger.warning(text)
        warnings.append(text)
        return []

    try:
        ds = read_dataset(mask.file, pixels=mask.kind == "seg")
    except Exception as exc:  # one bad mask file must not stop the study
        return warn(f"cannot read {mask.kind} ({type(exc).__name__}: {exc})")
    if mask.kind == "rtstruct":
        try:
            structure = read_structure_set(ds, mask.file)
        except DicomError as exc:
            return warn(str(exc))
        series_uids: Sequence[str] = structure.referenced_series_uids
        sop_uids: Collection[str] = structure.referenced_sop_uids
    else:
        ref = seg_referenced_series(ds)
        series_uids, sop_uids = ((ref,) if ref else ()), ()
    part = _referenced_part(chosen, series_uids, sop_uids)
    if part is None:
        return warn(f"{mask.kind}: the referenced image series is not in the folder")
    if part.series.key not in loaded:
        loaded[part.series.key] = _load_part(part, rules, warnings)
    volume = loaded[part.series.key].volume
    if volume is None:
        return warn(f"{mask.kind}: referenced {part.series.label} could not be loaded")
    grid = volume if volume.array.ndim == 3 else volume.channel(0)
    out: list[RoiMask] = []
    if mask.kind == "rtstruct":
        for roi in structure.rois:
            array, notes = rasterise(roi, grid)
            for note in notes:
                warn(note)
            out.append(_roi(roi.name, array, grid, MaskSource.RTSTRUCT, part, mask.file))
        return out
    try:
        segments = seg_onto(ds, mask.file, grid)
    except PipelineError as exc:
        return warn(str(exc))
    for label, array in segments:
        out.append(_roi(label, array, grid, MaskSource.SEG, part, mask.file))
    return out


def _roi(
    name: str, array: object, grid: Volume, source: MaskSource, part: PreparedPart, file: Path
) -> RoiMask:
    return RoiMask(
        name=name,
        volume=grid.with_array(array, kind=VolumeKind.LABEL, units=""),  # type: ignore[arg-type]
        source=source,
        referenced_series_uid=part.series.series_uid,
        file=file,
    )


def load_series_volume(
    series: Series,
    *,
    rules: SeriesRulesConfig | None = None,
    inventory: Inventory | None = None,
) -> Volume:
    """Pixel volume of one series from :func:`scan`.

    Parameters
    ----------
    series
        A series of an :class:`Inventory` study.
    rules
        Only the b-value settings are used (Philips dummy b, GE offset, trace mean);
        defaults to the shipped ``configs/series_rules.yaml``.
    inventory
        The inventory ``series`` comes from: its headers are reused instead of read again
        (required for a series of a NIfTI/MHA layout).

    Returns
    -------
    Volume
        3-D ``[z, y, x]`` float32; DWI 4-D ``[b, z, y, x]`` sorted by b with ``b_values``.

    Raises
    ------
    InputError
        (:class:`DicomError`, :class:`GeometryError`) when the series cannot be loaded.
    """
    if rules is None:
        from pipeline.config import load_section

        shipped = load_section("series_rules")
        if not isinstance(shipped, SeriesRulesConfig):
            raise ConfigError("series_rules section did not load as SeriesRulesConfig")
        rules = shipped
    if inventory is not None:
        if series.key in inventory.layout_images:
            return load_layout_image(inventory.layout_images[series.key], rules)
        kept = inventory.parts.get(series.key)
        if kept is not None and kept.series.series_uid == series.series_uid:
            prepared = PreparedPart(replace(kept.series, role=series.role), kept.records)
            volume, _ = load_part_volume(prepared, rules)
            return volume
    records: list[SliceRecord] = []
    for file in series.files:
        try:
            records.extend(
                r for r in header_records(file, rules) if r.series_uid == series.series_uid
            )
        except Exception as exc:  # report and go on with the other files
            logger.warning("file %s: unreadable header (%s); left out", file, exc)
    if not records:
        raise DicomError(
            "none of its files can be read", series=series.label.removeprefix("series ")
        )
    study_uid = records[0].study_uid
    for part in split_series(study_uid, series.series_uid, records):
        if part.key == series.key:
            prepared = prepare_part(part, rules)
            prepared = PreparedPart(replace(prepared.series, role=series.role), prepared.records)
            volume, _ = load_part_volume(prepared, rules)
            return volume
    raise DicomError(
        "its files no longer hold the same images (changed since scan?)",
        series=series.label.removeprefix("series "),
        fix="scan the folder again",
    )
