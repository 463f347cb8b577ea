"""Known-answer tests of the ADC fit and computed high-b."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.config import load_config
from pipeline.config.diffusion import AdcFit
from pipeline.diffusion import compute_maps, fit_log_linear, fit_log_linear_torch, select_b_values
from pipeline.diffusion._fit import BLOCK
from pipeline.errors import InputError
from pipeline.volume import Volume

B_VALUES = (0.0, 50.0, 500.0, 1000.0)


def synthetic_dwi(adc_1e3: np.ndarray, s0: np.ndarray, *, sigma: float, seed: int = 0) -> Volume:
    """Rician-noise DWI with known ADC (1e-3 mm^2/s) on a [z, y, x] grid."""
    rng = np.random.default_rng(seed)
    channels = []
    for b in B_VALUES:
        clean = s0 * np.exp(-b * adc_1e3 * 1e-3)
        real = clean + rng.normal(0, sigma, clean.shape)
        imag = rng.normal(0, sigma, clean.shape)
        channels.append(np.hypot(real, imag))
    return Volume(np.stack(channels).astype(np.float32), spacing=(2.0, 2.0, 4.0), b_values=B_VALUES)


def phantom_slab() -> tuple[np.ndarray, np.ndarray, dict[str, tuple[slice, float]]]:
    """Four tissue blocks with DESIGN.md ADC values, surrounded by air."""
    adc = np.zeros((6, 40, 80))
    s0 = np.zeros_like(adc)
    tissues = {"tumour": 0.9, "wall": 1.4, "oedema": 1.9, "urine": 3.0}
    regions = {}
    for i, (name, value) in enumerate(tissues.items()):
        region = (slice(1, 5), slice(8, 32), slice(4 + 19 * i, 19 + 19 * i))
        adc[region] = value
        s0[region] = 1000.0
        regions[name] = (region, value)
    return adc, s0, regions


def test_noiseless_fit_is_exact() -> None:
    b = np.array(B_VALUES)
    adc = np.array([0.7e-3, 1.4e-3, 3.0e-3])
    signal = 500.0 * np.exp(-np.outer(b, adc))
    fit = fit_log_linear(signal, b)
    np.testing.assert_allclose(fit.adc, adc, rtol=1e-10)
    np.testing.assert_allclose(fit.s0, 500.0, rtol=1e-10)
    np.testing.assert_allclose(fit.rms_residual, 0.0, atol=1e-10)


def test_matches_independent_float64_lstsq() -> None:
    rng = np.random.default_rng(3)
    b = np.array([0.0, 40.0, 273.0, 800.0])
    signal = rng.uniform(50, 1000, size=(4, 200))
    fit = fit_log_linear(signal, b)
    design = np.stack([np.ones_like(b), -b], axis=1)
    coef, *_ = np.linalg.lstsq(design, np.log(signal), rcond=None)
    np.testing.assert_allclose(fit.adc, coef[1], rtol=1e-9)
    np.testing.assert_allclose(np.log(fit.s0), coef[0], rtol=1e-9)


def test_masked_fit_over_many_blocks_equals_per_voxel_lstsq() -> None:
    """Voxels with every point valid take the pseudo-inverse path, the others the normal
    equations; both must equal an independent per-voxel least-squares fit."""
    rng = np.random.default_rng(11)
    b = np.array([50.0, 400.0, 800.0, 1000.0])
    n = 3 * BLOCK + 17
    signal = rng.uniform(20, 1000, size=(4, n)) * np.exp(-np.outer(b, rng.uniform(0.5e-3, 3e-3, n)))
    valid = rng.random((4, n)) > 0.1
    fit = fit_log_linear(signal, b, valid=valid)
    check = rng.choice(n, 400, replace=False)
    for i in check:
        use = valid[:, i]
        if use.sum() < 2:
            assert np.isnan(fit.adc[i])
            continue
        design = np.stack([np.ones(use.sum()), -b[use]], axis=1)
        coef, *_ = np.linalg.lstsq(design, np.log(signal[use, i]), rcond=None)
        resid = np.log(signal[use, i]) - design @ coef
        assert abs(fit.adc[i] - coef[1]) <= 1e-9 * abs(coef[1])
        assert abs(np.log(fit.s0[i]) - coef[0]) <= 1e-9 * abs(coef[0])
        assert abs(fit.rms_residual[i] - np.sqrt((resid**2).mean())) <= 1e-9
        assert fit.n_points[i] == use.sum()


def test_fewer_than_two_valid_points_gives_nan_not_zero() -> None:
    signal = np.array([[100.0, 100.0], [50.0, 0.0], [0.0, 0.0]])
    fit = fit_log_linear(signal, np.array([0.0, 500.0, 1000.0]))
    assert np.isfinite(fit.adc[0]) and np.isnan(fit.adc[1])


@pytest.mark.parametrize("method", [AdcFit.LOG_LINEAR, AdcFit.WEIGHTED])
def test_known_adc_recovered_within_2_percent_at_snr_40(method: AdcFit) -> None:
    adc, s0, regions = phantom_slab()
    dwi = synthetic_dwi(adc, s0, sigma=1000.0 / 40.0)
    base = load_config().diffusion
    config = base.model_copy(update={"fit": method})
    maps = compute_maps(dwi, config=config)
    assert maps.qc.b_values_used == (50.0, 500.0, 1000.0)
    for name, (region, truth) in regions.items():
        median = float(np.median(maps.adc.array[region]))
        assert abs(median - truth) / truth < 0.02, (name, median, truth)
    assert maps.adc.units == "1e-3 mm2/s"
    # background is not fitted and carries no fake ADC
    assert maps.mask.array[0].sum() == 0 and float(maps.adc.array[0].max()) == 0.0


def test_computed_high_b_follows_the_model() -> None:
    adc, s0, regions = phantom_slab()
    dwi = synthetic_dwi(adc, s0, sigma=1.0)
    maps = compute_maps(dwi, config=load_config().diffusion)
    region, truth = regions["tumour"]
    expected = 1000.0 * np.exp(-1500 * truth * 1e-3)
    assert abs(float(np.median(maps.high_b.array[region])) - expected) / expected < 0.02
    assert maps.high_b_value == 1500.0


def test_b_value_window_and_fallback() -> None:
    config = load_config().diffusion
    assert select_b_values((0, 50, 500, 1000), config) == (1, 2, 3)
    assert select_b_values((0, 1000), config) == (0, 1)  # fallback keeps b0
    strict = config.model_copy(update={"fallback_include_b0": False})
    with pytest.raises(InputError, match="at least two distinct b-values"):
        select_b_values((0, 1000), strict)


def test_refuses_nan_and_3d_input() -> None:
    adc, s0, _ = phantom_slab()
    dwi = synthetic_dwi(adc, s0, sigma=1.0)
    broken = dwi.with_array(np.where(dwi.array > 900, np.nan, dwi.array))
    with pytest.raises(InputError, match="NaN"):
        compute_maps(broken, config=load_config().diffusion)
    with pytest.raises(InputError, match="4-D"):
        compute_maps(dwi.channel(0), config=load_config().diffusion)


def _devices() -> list[str]:
    import torch

    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_torch_fit_equals_numpy_fit(device: str, weighted: bool) -> None:
    if device not in _devices():
        pytest.skip("CUDA not available")
    rng = np.random.default_rng(5)
    b = np.array([50.0, 500.0, 1000.0])
    signal = rng.uniform(20, 1000, size=(3, 5000)) * np.exp(
        -np.outer(b, rng.uniform(0.5e-3, 3e-3, 5000))
    )
    valid = signal > 25
    ref = fit_log_linear(signal, b, valid=valid, weighted=weighted)
    out = fit_log_linear_torch(signal, b, valid=valid, weighted=weighted, device=device, chunk=1234)
    np.testing.assert_allclose(out.adc, ref.adc, rtol=1e-4, equal_nan=True)
    np.testing.assert_allclose(out.s0, ref.s0, rtol=1e-4, equal_nan=True)
    np.testing.assert_array_equal(out.n_points, ref.n_points)
