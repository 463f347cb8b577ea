"""Training of the MONAI network (``ccr train model``).

Each cached case gives one crop around its tumour bed, a little larger than the network input
(``TRAIN_MARGIN_VOX`` voxels in plane each side) so that random spatial crops shift the bed.
Each crop is normalised by itself, as every inference window is (:mod:`pipeline.scoring._crop`).
Voxel labels: 0 outside the tumour bed, 1 tumour bed without tumour, 2 residual tumour.
Augmentation (MONAI, seeded): ``patches_per_case`` random patches (``patch_zyx``; centred
on the surroundings, the bed and residual tumour in the ratio ``class_ratios`` where present;
the network is fully convolutional), in-plane flips, channel-wise intensity scaling and
Gaussian noise. The network's two sigmoid outputs learn "bed (tumour included)" and
"residual tumour"; loss: binary cross-entropy plus batch Dice of each output (batch Dice:
patches without tumour do not make the tumour term unstable).
A stratified validation split (``val_fraction``) drives early stopping (``patience`` epochs
without a lower validation loss) and the best checkpoint. The pooling logistic
(:class:`pipeline.scoring._network.Pooling`) is then fitted on all training cases.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pipeline.errors import InputError
from pipeline.scoring._crop import CropSpec, label_on_crop, make_crop
from pipeline.scoring._network import (
    NETWORK_NAME,
    TTA_FLIPS,
    Architecture,
    Pooling,
    SegNet,
    build_network,
    load_network,
    pooled_features,
    pooling_region,
    predict_probability,
    save_network,
)
from pipeline.training._cohort import read_cached_case

log = logging.getLogger(__name__)

TRAIN_MARGIN_VOX = 12


@dataclass(frozen=True)
class NetworkTrainingOptions:
    """Hyper-parameters of :func:`train_network_on`."""

    max_epochs: int = 80
    patience: int = 15
    batch_size: int = 8
    patches_per_case: int = 2
    class_ratios: tuple[float, float, float] = (1.0, 1.0, 2.0)
    #: A weights card (``segnet-v2.json``) to start from (fine-tuning) instead of random weights.
    start_from: Path | None = None
    patch_zyx: tuple[int, int, int] = (16, 40, 40)
    learning_rate: float = 2e-3
    val_fraction: float = 0.2
    seed: int = 0
    device: str = "cpu"
    spec: CropSpec = field(default_factory=CropSpec)
    arch: Architecture = field(default_factory=Architecture)


@dataclass(frozen=True)
class _Sample:
    image: npt.NDArray[np.float32]
    label: npt.NDArray[np.uint8]
    bed: npt.NDArray[np.uint8]
    study_label: bool
    case_type: str


def load_samples(paths: Sequence[Path], spec: CropSpec, margin: int) -> list[_Sample]:
    """Crops (``spec`` grown by ``margin`` voxels in plane) of cached cases with labels."""
    big = replace(
        spec,
        shape_zyx=(
            spec.shape_zyx[0],
            spec.shape_zyx[1] + 2 * margin,
            spec.shape_zyx[2] + 2 * margin,
        ),
    )
    samples = []
    for path in paths:
        case = read_cached_case(path)
        crop = make_crop(case.t2w, case.high_b, case.adc, case.bed, spec=big)
        tumour = label_on_crop(case.tumour, crop.grid)
        samples.append(
            _Sample(
                crop.image,
                np.where(tumour > 0, 2, crop.bed > 0).astype(np.uint8),
                crop.bed,
                case.label,
                case.case_type,
            )
        )
    return samples


def _centre(array: npt.NDArray[Any], margin: int) -> npt.NDArray[Any]:
    if margin == 0:
        return array
    return array[..., margin:-margin, margin:-margin]


def _patches(item: Any) -> list[Any]:
    """The random crop returns a list of samples (``patches_per_case`` per case)."""
    return list(item) if isinstance(item, list) else [item]


def split(labels: Sequence[bool], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Stratified train/validation indices."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for value in (False, True):
        idx = [i for i, v in enumerate(labels) if v is value]
        rng.shuffle(idx)
        n_val = max(1, round(fraction * len(idx))) if len(idx) > 1 else 0
        val += idx[:n_val]
        train += idx[n_val:]
    return sorted(train), sorted(val)


def _targets(label: Any) -> Any:
    """Voxel labels ``[n, 1, ...]`` (0 outside, 1 bed, 2 tumour) as the two sigmoid targets
    ``[n, 2, ...]``: bed including tumour, and tumour."""
    import torch

    return torch.cat([(label >= 1), (label == 2)], dim=1).float()


def _dice(
    prob: npt.NDArray[np.floating], label: npt.NDArray[np.integer], threshold: float = 0.5
) -> float | None:
    """Dice of ``prob > threshold`` against the residual-tumour voxels (label 2) of one case
    (``None`` when it has none)."""
    truth = label == 2
    if not truth.any():
        return None
    pred = prob > threshold
    return float(2 * (pred & truth).sum() / (pred.sum() + truth.sum()))


def train_network_on(
    paths: Sequence[Path],
    out_dir: Path,
    *,
    options: NetworkTrainingOptions,
    training_set: dict[str, Any],
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Train on cached cases; write ``out_dir/segnet-v2.{npz,json}``, the best checkpoint
    and ``out_dir/network-metrics.json`` (one entry per epoch). Returns the JSON card data."""
    import monai
    import torch
    from monai.losses import DiceCELoss
    from monai.transforms import (
        Compose,
        RandCropByLabelClassesd,
        RandFlipd,
        RandGaussianNoised,
        RandScaleIntensityd,
    )

    spec, margin = options.spec, TRAIN_MARGIN_VOX
    samples = load_samples(paths, spec, margin)
    train_idx, val_idx = split([s.study_label for s in samples], options.val_fraction, options.seed)
    if not train_idx or not val_idx:
        raise InputError("too few cases for a training/validation split")
    torch.manual_seed(options.seed)
    monai.utils.set_determinism(seed=options.seed)
    augment = Compose(
        [
            RandCropByLabelClassesd(
                keys=["image", "label"],
                label_key="label",
                spatial_size=options.patch_zyx,
                ratios=list(options.class_ratios),
                num_classes=len(options.class_ratios),
                num_samples=options.patches_per_case,
                allow_smaller=True,
                warn=False,
            ),
            RandFlipd(keys=["image", "label"], prob=0.5, spatial_axis=1),
            RandFlipd(keys=["image", "label"], prob=0.5, spatial_axis=2),
            RandScaleIntensityd(keys="image", factors=0.1, prob=0.5, channel_wise=True),
            RandGaussianNoised(keys="image", prob=0.3, std=0.03),
        ]
    )
    augment.set_random_state(seed=options.seed)
    device = options.device
    net = build_network(options.arch)
    if options.start_from is not None:
        initial = load_network(options.start_from)
        if initial.spec != spec:
            raise InputError(
                f"{options.start_from} was trained on crops {initial.spec}, not {spec}",
                file=options.start_from,
            )
        net.load_state_dict(initial.module.state_dict())
    net = net.to(device)
    loss_fn = DiceCELoss(sigmoid=True, batch=True)
    optimiser = torch.optim.Adam(net.parameters(), lr=options.learning_rate, weight_decay=1e-5)
    val_x = torch.from_numpy(np.stack([_centre(samples[i].image, margin) for i in val_idx]))
    val_y = torch.from_numpy(
        np.stack([_centre(samples[i].label, margin)[None] for i in val_idx]).astype(np.int64)
    )
    rng = np.random.default_rng(options.seed)
    history: list[dict[str, Any]] = []
    best_loss, best_state, stale = float("inf"), None, 0
    out_dir.mkdir(parents=True, exist_ok=True)
    for epoch in range(1, options.max_epochs + 1):
        start = time.perf_counter()
        net.train()
        order = rng.permutation(train_idx)
        losses = []
        for b in range(0, len(order), options.batch_size):
            items = [
                patch
                for i in order[b : b + options.batch_size]
                for patch in _patches(
                    augment({"image": samples[i].image, "label": samples[i].label[None]})
                )
            ]
            x = torch.stack([torch.as_tensor(np.asarray(d["image"])) for d in items]).float()
            y = torch.stack([torch.as_tensor(np.asarray(d["label"])) for d in items]).long()
            optimiser.zero_grad()
            loss = loss_fn(net(x.to(device)), _targets(y).to(device))
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()))
        net.eval()
        with torch.inference_mode():
            val_loss = 0.0
            probs = []
            for b in range(0, len(val_idx), options.batch_size):
                logits = net(val_x[b : b + options.batch_size].to(device))
                val_loss += (
                    float(loss_fn(logits, _targets(val_y[b : b + options.batch_size]).to(device)))
                    * logits.shape[0]
                )
                probs.append(torch.sigmoid(logits)[:, -1].cpu().numpy())
            val_loss /= len(val_idx)
        prob = np.concatenate(probs)
        dices = [
            d
            for d in (_dice(p, y[0]) for p, y in zip(prob, val_y.numpy(), strict=True))
            if d is not None
        ]
        entry = {
            "epoch": epoch,
            "train_loss": float(np.mean(losses)),
            "val_loss": val_loss,
            "val_dice_mean": float(np.mean(dices)) if dices else None,
            "seconds": round(time.perf_counter() - start, 1),
        }
        history.append(entry)
        log.info("epoch %s", entry)
        (out_dir / "network-metrics.json").write_text(json.dumps(history, indent=2) + "\n")
        if progress is not None:
            progress(epoch, options.max_epochs)
        if val_loss < best_loss - 1e-4:
            best_loss, stale = val_loss, 0
            best_state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
            save_network(
                net,
                out_dir / "checkpoint-best.npz",
                arch=options.arch,
                spec=spec,
                pooling=Pooling(),
                extra={"epoch": epoch, "val_loss": val_loss},
            )
        else:
            stale += 1
            if stale >= options.patience:
                log.info("early stop at epoch %d", epoch)
                break
    if best_state is not None:
        net.load_state_dict(best_state)
    net = net.cpu().eval()
    maps = training_maps(net, samples, spec, margin)
    pooling = fit_pooling(maps, samples, spec, margin)
    segmentation = fit_segmentation_threshold(maps, [_centre(s.label, margin) for s in samples])
    extra = {
        "name": NETWORK_NAME,
        "training": {
            "options": {
                k: (str(v) if isinstance(v, Path) else v)
                for k, v in options.__dict__.items()
                if k not in ("spec", "arch")
            },
            "best_val_loss": best_loss,
            "epochs_run": len(history),
            "n_train": len(train_idx),
            "n_val": len(val_idx),
            "val_dice_mean_best": min(history, key=lambda h: h["val_loss"])["val_dice_mean"],
        },
        "training_set": training_set,
        "segmentation": segmentation,
    }
    return save_network(
        net,
        out_dir / f"{NETWORK_NAME}.npz",
        arch=options.arch,
        spec=spec,
        pooling=pooling,
        extra=extra,
    )


def training_maps(
    net: Any, samples: Sequence[_Sample], spec: CropSpec, margin: int
) -> npt.NDArray[np.float32]:
    """TTA-mean residual-tumour maps ``[n, z, y, x]`` of the training crops (centre window)."""
    model = SegNet(net, spec, Pooling(threshold=0.0), {}, "")
    images = np.stack([_centre(s.image, margin) for s in samples])
    return predict_probability(model, images, flips=TTA_FLIPS).mean(axis=1)


def fit_pooling(
    probs: npt.NDArray[np.floating], samples: Sequence[_Sample], spec: CropSpec, margin: int
) -> Pooling:
    """Fit the pooling logistic on the training cases' maps (:func:`training_maps`): soft
    tumour volume over all probabilities (threshold 0) and peak probability."""
    from sklearn.linear_model import LogisticRegression

    base = Pooling(threshold=0.0)
    features = np.asarray(
        [
            pooled_features(p, pooling_region(_centre(s.bed, margin) > 0, spec, base), spec, base)
            for p, s in zip(probs, samples, strict=True)
        ]
    )
    x = np.column_stack([np.log1p(features[:, 0]), features[:, 1]])
    y = np.asarray([s.study_label for s in samples])
    clf = LogisticRegression(C=1.0).fit(x, y)
    return Pooling(
        slope=float(clf.coef_[0, 0]),
        peak_weight=float(clf.coef_[0, 1]),
        intercept=float(clf.intercept_[0]),
        threshold=base.threshold,
    )


#: Candidate segmentation thresholds of :func:`fit_segmentation_threshold`.
THRESHOLDS = tuple(round(0.2 + 0.05 * i, 2) for i in range(11))


def fit_segmentation_threshold(
    probs: npt.NDArray[np.floating], labels: Sequence[npt.NDArray[np.integer]]
) -> dict[str, Any]:
    """The threshold of :data:`THRESHOLDS` with the highest mean per-case Dice (residual
    tumour, label 2) over the cases that have tumour; ties go to the one nearest 0.5.
    Returns the card's ``segmentation`` entry (threshold, Dice per candidate, case count)."""
    cases = [(p, y) for p, y in zip(probs, labels, strict=True) if (y == 2).any()]
    if not cases:
        return {"threshold": 0.5, "fitted": False, "why": "no training case has tumour"}
    means = {t: float(np.mean([_dice(p, y, t) for p, y in cases])) for t in THRESHOLDS}
    best = max(THRESHOLDS, key=lambda t: (round(means[t], 4), -abs(t - 0.5)))
    return {
        "threshold": best,
        "fitted": True,
        "fitted_on": "training cases with tumour, crop grid, TTA-mean map",
        "n_cases": len(cases),
        "mean_dice_by_threshold": {str(t): round(means[t], 4) for t in THRESHOLDS},
    }
