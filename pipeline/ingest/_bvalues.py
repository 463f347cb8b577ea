"""b-values and gradient directions, read with vendor fallbacks; each records its source tag.

Order of precedence for a classic image: the standard (0018,9087); Siemens (0019,100C), then the
Siemens CSA header ``B_value``; GE (0043,1039) first value with the 10^9 offset removed; Philips
(2001,1003). Values at or below ``philips_dummy_b_max`` (Philips writes b=0 as 0.001-0.004) are 0.
An image without any b-value in a series whose other images have one is b=0
(:func:`fill_missing_b_values`; GE and Canon omit it on b=0 images).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from pipeline.config.series_rules import SeriesRulesConfig
from pipeline.ingest._csa import csa_float, csa_floats, parse_csa2
from pipeline.ingest._headers import (
    DiffusionInfo,
    HeaderSource,
    PrivateTags,
    SliceRecord,
    as_float,
    text,
    vec3,
)

SRC_STANDARD = "(0018,9087) DiffusionBValue"
SRC_ENHANCED = "(0018,9087) in per-frame MR Diffusion Sequence (0018,9117)"
SRC_SIEMENS = "(0019,100C) Siemens B_value"
SRC_SIEMENS_CSA = "(0029,1010) Siemens CSA B_value"
SRC_GE = "(0043,1039) GE slop_int_6"
SRC_PHILIPS = "(2001,1003) Philips diffusion b-factor"
SRC_ABSENT = "absent on this image, b=0 assumed (other images of the series have one)"

SIEMENS_MR = ("SIEMENS MR HEADER",)
SIEMENS_CSA = ("SIEMENS CSA HEADER",)
GE_PARM = ("GEMS_PARM_01",)
GE_ACQU = ("GEMS_ACQU_01",)
PHILIPS_IMAGING = ("PHILIPS IMAGING DD 001",)
PHILIPS_MR = ("PHILIPS MR IMAGING DD 001",)

#: A gradient vector shorter than this is "no direction" (trace / isotropic or b=0).
ZERO_GRADIENT_NORM = 1e-3


def _correct(raw: float, source: str, rules: SeriesRulesConfig) -> float:
    value = raw
    if source == SRC_GE and value >= rules.ge_b_value_offset:
        value = float(np.fmod(value, rules.ge_b_value_offset))
    if 0.0 < value <= rules.philips_dummy_b_max:
        value = 0.0
    return max(value, 0.0)


def _unit(vector: Sequence[float] | None) -> tuple[float, float, float] | None:
    if vector is None:
        return None
    arr = np.asarray(vector, dtype=float)
    norm = float(np.linalg.norm(arr))
    if not np.isfinite(norm):
        return None
    if norm < ZERO_GRADIENT_NORM:
        return (0.0, 0.0, 0.0)
    unit = arr / norm
    return (float(unit[0]), float(unit[1]), float(unit[2]))


def _trace_flag(
    directionality: str, image_type: Sequence[str], gradient: tuple[float, ...] | None, b: float
) -> bool:
    if directionality.upper() == "ISOTROPIC" or "TRACEW" in image_type:
        return True
    return b > 0 and gradient is not None and max(abs(g) for g in gradient) == 0.0


def classic_diffusion(ds: HeaderSource, rules: SeriesRulesConfig) -> DiffusionInfo:
    """Diffusion weighting of a classic (single-frame) image, vendor fallbacks included."""
    image_type = tuple(str(v).upper() for v in (ds.get("ImageType") or ()))
    private = PrivateTags(ds)
    candidates: list[tuple[Any, str]] = [
        (ds.get((0x0018, 0x9087)), SRC_STANDARD),
        (private.value(0x0019, SIEMENS_MR, 0x0C), SRC_SIEMENS),
    ]
    csa: dict[str, list[str]] = {}
    raw_csa = private.value(0x0029, SIEMENS_CSA, 0x10)
    if isinstance(raw_csa, bytes):
        csa = parse_csa2(raw_csa)
    candidates.append((csa_float(csa, "B_value"), SRC_SIEMENS_CSA))
    ge = private.value(0x0043, GE_PARM, 0x39)
    candidates.append((ge, SRC_GE))
    candidates.append((private.value(0x2001, PHILIPS_IMAGING, 0x03), SRC_PHILIPS))
    raw: float | None = None
    source = ""
    for value, src in candidates:
        element_value = getattr(value, "value", value)
        number = as_float(element_value)
        if number is not None and np.isfinite(number):
            raw, source = number, src
            break
    gradient = _classic_gradient(ds, private, csa)
    directionality = text(ds, "DiffusionDirectionality")
    siemens_dir = private.value(0x0019, SIEMENS_MR, 0x0D)
    if not directionality and isinstance(siemens_dir, str):
        directionality = siemens_dir
    philips_dir = private.value(0x2001, PHILIPS_IMAGING, 0x04)
    if isinstance(philips_dir, str) and philips_dir.strip().upper() == "I":
        directionality = "ISOTROPIC"
    if raw is None:
        return DiffusionInfo(gradient=gradient)
    b_value = _correct(raw, source, rules)
    return DiffusionInfo(
        b_raw=raw,
        b_value=b_value,
        source=source,
        gradient=gradient,
        trace=_trace_flag(directionality, image_type, gradient, b_value),
    )


def _classic_gradient(
    ds: HeaderSource, private: PrivateTags, csa: dict[str, list[str]]
) -> tuple[float, float, float] | None:
    standard = ds.get((0x0018, 0x9089))
    if standard is not None:
        return _unit(vec3(standard.value))
    siemens = private.value(0x0019, SIEMENS_MR, 0x0E)
    if siemens is not None:
        return _unit(vec3(siemens))
    csa_dir = csa_floats(csa, "DiffusionGradientDirection")
    if len(csa_dir) == 3:
        return _unit(csa_dir)
    philips = [private.value(0x2005, PHILIPS_MR, e) for e in (0xB0, 0xB1, 0xB2)]
    if all(v is not None for v in philips):
        return _unit([as_float(v) or 0.0 for v in philips])
    ge = [private.value(0x0019, GE_ACQU, e) for e in (0xBB, 0xBC, 0xBD)]
    if all(v is not None for v in ge):
        return _unit([as_float(v) or 0.0 for v in ge])
    return None


def enhanced_diffusion(
    frame_group: HeaderSource | None,
    shared_group: HeaderSource | None,
    image_type: Sequence[str],
    rules: SeriesRulesConfig,
) -> DiffusionInfo:
    """Diffusion weighting of one frame of an Enhanced MR image (MR Diffusion functional group)."""
    item = None
    for group in (frame_group, shared_group):
        sequence = None if group is None else group.get("MRDiffusionSequence")
        if sequence:
            item = sequence[0]
            break
    if item is None:
        return DiffusionInfo()
    raw = as_float(item.get("DiffusionBValue"))
    gradient = None
    seq = item.get("DiffusionGradientDirectionSequence")
    if seq:
        gradient = _unit(vec3(seq[0].get("DiffusionGradientOrientation")))
    directionality = str(item.get("DiffusionDirectionality", "")).upper()
    if raw is None:
        return DiffusionInfo(gradient=gradient)
    b_value = _correct(raw, SRC_ENHANCED, rules)
    return DiffusionInfo(
        b_raw=raw,
        b_value=b_value,
        source=SRC_ENHANCED,
        gradient=gradient,
        trace=_trace_flag(directionality, image_type, gradient, b_value),
    )


def fill_missing_b_values(records: Sequence[SliceRecord]) -> tuple[list[SliceRecord], int]:
    """Set b=0 on images without a b-value when other images of the series have one.

    Returns the records and how many were filled.
    """
    have = [r for r in records if r.diffusion.b_value is not None]
    if not have or len(have) == len(records):
        return list(records), 0
    out: list[SliceRecord] = []
    filled = 0
    for record in records:
        if record.diffusion.b_value is None:
            info = replace(record.diffusion, b_raw=0.0, b_value=0.0, source=SRC_ABSENT)
            record = replace(record, diffusion=info)
            filled += 1
        out.append(record)
    return out, filled
