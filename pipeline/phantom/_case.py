"""``generate_case`` and ``generate_cohort``: one phantom case / a cohort on disk.

Layout of one case (stable; other tools rely on it)::

    <out>/<case_id>/restaging/   DICOM: T2W, DWI, [ADC], [tumour-bed SEG or RTSTRUCT]
    <out>/<case_id>/baseline/    DICOM: T2W, DWI, baseline tumour SEG or RTSTRUCT
    <out>/<case_id>/clinical.yaml
    <out>/<case_id>/truth.json
    <out>/<case_id>/truth/*.nii.gz

A case is written into a temporary folder next to its final place and renamed when complete,
so a failure never leaves half a case.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline._io import write_json, write_text
from pipeline.errors import InputError
from pipeline.phantom._anatomy import draw_anatomy
from pipeline.phantom._clinical import clinical_yaml, draw_clinical
from pipeline.phantom._dicom import FileNamer, StudyWriter, describe_series
from pipeline.phantom._identity import PatientIdentity, StudyDates, draw_dates, draw_identity
from pipeline.phantom._masks import write_rtstruct, write_seg
from pipeline.phantom._options import (
    CaseType,
    MaskFormat,
    PhantomOptions,
)
from pipeline.phantom._protocol import StudyPlan, plan_case
from pipeline.phantom._study import RenderedStudy, draw_physics, render_study, write_study
from pipeline.phantom._tissues import Tissue, TissueTable, draw_tissue_table
from pipeline.phantom._truth import build_truth, truth_masks
from pipeline.phantom._vendor import VendorStyle

_CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_STREAMS = (
    "identity",
    "anatomy",
    "tissues",
    "plan",
    "choices",
    "style",
    "physics",
    "noise",
    "clinical",
    "dicom",
)


def _rngs(seed: int, case_type: CaseType) -> dict[str, np.random.Generator]:
    type_code = list(CaseType).index(case_type)
    children = np.random.SeedSequence([seed, type_code]).spawn(len(_STREAMS))
    return {name: np.random.default_rng(s) for name, s in zip(_STREAMS, children, strict=True)}


def _case_root_check(case_id: str, seed: int) -> None:
    if not _CASE_ID.match(case_id):
        raise InputError(
            f"case id {case_id!r} is not a safe folder name",
            fix="use letters, digits, '.', '_' or '-' (e.g. 'case-000')",
        )
    if seed < 0:
        raise InputError(f"seed must be >= 0, got {seed}")


def generate_case(
    out_dir: Path,
    *,
    case_id: str,
    case_type: CaseType,
    seed: int,
    options: PhantomOptions = PhantomOptions(),  # noqa: B008 - frozen, immutable default
) -> Path:
    """Generate one phantom case under ``out_dir/case_id`` and return its ``truth.json``.

    Parameters
    ----------
    out_dir
        Folder that receives the case folder (created if missing); an existing case folder
        of the same id is replaced.
    case_id
        Folder name and ``patient_key`` of the case, e.g. ``"case-000"``.
    case_type
        What the restaging study shows (:class:`CaseType` or its string value).
    seed
        Non-negative seed; the same seed, case type and options give the same pixel data.
    options
        :class:`PhantomOptions`.
    """
    case_type = CaseType.coerce(case_type)
    _case_root_check(case_id, seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / case_id
    tmp = out_dir / f".tmp-{case_id}-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir()
        _build_case(tmp, case_id=case_id, case_type=case_type, seed=seed, options=options)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final / "truth.json"


def generate_cohort(
    out: Path,
    *,
    cases: int,
    seed: int,
    options: PhantomOptions = PhantomOptions(),  # noqa: B008 - frozen, immutable default
    case_types: Sequence[CaseType] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Generate ``cases`` cases ``case-000``, ``case-001``, ... cycling through case types.

    Case ``i`` has type ``case_types[i % len(case_types)]`` (all types in declaration order
    by default) and a seed derived from ``(seed, i)``. ``progress(done, total)`` is called
    after each case. Returns the ``truth.json`` paths in case order.
    """
    if cases < 0:
        raise InputError(f"number of cases must be >= 0, got {cases}")
    types = [CaseType.coerce(t) for t in (case_types or list(CaseType))]
    if not types:
        raise InputError("case_types is empty", fix="pass None for all case types")
    width = max(3, len(str(max(cases - 1, 0))))
    paths = []
    for i in range(cases):
        case_seed = int(np.random.SeedSequence([seed, i]).generate_state(1)[0])
        paths.append(
            generate_case(
                Path(out),
                case_id=f"case-{i:0{width}d}",
                case_type=types[i % len(types)],
                seed=case_seed,
                options=options,
            )
        )
        if progress is not None:
            progress(i + 1, cases)
    return paths


def _writer(
    root: Path,
    name: str,
    *,
    identity: PatientIdentity,
    style: VendorStyle,
    rng: np.random.Generator,
    seed: int,
    case_id: str,
    dates: StudyDates,
) -> StudyWriter:
    folder = root / name
    folder.mkdir()
    return StudyWriter(
        folder=folder,
        patient=identity,
        style=style,
        uid_seed=("ccr-phantom", seed, case_id, name),
        date=dates.restaging if name == "restaging" else dates.baseline,
        accession=f"A{int(rng.integers(10_000_000, 99_999_999))}",
        study_id=str(int(rng.integers(1000, 99999))),
        namer=FileNamer(style, rng),
        study_time=f"{int(rng.integers(7, 18)):02d}{int(rng.integers(0, 60)):02d}00",
    )


def _write_mask(
    writer: StudyWriter,
    rendered: RenderedStudy,
    plan: StudyPlan,
    *,
    fmt: str,
    fraction: np.ndarray,
    label: str,
) -> dict[str, Any]:
    t2w = rendered.written["t2w"]
    if fmt == "SEG":
        ds = write_seg(
            writer, mask=fraction >= 0.5, t2w=t2w.datasets, segment_label=label, uid_tag=label
        )
    else:
        ds = write_rtstruct(
            writer,
            fraction=fraction,
            grid=plan.t2w,
            t2w=t2w.datasets,
            t2w_series_uid=t2w.series_uid,
            roi_name=label,
            uid_tag=label,
        )
    return {
        "format": fmt,
        "label": label,
        "file": writer.written[-1].name,
        "sop_instance_uid": str(ds.SOPInstanceUID),
        "series_instance_uid": str(ds.SeriesInstanceUID),
        "referenced_series_instance_uid": t2w.series_uid,
    }


def _build_case(
    root: Path, *, case_id: str, case_type: CaseType, seed: int, options: PhantomOptions
) -> None:
    rng = _rngs(seed, case_type)
    identity = draw_identity(rng["identity"])
    dates = draw_dates(rng["identity"])
    anatomy = draw_anatomy(rng["anatomy"], case_type, female=identity.sex == "F")
    tissues: TissueTable = draw_tissue_table(rng["tissues"])
    plan = plan_case(rng["plan"], anatomy, small=options.small)

    choose = rng["choices"]
    snr = float(options.snr) if options.snr is not None else float(choose.uniform(15.0, 60.0))
    drawn_adc, drawn_mask = bool(choose.random() < 0.6), bool(choose.random() < 0.75)
    with_adc = drawn_adc if options.with_adc_series is None else options.with_adc_series
    with_mask = drawn_mask if options.restaging_mask is None else options.restaging_mask
    formats = [str(choose.choice(["SEG", "RTSTRUCT"])) for _ in range(2)]
    if options.mask_format is not None:
        formats = [MaskFormat(options.mask_format).value] * 2
    style = VendorStyle.draw(rng["style"], options.vendor)
    same = rng["style"].random() < 0.6
    base_style = VendorStyle.draw(rng["style"], style.vendor if same else None)

    studies: dict[str, tuple[StudyPlan, VendorStyle, bool]] = {
        "restaging": (plan.restaging, style, with_adc),
        "baseline": (plan.baseline, base_style, False),
    }
    rendered: dict[str, RenderedStudy] = {}
    physics_info: dict[str, Any] = {}
    for name, (study_plan, study_style, adc) in studies.items():
        physics = draw_physics(rng["physics"], study_plan, tissues, snr)
        physics_info[name] = physics.as_dict(tissues)
        rescales = (study_style.t2w_rescale, study_style.dwi_rescale)
        rendered[name] = render_study(
            study_plan,
            anatomy.structures(baseline=name == "baseline"),
            tissues,
            physics,
            style_rescales=rescales,
            noise=rng["noise"],
            with_adc=adc,
        )

    paths, mask_info, bed_fraction = truth_masks(
        root, anatomy, plan, rendered["restaging"], rendered["baseline"]
    )
    series_info: dict[str, Any] = {}
    mask_formats: dict[str, str | None] = {}
    for (name, (study_plan, study_style, _)), fmt in zip(studies.items(), formats, strict=True):
        writer = _writer(
            root,
            name,
            identity=identity,
            style=study_style,
            rng=rng["dicom"],
            seed=seed,
            case_id=case_id,
            dates=dates,
        )
        study = rendered[name]
        write_study(
            writer,
            study_plan,
            study,
            (study_style.t2w_rescale, study_style.dwi_rescale),
            rng["dicom"],
        )
        info: dict[str, Any] = {role: describe_series(s, root) for role, s in study.written.items()}
        info["study_instance_uid"] = writer.study_uid
        info["frame_of_reference_uid"] = writer.frame_uid
        info["study_date"] = writer.date.isoformat()
        if name == "baseline" or with_mask:
            fraction = (
                bed_fraction
                if name == "restaging"
                else study.t2w_grid.fraction(study.t2w_labels, [Tissue.TUMOUR])
            )
            label = "tumour bed" if name == "restaging" else "baseline tumour"
            info["mask"] = _write_mask(
                writer, study, study_plan, fmt=fmt, fraction=fraction, label=label
            )
            mask_formats[name] = fmt
        else:
            mask_formats[name] = None
        series_info[name] = info

    form = draw_clinical(rng["clinical"], case_type, case_id=case_id, dates=dates)
    write_text(root / "clinical.yaml", clinical_yaml(form))
    truth = build_truth(
        case_id=case_id,
        case_type=case_type,
        seed=seed,
        options=options,
        anatomy=anatomy,
        tissues=tissues,
        plan=plan,
        snr=snr,
        styles=(style, base_style),
        paths=paths,
        mask_info=mask_info,
        series=series_info,
        mask_formats=mask_formats,
        physics=physics_info,
        form=form,
        with_adc=with_adc,
    )
    write_json(root / "truth.json", truth)
