"""Loading of the non-DICOM layouts found by :mod:`pipeline.ingest._layouts`: inventory
entries, volumes (NIfTI RAS read into LPS by SimpleITK) and masks."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pipeline.config.series_rules import SeriesRulesConfig
from pipeline.errors import InputError
from pipeline.ingest._group import VolumeGroup
from pipeline.ingest._layouts import (
    LayoutCase,
    LayoutImage,
    LayoutMask,
)
from pipeline.ingest._model import Inventory, SeriesGeometry, orientation_label
from pipeline.study import MaskSource, RoiMask, Series, SeriesRole, Study, deidentified_key
from pipeline.volume import Volume, VolumeKind

logger = logging.getLogger(__name__)

#: Mask and image grids are "the same" within these tolerances (mm, relative, cosine).
_GRID_TOL = (1e-3, 1e-4, 1e-4)


def _geometry_of(image: LayoutImage) -> SeriesGeometry:
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(image.file))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        return SeriesGeometry(
            size=(0, 0, 0),
            spacing=None,
            orientation="unknown",
            warnings=(f"file {image.file}: unreadable header ({str(exc).strip()[:160]})",),
        )
    dim = reader.GetDimension()
    size = tuple(int(v) for v in reader.GetSize())
    spacing = tuple(float(v) for v in reader.GetSpacing())
    direction = np.asarray(reader.GetDirection(), dtype=float).reshape(dim, dim)[:3, :3]
    n_volumes = size[3] if dim == 4 and image.channel is None else 1
    size3 = (*size, 1, 1)[:3]
    spacing3 = (*spacing, 1.0, 1.0)[:3]
    return SeriesGeometry(
        size=(int(size3[0]), int(size3[1]), int(size3[2])),
        spacing=(float(spacing3[0]), float(spacing3[1]), float(spacing3[2])),
        orientation=orientation_label(tuple(direction.ravel())) if dim >= 3 else "unknown",
        n_volumes=int(n_volumes),
        direction=tuple(float(v) for v in direction.ravel()) if dim >= 3 else None,
    )


def _series_of(case: LayoutCase, image: LayoutImage) -> Series:
    return Series(
        key=image.key,
        series_uid=image.key,
        series_number=image.series_number,
        description=image.description,
        role=image.role,
        role_reason=image.role_reason,
        modality="MR",
        vendor=image.vendor,
        files=(image.file,),
        b_values=image.b_values,
        b_value_source=image.b_value_source,
        warnings=image.warnings,
    )


def _study_of(case: LayoutCase, root: Path) -> Study:
    return Study(
        key=case.key,
        study_uid=case.case_id,
        series=tuple(_series_of(case, i) for i in case.images),
        source=root,
        warnings=case.warnings,
    )


def layout_inventory(
    root: Path, layout: str, cases: Sequence[LayoutCase], *, skipped: int = 0
) -> Inventory:
    """An :class:`Inventory` of layout cases (image headers read, no pixel data)."""
    geometry: dict[str, SeriesGeometry] = {}
    images: dict[str, LayoutImage] = {}
    for case in cases:
        for image in case.images:
            geometry[image.key] = _geometry_of(image)
            images[image.key] = image
    return Inventory(
        studies=tuple(_study_of(c, root) for c in cases),
        skipped_files=skipped,
        errors=(),
        mask_files=tuple(m.file for c in cases for m in c.masks),
        geometry=geometry,
        layout=layout,
        layout_images=images,
        layout_cases={c.key: c for c in cases},
    )


# ----------------------------------------------------------------------------- pixels
def _read_sitk(file: Path, *, what: str) -> Any:
    import SimpleITK as sitk

    try:
        return sitk.ReadImage(str(file))
    except RuntimeError as exc:
        raise InputError(f"cannot read the {what} ({str(exc).strip()[:200]})", file=file) from exc


def _as_volumes(image: Any, file: Path) -> tuple[npt.NDArray[Any], Volume]:
    """``[t, z, y, x]`` array (t=1 for 3-D) and a 3-D volume carrying the spatial geometry."""
    import SimpleITK as sitk

    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(
            f"{image.GetNumberOfComponentsPerPixel()} components per voxel; expected a scalar "
            "image (one channel per file or per 4th-axis volume)",
            file=file,
        )
    dim = image.GetDimension()
    if dim not in (3, 4):
        raise InputError(f"expected a 3-D or 4-D image, got {dim}-D", file=file)
    array = sitk.GetArrayFromImage(image)
    if dim == 3:
        array = array[None]
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(dim, dim)[:3, :3]
    grid = Volume(
        array=array[0],
        spacing=tuple(image.GetSpacing())[:3],
        origin=tuple(image.GetOrigin())[:3],
        direction=tuple(direction.ravel()),
    )
    return array, grid


def load_layout_image(image: LayoutImage, rules: SeriesRulesConfig) -> Volume:
    """Pixel volume of a layout image: float32 ``[z, y, x]``; DWI ``[b, z, y, x]`` sorted by b.

    Raises
    ------
    InputError
        Unreadable file, vector image, or b-values that do not match the number of volumes.
    """
    from pipeline.ingest._series import _combine_dwi

    array, grid = _as_volumes(_read_sitk(image.file, what="image"), image.file)
    array = array.astype(np.float32, copy=False)
    if image.channel is not None:
        if image.channel >= array.shape[0]:
            raise InputError(
                f"channel {image.channel} not in a file of {array.shape[0]} volume(s)",
                file=image.file,
            )
        return grid.with_array(array[image.channel])
    if image.b_values:
        if len(image.b_values) != array.shape[0]:
            raise InputError(
                f"{len(image.b_values)} b-values in the .bval file for {array.shape[0]} volume(s)",
                file=image.file,
                fix="use the .bval written with this NIfTI (one value per volume)",
            )
        built = []
        for i, b in enumerate(image.b_values):
            gradient = image.gradients[i] if image.gradients else None
            norm = 0.0 if gradient is None else float(np.linalg.norm(gradient))
            built.append(
                (
                    VolumeGroup(
                        records=(),
                        b_value=b,
                        gradient=None if gradient is None or norm < 1e-3 else gradient,
                        trace=b > 0 and (gradient is None or norm < 1e-3),
                        order=(float(i),),
                    ),
                    grid.with_array(array[i]),
                )
            )
        return _combine_dwi(built, rules)
    if array.shape[0] == 1:
        return grid.with_array(array[0])
    return grid.with_array(array, channels=tuple(f"volume{i + 1}" for i in range(len(array))))


def _same_grid(a: Volume, b: Any) -> bool:
    origin_tol, spacing_rtol, direction_tol = _GRID_TOL
    dim = b.GetDimension()
    if dim != 3 or tuple(b.GetSize()) != a.size_xyz:
        return False
    return bool(
        np.allclose(b.GetOrigin(), a.origin, atol=origin_tol, rtol=0)
        and np.allclose(b.GetSpacing(), a.spacing, rtol=spacing_rtol, atol=0)
        and np.allclose(b.GetDirection(), a.direction, atol=direction_tol, rtol=0)
    )


def _masks_of(
    mask: LayoutMask, case: LayoutCase, loaded: Mapping[str, Series]
) -> tuple[list[RoiMask], list[str]]:
    import SimpleITK as sitk

    image = _read_sitk(mask.file, what="mask")
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError("mask must be a 3-D scalar image", file=mask.file)
    candidates = [loaded[i.key] for i in case.images if loaded.get(i.key) is not None]
    with_volume = sorted(
        (s for s in candidates if s.volume is not None), key=lambda s: s.role is not SeriesRole.T2W
    )
    if not with_volume:
        raise InputError("no image of the case could be loaded to put the mask on", file=mask.file)
    target = next((s for s in with_volume if _same_grid(_spatial(s.require_volume()), image)), None)
    notes = []
    if target is None:
        target = next((s for s in with_volume if s.role is SeriesRole.T2W), with_volume[0])
        notes.append(
            f"file {mask.file}: mask grid differs from every image; resampled (nearest) onto "
            f"{target.label}"
        )
    grid = _spatial(target.require_volume())
    reference = sitk.Image(list(grid.size_xyz), sitk.sitkUInt8)
    reference.SetSpacing(grid.spacing)
    reference.SetOrigin(grid.origin)
    reference.SetDirection(grid.direction)
    labels = sitk.Cast(image, sitk.sitkInt32) if image.GetPixelID() != sitk.sitkInt32 else image
    resampled = sitk.Resample(labels, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0)
    values = sitk.GetArrayFromImage(resampled)
    if mask.labels:
        wanted = dict(mask.labels)
    else:
        found = sorted(int(v) for v in np.unique(values) if v > 0)
        wanted = (
            {v: mask.name for v in found}
            if len(found) <= 1
            else {v: f"{mask.name}-label{v}" for v in found}
        )
        if not found:
            wanted = {1: mask.name}  # an empty mask is a result
    out = []
    for value, name in sorted(wanted.items()):
        array = (values == value) if mask.labels or len(wanted) > 1 else (values > 0)
        out.append(
            RoiMask(
                name=name,
                volume=grid.with_array(array.astype(np.uint8), kind=VolumeKind.LABEL, units=""),
                source=MaskSource.FILE,
                referenced_series_uid=target.series_uid,
                file=mask.file,
            )
        )
    return out, notes


def _spatial(volume: Volume) -> Volume:
    return volume if volume.array.ndim == 3 else volume.channel(0)


def load_layout_study(
    case: LayoutCase,
    root: Path,
    *,
    rules: SeriesRulesConfig,
    roles: Collection[SeriesRole],
) -> Study:
    """A :class:`Study` of a layout case with volumes for ``roles`` and its masks.

    A series that fails to load keeps ``volume=None`` and a warning naming the file; a mask
    that cannot be placed gives a study warning; the rest still loads.
    """
    study = _study_of(case, root)
    warnings: list[str] = list(case.warnings)
    loaded: dict[str, Series] = {}
    images = {i.key: i for i in case.images}
    wanted = set(roles)
    need_grid = bool(case.masks)
    for series in study.series:
        if series.role not in wanted and not need_grid:
            loaded[series.key] = series
            continue
        try:
            volume = load_layout_image(images[series.key], rules)
        except InputError as exc:
            message = f"not loaded: {exc}"
            logger.warning("%s: %s", series.label, message)
            warnings.append(f"{series.label}: {message}")
            loaded[series.key] = replace(series, warnings=(*series.warnings, message))
            continue
        loaded[series.key] = replace(series, volume=volume)
    masks: list[RoiMask] = []
    for mask in case.masks:
        try:
            found, notes = _masks_of(mask, case, loaded)
        except InputError as exc:
            logger.warning("%s", exc)
            warnings.append(str(exc))
            continue
        masks.extend(found)
        warnings.extend(notes)
    keep = {m.referenced_series_uid for m in masks}
    series_out = tuple(
        s if s.role in wanted or s.series_uid in keep else replace(s, volume=None)
        for s in (loaded[s.key] for s in study.series)
    )
    return replace(study, series=series_out, masks=tuple(masks), warnings=tuple(warnings))


def choose_case(cases: Sequence[LayoutCase], study_uid: str | None, root: Path) -> LayoutCase:
    """The case named by ``study_uid`` (case id or study key), or the only one."""
    if study_uid is None:
        if len(cases) > 1:
            keys = ", ".join(c.key for c in cases)
            raise InputError(
                f"the folder holds {len(cases)} cases ({keys}); pass study_uid to choose one",
                file=root,
                fix="use ingest.scan() to list the studies, then load_study(study_uid=...)",
            )
        return cases[0]
    for case in cases:
        if study_uid in (case.case_id, case.key):
            return case
    raise InputError(
        f"study {deidentified_key(study_uid, prefix='st-')} not found; found "
        f"{', '.join(c.key for c in cases)}",
        file=root,
    )
