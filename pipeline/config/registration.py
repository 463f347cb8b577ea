"""Schema of ``configs/registration.yaml``."""

from __future__ import annotations

from enum import Enum

from pydantic import Field, model_validator

from pipeline.config._base import FrozenModel


class TransformType(str, Enum):
    RIGID = "rigid"
    AFFINE = "affine"


class PyramidConfig(FrozenModel):
    """Multi-resolution schedule shared by rigid and deformable steps."""

    shrink_factors: tuple[int, ...] = Field(default=(4, 2, 1), min_length=1)
    smoothing_sigmas_mm: tuple[float, ...] = Field(default=(2.0, 1.0, 0.0), min_length=1)

    @model_validator(mode="after")
    def _same_length(self) -> PyramidConfig:
        if len(self.shrink_factors) != len(self.smoothing_sigmas_mm):
            raise ValueError("shrink_factors and smoothing_sigmas_mm need the same length")
        if any(f < 1 for f in self.shrink_factors) or any(s < 0 for s in self.smoothing_sigmas_mm):
            raise ValueError("shrink factors must be >= 1 and sigmas >= 0")
        return self


class Interpolator(str, Enum):
    """Interpolation of the moving image inside the metric."""

    LINEAR = "linear"
    BSPLINE = "bspline"


class RefineConfig(FrozenModel):
    """A derivative-free (Powell) polish after the gradient pyramid, at the finest level.

    Mutual information with thick slices (DWI 4-5 mm) has a rough landscape along the slice
    normal that stops gradient steps early; a Powell line search on a fixed random sample
    reaches the optimum (phantom target error about halved, see scripts/bench_registration.py).
    """

    enabled: bool = False
    interpolator: Interpolator = Interpolator.BSPLINE
    samples: int = Field(
        default=20000,
        ge=1000,
        description="fixed random sample of the fixed image (a count, so that the cost does "
        "not grow with the field of view)",
    )
    iterations: int = Field(default=10, ge=1, le=100)
    step_mm: float = Field(default=0.5, gt=0, description="initial Powell step (mm or ~mm)")
    tolerance_mm: float = Field(default=0.01, gt=0)


class RigidConfig(FrozenModel):
    transform: TransformType = TransformType.RIGID
    interpolator: Interpolator = Interpolator.LINEAR
    histogram_bins: int = Field(default=32, ge=8, le=256)
    sampling_percentage: float = Field(default=0.25, gt=0, le=1)
    iterations: int = Field(default=200, ge=1, le=10000)
    learning_rate: float = Field(default=1.0, gt=0)
    min_step: float = Field(default=1e-4, gt=0)
    pyramid: PyramidConfig = PyramidConfig()
    max_translation_mm: float = Field(default=30.0, gt=0)
    max_rotation_deg: float = Field(default=15.0, gt=0)
    working_spacing_mm: float | None = Field(
        default=None,
        gt=0,
        description="resample both images to at least this in-plane spacing before "
        "registering (speed); null keeps the native grids",
    )
    initial_search_mm: float = Field(
        default=0.0, ge=0, description="exhaustive translation search range first; 0 = off"
    )
    initial_search_step_mm: float = Field(default=5.0, gt=0)
    refine: RefineConfig = RefineConfig()


class DeformableConfig(FrozenModel):
    enabled: bool = True
    mesh_spacing_mm: float = Field(default=40.0, gt=5)
    histogram_bins: int = Field(default=32, ge=8, le=256)
    sampling_percentage: float = Field(default=0.1, gt=0, le=1)
    iterations: int = Field(default=60, ge=1, le=10000)
    pyramid: PyramidConfig = PyramidConfig(shrink_factors=(2, 1), smoothing_sigmas_mm=(1.0, 0.0))
    working_spacing_mm: float | None = Field(default=None, gt=0)
    max_coefficient_mm: float = Field(default=15.0, gt=0, description="B-spline bound")
    roi_margin_mm: float = Field(
        default=30.0, gt=0, description="metric region: the rigidly carried mask + this margin"
    )


class RegistrationQcConfig(FrozenModel):
    """When a registration is called doubtful (carried into the decision as a quality issue)."""

    max_translation_mm: float = Field(default=25.0, gt=0)
    max_rotation_deg: float = Field(default=12.0, gt=0)
    require_metric_improvement: bool = True
    max_folding_fraction: float = Field(default=0.001, ge=0, le=1)
    min_dwi_bed_coverage: float = Field(
        default=0.95,
        ge=0,
        le=1,
        description="share of tumour-bed voxels the registered DWI field of view must cover",
    )


class RegistrationConfig(FrozenModel):
    dwi_to_t2w: RigidConfig = RigidConfig()
    baseline_rigid: RigidConfig = RigidConfig()
    baseline_deformable: DeformableConfig = DeformableConfig()
    qc: RegistrationQcConfig = RegistrationQcConfig()
    sampling_seed: int = Field(default=20241124, ge=0)
    threads: int = Field(default=0, ge=0, description="0 = SimpleITK's default")
