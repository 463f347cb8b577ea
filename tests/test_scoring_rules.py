"""Known-answer tests of the rule scorer: a restricted focus of known size must be measured,
shine-through and noise must not count as restriction."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.config import load_config
from pipeline.errors import GeometryError
from pipeline.scoring import assess_bed
from pipeline.volume import Volume, VolumeKind

SPACING = (0.7, 0.7, 3.0)
SHAPE = (20, 160, 160)


def grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    z, y, x = np.meshgrid(*[np.arange(n) for n in SHAPE], indexing="ij")
    return z * SPACING[2], y * SPACING[1], x * SPACING[0]


def scene(
    focus_radius_mm: float, focus_adc: float, focus_s0: float, *, seed: int = 0, noise: float = 0.02
) -> tuple[Volume, Volume, Volume, Volume, float]:
    """A wall-like slab with a bed (fibrosis) and a spherical focus in it; returns the maps
    (T2W, ADC, high-b at b=1500, bed) and the true focus volume in mL."""
    rng = np.random.default_rng(seed)
    pz, py, px = grid()
    centre = (30.0, 56.0, 56.0)
    dist_bed = np.sqrt(
        ((pz - centre[0]) / 12) ** 2 + ((py - centre[1]) / 14) ** 2 + ((px - centre[2]) / 14) ** 2
    )
    bed = dist_bed <= 1.0
    focus = np.sqrt((pz - centre[0]) ** 2 + (py - centre[1]) ** 2 + (px - centre[2]) ** 2)
    focus = focus <= focus_radius_mm
    s0 = np.full(SHAPE, 0.07)  # fat-suppressed fat
    adc = np.full(SHAPE, 0.55)
    ring = (dist_bed > 1.0) & (dist_bed <= 1.6)
    s0[ring], adc[ring] = 0.5, 1.4  # normal wall around the bed
    s0[bed], adc[bed] = 0.28, 1.3  # fibrosis
    s0[focus], adc[focus] = focus_s0, focus_adc
    high_b = s0 * np.exp(-1.5 * adc) * (1 + rng.normal(0, noise, SHAPE))
    adc_noisy = adc * (1 + rng.normal(0, noise, SHAPE))
    t2 = np.where(bed, 0.15, 1.0)
    t2 = np.where(focus, 0.5, t2)
    make = lambda a, k=VolumeKind.INTENSITY: Volume(a.astype(np.float32), spacing=SPACING, kind=k)  # noqa: E731
    true_ml = float(focus.sum() * np.prod(SPACING) / 1000)
    return (
        make(t2),
        make(adc_noisy),
        make(high_b),
        make(bed.astype(np.uint8), VolumeKind.LABEL),
        true_ml,
    )


def test_restricted_focus_volume_is_measured() -> None:
    config = load_config().scoring
    t2, adc, high_b, bed, true_ml = scene(focus_radius_mm=6.0, focus_adc=0.85, focus_s0=0.7)
    result = assess_bed(t2, adc, high_b, bed, config=config)
    assert true_ml == pytest.approx(0.905, abs=0.05)
    assert result.restricted_volume_ml == pytest.approx(true_ml, rel=0.25)
    assert result.p_residual > 0.99
    assert result.adc_median_restricted == pytest.approx(0.85, abs=0.1)
    assert result.restricted_max_extent_mm == pytest.approx(12.0, abs=3.0)
    assert result.residual_map.kind is VolumeKind.LABEL
    assert result.t2_intermediate_fraction > 0


def test_scar_only_has_no_restriction() -> None:
    config = load_config().scoring
    t2, adc, high_b, bed, _ = scene(focus_radius_mm=0.0, focus_adc=1.3, focus_s0=0.28)
    result = assess_bed(t2, adc, high_b, bed, config=config)
    assert result.restricted_volume_ml == 0.0
    assert result.shine_through_volume_ml == 0.0
    assert result.p_residual < 0.1
    assert result.adc_median_restricted is None and result.restricted_max_extent_mm is None


def test_shine_through_is_not_restriction() -> None:
    config = load_config().scoring
    t2, adc, high_b, bed, true_ml = scene(focus_radius_mm=6.0, focus_adc=2.0, focus_s0=2.5)
    result = assess_bed(t2, adc, high_b, bed, config=config)
    assert result.restricted_volume_ml == 0.0
    assert result.shine_through_volume_ml == pytest.approx(true_ml, rel=0.3)


def test_focus_below_the_resolution_floor_is_dropped() -> None:
    config = load_config().scoring
    t2, adc, high_b, bed, true_ml = scene(focus_radius_mm=1.5, focus_adc=0.85, focus_s0=0.7)
    assert true_ml * 1000 < config.restriction.min_cluster_mm3
    assert assess_bed(t2, adc, high_b, bed, config=config).restricted_volume_ml == 0.0


def test_grids_must_agree_and_bed_must_not_be_empty() -> None:
    config = load_config().scoring
    t2, adc, high_b, bed, _ = scene(focus_radius_mm=3.0, focus_adc=0.85, focus_s0=0.7)
    shifted = Volume(adc.array, spacing=SPACING, origin=(1.0, 0.0, 0.0))
    with pytest.raises(GeometryError, match="T2W vs ADC"):
        assess_bed(t2, shifted, high_b, bed, config=config)
    with pytest.raises(GeometryError, match="empty"):
        assess_bed(t2, adc, high_b, bed.with_array(np.zeros(SHAPE, np.uint8)), config=config)


def test_voxel_membership_map_is_high_in_the_focus_low_in_the_scar() -> None:
    config = load_config().scoring
    t2, adc, high_b, bed, _ = scene(focus_radius_mm=6.0, focus_adc=0.85, focus_s0=0.7)
    result = assess_bed(t2, adc, high_b, bed, config=config)
    membership = result.residual_probability.array
    restricted = result.residual_map.array > 0
    scar = (bed.array > 0) & ~restricted
    assert float(membership.min()) >= 0.0 and float(membership.max()) <= 1.0
    assert float(np.median(membership[restricted])) > 0.8
    assert float(np.median(membership[scar])) < 0.1
