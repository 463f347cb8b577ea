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

import math
import os
import re
import shutil
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

import pipeline
from pipeline._io import write_json, write_text
from pipeline.errors import InputError
from pipeline.phantom._anatomy import Anatomy, draw_anatomy
from pipeline.phantom._clinical import clinical_summary, clinical_yaml, draw_clinical
from pipeline.phantom._dicom import FileNamer, StudyWriter, describe_series
from pipeline.phantom._identity import PatientIdentity, StudyDates, draw_dates, draw_identity
from pipeline.phantom._masks import write_rtstruct, write_seg
from pipeline.phantom._options import (
    EXPECTED_DECISION,
    RESIDUAL_CASE_TYPES,
    SCHEMA_VERSION,
    CaseType,
    MaskFormat,
    PhantomOptions,
)
from pipeline.phantom._protocol import CasePlan, StudyPlan, plan_case
from pipeline.phantom._study import RenderedStudy, draw_physics, render_study, write_study
from pipeline.phantom._tissues import Tissue, TissueTable, draw_tissue_table
from pipeline.phantom._truth import CONVENTIONS, mask_summary, tissue_legend, write_mask
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


def _truth_masks(
    root: Path, anatomy: Anatomy, plan: CasePlan, rest: RenderedStudy, base: RenderedStudy
) -> tuple[dict[str, str], dict[str, Any], np.ndarray]:
    sg, labels = rest.t2w_grid, rest.t2w_labels
    bed_fraction = sg.region(anatomy.bed_region())
    node_mask = sg.fraction(labels, [Tissue.NODE, Tissue.NODE_SUSPICIOUS]) >= 0.5
    node_labels, _ = ndimage.label(node_mask)
    masks: dict[str, tuple[np.ndarray, StudyPlan]] = {
        "tumour": (sg.fraction(labels, [Tissue.TUMOUR]) >= 0.5, plan.restaging),
        "fibrosis": (sg.fraction(labels, [Tissue.FIBROSIS]) >= 0.5, plan.restaging),
        "oedema": (sg.fraction(labels, [Tissue.OEDEMA, Tissue.FLUID]) >= 0.5, plan.restaging),
        "tumour_bed": (bed_fraction >= 0.5, plan.restaging),
        "node": (node_labels, plan.restaging),
        "suspicious_node": (sg.fraction(labels, [Tissue.NODE_SUSPICIOUS]) >= 0.5, plan.restaging),
        "tissue": (sg.centre_labels(labels), plan.restaging),
        "baseline_tumour_on_restaging": (
            sg.region([anatomy.baseline_tumour]) >= 0.5,
            plan.restaging,
        ),
        "baseline_tumour": (
            base.t2w_grid.fraction(base.t2w_labels, [Tissue.TUMOUR]) >= 0.5,
            plan.baseline,
        ),
    }
    paths, summary = {}, {}
    for name, (array, study) in masks.items():
        rel = f"truth/{name}.nii.gz"
        write_mask(root / rel, array.astype(np.uint8), study.t2w)
        paths[name] = rel
        summary[name] = {
            "grid": "baseline_t2w" if study is plan.baseline else "restaging_t2w",
            **mask_summary(array, study.t2w),
        }
    return paths, summary, bed_fraction


def _lesions(anatomy: Anatomy) -> dict[str, Any]:
    residual = []
    for shape in anatomy.residual:
        entry: dict[str, Any] = {"type": type(shape).__name__}
        if hasattr(shape, "extent_mm"):
            entry.update(shape.extent_mm())
        else:
            entry["diameter_mm"] = round(2.0 * max(getattr(shape, "semi_axes", (0.0,))), 2)
        residual.append(entry)
    return {
        "baseline_tumour": anatomy.baseline_tumour.extent_mm(),
        "tumour_bed": anatomy.bed.extent_mm(),
        "residual": residual,
        "bed_centre_lps_mm": [round(float(v), 3) for v in anatomy.bed_centre],
        "nodes": [
            {
                "centre_lps_mm": [round(c, 3) for c in n.restaging.centre],
                "short_axis_mm": round(n.short_axis_mm, 2),
                "suspicious": n.suspicious,
            }
            for n in anatomy.nodes
        ],
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

    paths, mask_info, bed_fraction = _truth_masks(
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
    truth = _truth(
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


def _truth(
    *,
    case_id: str,
    case_type: CaseType,
    seed: int,
    options: PhantomOptions,
    anatomy: Anatomy,
    tissues: TissueTable,
    plan: CasePlan,
    snr: float,
    styles: tuple[VendorStyle, VendorStyle],
    paths: dict[str, str],
    mask_info: dict[str, Any],
    series: dict[str, Any],
    mask_formats: dict[str, Any],
    physics: dict[str, Any],
    form: dict[str, Any],
    with_adc: bool,
) -> dict[str, Any]:
    r, b = plan.restaging, plan.baseline
    geometry = {
        "restaging_t2w": r.t2w.as_dict(),
        "restaging_dwi": {**r.dwi.grid.as_dict(), "b_values": list(r.dwi.b_values)},
        "baseline_t2w": b.t2w.as_dict(),
        "baseline_dwi": {**b.dwi.grid.as_dict(), "b_values": list(b.dwi.b_values)},
    }
    if with_adc:
        geometry["restaging_adc"] = r.dwi.grid.as_dict()
    noiseless = math.isinf(snr)

    def dwi_entry(p: StudyPlan, what: str) -> dict[str, Any]:
        return {
            "description": f"rigid motion between the {what} T2W and DWI acquisitions; "
            "t2w_to_dwi maps a T2W LPS point to the DWI LPS point showing the same anatomy "
            "(before the EPI distortion), dwi_to_t2w is its inverse",
            "t2w_to_dwi": p.dwi.rigid.as_dict(),
            "dwi_to_t2w_matrix_4x4": p.dwi.rigid.as_dict()["inverse_matrix_4x4"],
            "distortion": p.dwi.distortion.as_dict(),
            "phase_encode": p.dwi.phase_encode,
        }

    return {
        "schema_version": SCHEMA_VERSION,
        "generator": {"name": "pipeline.phantom", "version": pipeline.__version__},
        "research_use": pipeline.RESEARCH_USE_STATEMENT,
        "case_id": case_id,
        "case_type": case_type.value,
        "seed": seed,
        "options": {
            "small": options.small,
            "snr": None if options.snr is None else ("inf" if noiseless else options.snr),
            "with_adc_series": options.with_adc_series,
            "restaging_mask": options.restaging_mask,
            "mask_format": None
            if options.mask_format is None
            else MaskFormat(options.mask_format).value,
            "vendor": None if options.vendor is None else options.vendor.value,
        },
        "expected_decision": EXPECTED_DECISION[case_type].value,
        "residual_tumour": case_type in RESIDUAL_CASE_TYPES,
        "suspicious_node": case_type is CaseType.SUSPICIOUS_NODE,
        "conventions": CONVENTIONS,
        "masks": paths,
        "mask_summary": mask_info,
        "tissue_labels": tissue_legend(),
        "adc_true": tissues.adc_dict(),
        "tissue_properties": tissues.as_dict(),
        "lesions": _lesions(anatomy),
        "dwi_to_t2w": dwi_entry(r, "restaging"),
        "baseline_dwi_to_t2w": dwi_entry(b, "baseline"),
        "baseline_to_restaging": {
            "description": "restaging T2W LPS point p corresponds to baseline T2W LPS point "
            "q = M (p + w(p)) (ITK: fixed = restaging, moving = baseline). M is "
            "rigid.matrix_4x4; w is the smooth deformation. The baseline mask maps onto the "
            "restaging grid as truth/baseline_tumour_on_restaging.nii.gz",
            "rigid": plan.baseline_rigid.as_dict(),
            "restaging_to_baseline_rigid_4x4": plan.baseline_rigid.as_dict()["matrix_4x4"],
            "baseline_to_restaging_rigid_4x4": plan.baseline_rigid.as_dict()["inverse_matrix_4x4"],
            "deformation": plan.deformation.as_dict(),
        },
        "geometry": geometry,
        "series": series,
        "snr": {
            "dwi_b0_wall": "inf" if noiseless else round(snr, 4),
            "t2w_wall": "inf" if noiseless else round(2.0 * snr, 4),
            "noiseless": noiseless,
        },
        "intensity": physics,
        "vendor_style": styles[0].vendor.value,
        "baseline_vendor_style": styles[1].vendor.value,
        "dicom_style": {"restaging": styles[0].as_dict(), "baseline": styles[1].as_dict()},
        "b_values": {"restaging": list(r.dwi.b_values), "baseline": list(b.dwi.b_values)},
        "with_adc_series": with_adc,
        "mask_format": mask_formats,
        "restaging_mask": mask_formats["restaging"] is not None,
        "clinical": clinical_summary(form),
    }
