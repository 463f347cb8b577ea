"""Ground truth of a case: masks as NIfTI and the documented conventions in ``truth.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import SimpleITK as sitk

from pipeline.phantom._geometry import Grid
from pipeline.phantom._tissues import Tissue

CONVENTIONS = {
    "coordinates": "DICOM patient coordinates LPS, millimetres; sizes/spacings/origins in ITK "
    "(x, y, z) order; direction row-major 3x3 whose columns are the x, y, z index axes",
    "transforms": "4x4 matrices act on column vectors (x, y, z, 1) of LPS mm. As in ITK, a "
    "transform maps points of the fixed space (restaging T2W) into the moving space (DWI, "
    "baseline): registering the moving image onto the fixed one should recover it",
    "adc_units": "1e-3 mm^2/s (vendor ADC series: integers in 1e-6 mm^2/s)",
    "b_value_units": "s/mm^2",
    "masks": "uint8 NIfTI (0/1; node: one label per node); a voxel is inside when at least half "
    "of its partial-volume sub-samples are",
}


def write_mask(path: Path, array: npt.NDArray[Any], grid: Grid) -> None:
    """Write a ``[z, y, x]`` uint8 array on ``grid`` as compressed NIfTI (via SimpleITK)."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(array, dtype=np.uint8))
    image.SetSpacing(grid.spacing)
    image.SetOrigin(grid.origin)
    image.SetDirection(grid.direction)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path), True)


def mask_summary(array: npt.NDArray[Any], grid: Grid) -> dict[str, Any]:
    voxels = int(np.count_nonzero(array))
    return {
        "voxels": voxels,
        "volume_ml": round(voxels * float(np.prod(grid.spacing)) / 1000.0, 5),
        "labels": int(array.max()) if voxels else 0,
    }


def tissue_legend() -> dict[str, str]:
    return {str(int(t)): t.name.lower() for t in Tissue}
