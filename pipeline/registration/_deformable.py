"""B-spline deformable registration on top of a rigid initialisation (SimpleITK)."""

from __future__ import annotations

import logging
import time

import numpy as np
import SimpleITK as sitk

from pipeline.config.registration import DeformableConfig, RegistrationQcConfig
from pipeline.errors import RegistrationError
from pipeline.registration._result import Registration, RegistrationQc
from pipeline.registration._rigid import coarsen_in_plane
from pipeline.registration._threads import itk_threads
from pipeline.volume import Volume

log = logging.getLogger(__name__)


def _mesh_size(image: sitk.Image, spacing_mm: float) -> list[int]:
    extent = np.asarray(image.GetSize()) * np.asarray(image.GetSpacing())
    return [max(1, round(e / spacing_mm)) for e in extent]


def displacement_stats(
    transform: sitk.Transform, reference: sitk.Image, mask: sitk.Image | None = None
) -> tuple[float, float, float]:
    """Folding fraction (Jacobian <= 0), max and mean displacement (mm) on ``reference``
    (inside ``mask`` when given)."""
    field = sitk.TransformToDisplacementField(
        transform,
        sitk.sitkVectorFloat64,
        reference.GetSize(),
        reference.GetOrigin(),
        reference.GetSpacing(),
        reference.GetDirection(),
    )
    # keep the image alive while its array view is used (a view of a temporary reads freed
    # memory: wrong values, or a crash where the allocator returns memory to the OS)
    jacobian_image = sitk.DisplacementFieldJacobianDeterminant(field)
    jacobian = sitk.GetArrayViewFromImage(jacobian_image)
    norms = np.linalg.norm(sitk.GetArrayViewFromImage(field), axis=-1)
    inside = np.ones(jacobian.shape, bool)
    if mask is not None:
        inside = sitk.GetArrayViewFromImage(mask) > 0
        if not inside.any():
            inside = np.ones(jacobian.shape, bool)
    return (
        float((jacobian[inside] <= 0).mean()),
        float(norms[inside].max()),
        float(norms[inside].mean()),
    )


def _full_metric(
    fixed: sitk.Image,
    moving: sitk.Image,
    transform: sitk.Transform,
    mask: sitk.Image | None,
    config: DeformableConfig,
) -> float:
    """Mattes MI over every voxel of the metric region (the same for before and after)."""
    check = sitk.ImageRegistrationMethod()
    check.SetMetricAsMattesMutualInformation(numberOfHistogramBins=config.histogram_bins)
    check.SetMetricSamplingStrategy(check.NONE)
    check.SetInterpolator(sitk.sitkLinear)
    if mask is not None:
        check.SetMetricFixedMask(mask)
    check.SetInitialTransform(transform, inPlace=False)
    return float(check.MetricEvaluate(fixed, moving))


def register_deformable(
    fixed: Volume,
    moving: Volume,
    *,
    initial: Registration,
    config: DeformableConfig,
    qc_config: RegistrationQcConfig,
    seed: int,
    threads: int = 0,
    fixed_mask: Volume | None = None,
) -> Registration:
    """Refine ``initial`` (rigid) with a B-spline transform; returns the composite transform.

    ``fixed_mask`` (a label volume on the fixed grid) limits the metric and the folding check
    to a region of interest, e.g. the pelvis around the rectum. B-spline coefficients are
    bounded to +-``config.max_coefficient_mm`` so that the optimiser cannot run away.
    """
    start = time.perf_counter()
    fixed_image = sitk.Cast(fixed.to_sitk(), sitk.sitkFloat32)
    moving_image = sitk.Cast(moving.to_sitk(), sitk.sitkFloat32)
    if config.working_spacing_mm is not None:
        fixed_image = coarsen_in_plane(fixed_image, config.working_spacing_mm)
        moving_image = coarsen_in_plane(moving_image, config.working_spacing_mm)
    bspline = sitk.BSplineTransformInitializer(
        fixed_image, _mesh_size(fixed_image, config.mesh_spacing_mm), order=3
    )
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=config.histogram_bins)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(config.sampling_percentage, seed)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsLBFGSB(
        gradientConvergenceTolerance=1e-5,
        numberOfIterations=config.iterations,
        maximumNumberOfCorrections=5,
        maximumNumberOfFunctionEvaluations=config.iterations * 4,
        costFunctionConvergenceFactor=1e7,
        lowerBound=-config.max_coefficient_mm,
        upperBound=config.max_coefficient_mm,
    )
    method.SetShrinkFactorsPerLevel(list(config.pyramid.shrink_factors))
    method.SetSmoothingSigmasPerLevel(list(config.pyramid.smoothing_sigmas_mm))
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    if threads > 0:
        method.SetNumberOfThreads(threads)
    mask_image = None
    if fixed_mask is not None:
        mask_image = sitk.Resample(
            sitk.Cast(fixed_mask.to_sitk(), sitk.sitkUInt8),
            fixed_image,
            sitk.Transform(),
            sitk.sitkNearestNeighbor,
            0,
            sitk.sitkUInt8,
        )
        method.SetMetricFixedMask(mask_image)
    method.SetMovingInitialTransform(initial.transform)
    method.SetInitialTransform(bspline, inPlace=True)
    try:
        before = _full_metric(fixed_image, moving_image, initial.transform, mask_image, config)
        with itk_threads(threads):
            method.Execute(fixed_image, moving_image)
    except RuntimeError as exc:
        raise RegistrationError(f"B-spline registration failed: {exc}") from exc
    composite = sitk.CompositeTransform([initial.transform, bspline])
    after = _full_metric(fixed_image, moving_image, composite, mask_image, config)

    folding, max_disp, mean_disp = displacement_stats(bspline, fixed_image, mask_image)
    problems = list(initial.qc.problems)
    if folding > qc_config.max_folding_fraction:
        problems.append(f"folding in {folding:.2%} of voxels (Jacobian <= 0)")
    if qc_config.require_metric_improvement and not after <= before:
        problems.append(f"deformable metric did not improve ({before:.4f} -> {after:.4f})")
    qc = RegistrationQc(
        metric_before=initial.qc.metric_before,
        metric_after=float(after),
        rotation_deg=initial.qc.rotation_deg,
        translation_mm=initial.qc.translation_mm,
        iterations=int(method.GetOptimizerIteration()),
        stop_condition=method.GetOptimizerStopConditionDescription(),
        seconds=initial.qc.seconds + time.perf_counter() - start,
        folding_fraction=folding,
        max_displacement_mm=max_disp,
        mean_displacement_mm=mean_disp,
        problems=tuple(problems),
    )
    log.info(
        "deformable registration: MI %.4f -> %.4f, max displacement %.1f mm, folding %.3f%%",
        float(before),
        float(after),
        max_disp,
        100 * folding,
    )
    return Registration(transform=composite, qc=qc)
