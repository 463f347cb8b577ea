"""First scorer: transparent image rules in the tumour bed (``rules-v1``).

Restriction is "bright on high-b AND dark on ADC" (DESIGN.md): a voxel restricts when its
computed high-b signal is at least ``highb_ratio_min`` times the median high-b of the wall ring
around the bed and its ADC is below ``adc_max``. Bright high-b with high ADC is counted apart as
T2 shine-through. Connected clusters smaller than ``min_cluster_mm3`` are dropped as noise.
P(residual) is a logistic function of the restricted volume. The T2 signal of the bed is read
relative to the mesorectal fat ring around it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from pipeline.config.scoring import ScoringConfig
from pipeline.errors import GeometryError
from pipeline.volume import Volume, VolumeKind

SCORER_NAME = "rules-v1"


@dataclass(frozen=True)
class BedAssessment:
    """Measurements of the tumour bed by the rule scorer (volumes in mL, ADC 1e-3 mm^2/s)."""

    p_residual: float
    restricted_volume_ml: float
    restricted_max_extent_mm: float | None
    shine_through_volume_ml: float
    adc_median_bed: float | None
    adc_median_restricted: float | None
    t2_intermediate_fraction: float
    t2_bright_fraction: float
    highb_reference: float
    t2_reference: float
    residual_map: Volume


def _ring(
    mask: npt.NDArray[np.bool_],
    spacing_zyx: tuple[float, float, float],
    inner_mm: float,
    outer_mm: float,
) -> npt.NDArray[np.bool_]:
    """Voxels whose distance to ``mask`` lies in ``(inner_mm, outer_mm]``."""
    distance = ndimage.distance_transform_edt(~mask, sampling=spacing_zyx)
    return (distance > inner_mm) & (distance <= outer_mm)


def _dilate_mm(
    mask: npt.NDArray[np.bool_], spacing_zyx: tuple[float, float, float], margin_mm: float
) -> npt.NDArray[np.bool_]:
    if margin_mm <= 0:
        return mask
    distance = ndimage.distance_transform_edt(~mask, sampling=spacing_zyx)
    return np.asarray(distance <= margin_mm)


def _clusters(
    mask: npt.NDArray[np.bool_], voxel_mm3: float, min_mm3: float
) -> tuple[npt.NDArray[np.bool_], list[npt.NDArray[np.bool_]]]:
    labels, n = ndimage.label(mask, structure=np.ones((3, 3, 3)))
    kept = np.zeros_like(mask)
    clusters = []
    for index in range(1, n + 1):
        cluster = labels == index
        if cluster.sum() * voxel_mm3 >= min_mm3:
            kept |= cluster
            clusters.append(cluster)
    return kept, clusters


def _extent_mm(cluster: npt.NDArray[np.bool_], spacing_zyx: tuple[float, float, float]) -> float:
    points = np.argwhere(cluster) * np.asarray(spacing_zyx)
    if len(points) < 2:
        return float(max(spacing_zyx[1:]))
    span = points.max(axis=0) - points.min(axis=0) + np.asarray(spacing_zyx)
    return float(np.linalg.norm(span[1:]) if span[0] <= max(spacing_zyx) else span.max())


def assess_bed(
    t2w: Volume, adc: Volume, high_b: Volume, bed: Volume, *, config: ScoringConfig
) -> BedAssessment:
    """Measure restriction, shine-through and T2 signal inside the tumour bed.

    All four volumes must share one grid (resample ADC/high-b onto the T2W grid first).
    ``adc`` in 1e-3 mm^2/s; ``bed`` a label volume (> 0 inside).
    """
    for other, name in ((adc, "ADC"), (high_b, "high-b"), (bed, "tumour bed")):
        t2w.require_same_grid(other, what=f"rule scorer: T2W vs {name}")
    spacing_zyx = (t2w.spacing[2], t2w.spacing[1], t2w.spacing[0])
    voxel_ml = t2w.voxel_volume_mm3 / 1000.0
    core = np.asarray(bed.array > 0)
    if not core.any():
        raise GeometryError("rule scorer: the tumour bed mask is empty")
    region = _dilate_mm(core, spacing_zyx, config.roi_margin_mm)
    r = config.restriction
    highb_ring = _ring(core, spacing_zyx, *r.reference_ring_mm)
    hb = np.asarray(high_b.array, dtype=np.float64)
    adc_values = np.asarray(adc.array, dtype=np.float64)
    has_signal = adc_values > 0
    ring_values = hb[highb_ring & has_signal]
    reference = float(np.median(ring_values)) if ring_values.size else float(np.median(hb[region]))
    bright = hb >= r.highb_ratio_min * max(reference, 1e-12)
    restricted_raw = region & bright & has_signal & (adc_values < r.adc_max)
    shine_raw = region & bright & (adc_values >= r.shine_through_adc_min)
    min_mm3 = r.min_cluster_mm3
    restricted, clusters = _clusters(restricted_raw, t2w.voxel_volume_mm3, min_mm3)
    shine, _ = _clusters(shine_raw, t2w.voxel_volume_mm3, min_mm3)

    restricted_ml = float(restricted.sum() * voxel_ml)
    largest = max(clusters, key=lambda c: int(c.sum())) if clusters else None
    score = config.rule_score
    p = 1.0 / (1.0 + np.exp(-(restricted_ml * 1000.0 - score.midpoint_mm3) / score.scale_mm3))

    t2 = np.asarray(t2w.array, dtype=np.float64)
    t2_ring = _ring(core, spacing_zyx, *config.t2.reference_ring_mm)
    t2_reference = float(np.median(t2[t2_ring])) if t2_ring.any() else float(np.max(t2))
    ratio = t2[core] / max(t2_reference, 1e-12)
    bed_adc = adc_values[core & has_signal]
    residual_map = t2w.with_array(restricted.astype(np.uint8), kind=VolumeKind.LABEL, units="")
    return BedAssessment(
        p_residual=float(p),
        restricted_volume_ml=restricted_ml,
        restricted_max_extent_mm=_extent_mm(largest, spacing_zyx) if largest is not None else None,
        shine_through_volume_ml=float(shine.sum() * voxel_ml),
        adc_median_bed=float(np.median(bed_adc)) if bed_adc.size else None,
        adc_median_restricted=float(np.median(adc_values[restricted]))
        if restricted.any()
        else None,
        t2_intermediate_fraction=float(
            ((ratio >= config.t2.intermediate_min) & (ratio < config.t2.bright_min)).mean()
        ),
        t2_bright_fraction=float((ratio >= config.t2.bright_min).mean()),
        highb_reference=reference,
        t2_reference=t2_reference,
        residual_map=residual_map,
    )
