"""The imaging stages of one study: ingest -> register -> diffusion -> ROI -> score."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from pipeline.config import PipelineConfig
from pipeline.config.scoring import LearnedScoringConfig
from pipeline.diffusion import compare_vendor_adc, compute_maps, wall_ring
from pipeline.errors import InputError, PipelineError, RegistrationError
from pipeline.findings import ImagingFindings, QualityFlag, QualityProblem, RoiStatus
from pipeline.ingest import load_study
from pipeline.masks import dilate_mm
from pipeline.radiomics import extract_features
from pipeline.registration import (
    Registration,
    field_of_view_coverage,
    register_deformable,
    register_linear,
    resample_mask_smooth,
    resample_to,
)
from pipeline.run._result import ImagingMaps, ImagingResult
from pipeline.scoring import (
    SCORER_NAME,
    BedAssessment,
    LearnedAssessment,
    LearnedScorers,
    assess_bed,
    assess_learned,
    find_bed,
    load_learned,
)
from pipeline.study import RoiMask, SeriesRole, Study
from pipeline.volume import Volume

log = logging.getLogger(__name__)

_BED_NAME_HINTS = ("bed", "tumour", "tumor", "gtv", "lesion", "residual")


@dataclass
class _Trace:
    """Mutable collector used inside one run only (never shared)."""

    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    quality: list[QualityFlag] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    dwi_transform: sitk.Transform | None = None
    dwi_native: tuple[Volume, Volume] | None = None

    def record_registration(
        self, name: str, registration: Registration, problem: QualityProblem, convention: str
    ) -> None:
        """Provenance of a registration; a doubtful one becomes a quality flag."""
        self.provenance[name] = {
            **registration.qc.as_dict(),
            "transform": registration.parameters(),
            "convention": convention,
        }
        if registration.qc.doubtful:
            self.quality.append(QualityFlag(problem, "; ".join(registration.qc.problems)))

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(time.perf_counter() - start, 3)


def _series_summary(study: Study) -> list[dict[str, Any]]:
    return [
        {
            "key": s.key,
            "series_number": s.series_number,
            "role": s.role.value,
            "role_reason": s.role_reason,
            "b_values": list(s.b_values),
            "b_value_source": s.b_value_source,
            "n_files": len(s.files),
            "warnings": list(s.warnings),
        }
        for s in study.series
    ]


def choose_bed_mask(study: Study, t2w_uid: str) -> RoiMask | None:
    """The tumour-bed mask of a study: one on the T2W series, by name hint, else the first."""
    if not study.masks:
        return None
    on_t2w = [m for m in study.masks if m.referenced_series_uid == t2w_uid] or list(study.masks)
    for mask in on_t2w:
        if any(hint in mask.name.lower() for hint in _BED_NAME_HINTS):
            return mask
    return on_t2w[0]


def _dwi_on_t2w(
    t2w: Volume, dwi: Volume, config: PipelineConfig, trace: _Trace, device: str
) -> tuple[Volume, Volume] | None:
    with trace.stage("diffusion"):
        maps = compute_maps(
            dwi, config=config.diffusion, device="cuda" if device == "cuda" else None
        )
    trace.provenance["diffusion"] = maps.qc.as_dict()
    trace.dwi_native = (maps.adc, maps.high_b)
    if maps.qc.fitted_fraction < 0.5:
        trace.quality.append(
            QualityFlag(
                QualityProblem.ADC_FIT_POOR,
                f"only {maps.qc.fitted_fraction:.0%} of body voxels fitted",
            )
        )
    low_b = dwi.channel(int(np.argmin(dwi.b_values)))
    reg_cfg = config.registration
    with trace.stage("register_dwi_t2w"):
        try:
            # T2W fixed: its fine grid drives the metric; the transform then maps T2W points to
            # DWI points, which is what resampling the DWI maps onto the T2W grid needs.
            registration = register_linear(
                t2w,
                low_b,
                config=reg_cfg.dwi_to_t2w,
                qc_config=reg_cfg.qc,
                seed=reg_cfg.sampling_seed,
                threads=reg_cfg.threads,
            )
        except RegistrationError as exc:
            trace.quality.append(QualityFlag(QualityProblem.DWI_REGISTRATION_FAILED, str(exc)))
            return None
    trace.record_registration(
        "registration_dwi_t2w",
        registration,
        QualityProblem.DWI_REGISTRATION_DOUBTFUL,
        "maps restaging T2W (fixed) points to DWI (moving) points",
    )
    trace.dwi_transform = registration.transform
    with trace.stage("resample_maps"):
        adc = resample_to(maps.adc, t2w, registration.transform)
        high_b = resample_to(maps.high_b, t2w, registration.transform)
    return adc, high_b


def _check_dwi_covers_bed(bed: Volume, config: PipelineConfig, trace: _Trace) -> None:
    """Flag a tumour bed that the registered DWI slab does not (fully) image."""
    if trace.dwi_native is None or trace.dwi_transform is None:
        return
    share = field_of_view_coverage(bed, trace.dwi_native[0], trace.dwi_transform)
    trace.provenance["dwi_bed_coverage"] = round(share, 4)
    minimum = config.registration.qc.min_dwi_bed_coverage
    if share < minimum:
        trace.quality.append(
            QualityFlag(
                QualityProblem.DWI_BED_NOT_COVERED,
                f"the registered DWI field of view covers {share:.0%} of the tumour bed "
                f"(at least {minimum:.0%} needed)",
            )
        )


def _propagate_baseline(
    t2w: Volume, baseline: Study, config: PipelineConfig, trace: _Trace
) -> tuple[Volume, Volume] | None:
    """Baseline T2W and its tumour mask carried onto the restaging T2W grid."""
    base_series = baseline.require(SeriesRole.T2W)
    base_t2w = base_series.require_volume()
    mask = choose_bed_mask(baseline, base_series.series_uid)
    if mask is None:
        trace.warnings.append(f"baseline study {baseline.key} has no tumour mask")
        return None
    reg_cfg = config.registration
    with trace.stage("register_baseline"):
        rigid: Registration = register_linear(
            t2w,
            base_t2w,
            config=reg_cfg.baseline_rigid,
            qc_config=reg_cfg.qc,
            seed=reg_cfg.sampling_seed,
            threads=reg_cfg.threads,
        )
        registration = rigid
        if reg_cfg.baseline_deformable.enabled:
            region = dilate_mm(
                resample_mask_smooth(mask.volume, t2w, rigid.transform),
                reg_cfg.baseline_deformable.roi_margin_mm,
            )
            registration = register_deformable(
                t2w,
                base_t2w,
                initial=rigid,
                config=reg_cfg.baseline_deformable,
                qc_config=reg_cfg.qc,
                seed=reg_cfg.sampling_seed,
                threads=reg_cfg.threads,
                fixed_mask=region,
            )
    trace.record_registration(
        "registration_baseline",
        registration,
        QualityProblem.BASELINE_REGISTRATION_DOUBTFUL,
        "maps restaging T2W (fixed) points to baseline T2W (moving) points",
    )
    with trace.stage("propagate_mask"):
        moved_mask = resample_mask_smooth(mask.volume, t2w, registration.transform)
        moved_t2w = resample_to(base_t2w, t2w, registration.transform)
    return moved_t2w, moved_mask


def _baseline_on_restaging(
    t2w: Volume,
    baseline_dir: Path,
    config: PipelineConfig,
    trace: _Trace,
    *,
    needed: bool,
    baseline_uid: str | None = None,
) -> tuple[Volume, Volume] | None:
    """Baseline T2W and tumour on the restaging grid; failures are quality flags only when the
    tumour bed depends on them (``needed``), warnings otherwise."""
    with trace.stage("ingest_baseline"):
        baseline = load_study(
            baseline_dir, rules=config.series_rules, roles=(SeriesRole.T2W,), study_uid=baseline_uid
        )
    trace.provenance["baseline"] = {"study_key": baseline.key, "series": _series_summary(baseline)}
    before = len(trace.quality)
    try:
        propagated = _propagate_baseline(t2w, baseline, config, trace)
    except PipelineError as exc:
        trace.quality.append(QualityFlag(QualityProblem.BASELINE_REGISTRATION_DOUBTFUL, str(exc)))
        propagated = None
    if not needed:
        for flag in trace.quality[before:]:
            trace.warnings.append(f"baseline (display only): {flag.problem.value}: {flag.detail}")
        del trace.quality[before:]
    return propagated


def _search_bed(
    t2w: Volume,
    dwi_maps: tuple[Volume, Volume],
    scorers: LearnedScorers,
    config: LearnedScoringConfig,
    trace: _Trace,
    device: str,
) -> Volume | None:
    """The tumour bed found by the network's sliding-window search (``None``: none found)."""
    if scorers.network is None:
        trace.warnings.append("no tumour-bed mask and no network to search for one")
        return None
    adc, high_b = dwi_maps
    with trace.stage("bed_search"):
        found = find_bed(
            scorers.network,
            t2w,
            high_b,
            adc,
            device=device,
            min_volume_mm3=config.search_min_volume_mm3,
        )
    trace.provenance["bed_search"] = (
        {"found": False}
        if found is None
        else {
            "found": True,
            "model": scorers.network.name,
            "volume_ml": round(found.volume_mm3 / 1000.0, 3),
            "mean_probability": round(found.mean_probability, 4),
            "windows": found.windows,
        }
    )
    if found is None:
        return None
    trace.warnings.append(
        f"tumour bed found by {scorers.network.name} (no mask given or propagated): "
        f"{found.volume_mm3 / 1000.0:.1f} ml; check it on the report's overlay"
    )
    return found.mask


def analyse_imaging(
    study_dir: Path,
    *,
    baseline_dir: Path | None,
    config: PipelineConfig,
    device: str = "cpu",
    study_uid: str | None = None,
    baseline_uid: str | None = None,
    scorers: LearnedScorers | None = None,
) -> tuple[Study, ImagingResult]:
    """Run every imaging stage on one restaging study (and its baseline, when given).

    ``device`` is ``"cpu"`` (numpy) or ``"cuda"`` (PyTorch on the GPU, where it helps).
    ``study_uid`` / ``baseline_uid`` choose the study where a folder holds several (see
    :func:`~pipeline.ingest.load_study`). ``scorers`` are learned models already loaded (a
    batch worker loads them once); ``None`` loads them from ``config.scoring.learned``.

    Problems that make a stage impossible become quality flags on the findings (the decision
    then refuses cCR); unreadable input raises :class:`InputError`.
    """
    trace = _Trace()
    with trace.stage("ingest"):
        study = load_study(study_dir, rules=config.series_rules, study_uid=study_uid)
    trace.provenance["restaging"] = {"study_key": study.key, "series": _series_summary(study)}
    trace.warnings.extend(study.warnings)
    t2_series = study.first(SeriesRole.T2W)
    dwi_series = study.first(SeriesRole.DWI)
    if t2_series is None:
        trace.quality.append(QualityFlag(QualityProblem.NO_T2W, "no T2W series found"))
        return study, _finish(trace, ImagingFindings(quality=tuple(trace.quality)), None)
    t2w = t2_series.require_volume()
    maps = ImagingMaps(t2w=t2w)

    dwi_maps = None
    if dwi_series is None:
        trace.quality.append(QualityFlag(QualityProblem.NO_DWI, "no DWI series found"))
    else:
        try:
            dwi_maps = _dwi_on_t2w(t2w, dwi_series.require_volume(), config, trace, device)
        except InputError as exc:
            trace.quality.append(QualityFlag(QualityProblem.TOO_FEW_B_VALUES, str(exc)))

    given = choose_bed_mask(study, t2_series.series_uid)
    propagated = None
    if baseline_dir is not None:
        # Registered whenever a baseline is given: it carries the tumour onto the restaging
        # scan when no restaging mask exists, and the report shows both side by side.
        propagated = _baseline_on_restaging(
            t2w, baseline_dir, config, trace, needed=given is None, baseline_uid=baseline_uid
        )
        if propagated is not None:
            maps = ImagingMaps(t2w=t2w, baseline_t2w=propagated[0], baseline_tumour=propagated[1])
    bed_status = RoiStatus.MISSING
    bed: Volume | None = None
    if given is not None:
        bed = (
            resample_mask_smooth(given.volume, t2w)
            if not given.volume.same_grid(t2w)
            else given.volume
        )
        bed_status = RoiStatus.GIVEN
    elif propagated is not None:
        bed = propagated[1]
        bed_status = RoiStatus.PROPAGATED
    if (bed is None or not (bed.array > 0).any()) and dwi_maps is not None:
        learned_config = config.scoring.learned
        if learned_config.enabled and learned_config.search_bed:
            if scorers is None:
                scorers = load_learned(learned_config)
            bed = _search_bed(t2w, dwi_maps, scorers, learned_config, trace, device)
            bed_status = RoiStatus.MODEL if bed is not None else RoiStatus.MISSING
    if bed is None or not (bed.array > 0).any():
        trace.quality.append(
            QualityFlag(
                QualityProblem.NO_TUMOUR_BED,
                "no tumour-bed mask given, none could be propagated and the network found none",
            )
        )
        bed = None

    if dwi_maps is not None and bed is not None:
        _check_dwi_covers_bed(bed, config, trace)
    if dwi_maps is None or bed is None:
        findings = ImagingFindings(
            tumour_bed_status=bed_status if bed is not None else RoiStatus.MISSING,
            tumour_bed_volume_ml=_volume_ml(bed),
            quality=tuple(trace.quality),
        )
        adc, high_b = dwi_maps if dwi_maps is not None else (None, None)
        return study, _finish(
            trace, findings, replace(maps, adc=adc, high_b=high_b, tumour_bed=bed)
        )

    adc, high_b = dwi_maps
    vendor_adc = study.first(SeriesRole.ADC)
    if vendor_adc is not None and vendor_adc.volume is not None:
        _compare_with_vendor(adc, vendor_adc.volume, bed, trace)
    with trace.stage("score"):
        assessment = assess_bed(t2w, adc, high_b, bed, config=config.scoring)
    features: dict[str, float] | None = None
    with trace.stage("radiomics"):
        try:
            row = extract_features(
                {"t2w": t2w, "adc": adc, "high_b": high_b}, bed, config=config.radiomics
            )
            features = row.features
            trace.provenance["radiomics"] = {"features": row.features, **row.diagnostics}
        except PipelineError as exc:
            trace.warnings.append(f"radiomics skipped: {exc}")
    p_residual, uncertainty, scorer = assessment.p_residual, None, SCORER_NAME
    learned = None
    if config.scoring.learned.enabled:
        with trace.stage("score_learned"):
            if scorers is None:
                scorers = load_learned(config.scoring.learned)
            learned = assess_learned(
                t2w,
                adc,
                high_b,
                bed,
                features=features,
                scorers=scorers,
                config=config.scoring.learned,
                device=device,
            )
        trace.warnings.extend(learned.warnings)
        if learned.fused is not None:
            p_residual = learned.fused.p_residual
            uncertainty = learned.fused.uncertainty
            scorer = learned.fused.scorer
    trace.provenance["scoring"] = _scoring_provenance(assessment, learned, scorer)
    findings = ImagingFindings(
        p_residual=p_residual,
        p_residual_uncertainty=uncertainty,
        scorer=scorer,
        p_residual_rules=assessment.p_residual,
        p_residual_radiomics=learned.p_radiomics if learned is not None else None,
        p_residual_network=(
            learned.network.p_residual if learned is not None and learned.network else None
        ),
        tumour_bed_status=bed_status,
        tumour_bed_volume_ml=_volume_ml(bed),
        restricted_volume_ml=assessment.restricted_volume_ml,
        restricted_max_extent_mm=assessment.restricted_max_extent_mm,
        shine_through_volume_ml=assessment.shine_through_volume_ml,
        adc_median_bed=assessment.adc_median_bed,
        adc_median_restricted=assessment.adc_median_restricted,
        t2_intermediate_fraction=assessment.t2_intermediate_fraction,
        t2_bright_fraction=assessment.t2_bright_fraction,
        quality=tuple(trace.quality),
    )
    return study, _finish(
        trace,
        findings,
        replace(
            maps,
            adc=adc,
            high_b=high_b,
            tumour_bed=bed,
            residual=assessment.residual_map,
            residual_probability=assessment.residual_probability,
            network_probability=learned.network_probability if learned is not None else None,
            network_tumour=learned.network_tumour if learned is not None else None,
        ),
    )


def _scoring_provenance(
    assessment: BedAssessment, learned: LearnedAssessment | None, scorer: str
) -> dict[str, Any]:
    """Every scorer's output and the models' hashes (for the run manifest)."""
    out: dict[str, Any] = {
        "scorer": scorer,
        "rules": {
            "name": SCORER_NAME,
            "p_residual": assessment.p_residual,
            "highb_reference": assessment.highb_reference,
            "t2_reference": assessment.t2_reference,
        },
    }
    if learned is not None:
        out["radiomics"] = {"p_residual": learned.p_radiomics}
        if learned.network is not None:
            out["network"] = {
                "p_residual": learned.network.p_residual,
                "tta_sd": learned.network.uncertainty,
                "per_flip_p": list(learned.network.per_flip_p),
                "soft_volume_mm3": learned.network.soft_volume_mm3,
            }
        if learned.fused is not None:
            out["fusion"] = {
                "p_residual": learned.fused.p_residual,
                "uncertainty": learned.fused.uncertainty,
                "components": learned.fused.components,
            }
        out["models"] = dict(learned.models)
        out["warnings"] = list(learned.warnings)
    return out


def _volume_ml(mask: Volume | None) -> float | None:
    if mask is None:
        return None
    return float((mask.array > 0).sum() * mask.voxel_volume_mm3 / 1000.0)


def _compare_with_vendor(adc: Volume, vendor: Volume, bed: Volume, trace: _Trace) -> None:
    """Our ADC against the scanner's ADC series in the tumour bed and the wall around it;
    recorded in the provenance (``vendor_adc``), never used for the decision."""
    try:
        trace.provenance["vendor_adc"] = compare_vendor_adc(
            adc,
            vendor,
            {"tumour_bed": bed, "wall_ring": wall_ring(bed)},
            transform=trace.dwi_transform,
        )
    except PipelineError as exc:
        trace.warnings.append(f"vendor ADC comparison skipped: {exc}")


def _finish(trace: _Trace, findings: ImagingFindings, maps: ImagingMaps | None) -> ImagingResult:
    if maps is not None and trace.dwi_native is not None:
        maps = replace(maps, adc_dwi_grid=trace.dwi_native[0], high_b_dwi_grid=trace.dwi_native[1])
    for flag in findings.quality:
        log.warning("quality: %s: %s", flag.problem.value, flag.detail)
    return ImagingResult(
        findings=findings,
        maps=maps,
        provenance=dict(trace.provenance),
        warnings=tuple(trace.warnings),
        timings=dict(trace.timings),
    )
