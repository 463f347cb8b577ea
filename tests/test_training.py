"""Training entry points on a tiny synthetic cached cohort (known answer: bright focus = tumour)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import InputError
from pipeline.scoring import CropSpec, load_network, load_radiomics_model
from pipeline.scoring._network import Architecture
from pipeline.training import cached_cases, read_cached_case, train_radiomics
from pipeline.training._cohort import CachedCase, write_cached_case
from pipeline.training._network import (
    NetworkTrainingOptions,
    fit_segmentation_threshold,
    train_network_on,
)
from pipeline.volume import Volume, VolumeKind


def _cohort(folder: Path, n: int = 12) -> list[Path]:
    rng = np.random.default_rng(0)
    grid = {"spacing": (1.0, 1.0, 3.0), "origin": (0.0, 0.0, 0.0)}
    paths = []
    for i in range(n):
        label = i % 2 == 1
        shape = (10, 40, 40)
        t2 = 100 + rng.normal(0, 2, shape)
        adc = np.full(shape, 1.4)
        hb = np.full(shape, 10.0)
        bed = np.zeros(shape, np.uint8)
        bed[3:7, 14:26, 14:26] = 1
        tumour = np.zeros(shape, np.uint8)
        if label:
            tumour[4:6, 17:23, 17:23] = 1
            adc[tumour > 0], hb[tumour > 0] = 0.8, 30.0
        vol = {k: Volume(array=a, **grid) for k, a in (("t2", t2), ("adc", adc), ("hb", hb))}  # type: ignore[arg-type]
        case = CachedCase(
            case_id=f"c{i:02d}",
            case_type="residual_tumour" if label else "complete_response",
            label=label,
            t2w=vol["t2"],
            adc=vol["adc"],
            high_b=vol["hb"],
            bed=Volume(array=bed, kind=VolumeKind.LABEL, **grid),  # type: ignore[arg-type]
            tumour=Volume(array=tumour, kind=VolumeKind.LABEL, **grid),  # type: ignore[arg-type]
            features={
                "adc_mean": float(adc[bed > 0].mean()) + rng.normal(0, 0.01),
                "noise": float(rng.normal()),
            },
            rules_p=None,
        )
        paths.append(write_cached_case(folder / f"c{i:02d}.npz", case))
    return paths


def test_cached_case_round_trip(tmp_path: Path) -> None:
    paths = _cohort(tmp_path, n=2)
    case = read_cached_case(paths[1])
    assert case.label is True and case.case_type == "residual_tumour"
    assert int(case.tumour.array.sum()) == 2 * 6 * 6
    assert cached_cases(tmp_path) == paths


def test_train_radiomics_separates_the_classes(tmp_path: Path) -> None:
    _cohort(tmp_path / "cache")
    path = train_radiomics(tmp_path / "out", cache=tmp_path / "cache", seed=0)
    model = load_radiomics_model(path)
    assert model.name == "radiomics-v1"
    assert model.metadata["metrics"]["train_auc"] == 1.0
    assert model.predict({"adc_mean": 1.2, "noise": 0.0}) > model.predict(
        {"adc_mean": 1.4, "noise": 0.0}
    )


def test_too_few_cases_is_refused(tmp_path: Path) -> None:
    _cohort(tmp_path / "cache", n=4)
    with pytest.raises(InputError, match="at least 10"):
        train_radiomics(tmp_path / "out", cache=tmp_path / "cache")


def _tiny_options(*, epochs: int) -> NetworkTrainingOptions:
    """A small network on small crops (seconds per epoch), ``epochs`` epochs and patience."""
    return NetworkTrainingOptions(
        max_epochs=epochs,
        patience=epochs,
        batch_size=4,
        seed=0,
        patch_zyx=(8, 16, 16),
        spec=CropSpec(spacing_xyz=(1.25, 1.25, 3.0), shape_zyx=(8, 24, 24)),
        arch=Architecture(init_filters=8, blocks_down=(1, 1), blocks_up=(1,)),
    )


@pytest.mark.slow
def test_train_network_writes_weights_card_and_metrics(tmp_path: Path) -> None:
    import torch

    torch.set_num_threads(2)
    paths = _cohort(tmp_path / "cache")
    options = _tiny_options(epochs=2)
    card = train_network_on(paths, tmp_path / "out", options=options, training_set={"t": 1})
    net = load_network(card)
    assert net.spec.shape_zyx == (8, 24, 24)
    history = json.loads((tmp_path / "out" / "network-metrics.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    assert (tmp_path / "out" / "checkpoint-best.npz").is_file()
    segmentation = json.loads(card.read_text())["segmentation"]
    assert net.segmentation_threshold == segmentation["threshold"]


def test_fine_tuning_starts_from_the_given_weights(tmp_path: Path) -> None:
    import dataclasses

    import torch

    torch.set_num_threads(2)
    paths = _cohort(tmp_path / "cache")
    base = _tiny_options(epochs=1)
    first = load_network(train_network_on(paths, tmp_path / "a", options=base, training_set={}))
    # a learning rate of ~0 keeps the starting weights: fine-tuning must begin from them
    tuned_options = dataclasses.replace(
        base, start_from=tmp_path / "a" / "segnet-v2.json", learning_rate=1e-12, seed=7
    )
    tuned = load_network(
        train_network_on(paths, tmp_path / "b", options=tuned_options, training_set={})
    )
    for (name, a), b in zip(
        first.module.state_dict().items(), tuned.module.state_dict().values(), strict=True
    ):
        if a.is_floating_point():
            assert torch.allclose(a, b, atol=1e-6), name
    fresh = load_network(
        train_network_on(
            paths, tmp_path / "c", options=dataclasses.replace(base, seed=7), training_set={}
        )
    )
    conv = next(k for k in first.module.state_dict() if k.endswith("weight"))
    assert not torch.allclose(first.module.state_dict()[conv], fresh.module.state_dict()[conv])
    wrong = dataclasses.replace(
        tuned_options, spec=CropSpec(spacing_xyz=(1.25, 1.25, 3.0), shape_zyx=(8, 16, 16))
    )
    with pytest.raises(InputError, match="trained on crops"):
        train_network_on(paths, tmp_path / "d", options=wrong, training_set={})


def test_segmentation_threshold_maximises_training_dice() -> None:
    label = np.zeros((4, 10, 10), np.uint8)
    label[1:3, 2:6, 2:6] = 2
    ring = np.zeros(label.shape, bool)
    ring[1:3, 1:7, 1:7] = True
    # tumour 0.7, a ring around it 0.4, elsewhere 0.1: Dice 1 for 0.4 <= t < 0.7, nearest 0.5
    high = np.where(label == 2, 0.7, np.where(ring, 0.4, 0.1))
    fitted = fit_segmentation_threshold(high[None], [label])
    assert fitted["threshold"] == 0.5 and fitted["n_cases"] == 1
    assert fitted["mean_dice_by_threshold"]["0.3"] < 1.0 == fitted["mean_dice_by_threshold"]["0.5"]
    # a weak map (tumour 0.3, rest 0.1): only 0.2 and 0.25 segment it; 0.25 is nearer 0.5
    low = np.where(label == 2, 0.3, 0.1)
    without = np.zeros_like(label)
    assert fit_segmentation_threshold(np.stack([low, low]), [label, without])["threshold"] == 0.25
    assert fit_segmentation_threshold(low[None], [without])["fitted"] is False
