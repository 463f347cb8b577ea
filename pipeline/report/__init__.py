"""Outputs: NIfTI maps, overlay figures, self-contained report.html, provenance and decision."""

from __future__ import annotations

from pipeline.report._figures import Panel, overlay_figure
from pipeline.report._html import render_report
from pipeline.report._nifti import write_nifti
from pipeline.report._writer import MAP_FILES, write_outputs

__all__ = ["MAP_FILES", "Panel", "overlay_figure", "render_report", "write_nifti", "write_outputs"]
