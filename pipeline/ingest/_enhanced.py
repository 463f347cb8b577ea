"""Enhanced (multi-frame) MR: one :class:`SliceRecord` per frame from the functional groups.

Geometry, pixel measures, rescale and diffusion are looked up per frame first, then in the
shared functional groups, as PS3.3 C.7.6.16 allows either.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.config.series_rules import SeriesRulesConfig
from pipeline.ingest._bvalues import enhanced_diffusion
from pipeline.ingest._headers import (
    HeaderSource,
    SliceRecord,
    as_float,
    as_int,
    orientation6,
    series_common,
    spacing2,
    vec3,
)


def is_multiframe(ds: HeaderSource) -> bool:
    """True for a file with per-frame functional groups (Enhanced MR/CT and similar)."""
    return (as_int(ds.get("NumberOfFrames")) or 1) > 1 and "PerFrameFunctionalGroupsSequence" in ds


def _lookup(
    frame: HeaderSource | None, shared: HeaderSource | None, sequence: str, keyword: str
) -> Any:
    for group in (frame, shared):
        seq = None if group is None else group.get(sequence)
        if seq and keyword in seq[0]:
            return seq[0].get(keyword)
    return None


def enhanced_records(ds: HeaderSource, file: Path, rules: SeriesRulesConfig) -> list[SliceRecord]:
    """One record per frame of an Enhanced MR file (``frame`` is the 0-based frame index)."""
    common = series_common(ds, file)
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq else None
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    n_frames = as_int(ds.get("NumberOfFrames")) or len(per_frame)
    records: list[SliceRecord] = []
    for index in range(n_frames):
        frame = per_frame[index] if index < len(per_frame) else None
        frame_type = _lookup(frame, shared, "MRImageFrameTypeSequence", "FrameType")
        image_type = (
            tuple(str(v).upper() for v in frame_type) if frame_type else common["image_type"]
        )
        slope = as_float(_lookup(frame, shared, "PixelValueTransformationSequence", "RescaleSlope"))
        intercept = as_float(
            _lookup(frame, shared, "PixelValueTransformationSequence", "RescaleIntercept")
        )
        content = frame.get("FrameContentSequence") if frame is not None else None
        temporal = None
        if content:
            temporal = as_int(content[0].get("TemporalPositionIndex"))
        fields = dict(common)
        fields["image_type"] = image_type
        records.append(
            SliceRecord(
                **fields,
                pixel_spacing=spacing2(
                    _lookup(frame, shared, "PixelMeasuresSequence", "PixelSpacing")
                ),
                position=vec3(
                    _lookup(frame, shared, "PlanePositionSequence", "ImagePositionPatient")
                ),
                orientation=orientation6(
                    _lookup(frame, shared, "PlaneOrientationSequence", "ImageOrientationPatient")
                ),
                slice_thickness=as_float(
                    _lookup(frame, shared, "PixelMeasuresSequence", "SliceThickness")
                ),
                spacing_between_slices=as_float(
                    _lookup(frame, shared, "PixelMeasuresSequence", "SpacingBetweenSlices")
                ),
                echo_time=as_float(_lookup(frame, shared, "MREchoSequence", "EffectiveEchoTime")),
                temporal_position=temporal,
                rescale=(1.0 if slope in (None, 0.0) else float(slope), intercept or 0.0),
                diffusion=enhanced_diffusion(frame, shared, image_type, rules),
                frame=index,
            )
        )
    return records
