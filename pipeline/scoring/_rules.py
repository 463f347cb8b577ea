"""First scorer: transparent image rules in the tumour bed (``rules-v1``).

Restriction is "bright on high-b AND dark on ADC" (DESIGN.md). ADC and computed high-b are
first smoothed in plane (``smoothing_mm``) because single EPI voxels are too noisy to read. A
voxel restricts when its high-b signal is at least ``highb_ratio_min`` times the reference
(the ``reference_percentile`` of high-b in a ring around the bed: the level of the normal
rectal wall) and its ADC lies in ``[adc_min, adc_max)``. Bright high-b with high ADC is counted
apart as T2 shine-through. Connected clusters smaller than ``min_cluster_mm3`` are dropped.
P(residual) is a logistic function of the restricted volume. The T2 signal of the bed is read
relative to the median T2 of the ring around it (mostly mesorectal fat).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from pipeline.config.scoring import ScoringConfig
from pipeline.errors import GeometryError
from pipeline.masks import dilate_mm, ring_mm, spacing_zyx
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
    residual_probability: Volume


def _smooth_in_plane(
    values: npt.NDArray[np.float64], weight: npt.NDArray[np.float64], sigma_vox: tuple[float, float]
) -> npt.NDArray[np.float64]:
    """Normalised (weighted) Gaussian smoothing within each slice; weight 0 = no data."""
    sigma = (0.0, *sigma_vox)
    norm = ndimage.gaussian_filter(weight, sigma)
    smoothed = ndimage.gaussian_filter(values * weight, sigma)
    return np.where(norm > 1e-6, smoothed / np.maximum(norm, 1e-6), 0.0)


def _logistic(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(x, -50.0, 50.0))))


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


def _extent_mm(cluster: npt.NDArray[np.bool_], spacing: tuple[float, float, float]) -> float:
    """Largest side of the cluster's bounding box, mm (a simple, robust size)."""
    points = np.argwhere(cluster)
    span = (points.max(axis=0) - points.min(axis=0) + 1) * np.asarray(spacing)
    return float(span.max())


def assess_bed(
    t2w: Volume, adc: Volume, high_b: Volume, bed: Volume, *, config: ScoringConfig
) -> BedAssessment:
    """Measure restriction, shine-through and T2 signal inside the tumour bed.

    All four volumes must share one grid (resample ADC/high-b onto the T2W grid first).
    ``adc`` in 1e-3 mm^2/s, 0 where not fitted; ``bed`` a label volume (> 0 inside).
    """
    for other, name in ((adc, "ADC"), (high_b, "high-b"), (bed, "tumour bed")):
        t2w.require_same_grid(other, what=f"rule scorer: T2W vs {name}")
    core = np.asarray(bed.array > 0)
    if not core.any():
        raise GeometryError("rule scorer: the tumour bed mask is empty")
    spacing = spacing_zyx(t2w)
    voxel_mm3 = t2w.voxel_volume_mm3
    r = config.restriction
    fitted = np.asarray(adc.array > 0)
    weight = fitted.astype(np.float64)
    sigma_vox = (r.smoothing_mm / t2w.spacing[1], r.smoothing_mm / t2w.spacing[0])
    adc_s = _smooth_in_plane(np.asarray(adc.array, np.float64), weight, sigma_vox)
    hb_s = _smooth_in_plane(np.asarray(high_b.array, np.float64), weight, sigma_vox)

    region = np.asarray(dilate_mm(bed, config.roi_margin_mm).array > 0)
    ring = ring_mm(bed, *r.reference_ring_mm) & fitted
    ring_values = hb_s[ring] if ring.any() else hb_s[region & fitted]
    reference = (
        float(np.percentile(ring_values, r.reference_percentile)) if ring_values.size else 0.0
    )
    bright = fitted & (hb_s >= r.highb_ratio_min * max(reference, 1e-12))
    restricted_raw = region & bright & (adc_s >= r.adc_min) & (adc_s < r.adc_max)
    shine_raw = region & bright & (adc_s >= r.shine_through_adc_min)
    restricted, clusters = _clusters(restricted_raw, voxel_mm3, r.min_cluster_mm3)
    shine, _ = _clusters(shine_raw, voxel_mm3, r.min_cluster_mm3)

    restricted_ml = float(restricted.sum() * voxel_mm3 / 1000.0)
    largest = max(clusters, key=lambda c: int(c.sum())) if clusters else None
    score = config.rule_score
    p = 1.0 / (1.0 + np.exp(-(restricted_ml * 1000.0 - score.midpoint_mm3) / score.scale_mm3))

    t2 = np.asarray(t2w.array, dtype=np.float64)
    t2_ring = ring_mm(bed, *config.t2.reference_ring_mm)
    t2_reference = float(np.median(t2[t2_ring])) if t2_ring.any() else float(np.max(t2))
    ratio = t2[core] / max(t2_reference, 1e-12)
    adc_values = np.asarray(adc.array, dtype=np.float64)
    bed_adc = adc_values[core & fitted]
    return BedAssessment(
        p_residual=float(p),
        restricted_volume_ml=restricted_ml,
        restricted_max_extent_mm=_extent_mm(largest, spacing) if largest is not None else None,
        shine_through_volume_ml=float(shine.sum() * voxel_mm3 / 1000.0),
        adc_median_bed=float(np.median(bed_adc)) if bed_adc.size else None,
        adc_median_restricted=float(np.median(adc_s[restricted])) if restricted.any() else None,
        t2_intermediate_fraction=float(
            ((ratio >= config.t2.intermediate_min) & (ratio < config.t2.bright_min)).mean()
        ),
        t2_bright_fraction=float((ratio >= config.t2.bright_min).mean()),
        highb_reference=reference,
        t2_reference=t2_reference,
        residual_map=t2w.with_array(restricted.astype(np.uint8), kind=VolumeKind.LABEL, units=""),
        residual_probability=t2w.with_array(
            _voxel_membership(adc_s, hb_s, reference, region & fitted, config),
            kind=VolumeKind.INTENSITY,
            units="membership 0-1 (rules-v1, uncalibrated)",
        ),
    )


def _voxel_membership(
    adc_s: npt.NDArray[np.float64],
    hb_s: npt.NDArray[np.float64],
    reference: float,
    region: npt.NDArray[np.bool_],
    config: ScoringConfig,
) -> npt.NDArray[np.float32]:
    """Soft version of the voxel rule: logistic(ADC below adc_max) x logistic(high-b above
    ratio_min x reference), inside the analysed region, 0 elsewhere. Not a calibrated
    probability: a map of how strongly each voxel meets the restriction rule."""
    r = config.restriction
    dark = _logistic((r.adc_max - adc_s) / 0.08) * _logistic((adc_s - r.adc_min) / 0.05)
    bright = _logistic((hb_s / max(reference, 1e-12) - r.highb_ratio_min) / 0.15)
    return np.where(region, dark * bright, 0.0).astype(np.float32)
