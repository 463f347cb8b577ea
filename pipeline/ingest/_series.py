"""From a part's records to a :class:`Series`, and from there to its pixel :class:`Volume`.

A DWI series loads as a 4-D volume ``[b, z, y, x]`` sorted by b-value. Per b-value: a trace
(isotropic) volume given by the scanner is used as it is; otherwise repeats of one direction
are averaged and the directions are combined into a trace image (geometric mean by default,
``SeriesRulesConfig.trace_mean``); b=0 repeats are averaged.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pipeline.config.series_rules import SeriesRulesConfig, TraceMean
from pipeline.errors import DicomError, GeometryError
from pipeline.ingest._bvalues import fill_missing_b_values
from pipeline.ingest._classify import B_VALUE_TOL, classify, distinct_b_values, facts_of
from pipeline.ingest._geometry import build_grid, normal_of
from pipeline.ingest._group import Part, VolumeGroup, group_volumes
from pipeline.ingest._headers import SliceRecord
from pipeline.ingest._pixels import PixelCache, slice_pixels
from pipeline.study import Series, SeriesRole
from pipeline.volume import Volume

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreparedPart:
    """A part with its records (b-values filled in) and its series description."""

    series: Series
    records: tuple[SliceRecord, ...]


def _label(number: int | None, role: SeriesRole) -> str:
    return f"{'?' if number is None else number} ({role.value})"


def normal_of_records(records: Sequence[SliceRecord]) -> np.ndarray:
    """Slice normal of the first record with a usable orientation (zeros when none)."""
    for record in records:
        if record.orientation is not None:
            try:
                return normal_of(record.orientation)
            except GeometryError:
                continue
    return np.zeros(3)


def prepare_part(part: Part, rules: SeriesRulesConfig) -> PreparedPart:
    """Classify a part and read its b-values (per volume, acquisition order)."""
    records, filled = fill_missing_b_values(part.records)
    first = records[0]
    role, reason = classify(facts_of(records), rules)
    warnings = list(part.warnings)
    label = _label(first.series_number, role)
    if filled:
        warnings.append(
            f"{filled} image(s) without a b-value; b=0 assumed as the other images have one"
        )
    b_values: tuple[float, ...] = ()
    sources = sorted({r.diffusion.source for r in records if r.diffusion.source})
    if any(r.diffusion.b_value is not None for r in records):
        volumes, _ = group_volumes(records, normal_of_records(records))
        b_values = tuple(float(v.b_value or 0.0) for v in volumes)
    elif role is SeriesRole.DWI:
        warnings.append(
            "no b-value found in (0018,9087) or the Siemens/GE/Philips private tags; "
            "the b-values were probably removed by de-identification"
        )
    for message in warnings:
        logger.warning("series %s: %s", label, message)
    series = Series(
        key=part.key,
        series_uid=part.series_uid,
        series_number=first.series_number,
        description=first.description,
        role=role,
        role_reason=reason,
        modality=first.modality,
        vendor=first.vendor,
        files=tuple(sorted({r.file for r in records})),
        b_values=b_values,
        b_value_source="; ".join(sources),
        frame_of_reference_uid=first.frame_of_reference_uid,
        warnings=tuple(warnings),
    )
    return PreparedPart(series=series, records=tuple(records))


def load_part_volume(
    prepared: PreparedPart, rules: SeriesRulesConfig, *, notes: list[str] | None = None
) -> tuple[Volume, tuple[str, ...]]:
    """Pixel volume of a prepared part and the warnings raised while loading it.

    ``notes``, when given, receives the warnings too (also when an error is raised).

    Raises
    ------
    GeometryError, DicomError
        When no trustworthy volume can be built.
    """
    series = prepared.series
    label = _label(series.series_number, series.role)
    warnings: list[str] = [] if notes is None else notes
    try:
        volume = _build_volume(prepared, rules, label, warnings)
    finally:
        for message in warnings:
            logger.warning("series %s: %s", label, message)
    return volume, tuple(warnings)


def _build_volume(
    prepared: PreparedPart, rules: SeriesRulesConfig, label: str, warnings: list[str]
) -> Volume:
    series = prepared.series
    records = prepared.records
    groups, grouping_notes = group_volumes(records, normal_of_records(records))
    warnings.extend(grouping_notes)
    cache = PixelCache()
    built: list[tuple[VolumeGroup, Volume]] = []
    for group in groups:
        readable: list[SliceRecord] = []
        images: dict[int, npt.NDArray[np.float32]] = {}
        for record in group.records:
            try:
                images[id(record)] = slice_pixels(record, cache, series=label)
                readable.append(record)
            except DicomError as exc:
                warnings.append(f"{exc}; slice left out")
        if not readable:
            raise DicomError("no readable slice", series=label, tag="(7FE0,0010) PixelData")
        grid = build_grid(readable, series=label)
        warnings.extend(grid.warnings)
        array = np.stack([images[id(r)] for r in grid.records], axis=0)
        built.append(
            (
                group,
                Volume(
                    array=array,
                    spacing=grid.spacing,
                    origin=grid.origin,
                    direction=grid.direction,
                    frame_of_reference_uid=series.frame_of_reference_uid,
                ),
            )
        )
    reference = built[0][1]
    for group, volume in built[1:]:
        if not volume.same_grid(reference):
            raise GeometryError(
                f"volume b={group.b_value} has another grid (shape {volume.shape}, origin "
                f"{volume.origin}) than the first (shape {reference.shape}, origin "
                f"{reference.origin})",
                series=label,
                tag="(0020,0032) ImagePositionPatient",
                fix="check for missing slices in one of the volumes",
            )
    if series.role is SeriesRole.DWI and all(g.b_value is not None for g, _ in built):
        return _combine_dwi(built, rules)
    if len(built) == 1:
        return reference
    array = np.stack([v.array for _, v in built], axis=0)
    channels = tuple(f"volume{i + 1}" for i in range(len(built)))
    return reference.with_array(array, channels=channels)


def _trace(arrays: Sequence[npt.NDArray[np.float32]], how: TraceMean) -> npt.NDArray[np.float32]:
    """Arithmetic or geometric mean image (float64 arithmetic; 0 where an image is <= 0).

    Images are summed one after the other in float64, in the order numpy's ``mean(axis=0)``
    of their stack would add them, without building the stack.
    """
    if len(arrays) == 1:  # the mean of one image is the image (float32 -> float64 -> float32)
        return arrays[0]
    geometric = TraceMean(how) is TraceMean.GEOMETRIC
    total = np.zeros(arrays[0].shape, dtype=np.float64)
    positive = np.ones(arrays[0].shape, dtype=bool)
    term = np.empty(arrays[0].shape, dtype=np.float64)
    for array in arrays:
        np.copyto(term, array)
        if geometric:
            valid = term > 0
            positive &= valid
            np.copyto(term, 1.0, where=~valid)  # log(1) = 0 for an image that is not positive
            np.log(term, out=term)
        total += term
    total /= len(arrays)
    if not geometric:
        return total.astype(np.float32)
    return np.asarray(np.where(positive, np.exp(total), 0.0), dtype=np.float32)


def _combine_dwi(built: Sequence[tuple[VolumeGroup, Volume]], rules: SeriesRulesConfig) -> Volume:
    by_b: dict[float, list[tuple[VolumeGroup, Volume]]] = defaultdict(list)
    levels = distinct_b_values([float(g.b_value or 0.0) for g, _ in built])
    for group, volume in built:
        b = float(group.b_value or 0.0)
        level = min(levels, key=lambda x: abs(x - b))
        if abs(level - b) <= B_VALUE_TOL:
            by_b[level].append((group, volume))
    arrays = []
    for b in levels:
        items = by_b[b]
        traces = [v.array for g, v in items if g.trace]
        if traces:
            arrays.append(_trace(traces, TraceMean.ARITHMETIC))
            continue
        by_dir: dict[object, list[npt.NDArray[np.float32]]] = defaultdict(list)
        for group, volume in items:
            key = None if group.gradient is None else tuple(round(x, 3) for x in group.gradient)
            by_dir[key].append(volume.array)
        per_dir = [_trace(v, TraceMean.ARITHMETIC) for v in by_dir.values()]
        how = TraceMean.ARITHMETIC if b <= B_VALUE_TOL else rules.trace_mean
        arrays.append(_trace(per_dir, how))
    reference = built[0][1]
    return reference.with_array(
        np.stack(arrays, axis=0),
        channels=tuple(f"b{b:g}" for b in levels),
        b_values=tuple(levels),
    )
