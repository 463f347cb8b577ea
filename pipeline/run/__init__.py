"""Running the whole pipeline on one study (the unit of work of every batch)."""

from __future__ import annotations

from pipeline.run._imaging import analyse_imaging, choose_bed_mask
from pipeline.run._result import ImagingMaps, ImagingResult
from pipeline.run._study import StudyRun, run_study

__all__ = [
    "ImagingMaps",
    "ImagingResult",
    "StudyRun",
    "analyse_imaging",
    "choose_bed_mask",
    "run_study",
]
