"""Resampling of volumes onto another grid through a transform."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from pipeline.volume import Volume, VolumeKind, stack_channels


def resample_to(
    volume: Volume,
    reference: Volume,
    transform: sitk.Transform | None = None,
    *,
    default: float = 0.0,
) -> Volume:
    """Resample ``volume`` onto ``reference``'s grid.

    ``transform`` maps reference (fixed) points to ``volume`` (moving) points, as returned by the
    registration functions; ``None`` means identity (same patient coordinates). Labels are
    resampled by nearest neighbour, intensities linearly; 4-D volumes channel by channel.
    """
    if volume.array.ndim == 4:
        channels = [
            resample_to(volume.channel(i), reference, transform, default=default)
            for i in range(volume.n_channels)
        ]
        return stack_channels(channels, channels=volume.channels, b_values=volume.b_values)
    interpolator = sitk.sitkNearestNeighbor if volume.kind is VolumeKind.LABEL else sitk.sitkLinear
    source = volume.to_sitk()
    if volume.kind is VolumeKind.INTENSITY:
        source = sitk.Cast(source, sitk.sitkFloat32)
    reference_image = sitk.Image(list(reference.size_xyz), sitk.sitkUInt8)
    reference_image.SetSpacing(reference.spacing)
    reference_image.SetOrigin(reference.origin)
    reference_image.SetDirection(reference.direction)
    out = sitk.Resample(
        source,
        reference_image,
        transform if transform is not None else sitk.Transform(3, sitk.sitkIdentity),
        interpolator,
        default,
        source.GetPixelID(),
    )
    array = sitk.GetArrayFromImage(out)
    return Volume(
        array=array,
        spacing=reference.spacing,
        origin=reference.origin,
        direction=reference.direction,
        kind=volume.kind,
        units=volume.units,
        frame_of_reference_uid=reference.frame_of_reference_uid,
    )


def resample_mask_smooth(
    mask: Volume, reference: Volume, transform: sitk.Transform | None = None
) -> Volume:
    """Carry a binary mask onto ``reference`` by linear interpolation of its indicator and a 0.5
    threshold (smoother than nearest neighbour when grids differ in resolution)."""
    indicator = mask.with_array((mask.array > 0).astype(np.float32), kind=VolumeKind.INTENSITY)
    moved = resample_to(indicator, reference, transform)
    return moved.with_array((moved.array >= 0.5).astype(np.uint8), kind=VolumeKind.LABEL)


def resample_to_moving(
    volume: Volume,
    moving: Volume,
    transform: sitk.Transform,
    *,
    smooth_mask: bool = True,
) -> Volume:
    """Carry a volume from the fixed grid onto the *moving* grid (e.g. T2W -> DWI grid).

    ``transform`` is a registration result (fixed points -> moving points), as used by
    :func:`resample_to`; its inverse is applied here, so it must be invertible (rigid or
    affine). Masks go by linear interpolation of the indicator and a 0.5 threshold when
    ``smooth_mask``, else by nearest neighbour; intensities linearly; 4-D channel by channel.

    Raises
    ------
    RegistrationError
        When the transform has no inverse (B-spline / composite with a deformable part).
    """
    from pipeline.errors import RegistrationError

    try:
        inverse = transform.GetInverse()
    except RuntimeError as exc:
        raise RegistrationError(
            f"transform {transform.GetName()} has no inverse: cannot carry maps onto the "
            "moving grid",
            fix="use a rigid or affine registration for outputs on the DWI grid",
        ) from exc
    if volume.kind is VolumeKind.LABEL and smooth_mask:
        return resample_mask_smooth(volume, moving, inverse)
    return resample_to(volume, moving, inverse)


def field_of_view_coverage(
    mask: Volume, moving: Volume, transform: sitk.Transform | None = None
) -> float:
    """Share of ``mask``'s voxels (> 0) that ``transform`` maps inside ``moving``'s field of
    view (within half a voxel of its outermost voxel centres); 1.0 for an empty mask.

    E.g. how much of the tumour bed (T2W grid) the registered DWI slab images.
    """
    inside = mask.array > 0
    if not inside.any():
        return 1.0
    ones = moving.with_array(np.ones(moving.shape, np.uint8), kind=VolumeKind.LABEL, units="")
    covered = np.asarray(resample_to(ones, mask, transform).array) > 0
    return float(covered[inside].mean())
