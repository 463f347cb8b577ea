"""DICOM SEG (read with highdicom) and mask files (NIfTI/NRRD/MHA, read with SimpleITK),
resampled by nearest neighbour onto a reference grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset

from pipeline.errors import DicomError, InputError
from pipeline.volume import Volume, VolumeKind

#: Suffixes read by :func:`read_mask_file`.
MASK_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")


def nearest_onto(
    array: npt.NDArray[np.generic], affine: npt.NDArray[np.float64], reference: Volume
) -> npt.NDArray[np.generic]:
    """Sample ``array`` (3-D, indices ``(a0, a1, a2)`` mapped to LPS mm by ``affine``) at the
    voxel centres of ``reference`` by nearest neighbour; 0 outside."""
    nz, ny, nx = reference.shape
    inverse = np.linalg.inv(affine) @ reference.affine  # reference (x, y, z) -> source index
    out = np.zeros((nz, ny, nx), dtype=array.dtype)
    yy, xx = np.mgrid[0:ny, 0:nx]
    for z in range(nz):
        pts = np.stack([xx.ravel(), yy.ravel(), np.full(xx.size, z), np.ones(xx.size)])
        src = np.rint(inverse @ pts)[:3].astype(np.int64)
        inside = np.all((src >= 0) & (src < np.asarray(array.shape)[:, None]), axis=0)
        values = np.zeros(xx.size, dtype=array.dtype)
        values[inside] = array[src[0, inside], src[1, inside], src[2, inside]]
        out[z] = values.reshape(ny, nx)
    return out


def seg_referenced_series(ds: Dataset) -> str | None:
    """SeriesInstanceUID of the first series a SEG references, if any."""
    for item in ds.get("ReferencedSeriesSequence") or []:
        uid = str(item.get("SeriesInstanceUID", ""))
        if uid:
            return uid
    return None


def seg_onto(ds: Dataset, file: Path, reference: Volume) -> list[tuple[str, npt.NDArray[np.uint8]]]:
    """Each segment of a SEG as a ``uint8`` 0/1 array on the reference grid."""
    import highdicom as hd

    seg = hd.seg.Segmentation.from_dataset(ds, copy=False)
    out = []
    for number in seg.segment_numbers:
        label = str(seg.get_segment_description(number).segment_label).strip() or f"seg{number}"
        try:
            volume = seg.get_volume(segment_numbers=[number], combine_segments=True)
        except Exception as exc:  # irregular SEG frame layouts
            raise DicomError(
                f"segment {number} does not form a regular volume ({exc})",
                file=file,
                tag="(5200,9230) PerFrameFunctionalGroupsSequence",
            ) from exc
        array = np.asarray(volume.array)
        if array.ndim == 4:
            array = array[..., 0]
        affine = np.asarray(volume.affine, dtype=float)
        out.append(
            (label, (np.asarray(nearest_onto(array, affine, reference)) > 0).astype(np.uint8))
        )
    return out


def read_mask_file(path: Path, reference: Volume) -> Volume:
    """A NIfTI / NRRD / MHA mask resampled (nearest neighbour) onto ``reference``'s grid.

    Parameters
    ----------
    path
        Mask file; any voxel > 0 is inside. SimpleITK converts NIfTI's RAS to LPS.
    reference
        The image whose grid the mask is put on (3-D or 4-D; its spatial grid is used).

    Returns
    -------
    Volume
        ``uint8`` 0/1 label volume on the reference grid.

    Raises
    ------
    InputError
        When the file is missing, not a readable image, or not 3-D.
    """
    import SimpleITK as sitk

    path = Path(path)
    if not path.is_file():
        raise InputError("mask file not found", file=path)
    if not path.name.lower().endswith(MASK_SUFFIXES):
        raise InputError(
            f"unsupported mask file type; expected one of {', '.join(MASK_SUFFIXES)}", file=path
        )
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise InputError(f"cannot read the mask ({str(exc).strip()[:200]})", file=path) from exc
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(
            f"mask must be a 3-D scalar image, got {image.GetDimension()}-D with "
            f"{image.GetNumberOfComponentsPerPixel()} component(s)",
            file=path,
        )
    grid = reference if reference.array.ndim == 3 else reference.channel(0)
    target = sitk.Image(list(grid.size_xyz), sitk.sitkUInt8)
    target.SetSpacing(grid.spacing)
    target.SetOrigin(grid.origin)
    target.SetDirection(grid.direction)
    binary = sitk.Cast(image > 0, sitk.sitkUInt8)
    resampled = sitk.Resample(binary, target, sitk.Transform(), sitk.sitkNearestNeighbor, 0)
    return grid.with_array(
        sitk.GetArrayFromImage(resampled).astype(np.uint8), kind=VolumeKind.LABEL, units=""
    )
