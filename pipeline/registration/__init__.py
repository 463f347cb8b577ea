"""Registration: DWI -> T2W (rigid/affine) and baseline -> restaging T2W (rigid + B-spline).

Transforms follow ITK: they map points of the fixed (reference) grid to the moving image.
"""

from __future__ import annotations

from pipeline.registration._deformable import displacement_stats, register_deformable
from pipeline.registration._resample import (
    field_of_view_coverage,
    resample_mask_smooth,
    resample_to,
    resample_to_moving,
)
from pipeline.registration._result import Registration, RegistrationQc
from pipeline.registration._rigid import register_linear, rigid_motion

__all__ = [
    "Registration",
    "RegistrationQc",
    "displacement_stats",
    "field_of_view_coverage",
    "register_deformable",
    "register_linear",
    "resample_mask_smooth",
    "resample_to",
    "resample_to_moving",
    "rigid_motion",
]
