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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config.series_rules import SeriesRulesConfig
from pipeline.errors import InputError
from pipeline.ingest._classify import SeriesFacts, classify, distinct_b_values
from pipeline.study import SeriesRole, deidentified_key

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
