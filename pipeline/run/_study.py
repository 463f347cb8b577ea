"""One study end to end: imaging stages, clinical inputs, decision, outputs."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset

from pipeline.clinical import ClinicalInputs, load_clinical
from pipeline.config import PipelineConfig
from pipeline.decision import decide, decision_to_dict
from pipeline.errors import PipelineError
from pipeline.findings import ImagingFindings, QualityFlag, QualityProblem
from pipeline.report import write_outputs
from pipeline.report.dicom import measurements_from_findings, read_source_datasets
from pipeline.run._imaging import analyse_imaging
from pipeline.run._provenance import build_provenance
from pipeline.run._result import ImagingResult
from pipeline.scoring import LearnedScorers
from pipeline.study import SeriesRole, Study

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StudyRun:
    """Where one run wrote its outputs and what it decided."""

    study_key: str
    out_dir: Path
    decision: dict[str, Any]
    error: str | None = None


def _quality_dict(findings: ImagingFindings, imaging: ImagingResult | None) -> dict[str, Any]:
    stages = imaging.provenance if imaging is not None else {}
    return {
        "problems": [{"problem": q.problem.value, "detail": q.detail} for q in findings.quality],
        "diffusion": stages.get("diffusion"),
        "registration_dwi_t2w": stages.get("registration_dwi_t2w"),
        "registration_baseline": stages.get("registration_baseline"),
    }


def run_study(
    study_dir: Path,
    *,
    clinical_path: Path | None,
    out_dir: Path,
    config: PipelineConfig,
    baseline_dir: Path | None = None,
    device: str = "cpu",
    keep_identifiers: bool = False,
    dwi_grid: bool = False,
    study_uid: str | None = None,
    baseline_uid: str | None = None,
    scorers: LearnedScorers | None = None,
) -> StudyRun:
    """Assess one restaging study and write ``out_dir/decision.json`` and the other outputs.

    ``dwi_grid`` also writes ADC and high-b on the native DWI grid.
    DICOM outputs (SEG, SR, ADC Parametric Map) carry a pseudonym unless ``keep_identifiers``.
    Unreadable imaging input does not stop the run: the decision is then indeterminate and
    names the problem. A malformed clinical file raises :class:`ClinicalInputError`.
    ``study_uid`` / ``baseline_uid`` choose the study in a folder that holds several;
    ``scorers`` are learned models loaded once by the caller (``None``: loaded here).
    """
    start = time.perf_counter()
    clinical: ClinicalInputs | None = load_clinical(clinical_path) if clinical_path else None
    imaging: ImagingResult | None = None
    error: str | None = None
    study_key = "unknown"
    study: Study | None = None
    try:
        study, imaging = analyse_imaging(
            study_dir,
            baseline_dir=baseline_dir,
            config=config,
            device=device,
            study_uid=study_uid,
            baseline_uid=baseline_uid,
            scorers=scorers,
        )
        study_key = study.key
        findings = imaging.findings
    except PipelineError as exc:
        error = str(exc)
        log.error("imaging failed: %s", error)
        findings = ImagingFindings(quality=(QualityFlag(QualityProblem.IMAGING_UNREADABLE, error),))
    decision = decide(clinical, findings, config=config.decision)
    payload = decision_to_dict(decision, study_key=study_key, provenance_ref="provenance.json")
    if error is not None:
        payload["error"] = error
    timings = dict(imaging.timings) if imaging is not None else {}
    timings["total"] = round(time.perf_counter() - start, 3)
    provenance = build_provenance(
        config=config,
        inputs={"restaging": study_dir, "baseline": baseline_dir, "clinical": clinical_path},
        stages={
            **(imaging.provenance if imaging else {}),
            "findings": _findings_dict(findings),
            "device": device,
        },
        timings=timings,
        warnings=list(imaging.warnings) if imaging else [],
    )
    write_outputs(
        out_dir,
        decision=payload,
        maps=imaging.maps if imaging is not None else None,
        provenance=provenance,
        quality=_quality_dict(findings, imaging),
        source_t2w=_source_t2w(study, imaging),
        measurements=measurements_from_findings(findings),
        keep_identifiers=keep_identifiers,
        dwi_grid=dwi_grid,
    )
    log.info("study %s: %s (%.1f s)", study_key, payload["decision"], timings["total"])
    return StudyRun(study_key=study_key, out_dir=out_dir, decision=payload, error=error)


def _source_t2w(study: Study | None, imaging: ImagingResult | None) -> list[Dataset] | None:
    """The restaging T2W headers that DICOM outputs reference (None without DICOM input)."""
    t2_series = study.first(SeriesRole.T2W) if study is not None else None
    if imaging is None or imaging.maps is None or t2_series is None or not t2_series.files:
        return None
    try:
        return read_source_datasets(t2_series.files)
    except PipelineError as exc:
        log.warning("DICOM outputs skipped: %s", exc)
        return None


def _findings_dict(findings: ImagingFindings) -> dict[str, Any]:
    out = asdict(findings)
    out["tumour_bed_status"] = findings.tumour_bed_status.value
    out["quality"] = [{"problem": q.problem.value, "detail": q.detail} for q in findings.quality]
    return out
