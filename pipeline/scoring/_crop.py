"""The network's input: T2W, high-b and ADC on a fixed grid (a window), e.g. around the bed.

A window has the restaging T2W's orientation, voxel size :attr:`CropSpec.spacing_xyz`
(mm, ``x, y, z``) and shape :attr:`CropSpec.shape_zyx`; a crop is the window centred on the
centroid of the tumour bed. Channels, in order:

0. T2W divided by the median T2W of the window's tissue,
1. high-b divided by the median high-b of the window's tissue,
2. ADC in absolute units (1e-3 mm^2/s) clipped to ``0..3.5``.

"Tissue" is the voxels above 5 % of the channel's 99th percentile in the window. Each window is
normalised by itself, so the input does not depend on a tumour-bed mask: the same network
scores a given bed and searches the pelvis for one (:mod:`pipeline.scoring._search`).
T2W and high-b are clipped to ``0..4`` after scaling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pipeline.registration import resample_mask_smooth, resample_to
from pipeline.volume import Volume, VolumeKind

ADC_CLIP = 3.5
RELATIVE_CLIP = 4.0


@dataclass(frozen=True)
class CropSpec:
    """Grid of the network input: voxel size (mm, x y z) and shape (z, y, x)."""

    spacing_xyz: tuple[float, float, float] = (1.0, 1.0, 3.0)
    shape_zyx: tuple[int, int, int] = (16, 64, 64)

    def as_dict(self) -> dict[str, list[float] | list[int]]:
        return {"spacing_xyz": list(self.spacing_xyz), "shape_zyx": list(self.shape_zyx)}


@dataclass(frozen=True)
class Crop:
    """Network input ``image`` ``[3, z, y, x]`` float32, the bed on that grid and the grid."""

    image: npt.NDArray[np.float32]
    bed: npt.NDArray[np.uint8]
    grid: Volume


def crop_grid(reference: Volume, centre_lps: npt.ArrayLike, spec: CropSpec) -> Volume:
    """An empty volume (the crop grid) with ``reference``'s orientation centred on a point."""
    nz, ny, nx = spec.shape_zyx
    half = (np.asarray([nx, ny, nz], float) - 1.0) / 2.0 * np.asarray(spec.spacing_xyz)
    origin = np.asarray(centre_lps, float) - reference.direction_matrix @ half
    return Volume(
        array=np.zeros(spec.shape_zyx, np.uint8),
        spacing=spec.spacing_xyz,
        origin=(float(origin[0]), float(origin[1]), float(origin[2])),
        direction=reference.direction,
        kind=VolumeKind.LABEL,
        frame_of_reference_uid=reference.frame_of_reference_uid,
    )


def bed_centroid_lps(bed: Volume) -> npt.NDArray[np.float64]:
    """LPS centroid (mm) of the voxels > 0 of a mask."""
    index_zyx = np.argwhere(np.asarray(bed.array) > 0).mean(axis=0)
    return bed.index_to_world(index_zyx[::-1])


def _tissue_median(values: npt.NDArray[np.floating]) -> float:
    """Median of the voxels above 5 % of the 99th percentile (1.0 for an empty window)."""
    positive = values[values > 0]
    if positive.size == 0:
        return 1.0
    floor = 0.05 * float(np.percentile(positive, 99))
    tissue = positive[positive > floor]
    return float(np.median(tissue)) if tissue.size else 1.0


def normalise(
    t2w: npt.NDArray[np.floating],
    high_b: npt.NDArray[np.floating],
    adc: npt.NDArray[np.floating],
) -> npt.NDArray[np.float32]:
    """Stack the three channels of one window, scaled as in the module docstring."""
    channels = (
        np.clip(t2w / max(_tissue_median(t2w), 1e-6), 0.0, RELATIVE_CLIP),
        np.clip(high_b / max(_tissue_median(high_b), 1e-6), 0.0, RELATIVE_CLIP),
        np.clip(adc, 0.0, ADC_CLIP),
    )
    return np.stack(channels).astype(np.float32)


def resampled_maps(
    t2w: Volume, high_b: Volume, adc: Volume, grid: Volume
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """T2W, high-b and ADC resampled onto ``grid`` (float64, not yet normalised)."""
    t2, hb, ad = (np.asarray(resample_to(v, grid).array, np.float64) for v in (t2w, high_b, adc))
    return t2, hb, ad


def window_image(t2w: Volume, high_b: Volume, adc: Volume, grid: Volume) -> npt.NDArray[np.float32]:
    """The network input ``[3, z, y, x]`` of the three maps resampled onto ``grid``."""
    return normalise(*resampled_maps(t2w, high_b, adc, grid))


def make_crop(
    t2w: Volume,
    high_b: Volume,
    adc: Volume,
    bed: Volume,
    *,
    spec: CropSpec,
    centre_lps: npt.ArrayLike | None = None,
) -> Crop:
    """Resample the maps onto the crop grid around the bed centroid (or ``centre_lps``).

    All four volumes must share one grid (the restaging T2W grid); ADC in 1e-3 mm^2/s.
    """
    for other, name in ((high_b, "high-b"), (adc, "ADC"), (bed, "tumour bed")):
        t2w.require_same_grid(other, what=f"network crop: T2W vs {name}")
    centre = bed_centroid_lps(bed) if centre_lps is None else np.asarray(centre_lps, float)
    grid = crop_grid(t2w, centre, spec)
    bed_crop = np.asarray(resample_mask_smooth(bed, grid).array > 0)
    image = window_image(t2w, high_b, adc, grid)
    return Crop(image=image, bed=bed_crop.astype(np.uint8), grid=grid)


def label_on_crop(mask: Volume, grid: Volume) -> npt.NDArray[np.uint8]:
    """A mask (e.g. the truth residual tumour) carried onto a crop grid (training only)."""
    return np.asarray(resample_mask_smooth(mask, grid).array > 0, np.uint8)
