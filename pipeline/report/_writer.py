"""Write one study's outputs: maps, figures, report.html, provenance.json, decision.json.

``decision.json`` is written last, so its presence marks a complete output folder.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydicom.dataset import Dataset

from pipeline._io import write_json, write_text
from pipeline.errors import PipelineError
from pipeline.report._figures import Panel, overlay_figure
from pipeline.report._html import render_report
from pipeline.report._nifti import write_nifti
from pipeline.report.dicom import write_dicom_outputs

if TYPE_CHECKING:
    from pipeline.run._result import ImagingMaps

log = logging.getLogger(__name__)

MAP_FILES = {
    "t2w": "t2w.nii.gz",
    "adc": "adc.nii.gz",
    "high_b": "highb.nii.gz",
    "tumour_bed": "tumour_bed.nii.gz",
    "residual": "residual_tumour.nii.gz",
    "residual_probability": "residual_probability.nii.gz",
    "network_probability": "network_probability.nii.gz",
    "network_tumour": "network_tumour.nii.gz",
    "baseline_t2w": "baseline_t2w_on_restaging.nii.gz",
}


#: Written only when asked for (``ccr run --dwi-grid``): the maps on the native DWI grid.
DWI_GRID_FILES = {
    "adc_dwi_grid": "adc_dwi_grid.nii.gz",
    "high_b_dwi_grid": "highb_dwi_grid.nii.gz",
}


def _figures(maps: ImagingMaps, study_key: str) -> list[tuple[str, bytes]]:
    figures: list[tuple[str, bytes]] = []
    panels = [Panel("T2W", maps.t2w)]
    if maps.high_b is not None:
        panels.append(Panel("computed high-b", maps.high_b))
    if maps.adc is not None:
        panels.append(
            Panel("ADC", maps.adc, window=(0.0, 3.0), cmap="gray", colorbar_label="1e-3 mm²/s")
        )
    figures.append(
        (
            "Restaging: tumour bed (cyan outline) and restricted diffusion (red)",
            overlay_figure(
                panels, bed=maps.tumour_bed, residual=maps.residual, title=f"study {study_key}"
            ),
        )
    )
    if maps.network_probability is not None:
        figures.append(
            (
                "Network: residual-tumour probability; red: its segmentation (cyan: tumour bed)",
                overlay_figure(
                    [
                        Panel("T2W", maps.t2w),
                        Panel(
                            "network P(residual tumour)",
                            maps.network_probability,
                            window=(0.0, 1.0),
                            cmap="magma",
                            colorbar_label="probability",
                        ),
                    ],
                    bed=maps.tumour_bed,
                    residual=maps.network_tumour,
                    title=f"study {study_key}",
                ),
            )
        )
    if maps.baseline_t2w is not None:
        figures.append(
            (
                "Baseline T2W registered to restaging (left) beside restaging T2W (right)",
                overlay_figure(
                    [Panel("baseline T2W", maps.baseline_t2w), Panel("restaging T2W", maps.t2w)],
                    bed=maps.tumour_bed,
                    residual=None,
                    title="baseline vs restaging",
                ),
            )
        )
    return figures


def write_outputs(
    out_dir: Path,
    *,
    decision: dict[str, Any],
    maps: ImagingMaps | None,
    provenance: dict[str, Any],
    quality: dict[str, Any],
    source_t2w: Sequence[Dataset] | None = None,
    measurements: dict[str, float | None] | None = None,
    keep_identifiers: bool = False,
    dwi_grid: bool = False,
) -> dict[str, Path]:
    """Write all outputs of one study into ``out_dir``; returns name -> path.

    DICOM SEG / SR / Parametric Map are written when the restaging T2W's source datasets are
    given (DICOM input); identifiers are pseudonymised unless ``keep_identifiers``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    figures: list[tuple[str, bytes]] = []
    if maps is not None:
        files = {**MAP_FILES, **(DWI_GRID_FILES if dwi_grid else {})}
        for name, filename in files.items():
            volume = getattr(maps, name)
            if volume is not None:
                written[name] = write_nifti(volume, out_dir / filename)
        figures = _figures(maps, str(decision.get("study_key", "")))
    dicom_note: str | None = None
    if maps is not None and source_t2w:
        try:
            written.update(
                write_dicom_outputs(
                    out_dir,
                    source_t2w=source_t2w,
                    t2w=maps.t2w,
                    tumour_bed=maps.tumour_bed,
                    residual=maps.residual,
                    network_tumour=maps.network_tumour,
                    adc=maps.adc,
                    decision=decision,
                    measurements=measurements or {},
                    keep_identifiers=keep_identifiers,
                    pseudonym=str(decision.get("study_key") or "unknown"),
                )
            )
        except PipelineError as exc:
            dicom_note = f"DICOM outputs skipped: {exc}"
            log.warning("%s", dicom_note)
    provenance = {
        **provenance,
        "dicom_outputs": {
            "written": sorted(k for k in written if k in ("seg", "sr", "adc_pmap")),
            "skipped": dicom_note,
        },
    }
    written["report"] = write_text(
        out_dir / "report.html", render_report(decision, figures=figures, quality=quality)
    )
    written["provenance"] = write_json(out_dir / "provenance.json", provenance)
    written["decision"] = write_json(out_dir / "decision.json", decision)
    return written
