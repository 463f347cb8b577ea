"""ADC on real scanner DICOM (../shared/data/dwi_qa): independent fit and the scanner's ADC."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.config import load_config
from pipeline.diffusion import compare_vendor_adc, compute_maps
from pipeline.ingest import load_study
from pipeline.study import SeriesRole
from pipeline.volume import stack_channels

pytestmark = pytest.mark.realdata


def test_philips_multib_equals_independent_float64_fit(shared_data: Path) -> None:
    config = load_config()
    study = load_study(shared_data / "dwi_qa" / "philips_multib", rules=config.series_rules)
    dwi = study.require(SeriesRole.DWI).require_volume()
    assert dwi.b_values == (0.0, 40.0, 273.0, 800.0)
    plain = config.diffusion.model_copy(
        update={"min_b_value": 0.0, "rician_correction": False, "noise_floor_factor": 0.0}
    )
    maps = compute_maps(dwi, config=plain)
    fitted = maps.mask.array > 0
    signal = np.asarray(dwi.array, dtype=np.float64)[:, fitted]
    usable = (signal > 0).all(axis=0)
    b = np.asarray(dwi.b_values)
    design = np.stack([np.ones_like(b), -b], axis=1)
    coef, *_ = np.linalg.lstsq(design, np.log(signal[:, usable]), rcond=None)
    reference = coef[1] * 1e3
    ours = maps.adc.array[fitted][usable].astype(np.float64)
    inside = (reference > 0) & (reference < plain.adc_max)
    assert inside.sum() > 10_000
    relative = np.abs(ours[inside] - reference[inside]) / reference[inside]
    # maps are float32: 1e-4 relative is the float32 tolerance asked for
    assert float(relative.max()) <= 1e-4, float(relative.max())


def test_siemens_b0_plus_trace_agrees_with_scanner_adc(shared_data: Path) -> None:
    """b0 (17001) + TRACEW b=2500 (13001) against the scanner's own ADC (12001).

    The scanner stores the trace truncated to integers (its implied trace for a stored value t
    lies in [t, t + 1)), so the fit uses quantisation_offset = 0.5.
    """
    config = load_config()
    folder = shared_data / "dwi_qa" / "siemens_xa30_derived"
    study = load_study(folder, rules=config.series_rules, roles=(SeriesRole.DWI, SeriesRole.ADC))
    by_number = {s.series_number: s.require_volume() for s in study.series}
    b0, trace, scanner = by_number[17001], by_number[13001], by_number[12001]
    dwi = stack_channels([b0.channel(0), trace.channel(0)], b_values=(0.0, 2500.0))
    settings = config.diffusion.model_copy(
        update={
            "min_b_value": 0.0,
            "quantisation_offset": 0.5,
            "rician_correction": False,
            "noise_floor_factor": 0.0,
        }
    )
    maps = compute_maps(dwi, config=settings)
    scanner_adc = scanner.array.astype(np.float64) / 1000.0  # 1e-6 -> 1e-3 mm^2/s
    signal = (maps.mask.array > 0) & (scanner_adc > 0)
    ours = maps.adc.array[signal].astype(np.float64)
    theirs = scanner_adc[signal]
    relative = np.abs(ours - theirs) / theirs
    correlation = float(np.corrcoef(ours, theirs)[0, 1])
    assert signal.sum() > 50_000
    assert float(np.median(relative)) <= 0.02, float(np.median(relative))
    assert correlation > 0.9, correlation


def test_siemens_vendor_comparison_reports_units_and_bias(shared_data: Path) -> None:
    """compare_vendor_adc on b0 (17001) + trace (13001) against 12001: units detected as
    1e-6 mm^2/s and the same agreement as the direct comparison above."""
    config = load_config()
    folder = shared_data / "dwi_qa" / "siemens_xa30_derived"
    study = load_study(folder, rules=config.series_rules, roles=(SeriesRole.DWI, SeriesRole.ADC))
    by_number = {s.series_number: s.require_volume() for s in study.series}
    dwi = stack_channels(
        [by_number[17001].channel(0), by_number[13001].channel(0)], b_values=(0.0, 2500.0)
    )
    settings = config.diffusion.model_copy(
        update={
            "min_b_value": 0.0,
            "quantisation_offset": 0.5,
            "rician_correction": False,
            "noise_floor_factor": 0.0,
        }
    )
    maps = compute_maps(dwi, config=settings)
    result = compare_vendor_adc(maps.adc, by_number[12001], {"signal": maps.mask})
    stats = result["regions"]["signal"]
    assert result["vendor_units"] == "1e-6 mm2/s"
    assert stats["n_voxels"] > 50_000
    assert stats["median_abs_relative_difference"] <= 0.02, stats
    assert abs(stats["relative_bias"]) <= 0.02, stats
    assert stats["correlation"] > 0.9, stats
