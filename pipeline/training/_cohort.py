"""Training data: labelled studies cached as one ``.npz`` per case.

A cached case holds the restaging maps the pipeline itself computed (T2W, ADC in 1e-3 mm^2/s,
computed high-b, the tumour bed it used) cut to a box around the bed on the restaging T2W
grid, the voxel truth (residual tumour mask), the study label, the radiomics feature row and
the rules-v1 probability. Sources:

* phantom cohorts generated on the fly (:func:`prepare_phantom_cohort`), or
* a user's labelled data set in the layout of :func:`prepare_user_cohort` (NIfTI maps).

Truth is read here, at training time only; inference never reads truth files.
"""

from __future__ import annotations

import csv
import json
import logging
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pipeline.config import PipelineConfig
from pipeline.errors import InputError, PipelineError
from pipeline.volume import Volume, VolumeKind

log = logging.getLogger(__name__)

#: In-plane margin (mm) kept around the tumour bed in a cached case.
CACHE_MARGIN_MM = 40.0
#: Files of one case in the user data layout (see :func:`prepare_user_cohort`).
USER_FILES = ("t2w.nii.gz", "adc.nii.gz", "high_b.nii.gz", "bed.nii.gz", "tumour.nii.gz")


@dataclass(frozen=True)
class CachedCase:
    """One cached training case (arrays ``[z, y, x]`` on a sub-grid of the restaging T2W)."""

    case_id: str
    case_type: str
    label: bool
    t2w: Volume
    adc: Volume
    high_b: Volume
    bed: Volume
    tumour: Volume
    features: dict[str, float]
    rules_p: float | None


def _box(bed: npt.NDArray[Any], spacing: tuple[float, float, float]) -> tuple[slice, ...]:
    """Slices of all z and the bed's in-plane bounding box plus :data:`CACHE_MARGIN_MM`."""
    points = np.argwhere(bed > 0)
    lo, hi = points.min(axis=0), points.max(axis=0) + 1
    my = int(np.ceil(CACHE_MARGIN_MM / spacing[1]))
    mx = int(np.ceil(CACHE_MARGIN_MM / spacing[0]))
    return (
        slice(0, bed.shape[0]),
        slice(max(0, lo[1] - my), min(bed.shape[1], hi[1] + my)),
        slice(max(0, lo[2] - mx), min(bed.shape[2], hi[2] + mx)),
    )


def write_cached_case(path: Path, case: CachedCase) -> Path:
    """Write ``case`` to ``path`` (``.npz``, no pickle), cut to the box around its bed."""
    box = _box(np.asarray(case.bed.array), case.t2w.spacing)
    start = case.t2w.index_to_world([box[2].start, box[1].start, box[0].start])
    arrays: dict[str, Any] = {
        name: np.asarray(getattr(case, name).array[box], dtype=np.float32)
        for name in ("t2w", "adc", "high_b")
    }
    arrays.update(
        {
            name: np.asarray(getattr(case, name).array[box] > 0, np.uint8)
            for name in ("bed", "tumour")
        }
    )
    meta = {
        "case_id": case.case_id,
        "case_type": case.case_type,
        "label": bool(case.label),
        "spacing": list(case.t2w.spacing),
        "origin": [float(v) for v in start],
        "direction": list(case.t2w.direction),
        "features": case.features,
        "rules_p": case.rules_p,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    arrays["meta"] = np.asarray(json.dumps(meta))
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)
    return path


def read_cached_case(path: Path) -> CachedCase:
    """Read a case written by :func:`write_cached_case`."""
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))

        def vol(name: str, kind: VolumeKind) -> Volume:
            return Volume(
                array=np.array(data[name]),
                spacing=tuple(meta["spacing"]),
                origin=tuple(meta["origin"]),
                direction=tuple(meta["direction"]),
                kind=kind,
            )

        return CachedCase(
            case_id=meta["case_id"],
            case_type=meta["case_type"],
            label=bool(meta["label"]),
            t2w=vol("t2w", VolumeKind.INTENSITY),
            adc=vol("adc", VolumeKind.INTENSITY),
            high_b=vol("high_b", VolumeKind.INTENSITY),
            bed=vol("bed", VolumeKind.LABEL),
            tumour=vol("tumour", VolumeKind.LABEL),
            features={k: float(v) for k, v in meta["features"].items()},
            rules_p=meta["rules_p"],
        )


def _phantom_case(args: tuple[Path, Path, int, int, int]) -> str | None:
    """Generate phantom case ``index`` of cohort ``seed``, run the imaging stages, cache it."""
    from pipeline.phantom import CaseType, PhantomOptions, generate_case

    work, cache, seed, index, width = args
    case_id = f"case-{index:0{width}d}"
    target = cache / f"{case_id}.npz"
    if target.exists():
        return case_id
    types = list(CaseType)
    case_seed = int(np.random.SeedSequence([seed, index]).generate_state(1)[0])
    truth_path = generate_case(
        work,
        case_id=case_id,
        case_type=types[index % len(types)],
        seed=case_seed,
        options=PhantomOptions(small=True),
    )
    case_dir = truth_path.parent
    try:
        return _cache_phantom(case_dir, truth_path, target, case_id)
    except PipelineError as exc:
        log.warning("%s: %s; skipped", case_id, exc)
        return None
    finally:
        shutil.rmtree(case_dir, ignore_errors=True)


def _cache_phantom(case_dir: Path, truth_path: Path, target: Path, case_id: str) -> str | None:
    from pipeline.config import load_config
    from pipeline.run._imaging import analyse_imaging

    truth = json.loads(truth_path.read_text())
    # A restaging mask, when shipped, is the bed whatever the baseline gives: the baseline
    # registration would then be display-only, so it is skipped to save time.
    given_mask = bool(truth.get("restaging_mask"))
    _, result = analyse_imaging(
        case_dir / "restaging",
        baseline_dir=None if given_mask else case_dir / "baseline",
        config=_rules_only(load_config()),
    )
    maps = result.maps
    if maps is None or maps.adc is None or maps.high_b is None or maps.tumour_bed is None:
        log.warning("%s: imaging stages gave no bed or no DWI maps; skipped", case_id)
        return None
    tumour = Volume.from_sitk(_read_nifti(case_dir / truth["masks"]["tumour"]))
    features = result.provenance.get("radiomics", {}).get("features", {})
    write_cached_case(
        target,
        CachedCase(
            case_id=case_id,
            case_type=str(truth["case_type"]),
            label=bool(truth["residual_tumour"]),
            t2w=maps.t2w,
            adc=maps.adc,
            high_b=maps.high_b,
            bed=maps.tumour_bed,
            tumour=maps.t2w.with_array(np.asarray(tumour.array > 0, np.uint8)),
            features=features,
            rules_p=result.findings.p_residual,
        ),
    )
    return case_id


def _rules_only(config: PipelineConfig) -> PipelineConfig:
    """The config with the learned scorers off (training data must not depend on them)."""
    scoring = config.scoring
    learned = scoring.learned.model_copy(update={"enabled": False})
    return config.model_copy(update={"scoring": scoring.model_copy(update={"learned": learned})})


def _read_nifti(path: Path) -> Any:
    import SimpleITK as sitk

    return sitk.ReadImage(str(path))


def prepare_phantom_cohort(
    cache: Path,
    *,
    cases: int,
    seed: int,
    workers: int = 2,
    work: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Generate a small-phantom cohort (as :func:`pipeline.phantom.generate_cohort` with the
    same ``seed`` would), run the imaging stages on each case and cache it under ``cache``.

    Cases already cached are kept. Each case's DICOM is deleted once cached. ``workers``
    processes (at most 2 recommended on a shared machine). Returns the cached paths.
    """
    if cases < 1:
        raise InputError(f"number of cases must be >= 1, got {cases}")
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    work_dir = Path(work) if work is not None else cache / "_work"
    width = max(3, len(str(cases - 1)))
    jobs = [(work_dir, cache, seed, i, width) for i in range(cases)]
    done: list[str] = []
    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        for n, case_id in enumerate(pool.map(_phantom_case, jobs), start=1):
            if case_id is not None:
                done.append(case_id)
            if progress is not None:
                progress(n, cases)
    shutil.rmtree(work_dir, ignore_errors=True)
    return [cache / f"{c}.npz" for c in done]


def prepare_user_cohort(root: Path, cache: Path) -> list[Path]:
    """Cache a user's labelled data set.

    Layout (one folder per study, all NIfTI on the restaging T2W grid)::

        root/labels.csv                 columns: case_id,residual_tumour (0/1)[,case_type]
        root/<case_id>/t2w.nii.gz       restaging T2W
        root/<case_id>/adc.nii.gz       ADC in 1e-3 mm^2/s (0 where not fitted)
        root/<case_id>/high_b.nii.gz    computed high-b (e.g. b1500), registered to T2W
        root/<case_id>/bed.nii.gz       tumour-bed mask (uint8, > 0 inside)
        root/<case_id>/tumour.nii.gz    residual-tumour mask (empty when none)

    ``ccr run --out`` writes such maps for a study (``maps/``), so a labelled cohort can be
    assembled from pipeline runs plus hand-drawn tumour masks. Radiomics features are
    extracted with the shipped ``configs/radiomics.yaml``.
    """
    from pipeline.config import load_section
    from pipeline.config.radiomics import RadiomicsConfig
    from pipeline.radiomics import extract_features

    labels_path = Path(root) / "labels.csv"
    if not labels_path.is_file():
        raise InputError(
            "labelled data set has no labels.csv",
            file=labels_path,
            fix="write labels.csv with columns case_id,residual_tumour",
        )
    config = load_section("radiomics")
    if not isinstance(config, RadiomicsConfig):
        raise InputError("radiomics config did not load as RadiomicsConfig")
    out: list[Path] = []
    with labels_path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            case_id = row["case_id"].strip()
            folder = Path(root) / case_id
            missing = [f for f in USER_FILES if not (folder / f).is_file()]
            if missing:
                raise InputError(
                    f"case {case_id} lacks {', '.join(missing)}",
                    file=folder,
                    fix=f"each case folder needs {', '.join(USER_FILES)}",
                )
            vols = {f.split(".")[0]: Volume.from_sitk(_read_nifti(folder / f)) for f in USER_FILES}
            bed = vols["bed"].with_array(np.asarray(vols["bed"].array > 0, np.uint8))
            row_features = extract_features(
                {"t2w": vols["t2w"], "adc": vols["adc"], "high_b": vols["high_b"]},
                bed,
                config=config,
            )
            out.append(
                write_cached_case(
                    Path(cache) / f"{case_id}.npz",
                    CachedCase(
                        case_id=case_id,
                        case_type=row.get("case_type", "") or "user",
                        label=row["residual_tumour"].strip() in ("1", "true", "True", "yes"),
                        t2w=vols["t2w"],
                        adc=vols["adc"],
                        high_b=vols["high_b"],
                        bed=bed,
                        tumour=vols["tumour"],
                        features=row_features.features,
                        rules_p=None,
                    ),
                )
            )
    return out
