"""Learned scorers: crop grid, radiomics model JSON, network weights I/O, fusion, shipped models."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from pipeline.config import load_config
from pipeline.config.scoring import FusionWeights
from pipeline.device import cuda_available
from pipeline.errors import ConfigError, InputError
from pipeline.scoring import (
    CropSpec,
    RadiomicsModel,
    fuse,
    load_learned,
    load_network,
    load_radiomics_model,
    make_crop,
    score_crops,
)
from pipeline.scoring._network import (
    Architecture,
    Pooling,
    build_network,
    pooled_features,
    pooling_region,
    save_network,
)
from pipeline.scoring._radiomics_model import save_radiomics_model
from pipeline.volume import Volume, VolumeKind

SPEC = CropSpec(spacing_xyz=(1.25, 1.25, 3.0), shape_zyx=(8, 24, 24))


def _maps() -> tuple[Volume, Volume, Volume, Volume]:
    shape = (12, 60, 60)
    grid = {"spacing": (0.7, 0.7, 3.0), "origin": (-20.0, -20.0, 0.0)}
    t2 = np.full(shape, 100.0)
    adc = np.full(shape, 1.4)
    hb = np.full(shape, 10.0)
    bed = np.zeros(shape, np.uint8)
    bed[4:8, 25:35, 30:40] = 1
    adc[5:7, 28:32, 33:37] = 0.8
    hb[5:7, 28:32, 33:37] = 30.0
    vols = [Volume(array=a, **grid) for a in (t2, hb, adc)]  # type: ignore[arg-type]
    return (*vols, Volume(array=bed, kind=VolumeKind.LABEL, **grid))  # type: ignore[arg-type]


def test_crop_is_centred_on_the_bed_and_normalised() -> None:
    t2, hb, adc, bed = _maps()
    crop = make_crop(t2, hb, adc, bed, spec=SPEC)
    assert crop.image.shape == (3, 8, 24, 24)
    assert crop.image.dtype == np.float32
    centre = np.argwhere(crop.bed > 0).mean(axis=0)
    assert np.allclose(centre, [3.5, 11.5, 11.5], atol=1.0)
    # uniform T2W: ratio to the ring median is 1; ADC stays in absolute units
    assert np.allclose(crop.image[0][crop.bed > 0], 1.0, atol=1e-4)
    assert crop.image[2].max() == pytest.approx(1.4, abs=1e-4)
    assert crop.image[1].max() == pytest.approx(3.0, abs=0.05)


def test_radiomics_model_round_trip_and_missing_feature(tmp_path: Path) -> None:
    model = RadiomicsModel(
        "radiomics-test", ("a", "b"), (1.0, 0.0), (2.0, 1.0), (1.0, -1.0), 0.5, {"versions": {}}
    )
    path = save_radiomics_model(model, tmp_path / "m.json")
    loaded = load_radiomics_model(path)
    z = (3.0 - 1.0) / 2.0 * 1.0 + (2.0 - 0.0) * -1.0 + 0.5
    assert loaded.predict({"a": 3.0, "b": 2.0}) == pytest.approx(1.0 / (1.0 + math.exp(-z)))
    with pytest.raises(InputError, match="missing or not finite"):
        loaded.predict({"a": 3.0})
    assert "coefficients" in json.loads(path.read_text())


def test_radiomics_model_missing_file_says_how_to_train(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ccr train radiomics"):
        load_radiomics_model(tmp_path / "none.json")


def _tiny_network(tmp_path: Path) -> Path:
    import torch

    torch.manual_seed(0)
    arch = Architecture(init_filters=8, blocks_down=(1, 1), blocks_up=(1,))
    return save_network(
        build_network(arch),
        tmp_path / "net.npz",
        arch=arch,
        spec=SPEC,
        pooling=Pooling(slope=2.0, intercept=-6.0),
        extra={"name": "segnet-test"},
    )


def test_network_weights_round_trip_deterministic_on_cpu(tmp_path: Path) -> None:
    net = load_network(_tiny_network(tmp_path))
    assert net.name == "segnet-test"
    crop = make_crop(*_maps(), spec=net.spec)
    first, second = score_crops(net, [crop, crop]), score_crops(net, [crop, crop])
    assert first[0].p_residual == second[0].p_residual  # same input, same batch: identical
    single = score_crops(net, [crop])[0]
    assert single.p_residual == pytest.approx(first[1].p_residual, abs=1e-6)
    assert first[0].probability.shape == (8, 24, 24)
    assert 0.0 <= first[0].p_residual <= 1.0 and first[0].uncertainty >= 0.0
    assert len(first[0].per_flip_p) == 4


def test_network_refuses_changed_weights_and_wrong_crop(tmp_path: Path) -> None:
    card = _tiny_network(tmp_path)
    net = load_network(card)
    bad = make_crop(*_maps(), spec=CropSpec(shape_zyx=(8, 16, 16)))
    with pytest.raises(InputError, match="crop shape"):
        score_crops(net, [bad])
    weights = tmp_path / "net.npz"
    weights.write_bytes(weights.read_bytes() + b"x")
    with pytest.raises(ConfigError, match="SHA-256"):
        load_network(card)


def test_pooling_is_monotonic_in_volume() -> None:
    pooling = Pooling(slope=2.0, intercept=-8.0)
    values = [pooling.probability(v) for v in (0.0, 10.0, 100.0, 1000.0)]
    assert values == sorted(values)
    assert values[0] == pytest.approx(1.0 / (1.0 + math.exp(8.0)))
    peaked = Pooling(slope=2.0, intercept=-8.0, peak_weight=5.0)
    assert peaked.probability(10.0, 0.9) > peaked.probability(10.0, 0.1)
    z = 2.0 * math.log1p(10.0) + 5.0 * 0.9 - 8.0
    assert peaked.probability(10.0, 0.9) == pytest.approx(1.0 / (1.0 + math.exp(-z)))


def test_pooled_features_known_answer() -> None:
    spec = CropSpec(spacing_xyz=(1.0, 1.0, 2.0), shape_zyx=(4, 10, 10))
    bed = np.zeros(spec.shape_zyx, bool)
    bed[1:3, 4:6, 4:6] = True
    prob = np.zeros(spec.shape_zyx)
    prob[2, 5, 5] = 0.9  # inside the bed
    prob[2, 5, 7] = 0.6  # 2 mm from the bed: inside the 3 mm margin
    prob[2, 5, 9] = 0.95  # 4 mm away: outside
    prob[1, 4, 4] = 0.3  # below the threshold
    pooling = Pooling(region_margin_mm=3.0, threshold=0.5)
    region = pooling_region(bed, spec, pooling)
    volume, peak = pooled_features(prob, region, spec, pooling)
    assert volume == pytest.approx((0.9 + 0.6) * 2.0)
    assert peak == pytest.approx(0.9)
    soft, _ = pooled_features(prob, region, spec, Pooling(region_margin_mm=3.0, threshold=0.0))
    assert soft == pytest.approx((0.9 + 0.6 + 0.3) * 2.0)


def test_fusion_averages_logits_and_names_scorers() -> None:
    weights = FusionWeights(radiomics=0.5, network=0.5)
    fused = fuse(
        {"radiomics": 0.9, "network": 0.1},
        names={"radiomics": "r1", "network": "n1"},
        weights=weights,
    )
    assert fused.p_residual == pytest.approx(0.5)
    assert fused.uncertainty == pytest.approx(0.4)
    assert fused.scorer == "fusion-v1(n1, r1)"
    alone = fuse({"network": 0.8}, names={}, weights=weights, network_spread=0.03)
    assert alone.p_residual == pytest.approx(0.8)
    assert alone.uncertainty == pytest.approx(0.03)
    with pytest.raises(ValueError, match="at least one scorer"):
        fuse({}, names={}, weights=weights)


def test_shipped_models_load_from_disk() -> None:
    scorers = load_learned(load_config().scoring.learned)
    assert scorers.problems == ()
    assert scorers.radiomics is not None and scorers.network is not None
    assert scorers.radiomics.name == "radiomics-v1" and scorers.network.name == "segnet-v2"
    weights = Path(scorers.network.metadata["weights_file"])
    assert weights.suffix == ".npz"


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available(), reason="needs CUDA")
def test_cpu_and_cuda_study_scores_agree_within_1e_3() -> None:
    scorers = load_learned(load_config().scoring.learned)
    assert scorers.network is not None
    crop = make_crop(*_maps(), spec=scorers.network.spec)
    cpu = score_crops(scorers.network, [crop], device="cpu")[0]
    for amp in (False, True):
        gpu = score_crops(scorers.network, [crop], device="cuda", mixed_precision=amp)[0]
        assert abs(cpu.p_residual - gpu.p_residual) <= 1e-3
