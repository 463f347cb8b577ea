"""Finding the tumour bed with the network when no mask exists (sliding window over the pelvis).

The three maps are resampled once onto a grid with the restaging T2W's orientation and the
network's voxel size that covers the T2W field of view. Windows of the network's input shape
tile that grid with half-window overlap (the last window of each axis ends at the border);
each window is normalised by itself, as in training, and the network's P(tumour bed) is
averaged where windows overlap. The bed is the connected region of
P(bed) > ``threshold`` with the largest summed probability, carried back onto the T2W grid;
regions under ``min_volume_mm3`` are ignored. No region: no bed (``None``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from pipeline.registration import resample_to
from pipeline.scoring._crop import CropSpec, crop_grid, normalise, resampled_maps
from pipeline.scoring._network import SegNet, predict_classes
from pipeline.volume import Volume, VolumeKind


@dataclass(frozen=True)
class BedSearch:
    """A tumour bed found by the network: the mask on the T2W grid, its mean P(bed), volume."""

    mask: Volume
    mean_probability: float
    volume_mm3: float
    windows: int


def search_grid(reference: Volume, spec: CropSpec) -> Volume:
    """An empty grid with ``reference``'s orientation and origin and the network's voxel size
    covering ``reference``'s field of view (at least one window along each axis)."""
    size_xyz = np.asarray(reference.array.shape[-3:][::-1], float)
    extent = size_xyz * np.asarray(reference.spacing, float)
    spacing = np.asarray(spec.spacing_xyz, float)
    n_xyz = np.maximum(np.ceil(extent / spacing).astype(int), np.asarray(spec.shape_zyx[::-1]))
    # both grids start at the reference's first voxel corner: centre the new grid's box there
    corner = np.asarray(reference.origin) - reference.direction_matrix @ (
        np.asarray(reference.spacing) / 2.0
    )
    centre = corner + reference.direction_matrix @ (n_xyz * spacing / 2.0)
    grid_spec = CropSpec(
        spacing_xyz=(float(spacing[0]), float(spacing[1]), float(spacing[2])),
        shape_zyx=(int(n_xyz[2]), int(n_xyz[1]), int(n_xyz[0])),
    )
    return crop_grid(reference, centre, grid_spec)


def window_starts(length: int, window: int) -> list[int]:
    """Start indices of windows of ``window`` voxels over ``length`` with half overlap; the
    last window ends at the border."""
    if length <= window:
        return [0]
    step = max(1, window // 2)
    starts = list(range(0, length - window + 1, step))
    if starts[-1] != length - window:
        starts.append(length - window)
    return starts


def window_corners(shape: tuple[int, ...], window: tuple[int, int, int]) -> list[tuple[int, ...]]:
    """``[z, y, x]`` start corners of the windows that tile a grid of ``shape``."""
    return [
        (z, y, x)
        for z in window_starts(shape[0], window[0])
        for y in window_starts(shape[1], window[1])
        for x in window_starts(shape[2], window[2])
    ]


def bed_probability(
    net: SegNet,
    t2w: Volume,
    high_b: Volume,
    adc: Volume,
    *,
    device: str = "cpu",
    batch_size: int = 8,
) -> Volume:
    """P(tumour bed) over the T2W field of view on the search grid (float32 volume)."""
    grid = search_grid(t2w, net.spec)
    arrays = resampled_maps(t2w, high_b, adc, grid)
    wz, wy, wx = net.spec.shape_zyx
    corners = window_corners(grid.array.shape, net.spec.shape_zyx)
    windows = np.stack(
        [normalise(*(a[z : z + wz, y : y + wy, x : x + wx] for a in arrays)) for z, y, x in corners]
    )
    bed = predict_classes(net, windows, device=device, flips=((),), batch_size=batch_size)[:, 0, 0]
    total = np.zeros(grid.array.shape, np.float64)
    count = np.zeros(grid.array.shape, np.float64)
    for (z, y, x), probability in zip(corners, bed, strict=True):
        total[z : z + wz, y : y + wy, x : x + wx] += probability
        count[z : z + wz, y : y + wy, x : x + wx] += 1.0
    mean = (total / np.maximum(count, 1.0)).astype(np.float32)
    return grid.with_array(mean, kind=VolumeKind.INTENSITY)


def largest_region(
    probability: npt.NDArray[np.floating], threshold: float, min_voxels: int
) -> npt.NDArray[np.bool_] | None:
    """The connected region of ``probability > threshold`` with the largest summed probability
    (``None`` when no region has ``min_voxels`` voxels)."""
    labels, n = ndimage.label(probability > threshold)
    if n == 0:
        return None
    index = np.arange(1, n + 1)
    sums = np.asarray(ndimage.sum_labels(probability, labels, index))
    sizes = np.asarray(ndimage.sum_labels(np.ones_like(probability), labels, index))
    sums[sizes < min_voxels] = -1.0
    best = int(np.argmax(sums))
    if sums[best] < 0:
        return None
    return np.asarray(labels == best + 1)


def find_bed(
    net: SegNet,
    t2w: Volume,
    high_b: Volume,
    adc: Volume,
    *,
    device: str = "cpu",
    threshold: float = 0.5,
    min_volume_mm3: float = 200.0,
) -> BedSearch | None:
    """Search the T2W field of view for the tumour bed (module docstring); ``None`` if none.

    ``t2w``, ``high_b`` and ``adc`` share the restaging T2W grid (ADC in 1e-3 mm^2/s).
    """
    for other, name in ((high_b, "high-b"), (adc, "ADC")):
        t2w.require_same_grid(other, what=f"bed search: T2W vs {name}")
    probability = bed_probability(net, t2w, high_b, adc, device=device)
    on_t2w = np.asarray(resample_to(probability, t2w).array, np.float64)
    min_voxels = max(1, round(min_volume_mm3 / t2w.voxel_volume_mm3))
    region = largest_region(on_t2w, threshold, min_voxels)
    if region is None:
        return None
    windows = len(window_corners(probability.array.shape, net.spec.shape_zyx))
    return BedSearch(
        mask=t2w.with_array(region.astype(np.uint8), kind=VolumeKind.LABEL),
        mean_probability=float(on_t2w[region].mean()),
        volume_mm3=float(region.sum() * t2w.voxel_volume_mm3),
        windows=windows,
    )
