"""Rigid / affine registration by Mattes mutual information (SimpleITK)."""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import SimpleITK as sitk

from pipeline.config.registration import (
    Interpolator,
    RefineConfig,
    RegistrationQcConfig,
    RigidConfig,
    TransformType,
)
from pipeline.errors import RegistrationError
from pipeline.registration._result import Registration, RegistrationQc
from pipeline.registration._threads import itk_threads
from pipeline.volume import Volume

log = logging.getLogger(__name__)


def _as_float(image: sitk.Image) -> sitk.Image:
    return sitk.Cast(image, sitk.sitkFloat32)


def _centre(image: sitk.Image) -> tuple[float, float, float]:
    size = np.asarray(image.GetSize(), dtype=float)
    point = image.TransformContinuousIndexToPhysicalPoint(((size - 1) / 2.0).tolist())
    return (float(point[0]), float(point[1]), float(point[2]))


def coarsen_in_plane(image: sitk.Image, spacing_mm: float) -> sitk.Image:
    """Smooth and resample to at least ``spacing_mm`` in plane (slice spacing kept).

    Registration of an EPI DWI (about 2 mm) to a 0.7 mm T2W gains nothing from the fine grid;
    this makes the metric about ten times cheaper. Images already coarser are returned as is.
    """
    spacing = image.GetSpacing()
    if min(spacing[0], spacing[1]) >= spacing_mm:
        return image
    new_spacing = (max(spacing[0], spacing_mm), max(spacing[1], spacing_mm), spacing[2])
    sigma = [
        max(0.0, (n * n - o * o)) ** 0.5 / 2.355 for n, o in zip(new_spacing, spacing, strict=True)
    ]
    smoothed = sitk.SmoothingRecursiveGaussian(image, [max(s, 1e-3) for s in sigma[:2]] + [1e-3])
    size = [
        max(1, round(n * o / s))
        for n, o, s in zip(image.GetSize(), spacing, new_spacing, strict=True)
    ]
    return sitk.Resample(
        smoothed,
        size,
        sitk.Transform(),
        sitk.sitkLinear,
        image.GetOrigin(),
        new_spacing,
        image.GetDirection(),
        0.0,
        image.GetPixelID(),
    )


def _initial_transform(fixed: sitk.Image, kind: TransformType) -> sitk.Transform:
    """Identity in patient coordinates (the DICOM geometry), centred on the fixed image."""
    transform: sitk.Transform
    if kind is TransformType.AFFINE:
        transform = sitk.AffineTransform(3)
        transform.SetCenter(_centre(fixed))
    else:
        euler = sitk.Euler3DTransform()
        euler.SetCenter(_centre(fixed))
        transform = euler
    return transform


def search_translation(
    fixed: sitk.Image,
    moving: sitk.Image,
    initial: sitk.Transform,
    *,
    extent_mm: float,
    step_mm: float,
    bins: int,
) -> sitk.Transform:
    """Exhaustive search of translations within +-``extent_mm`` (rotation kept at the start)
    on heavily smoothed images: widens the capture range for large offsets between sessions.

    Returns a copy of ``initial`` with the best translation; ``initial`` if nothing is better.
    """
    n = max(1, int(extent_mm // step_mm))
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=bins)
    method.SetMetricSamplingStrategy(method.NONE)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetShrinkFactorsPerLevel([2])
    method.SetSmoothingSigmasPerLevel([step_mm / 2.0])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    start = sitk.Euler3DTransform(initial) if isinstance(initial, sitk.Euler3DTransform) else None
    if start is None:
        return initial
    method.SetOptimizerAsExhaustive(numberOfSteps=[0, 0, 0, n, n, n], stepLength=step_mm)
    method.SetOptimizerScales([1.0] * 6)
    method.SetInitialTransform(start, inPlace=True)
    try:
        method.Execute(fixed, moving)
    except RuntimeError:
        return initial
    return start


def _unwrap(transform: sitk.Transform) -> sitk.Transform:
    """A copy of the one linear transform inside ``transform`` (Execute returns a composite)."""
    inner = transform
    if isinstance(transform, sitk.CompositeTransform) and transform.GetNumberOfTransforms() == 1:
        inner = transform.GetNthTransform(0)
    if inner.GetName() == "Euler3DTransform":
        return sitk.Euler3DTransform(inner)
    if inner.GetName() == "AffineTransform":
        return sitk.AffineTransform(inner)
    return sitk.Transform(inner)


_INTERPOLATORS = {Interpolator.LINEAR: sitk.sitkLinear, Interpolator.BSPLINE: sitk.sitkBSpline}


def refine_powell(
    fixed: sitk.Image,
    moving: sitk.Image,
    transform: sitk.Transform,
    *,
    config: RefineConfig,
    bins: int,
    seed: int,
    threads: int,
) -> sitk.Transform:
    """Polish ``transform`` by Powell line searches on a fixed random sample (finest level).

    Returns the refined transform, or ``transform`` unchanged if the metric did not improve.
    """
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=bins)
    method.SetMetricSamplingStrategy(method.RANDOM)
    n_voxels = int(np.prod(fixed.GetSize()))
    method.SetMetricSamplingPercentage(min(1.0, config.samples / max(n_voxels, 1)), seed)
    method.SetInterpolator(_INTERPOLATORS[config.interpolator])
    method.SetOptimizerAsPowell(
        numberOfIterations=config.iterations,
        maximumLineIterations=20,
        stepLength=config.step_mm,
        stepTolerance=config.tolerance_mm,
        valueTolerance=1e-6,
    )
    method.SetOptimizerScalesFromPhysicalShift()
    if threads > 0:
        method.SetNumberOfThreads(threads)
    refined = _unwrap(transform)
    method.SetInitialTransform(refined, inPlace=True)
    before = method.MetricEvaluate(fixed, moving)
    method.Execute(fixed, moving)
    after = method.MetricEvaluate(fixed, moving)
    return refined if after < before else transform


def configure_method(
    config: RigidConfig, *, seed: int, threads: int
) -> sitk.ImageRegistrationMethod:
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=config.histogram_bins)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(config.sampling_percentage, seed)
    method.SetInterpolator(_INTERPOLATORS[config.interpolator])
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=config.learning_rate,
        minStep=config.min_step,
        numberOfIterations=config.iterations,
        relaxationFactor=0.5,
        gradientMagnitudeTolerance=1e-8,
    )
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel(list(config.pyramid.shrink_factors))
    method.SetSmoothingSigmasPerLevel(list(config.pyramid.smoothing_sigmas_mm))
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    if threads > 0:
        method.SetNumberOfThreads(threads)
    return method


def rigid_motion(
    transform: sitk.Transform, centre: tuple[float, float, float]
) -> tuple[float, float]:
    """Rotation angle (deg) and displacement of ``centre`` (mm) of a linear transform."""
    matrix = np.eye(3)
    inner = transform
    if isinstance(transform, sitk.CompositeTransform) and transform.GetNumberOfTransforms():
        inner = transform.GetNthTransform(0)
    if hasattr(inner, "GetMatrix"):
        matrix = np.asarray(inner.GetMatrix(), dtype=float).reshape(3, 3)
    u, _, vt = np.linalg.svd(matrix)
    rotation = u @ vt
    angle = math.degrees(math.acos(float(np.clip((np.trace(rotation) - 1) / 2, -1, 1))))
    moved = np.asarray(transform.TransformPoint(centre)) - np.asarray(centre)
    return angle, float(np.linalg.norm(moved))


def register_linear(
    fixed: Volume,
    moving: Volume,
    *,
    config: RigidConfig,
    qc_config: RegistrationQcConfig,
    seed: int,
    threads: int = 0,
    fixed_mask: Volume | None = None,
) -> Registration:
    """Rigid or affine registration of ``moving`` onto ``fixed``.

    Both volumes must be 3-D intensity images in LPS. The transform starts as the identity in
    patient coordinates, i.e. from the DICOM geometry, and maps fixed points to moving points.

    Raises
    ------
    RegistrationError
        When the optimiser fails or the result moves more than the configured bounds.
    """
    start = time.perf_counter()
    fixed_image = _as_float(fixed.to_sitk())
    moving_image = _as_float(moving.to_sitk())
    if config.working_spacing_mm is not None:
        fixed_image = coarsen_in_plane(fixed_image, config.working_spacing_mm)
        moving_image = coarsen_in_plane(moving_image, config.working_spacing_mm)
    method = configure_method(config, seed=seed, threads=threads)
    if fixed_mask is not None:
        method.SetMetricFixedMask(sitk.Cast(fixed_mask.to_sitk(), sitk.sitkUInt8))
    initial = _initial_transform(fixed_image, config.transform)
    if config.initial_search_mm > 0:
        initial = search_translation(
            fixed_image,
            moving_image,
            initial,
            extent_mm=config.initial_search_mm,
            step_mm=config.initial_search_step_mm,
            bins=config.histogram_bins,
        )
    method.SetInitialTransform(initial, inPlace=False)
    try:
        before = method.MetricEvaluate(fixed_image, moving_image)
        with itk_threads(threads):
            final = method.Execute(fixed_image, moving_image)
            iterations = int(method.GetOptimizerIteration())
            stop = method.GetOptimizerStopConditionDescription()
            if config.refine.enabled:
                final = refine_powell(
                    fixed_image,
                    moving_image,
                    final,
                    config=config.refine,
                    bins=config.histogram_bins,
                    seed=seed,
                    threads=threads,
                )
    except RuntimeError as exc:
        raise RegistrationError(f"SimpleITK registration failed: {exc}") from exc
    method.SetInitialTransform(final, inPlace=False)
    method.SetShrinkFactorsPerLevel([1])
    method.SetSmoothingSigmasPerLevel([0.0])
    after = method.MetricEvaluate(fixed_image, moving_image)

    angle, shift = rigid_motion(final, _centre(fixed_image))
    if shift > config.max_translation_mm or angle > config.max_rotation_deg:
        raise RegistrationError(
            f"registration moved {shift:.1f} mm / {angle:.1f} deg, beyond the limits "
            f"{config.max_translation_mm} mm / {config.max_rotation_deg} deg",
            fix="check that both series image the same anatomy, or raise the limits in "
            "configs/registration.yaml",
        )
    problems = []
    if qc_config.require_metric_improvement and not after <= before:
        problems.append(f"metric did not improve ({before:.4f} -> {after:.4f})")
    if shift > qc_config.max_translation_mm:
        problems.append(f"translation {shift:.1f} mm > {qc_config.max_translation_mm} mm")
    if angle > qc_config.max_rotation_deg:
        problems.append(f"rotation {angle:.1f} deg > {qc_config.max_rotation_deg} deg")
    qc = RegistrationQc(
        metric_before=float(before),
        metric_after=float(after),
        rotation_deg=angle,
        translation_mm=shift,
        iterations=iterations,
        stop_condition=stop,
        seconds=time.perf_counter() - start,
        problems=tuple(problems),
    )
    log.info(
        "linear registration: MI %.4f -> %.4f, %.2f deg, %.2f mm, %.2f s",
        qc.metric_before,
        qc.metric_after,
        angle,
        shift,
        qc.seconds,
    )
    return Registration(transform=final, qc=qc)
