"""Group records: study -> series -> parts (split by orientation / image kind) -> volumes.

A *part* is what becomes one :class:`~pipeline.study.Series`: a DICOM series, split where it
mixes orientations, matrix sizes or image kinds (magnitude/phase, ADC/FA maps, Dixon water/fat).
Diffusion images of any b-value stay in one part. A *volume* is one image per slice position;
several volumes come from the b-values and directions of a DWI part, or from repeats.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.ingest._headers import Orientation, SliceRecord
from pipeline.study import deidentified_key

#: Two orientations whose cosines differ by at most this are the same (about 0.6 degrees).
ORIENTATION_SPLIT_TOL = 0.01
#: ImageType values that make a separate part when a series mixes them with other images.
SPLIT_IMAGE_TYPES = frozenset(
    {
        "ADC", "EADC", "FA", "EXP", "EXPONENTIAL", "PHASE", "P", "REAL", "IMAGINARY",
        "W", "F", "WATER", "FAT", "IN_PHASE", "OUT_PHASE", "OPP_PHASE", "IP", "OP",
    }
)  # fmt: skip
#: Positions within this many mm along the slice normal are the same slice.
POSITION_TOL_MM = 0.01


@dataclass(frozen=True)
class Part:
    """Records of one (split) series."""

    key: str
    study_uid: str
    series_uid: str
    label: str
    records: tuple[SliceRecord, ...]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class VolumeGroup:
    """The records of one 3-D volume (one per slice position once checked)."""

    records: tuple[SliceRecord, ...]
    b_value: float | None
    gradient: tuple[float, float, float] | None
    trace: bool
    order: tuple[float, ...]  # acquisition order key


def series_key(study_uid: str, series_uid: str, label: str) -> str:
    """De-identified key of a (split) series."""
    parts = (study_uid, series_uid, label) if label else (study_uid, series_uid)
    return deidentified_key(*parts, prefix="se-")


def _kind(record: SliceRecord) -> str:
    tokens = sorted(set(record.image_type[2:]) & SPLIT_IMAGE_TYPES)
    return "+".join(tokens)


def _cluster_orientations(records: Sequence[SliceRecord]) -> list[Orientation | None]:
    centres: list[Orientation | None] = []
    for record in records:
        iop = record.orientation
        if iop is None:
            if None not in centres:
                centres.append(None)
            continue
        if not any(
            c is not None and np.max(np.abs(np.subtract(c, iop))) <= ORIENTATION_SPLIT_TOL
            for c in centres
        ):
            centres.append(iop)
    return centres


def _orientation_index(record: SliceRecord, centres: Sequence[Orientation | None]) -> int:
    for i, c in enumerate(centres):
        if c is None and record.orientation is None:
            return i
        if (
            c is not None
            and record.orientation is not None
            and np.max(np.abs(np.subtract(c, record.orientation))) <= ORIENTATION_SPLIT_TOL
        ):
            return i
    return 0


def split_series(study_uid: str, series_uid: str, records: Sequence[SliceRecord]) -> list[Part]:
    """Split one DICOM series into parts of one orientation, matrix size and image kind."""
    centres = _cluster_orientations(records)
    buckets: dict[tuple[int, int, int, str], list[SliceRecord]] = defaultdict(list)
    for record in records:
        key = (_orientation_index(record, centres), record.rows, record.columns, _kind(record))
        buckets[key].append(record)
    if len(buckets) == 1:
        return [
            Part(series_key(study_uid, series_uid, ""), study_uid, series_uid, "", tuple(records))
        ]
    n_orient = len({k[0] for k in buckets})
    n_size = len({k[1:3] for k in buckets})
    n_kind = len({k[3] for k in buckets})
    why = []
    if n_orient > 1:
        why.append(f"{n_orient} orientations")
    if n_size > 1:
        why.append(f"{n_size} matrix sizes")
    if n_kind > 1:
        why.append(f"{n_kind} image kinds (ImageType (0008,0008))")
    note = f"series mixes {', '.join(why)}; split into {len(buckets)} parts"
    parts = []
    for index, (key, items) in enumerate(sorted(buckets.items(), key=lambda kv: str(kv[0]))):
        label = f"part{index + 1}-o{key[0]}-{key[1]}x{key[2]}" + (f"-{key[3]}" if key[3] else "")
        parts.append(
            Part(
                series_key(study_uid, series_uid, label),
                study_uid,
                series_uid,
                label,
                tuple(items),
                (note,),
            )
        )
    return parts


def acquisition_order(record: SliceRecord) -> tuple[float, ...]:
    """Sort key of acquisition order (for volumes, never for slices)."""
    return (
        float(record.acquisition_number if record.acquisition_number is not None else 0),
        float(record.temporal_position if record.temporal_position is not None else 0),
        float(record.instance_number if record.instance_number is not None else 0),
        float(record.frame if record.frame is not None else 0),
    )


def slice_position(record: SliceRecord, normal: np.ndarray) -> float | None:
    if record.position is None:
        return None
    return float(np.dot(record.position, normal))


def _volume_key(record: SliceRecord) -> tuple[object, ...]:
    d = record.diffusion
    gradient = None if d.gradient is None else tuple(round(g, 3) for g in d.gradient)
    return (
        None if d.b_raw is None else round(d.b_raw, 4),
        gradient,
        d.trace,
        None if record.echo_time is None else round(record.echo_time, 2),
        record.file if record.tile is not None or record.frame is not None else None,
    )


def group_volumes(
    records: Sequence[SliceRecord], normal: np.ndarray
) -> tuple[list[VolumeGroup], list[str]]:
    """Group a part's records into volumes of one image per slice position.

    Records with the same b-value, gradient, trace flag and echo time (and, for multi-frame and
    mosaic files, the same file) form one group. A group holding ``k`` images at every
    position is ``k`` repeats, split in acquisition order; an extra image at only some
    positions is a duplicate slice: the first in acquisition order is kept, with a warning.
    """
    warnings: list[str] = []
    groups: dict[tuple[object, ...], list[SliceRecord]] = defaultdict(list)
    for record in records:
        groups[_volume_key(record)].append(record)
    volumes: list[VolumeGroup] = []
    for items in groups.values():
        by_pos: dict[float | None, list[SliceRecord]] = defaultdict(list)
        for record in sorted(items, key=acquisition_order):
            pos = slice_position(record, normal)
            bucket = None if pos is None else round(pos / POSITION_TOL_MM) * POSITION_TOL_MM
            by_pos[bucket].append(record)
        counts = {len(v) for k, v in by_pos.items() if k is not None}
        repeats = counts.pop() if len(counts) == 1 else 1
        for index in range(repeats):
            chosen: list[SliceRecord] = []
            for pos, at_pos in by_pos.items():
                if pos is None:
                    chosen.extend(at_pos if index == 0 else [])
                    continue
                if repeats == 1 and len(at_pos) > 1:
                    dropped = ", ".join(r.where for r in at_pos[1:])
                    warnings.append(
                        f"duplicate slice at {pos:.2f} mm along the slice normal "
                        f"(ImagePositionPatient (0020,0032)): kept {at_pos[0].where}, "
                        f"dropped {dropped}"
                    )
                chosen.append(at_pos[index] if repeats > 1 else at_pos[0])
            first = chosen[0].diffusion
            volumes.append(
                VolumeGroup(
                    records=tuple(chosen),
                    b_value=first.b_value,
                    gradient=first.gradient,
                    trace=first.trace,
                    order=min(acquisition_order(r) for r in chosen),
                )
            )
    volumes.sort(key=lambda v: v.order)
    return volumes, warnings
