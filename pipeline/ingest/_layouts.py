"""Public data set layouts without DICOM: dcm2niix NIfTI (+ .bval/.bvec), nnU-Net/MSD, PI-CAI.

Layouts (checked in this order; the first that matches a folder is used)
------------------------------------------------------------------------
``nnunet``
    A folder ``imagesTr`` or ``imagesTs`` (nnU-Net v1/v2, Medical Segmentation Decathlon).
    nnU-Net: ``<case>_<XXXX>.nii.gz`` (or ``.mha``/``.nrrd``), one file per channel ``XXXX``;
    MSD: ``<case>.nii.gz`` 4-D, channels along the 4th axis. Channel roles come from
    ``dataset.json`` next to ``imagesTr`` (``channel_names`` of v2 or ``modality`` of v1/MSD:
    a name matching ADC -> ADC, HBV / high-b / b1400 -> HIGH_B, DWI/diff/trace -> DWI, T2 -> T2W);
    without ``dataset.json`` the PI-CAI nnU-Net order 0000 = T2W, 0001 = ADC, 0002 = HIGH_B is
    assumed, with a warning. Labels ``labelsTr/<case>.nii.gz`` become one :class:`RoiMask` per
    label of ``dataset.json`` ``labels`` (else per value found), on the grid of channel 0000.
``picai``
    ``<patient>_<study>_{t2w,adc,hbv}.mha`` (also ``_sag``/``_cor``, and ``.nii.gz``): t2w -> T2W,
    adc -> ADC, hbv -> HIGH_B, sag/cor -> OTHER. Masks: ``<patient>_<study>.nii.gz`` (the
    PI-CAI label layout) or ``<patient>_<study>_*mask*`` / ``*seg*`` anywhere under the folder.
``nifti``
    Any other ``.nii``/``.nii.gz`` (e.g. dcm2niix output): one study per folder. A file with a
    ``.bval`` beside it (same stem) is DWI, one b-value per 4-D volume (``.bvec`` gradients only
    group repeats of a direction); its volume is built as for DICOM: one trace image per
    distinct b (geometric mean of directions), sorted by b. Other files are classified with
    ``configs/series_rules.yaml`` from the dcm2niix JSON sidecar (SeriesDescription,
    ProtocolName, ImageType) or, without one, from the file name. ``*mask*`` / ``*seg*``
    files are masks, put on the series whose grid they share (T2W first; else resampled onto
    the T2W series).

Keys are hashes of the case / folder / file names (``st-``/``se-`` + 12 hex); raw names never
reach a key, a series description (only a JSON ``SeriesDescription`` does) or an ROI name
(the ROI name is the text after ``mask``/``seg`` in the file name, else ``mask``).
Geometry: SimpleITK reads NIfTI (RAS on disk) into LPS, as every :class:`Volume` is.
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pipeline.config.series_rules import SeriesRulesConfig
from pipeline.errors import InputError
from pipeline.ingest._classify import SeriesFacts, classify, distinct_b_values
from pipeline.ingest._group import VolumeGroup
from pipeline.ingest._model import Inventory, SeriesGeometry, orientation_label
from pipeline.study import MaskSource, RoiMask, Series, SeriesRole, Study, deidentified_key
from pipeline.volume import Volume, VolumeKind

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".nii.gz", ".nii", ".mha", ".mhd", ".nrrd")
_NNUNET_CHANNEL = re.compile(r"^(?P<case>.+)_(?P<channel>\d{4})$")
_PICAI = re.compile(r"^(?P<case>.+)_(?P<seq>t2w|adc|hbv|sag|cor)$", re.IGNORECASE)
_MASK_TOKEN = re.compile(r"(^|[_\-. ])(mask|seg|segmentation|label|labels)([_\-. ]|$)", re.I)
_PICAI_ROLES = {
    "t2w": SeriesRole.T2W,
    "adc": SeriesRole.ADC,
    "hbv": SeriesRole.HIGH_B,
    "sag": SeriesRole.OTHER,
    "cor": SeriesRole.OTHER,
}
_PICAI_NUMBERS = {"t2w": 1, "adc": 2, "hbv": 3, "sag": 4, "cor": 5}
#: Channel order assumed for nnU-Net folders without dataset.json (PI-CAI nnU-Net baseline).
DEFAULT_CHANNEL_ROLES = (SeriesRole.T2W, SeriesRole.ADC, SeriesRole.HIGH_B)
#: Mask and image grids are "the same" within these tolerances (mm, relative, cosine).
_GRID_TOL = (1e-3, 1e-4, 1e-4)


@dataclass(frozen=True)
class LayoutImage:
    """One image file (or one channel of a 4-D file) of a layout case."""

    file: Path
    key: str
    role: SeriesRole
    role_reason: str
    series_number: int
    description: str = ""
    channel: int | None = None
    b_values: tuple[float, ...] = ()
    gradients: tuple[tuple[float, float, float], ...] = ()
    b_value_source: str = ""
    vendor: str = ""
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class LayoutMask:
    """A mask file; ``labels`` maps label values to ROI names (empty: every value > 0)."""

    file: Path
    name: str
    labels: Mapping[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LayoutCase:
    """One study of a layout. ``case_id`` is a raw name: it is never printed, only hashed."""

    layout: str
    case_id: str
    key: str
    images: tuple[LayoutImage, ...]
    masks: tuple[LayoutMask, ...] = ()
    source: Path | None = None
    warnings: tuple[str, ...] = ()


# ----------------------------------------------------------------------------- helpers
def _image_stem(path: Path) -> str | None:
    name = path.name
    for suffix in IMAGE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return None


def _is_mask_name(stem: str) -> bool:
    return _MASK_TOKEN.search(stem) is not None


def _roi_name(stem: str) -> str:
    """Text after the last 'mask'/'seg' token of a file stem, else 'mask' (never the case id)."""
    found = list(_MASK_TOKEN.finditer(stem))
    if not found:
        return "mask"
    rest = stem[found[-1].end() :].strip("_-. ")
    return rest or "mask"


def _study_key(layout: str, case_id: str) -> str:
    return deidentified_key(layout, case_id, prefix="st-")


def _series_key(layout: str, case_id: str, what: str) -> str:
    return deidentified_key(layout, case_id, what, prefix="se-")


def _role_from_name(name: str) -> SeriesRole:
    low = name.lower()
    if re.search(r"adc|apparent", low):
        return SeriesRole.ADC
    if re.search(r"hbv|high.?b|calc|b ?1[0-9]{3}|b ?2[0-9]{3}", low):
        return SeriesRole.HIGH_B
    if re.search(r"dwi|diff|trace", low):
        return SeriesRole.DWI
    if re.search(r"t2", low):
        return SeriesRole.T2W
    return SeriesRole.OTHER


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        logger.warning("file %s: not readable as JSON (%s); ignored", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def _image_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root] if _image_stem(root) is not None else []
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith(".") and _image_stem(p) is not None
    )


# ----------------------------------------------------------------------------- nnU-Net / MSD
def _dataset_labels(meta: Mapping[str, Any]) -> dict[int, str]:
    labels = meta.get("labels")
    out: dict[int, str] = {}
    if not isinstance(labels, dict):
        return out
    for key, value in labels.items():
        if isinstance(value, int) and not isinstance(value, bool):  # v2: name -> value
            out[value] = str(key)
        elif isinstance(key, str) and key.strip().isdigit():  # v1/MSD: "1" -> name
            out[int(key)] = str(value)
    return {k: v for k, v in out.items() if k > 0}


def _channel_names(meta: Mapping[str, Any]) -> dict[int, str]:
    names = meta.get("channel_names") or meta.get("modality") or {}
    if not isinstance(names, dict):
        return {}
    return {int(k): str(v) for k, v in names.items() if str(k).strip().isdigit()}


def _n_channels(file: Path) -> int:
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(file))
    reader.ReadImageInformation()
    return int(reader.GetSize()[3]) if reader.GetDimension() == 4 else 1


def _nnunet_cases(images_dir: Path) -> list[LayoutCase]:
    dataset_dir = images_dir.parent
    meta = (
        _read_json(dataset_dir / "dataset.json") if (dataset_dir / "dataset.json").is_file() else {}
    )
    names = _channel_names(meta)
    labels = _dataset_labels(meta)
    labels_dir = dataset_dir / images_dir.name.replace("images", "labels")
    by_case: dict[str, list[tuple[int | None, Path]]] = defaultdict(list)
    for file in sorted(images_dir.iterdir()):
        stem = _image_stem(file)
        if stem is None or not file.is_file():
            continue
        match = _NNUNET_CHANNEL.match(stem)
        if match:
            by_case[match["case"]].append((int(match["channel"]), file))
        else:
            by_case[stem].append((None, file))
    cases = []
    for case, entries in sorted(by_case.items()):
        case_id = f"{dataset_dir.name}/{case}"
        channels: list[tuple[int, Path, int | None]] = []
        for channel, file in entries:
            if channel is None:  # MSD: channels along the 4th axis of one file
                n = _n_channels(file)
                channels.extend((i, file, i if n > 1 else None) for i in range(n))
            else:
                channels.append((channel, file, None))
        images = []
        warnings: list[str] = []
        for channel, file, index in sorted(channels, key=lambda c: c[0]):
            if channel in names:
                role = _role_from_name(names[channel])
                reason = f"dataset.json channel {channel} named '{names[channel]}'"
            else:
                role = (
                    DEFAULT_CHANNEL_ROLES[channel]
                    if channel < len(DEFAULT_CHANNEL_ROLES)
                    else SeriesRole.OTHER
                )
                reason = (
                    f"channel {channel:04d}: no dataset.json channel name; PI-CAI nnU-Net order "
                    "0000=T2W, 0001=ADC, 0002=HIGH_B assumed"
                )
                warnings.append(reason)
            images.append(
                LayoutImage(
                    file=file,
                    key=_series_key("nnunet", case_id, f"{channel:04d}"),
                    role=role,
                    role_reason=reason,
                    series_number=channel + 1,
                    description=names.get(channel, ""),
                    channel=index,
                )
            )
        masks = []
        for suffix in IMAGE_SUFFIXES:
            label_file = labels_dir / f"{case}{suffix}"
            if label_file.is_file():
                masks.append(LayoutMask(file=label_file, name="label", labels=labels))
                break
        cases.append(
            LayoutCase(
                layout="nnunet",
                case_id=case_id,
                key=_study_key("nnunet", case_id),
                images=tuple(images),
                masks=tuple(masks),
                source=images_dir,
                warnings=tuple(dict.fromkeys(warnings)),
            )
        )
    return cases


# ----------------------------------------------------------------------------- PI-CAI
def _picai_cases(files: Sequence[Path]) -> list[LayoutCase]:
    by_case: dict[str, list[tuple[str, Path]]] = defaultdict(list)
    for file in files:
        stem = _image_stem(file) or ""
        match = _PICAI.match(stem)
        if match and not _is_mask_name(stem):
            by_case[match["case"]].append((match["seq"].lower(), file))
    cases = []
    for case, entries in sorted(by_case.items()):
        images = tuple(
            LayoutImage(
                file=file,
                key=_series_key("picai", case, seq),
                role=_PICAI_ROLES[seq],
                role_reason=f"PI-CAI file suffix '_{seq}'",
                series_number=_PICAI_NUMBERS[seq],
                description=seq,
            )
            for seq, file in sorted(entries, key=lambda e: _PICAI_NUMBERS[e[0]])
        )
        masks = []
        for file in files:
            stem = _image_stem(file) or ""
            if stem == case:
                masks.append(LayoutMask(file=file, name="lesion"))
            elif stem.startswith(f"{case}_") and _is_mask_name(stem[len(case) :]):
                masks.append(LayoutMask(file=file, name=_roi_name(stem[len(case) :])))
        cases.append(
            LayoutCase(
                layout="picai",
                case_id=case,
                key=_study_key("picai", case),
                images=images,
                masks=tuple(masks),
                source=images[0].file.parent,
            )
        )
    return cases


# ----------------------------------------------------------------------------- NIfTI (+ bval)
def _read_bval(path: Path) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in path.read_text(encoding="utf-8").split())
    except (OSError, ValueError) as exc:
        raise InputError(f"not a list of b-values ({exc})", file=path) from exc
    if not values or min(values) < 0:
        raise InputError("a .bval file needs one b-value >= 0 per volume", file=path)
    return values


def _read_bvec(path: Path, n: int) -> tuple[tuple[float, float, float], ...]:
    try:
        rows = [[float(v) for v in line.split()] for line in path.read_text().splitlines()]
    except (OSError, ValueError):
        return ()
    rows = [r for r in rows if r]
    if len(rows) == 3 and all(len(r) == n for r in rows):
        return tuple((rows[0][i], rows[1][i], rows[2][i]) for i in range(n))
    return ()


def _nifti_cases(root: Path, files: Sequence[Path], rules: SeriesRulesConfig) -> list[LayoutCase]:
    base = root if root.is_dir() else root.parent
    by_folder: dict[Path, list[Path]] = defaultdict(list)
    for file in files:
        by_folder[file.parent].append(file)
    cases = []
    for folder, entries in sorted(by_folder.items()):
        relative = folder.relative_to(base).as_posix() if folder != base else ""
        case_id = f"{base.resolve().name}/{relative}".rstrip("/")
        images: list[LayoutImage] = []
        masks: list[LayoutMask] = []
        numbers_taken: set[int] = set()
        pending: list[tuple[Path, dict[str, Any]]] = []
        for file in sorted(entries):
            stem = _image_stem(file) or ""
            if _is_mask_name(stem):
                masks.append(LayoutMask(file=file, name=_roi_name(stem)))
                continue
            sidecar = folder / f"{stem}.json"
            meta = _read_json(sidecar) if sidecar.is_file() else {}
            number = meta.get("SeriesNumber")
            if isinstance(number, int) and number not in numbers_taken:
                numbers_taken.add(number)
            pending.append((file, meta))
        next_number = max(numbers_taken, default=0) + 1
        for file, meta in pending:
            stem = _image_stem(file) or ""
            number = meta.get("SeriesNumber")
            if not isinstance(number, int):
                number = next_number
                next_number += 1
            images.append(_nifti_image(folder, file, stem, meta, number, case_id, rules))
        if images:
            cases.append(
                LayoutCase(
                    layout="nifti",
                    case_id=case_id,
                    key=_study_key("nifti", case_id),
                    images=tuple(images),
                    masks=tuple(masks),
                    source=folder,
                )
            )
    return cases


def _nifti_image(
    folder: Path,
    file: Path,
    stem: str,
    meta: Mapping[str, Any],
    number: int,
    case_id: str,
    rules: SeriesRulesConfig,
) -> LayoutImage:
    bval = folder / f"{stem}.bval"
    b_values: tuple[float, ...] = ()
    gradients: tuple[tuple[float, float, float], ...] = ()
    warnings: list[str] = []
    if bval.is_file():
        raw = _read_bval(bval)
        b_values = tuple(0.0 if b <= rules.philips_dummy_b_max else b for b in raw)
        bvec = folder / f"{stem}.bvec"
        if bvec.is_file():
            gradients = _read_bvec(bvec, len(b_values))
            if not gradients:
                warnings.append(".bvec does not hold 3 rows of one value per volume; ignored")
    description = str(meta.get("SeriesDescription") or "")
    image_type = meta.get("ImageType") or []
    facts = SeriesFacts(
        description=description or stem,
        protocol=str(meta.get("ProtocolName") or ""),
        image_type=frozenset(str(v).upper() for v in image_type if isinstance(v, str)),
        scanning_sequence=frozenset(),
        modality=str(meta.get("Modality") or "MR").upper(),
        distinct_b_values=distinct_b_values(b_values),
    )
    role, reason = classify(facts, rules)
    if b_values and role is not SeriesRole.DWI and len(facts.distinct_b_values) >= 2:
        role, reason = SeriesRole.DWI, f"{len(facts.distinct_b_values)} distinct b in .bval"
    source = "sidecar JSON" if meta else "file name"
    return LayoutImage(
        file=file,
        key=_series_key("nifti", case_id, file.name),
        role=role,
        role_reason=f"{reason} (from {source})",
        series_number=number,
        description=description,
        b_values=b_values,
        gradients=gradients,
        b_value_source=".bval file (dcm2niix/FSL)" if b_values else "",
        vendor=str(meta.get("Manufacturer") or ""),
        warnings=tuple(warnings),
    )


# ----------------------------------------------------------------------------- discovery
def find_layout_cases(root: Path, rules: SeriesRulesConfig) -> tuple[str, list[LayoutCase]]:
    """The layout of a folder without DICOM images and its cases (headers only).

    Returns ``("", [])`` when no NIfTI/MHA/NRRD image is found.
    """
    root = Path(root)
    if root.is_dir():
        image_dirs = [root] if root.name in ("imagesTr", "imagesTs") else []
        image_dirs += sorted(
            p for p in root.rglob("images*") if p.is_dir() and p.name in ("imagesTr", "imagesTs")
        )
        if image_dirs:
            cases = [c for d in dict.fromkeys(image_dirs) for c in _nnunet_cases(d)]
            if cases:
                return "nnunet", cases
    files = _image_files(root)
    if not files:
        return "", []
    picai = _picai_cases(files)
    if picai:
        return "picai", picai
    return "nifti", _nifti_cases(root, files, rules)


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
