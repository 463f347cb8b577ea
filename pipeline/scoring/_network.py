"""MONAI network scorer (``segnet-v2``): voxel maps of tumour bed and residual tumour; study score.

The network is a compact 3-D :class:`monai.networks.nets.SegResNet` with three input channels
(see :mod:`pipeline.scoring._crop`) and two independent sigmoid outputs (:data:`OUTPUTS`):
P(tumour bed), the bed including any residual tumour, and P(residual tumour). The tumour
output is what the study score pools; the bed output lets the network find the tumour bed
itself when no mask exists (:mod:`pipeline.scoring._search`).
Weights are stored without pickle: a ``.npz`` of the state dict next to a ``.json`` with the
architecture, crop grid, pooling parameters, training description and the SHA-256 of the
``.npz``.

Study score (pooling)
---------------------
With ``p`` the tumour probability averaged over test-time flips (none, x, y, x+y) and
``region`` the tumour bed dilated by ``region_margin_mm`` on the crop grid::

    V = sum(p * [p > threshold] * region) * voxel_mm3    # soft tumour volume, mm^3
    M = max(p * region)                                  # peak tumour probability
    P(residual) = logistic(slope * log1p(V) + peak_weight * M + intercept)

``slope``, ``peak_weight`` and ``intercept`` are fitted on the training cohort (the peak keeps
small foci, whose soft volume is tiny, from being missed). The uncertainty is the standard
deviation of that P over the four flips.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from pipeline.errors import ConfigError, InputError
from pipeline.registration import resample_to
from pipeline.scoring._crop import Crop, CropSpec
from pipeline.volume import Volume, VolumeKind

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

NETWORK_NAME = "segnet-v2"
#: Sigmoid outputs of the network, in order (the last is always residual tumour).
OUTPUTS = ("tumour_bed", "residual_tumour")
#: In-plane flips used for test-time augmentation (array axes of ``[z, y, x]``).
TTA_FLIPS: tuple[tuple[int, ...], ...] = ((), (2,), (1,), (1, 2))


@dataclass(frozen=True)
class Architecture:
    """SegResNet hyper-parameters (stored with the weights)."""

    init_filters: int = 8
    blocks_down: tuple[int, ...] = (1, 2, 2)
    blocks_up: tuple[int, ...] = (1, 1)
    in_channels: int = 3
    out_channels: int = len(OUTPUTS)


@dataclass(frozen=True)
class Pooling:
    """Logistic link from the soft tumour volume to P(residual)."""

    slope: float = 1.0
    intercept: float = -4.0
    region_margin_mm: float = 3.0
    threshold: float = 0.5
    peak_weight: float = 0.0

    def probability(self, volume_mm3: float, peak: float = 0.0) -> float:
        """P(residual) of a soft tumour volume (mm^3) and peak tumour probability."""
        z = self.slope * math.log1p(max(volume_mm3, 0.0)) + self.peak_weight * peak + self.intercept
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


@dataclass(frozen=True)
class NetworkScore:
    """One study: P(residual), its TTA spread, the soft volume (mm^3) and the voxel map."""

    p_residual: float
    uncertainty: float
    soft_volume_mm3: float
    probability: npt.NDArray[np.float32]
    per_flip_p: tuple[float, ...] = field(default=())


def build_network(arch: Architecture) -> torch.nn.Module:
    """The untrained SegResNet of ``arch``."""
    from monai.networks.nets import SegResNet

    return SegResNet(
        spatial_dims=3,
        in_channels=arch.in_channels,
        out_channels=arch.out_channels,
        init_filters=arch.init_filters,
        blocks_down=arch.blocks_down,
        blocks_up=arch.blocks_up,
    )


@dataclass(frozen=True)
class SegNet:
    """A loaded network with its crop grid, pooling and provenance."""

    module: torch.nn.Module
    spec: CropSpec
    pooling: Pooling
    metadata: dict[str, Any]
    sha256: str

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", NETWORK_NAME))

    @property
    def segmentation_threshold(self) -> float:
        """Probability above which a voxel of the TTA-mean map is called residual tumour
        (card field ``segmentation.threshold``; 0.5 when the card has none)."""
        return float(self.metadata.get("segmentation", {}).get("threshold", 0.5))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_network(
    module: torch.nn.Module,
    path: Path,
    *,
    arch: Architecture,
    spec: CropSpec,
    pooling: Pooling,
    extra: dict[str, Any],
) -> Path:
    """Write ``path`` (``.npz`` weights) and ``path.with_suffix('.json')``; returns the JSON."""
    import monai
    import torch

    state = {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **state)
    meta = {
        "name": extra.get("name", NETWORK_NAME),
        "architecture": {"class": "monai.networks.nets.SegResNet", **arch.__dict__},
        "crop": spec.as_dict(),
        "pooling": pooling.__dict__,
        "outputs": {"names": list(OUTPUTS), "activation": "sigmoid"},
        "channels": [
            "t2w / window tissue median, clipped 0..4",
            "high_b / window tissue median, clipped 0..4",
            "adc 1e-3 mm2/s clipped 0..3.5",
        ],
        "versions": {"torch": torch.__version__, "monai": monai.__version__},
        "weights_file": path.name,
        "weights_sha256": _sha256(path),
        **{k: v for k, v in extra.items() if k != "name"},
    }
    meta_path = path.with_suffix(".json")
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    return meta_path


def load_network(meta_path: Path) -> SegNet:
    """Load a network saved by :func:`save_network` from disk (never downloaded)."""
    import torch

    meta_path = Path(meta_path)
    if not meta_path.is_file():
        raise ConfigError(
            f"network model card data {meta_path} not found",
            file=meta_path,
            fix="train one with `ccr train model` or point configs/scoring.yaml at models/",
        )
    meta = json.loads(meta_path.read_text())
    weights = meta_path.with_name(meta["weights_file"])
    digest = _sha256(weights)
    if digest != meta["weights_sha256"]:
        raise ConfigError(
            f"network weights {weights.name} do not match their SHA-256 in {meta_path.name}",
            file=weights,
            fix="restore the shipped weights or retrain",
        )
    arch_keys = {k: v for k, v in meta["architecture"].items() if k != "class"}
    arch = Architecture(
        init_filters=int(arch_keys["init_filters"]),
        blocks_down=tuple(arch_keys["blocks_down"]),
        blocks_up=tuple(arch_keys["blocks_up"]),
        in_channels=int(arch_keys["in_channels"]),
        out_channels=int(arch_keys["out_channels"]),
    )
    module = build_network(arch)
    with np.load(weights, allow_pickle=False) as data:
        state = {k: torch.from_numpy(np.array(data[k])) for k in data.files}
    module.load_state_dict(state)
    module.eval()
    crop = meta["crop"]
    spec = CropSpec(tuple(crop["spacing_xyz"]), tuple(crop["shape_zyx"]))
    return SegNet(module, spec, Pooling(**meta["pooling"]), meta, digest)


def predict_classes(
    net: SegNet,
    images: npt.NDArray[np.float32],
    *,
    device: str = "cpu",
    mixed_precision: bool = True,
    flips: Sequence[tuple[int, ...]] = TTA_FLIPS,
    batch_size: int = 8,
) -> npt.NDArray[np.float32]:
    """Output probabilities ``[n, flips, outputs, z, y, x]`` (:data:`OUTPUTS`, sigmoid) for
    windows ``[n, 3, z, y, x]``.

    The flipped copies of a window go through the network in one batch. Mixed precision
    (float16 autocast) is used on CUDA only when ``mixed_precision``; CPU runs in float32 and
    is deterministic for a fixed thread count.
    """
    import torch

    module = net.module.to(device)
    n_flips = len(flips)
    out: npt.NDArray[np.float32] | None = None
    autocast = device == "cuda" and mixed_precision
    per_pass = max(1, batch_size // n_flips) if device == "cuda" else max(1, batch_size)
    with torch.inference_mode():
        for start in range(0, images.shape[0], per_pass):
            batch = torch.from_numpy(np.ascontiguousarray(images[start : start + per_pass]))
            batch = batch.to(device)
            n = batch.shape[0]
            stacked = torch.cat([_flip(batch, axes, offset=2) for axes in flips])
            with torch.autocast("cuda", dtype=torch.float16, enabled=autocast):
                logits = module(stacked)
            prob = torch.sigmoid(logits.float())
            if out is None:
                shape = (images.shape[0], n_flips, prob.shape[1], *images.shape[2:])
                out = np.zeros(shape, np.float32)
            for f, axes in enumerate(flips):
                restored = _flip(prob[f * n : (f + 1) * n], axes, offset=2)
                out[start : start + n, f] = restored.cpu().numpy()
    module.to("cpu")
    if out is None:
        raise InputError("no network input windows to score")
    return out


def predict_probability(
    net: SegNet,
    images: npt.NDArray[np.float32],
    *,
    device: str = "cpu",
    mixed_precision: bool = True,
    flips: Sequence[tuple[int, ...]] = TTA_FLIPS,
    batch_size: int = 8,
) -> npt.NDArray[np.float32]:
    """Residual-tumour probability ``[n, flips, z, y, x]`` (the last output) of windows."""
    classes = predict_classes(
        net,
        images,
        device=device,
        mixed_precision=mixed_precision,
        flips=flips,
        batch_size=batch_size,
    )
    return np.ascontiguousarray(classes[:, :, -1])


def _flip(tensor: torch.Tensor, axes: tuple[int, ...], *, offset: int) -> torch.Tensor:
    """``tensor`` flipped along the ``[z, y, x]`` ``axes`` that start at dimension ``offset``."""
    import torch

    return torch.flip(tensor, [a + offset for a in axes]) if axes else tensor


def pooling_region(
    bed: npt.NDArray[np.bool_], spec: CropSpec, pooling: Pooling
) -> npt.NDArray[np.bool_]:
    """The tumour bed dilated by ``pooling.region_margin_mm`` on the crop grid."""
    spacing_zyx = spec.spacing_xyz[::-1]
    distance = ndimage.distance_transform_edt(~np.asarray(bed, bool), sampling=spacing_zyx)
    return np.asarray(distance <= pooling.region_margin_mm)


def pooled_features(
    probability: npt.NDArray[np.floating],
    region: npt.NDArray[np.bool_],
    spec: CropSpec,
    pooling: Pooling,
) -> tuple[float, float]:
    """Soft tumour volume (mm^3) and peak tumour probability of one map inside ``region``
    (:func:`pooling_region`; see module docstring)."""
    p = np.asarray(probability, np.float64) * region
    voxel = float(np.prod(spec.spacing_xyz))
    return float((p * (p > pooling.threshold)).sum() * voxel), float(p.max(initial=0.0))


def probability_on(
    reference: Volume, grid: Volume, probability: npt.NDArray[np.floating]
) -> Volume:
    """A crop's residual-tumour probability map (on ``grid``) resampled linearly onto
    ``reference``'s grid (e.g. the restaging T2W); 0 outside the crop."""
    on_crop = grid.with_array(np.asarray(probability, np.float32), kind=VolumeKind.INTENSITY)
    values = np.clip(np.asarray(resample_to(on_crop, reference).array), 0.0, 1.0)
    return reference.with_array(
        values.astype(np.float32),
        kind=VolumeKind.INTENSITY,
        units="probability 0-1 (residual tumour, network TTA mean)",
    )


def score_crops(
    net: SegNet,
    crops: Sequence[Crop],
    *,
    device: str = "cpu",
    mixed_precision: bool = True,
    flips: Sequence[tuple[int, ...]] = TTA_FLIPS,
    batch_size: int = 8,
) -> list[NetworkScore]:
    """Batched study scores for many crops (one per study)."""
    if not crops:
        return []
    for crop in crops:
        if crop.image.shape[1:] != net.spec.shape_zyx:
            raise InputError(
                f"network crop shape {crop.image.shape[1:]} differs from the model's "
                f"{net.spec.shape_zyx}",
                fix="make crops with the model's CropSpec (net.spec)",
            )
    images = np.stack([c.image for c in crops])
    probs = predict_probability(
        net,
        images,
        device=device,
        mixed_precision=mixed_precision,
        flips=flips,
        batch_size=batch_size,
    )
    scores = []
    for crop, per_flip in zip(crops, probs, strict=True):
        region = pooling_region(crop.bed > 0, net.spec, net.pooling)
        mean = per_flip.mean(axis=0)
        volume, peak = pooled_features(mean, region, net.spec, net.pooling)
        flip_p = tuple(
            net.pooling.probability(*pooled_features(p, region, net.spec, net.pooling))
            for p in per_flip
        )
        scores.append(
            NetworkScore(
                p_residual=net.pooling.probability(volume, peak),
                uncertainty=float(np.std(flip_p)),
                soft_volume_mm3=volume,
                probability=mean.astype(np.float32),
                per_flip_p=flip_p,
            )
        )
    return scores
