"""Morphology on label volumes in millimetres (distance transforms respect anisotropic voxels)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from pipeline.volume import Volume, VolumeKind


def spacing_zyx(volume: Volume) -> tuple[float, float, float]:
    """Voxel size in array order ``(z, y, x)``, mm."""
    return (volume.spacing[2], volume.spacing[1], volume.spacing[0])


def distance_outside_mm(
    mask: npt.NDArray[np.bool_], spacing: tuple[float, float, float]
) -> npt.NDArray[np.float64]:
    """Distance (mm) of every voxel to the nearest voxel of ``mask`` (0 inside)."""
    return np.asarray(ndimage.distance_transform_edt(~mask, sampling=spacing), dtype=np.float64)


def dilate_mm(mask: Volume, margin_mm: float) -> Volume:
    """The mask grown by ``margin_mm`` (Euclidean, in mm) as a uint8 label volume."""
    inside = np.asarray(mask.array > 0)
    if margin_mm > 0 and inside.any():
        inside = distance_outside_mm(inside, spacing_zyx(mask)) <= margin_mm
    return mask.with_array(inside.astype(np.uint8), kind=VolumeKind.LABEL)


def ring_mm(mask: Volume, inner_mm: float, outer_mm: float) -> npt.NDArray[np.bool_]:
    """Voxels whose distance to the mask lies in ``(inner_mm, outer_mm]``."""
    distance = distance_outside_mm(np.asarray(mask.array > 0), spacing_zyx(mask))
    return (distance > inner_mm) & (distance <= outer_mm)
