"""Registration results with their quality figures."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import SimpleITK as sitk


@dataclass(frozen=True)
class RegistrationQc:
    """Quality of one registration.

    ``metric_*`` are Mattes mutual information values (more negative is better).
    ``rotation_deg`` / ``translation_mm`` describe the rigid part; ``folding_fraction`` is the
    fraction of voxels with Jacobian determinant <= 0 (deformable step only).
    """

    metric_before: float
    metric_after: float
    rotation_deg: float
    translation_mm: float
    iterations: int
    stop_condition: str
    seconds: float
    folding_fraction: float | None = None
    max_displacement_mm: float | None = None
    mean_displacement_mm: float | None = None
    problems: tuple[str, ...] = field(default=())

    @property
    def doubtful(self) -> bool:
        return bool(self.problems)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "metric_before": round(self.metric_before, 5),
            "metric_after": round(self.metric_after, 5),
            "rotation_deg": round(self.rotation_deg, 3),
            "translation_mm": round(self.translation_mm, 3),
            "iterations": self.iterations,
            "stop_condition": self.stop_condition,
            "seconds": round(self.seconds, 3),
            "problems": list(self.problems),
        }
        for key in ("folding_fraction", "max_displacement_mm", "mean_displacement_mm"):
            value = getattr(self, key)
            if value is not None:
                out[key] = round(value, 5)
        return out


@dataclass(frozen=True)
class Registration:
    """A transform in ITK convention: it maps points of the *fixed* (reference) space to the
    *moving* space, so resampling the moving image with it puts it on the fixed grid."""

    transform: sitk.Transform
    qc: RegistrationQc

    def parameters(self) -> dict[str, Any]:
        return {
            "type": self.transform.GetName(),
            "parameters": [float(p) for p in self.transform.GetParameters()],
            "fixed_parameters": [float(p) for p in self.transform.GetFixedParameters()],
        }
