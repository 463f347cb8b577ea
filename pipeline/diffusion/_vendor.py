"""Comparison of our ADC with the scanner's own ADC series, per region, for the provenance."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import numpy.typing as npt
import SimpleITK as sitk

from pipeline.errors import InputError
from pipeline.masks import ring_mm
from pipeline.registration import resample_mask_smooth, resample_to
from pipeline.volume import Volume, VolumeKind

log = logging.getLogger(__name__)

#: Vendor ADC unit conventions, by the median of the positive values: (lower bound, name,
#: factor to 1e-3 mm^2/s). Tissue ADC spans about 0.3-3.5e-3 mm^2/s.
_UNIT_RULES: tuple[tuple[float, str, float], ...] = (
    (50.0, "1e-6 mm2/s", 1e-3),  # integers about 500-3500 (Siemens, GE, Philips, phantom)
    (0.05, "1e-3 mm2/s", 1.0),  # about 0.5-3.5
    (0.0, "mm2/s", 1e3),  # about 0.0005-0.0035
)


def detect_adc_units(values: npt.ArrayLike) -> tuple[str, float]:
    """Units of a vendor ADC array and the factor that brings it to 1e-3 mm^2/s.

    Decided by the median of the positive values: > 50 means 1e-6 mm^2/s (stored integers
    ~500-3500), 0.05-50 means 1e-3 mm^2/s, below that mm^2/s.

    Raises
    ------
    InputError
        When the array holds no positive value.
    """
    array = np.asarray(values)
    positive = array[array > 0]
    if positive.size == 0:
        raise InputError("vendor ADC series holds no positive value", fix="check the series")
    median = float(np.median(positive))
    for lower, name, factor in _UNIT_RULES:
        if median > lower:
            return name, factor
    return _UNIT_RULES[-1][1], _UNIT_RULES[-1][2]


def wall_ring(bed: Volume, *, inner_mm: float = 2.0, outer_mm: float = 8.0) -> Volume:
    """A ring ``(inner_mm, outer_mm]`` around the tumour bed: the neighbouring wall (label)."""
    ring = ring_mm(bed, inner_mm, outer_mm)
    return bed.with_array(ring.astype(np.uint8), kind=VolumeKind.LABEL)


def _region_stats(ours: npt.NDArray[np.float64], vendor: npt.NDArray[np.float64]) -> dict[str, Any]:
    if ours.size == 0:
        return {"n_voxels": 0}
    diff = ours - vendor
    vendor_median = float(np.median(vendor))
    stats: dict[str, Any] = {
        "n_voxels": int(ours.size),
        "ours_median": round(float(np.median(ours)), 5),
        "vendor_median": round(vendor_median, 5),
        "bias_median": round(float(np.median(diff)), 5),
        "relative_bias": round(float(np.median(diff)) / vendor_median, 5),
        "median_abs_relative_difference": round(float(np.median(np.abs(diff) / vendor)), 5),
    }
    if ours.size > 2 and np.std(ours) > 0 and np.std(vendor) > 0:
        stats["correlation"] = round(float(np.corrcoef(ours, vendor)[0, 1]), 4)
    return stats


def compare_vendor_adc(
    ours: Volume,
    vendor: Volume,
    regions: dict[str, Volume],
    *,
    transform: sitk.Transform | None = None,
) -> dict[str, Any]:
    """Compare our ADC with a vendor ADC series in named regions.

    Parameters
    ----------
    ours
        Our ADC map in 1e-3 mm^2/s (0 where not fitted), on any grid (DWI or T2W).
    vendor
        The scanner's ADC series as read (its units are detected, see
        :func:`detect_adc_units`); resampled linearly onto ``ours``' grid.
    regions
        Label volumes (e.g. ``{"tumour_bed": bed, "wall_ring": wall_ring(bed)}``), on any grid
        in the patient frame of ``ours``; carried onto ``ours``' grid when they differ.
    transform
        Maps points of ``ours``' grid to the vendor series' points (ITK convention), e.g. the
        DWI -> T2W registration when ``ours`` is on the T2W grid; ``None``: identity.

    Returns
    -------
    dict
        ``vendor_units``, ``scale_to_1e-3_mm2_s``, ``units`` of the statistics, and per region
        ``n_voxels``, ``ours_median``, ``vendor_median``, ``bias_median`` (median of ours minus
        vendor), ``relative_bias`` (that over the vendor median),
        ``median_abs_relative_difference`` and ``correlation``. Voxels count where both maps
        are > 0 and finite.
    """
    units, factor = detect_adc_units(vendor.array)
    scaled = vendor.with_array(np.asarray(vendor.array, dtype=np.float32) * np.float32(factor))
    on_ours = resample_to(scaled, ours, transform)
    ours_values = np.asarray(ours.array, dtype=np.float64)
    vendor_values = np.asarray(on_ours.array, dtype=np.float64)
    both = (ours_values > 0) & (vendor_values > 0)
    both &= np.isfinite(ours_values) & np.isfinite(vendor_values)
    out: dict[str, Any] = {
        "vendor_units": units,
        "scale_to_1e-3_mm2_s": factor,
        "units": "1e-3 mm2/s",
        "regions": {},
    }
    for name, region in regions.items():
        mask = region if region.same_grid(ours) else resample_mask_smooth(region, ours)
        inside = both & (np.asarray(mask.array) > 0)
        out["regions"][name] = _region_stats(ours_values[inside], vendor_values[inside])
    log.info(
        "vendor ADC (%s): %s",
        units,
        {k: v.get("relative_bias") for k, v in out["regions"].items()},
    )
    return out
