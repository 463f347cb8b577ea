"""Known-answer registration tests: a known rigid motion must be recovered."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from pipeline.config import load_config
from pipeline.errors import RegistrationError
from pipeline.registration import (
    register_deformable,
    register_linear,
    resample_mask_smooth,
    resample_to,
    rigid_motion,
)
from pipeline.volume import Volume, VolumeKind


def pelvis_like(shape=(30, 96, 96), spacing=(1.5, 1.5, 3.0)) -> Volume:
    """Nested ellipsoids (body, bladder, rectum) with distinct intensities."""
    z, y, x = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    pz, py, px = z * spacing[2], y * spacing[1], x * spacing[0]
    cz, cy, cx = (np.array(shape) - 1) * np.array(spacing[::-1]) / 2

    def ell(oz, oy, ox, rz, ry, rx):
        return ((pz - cz - oz) / rz) ** 2 + ((py - cy - oy) / ry) ** 2 + (
            (px - cx - ox) / rx
        ) ** 2 < 1

    image = np.zeros(shape, np.float32)
    image[ell(0, 0, 0, 40, 55, 65)] = 300
    image[ell(0, -20, 0, 20, 18, 30)] = 900
    image[ell(2, 22, 4, 25, 9, 10)] = 120
    image[ell(-5, 10, -35, 20, 8, 12)] = 600
    smooth = sitk.SmoothingRecursiveGaussian(sitk.GetImageFromArray(image), 1.0)
    return Volume(sitk.GetArrayFromImage(smooth), spacing=spacing)


def moved(volume: Volume, transform: sitk.Transform) -> Volume:
    return resample_to(volume, volume, transform)


def test_rigid_recovers_known_motion() -> None:
    fixed = pelvis_like()
    truth = sitk.Euler3DTransform()
    truth.SetCenter(fixed.index_to_world(np.array(fixed.size_xyz) / 2 - 0.5).tolist())
    truth.SetRotation(np.radians(3.0), np.radians(-2.0), np.radians(4.0))
    truth.SetTranslation((4.0, -6.0, 3.0))
    moving = moved(fixed, truth.GetInverse())
    config = load_config().registration
    result = register_linear(fixed, moving, config=config.dwi_to_t2w, qc_config=config.qc, seed=1)
    # target registration error over points around the centre
    rng = np.random.default_rng(0)
    centre = np.array(truth.GetCenter())
    points = centre + rng.uniform(-30, 30, size=(50, 3))
    estimated = np.array([result.transform.TransformPoint(p.tolist()) for p in points])
    expected = np.array([truth.TransformPoint(p.tolist()) for p in points])
    tre = np.linalg.norm(estimated - expected, axis=1)
    assert tre.mean() < 1.0 and tre.max() < 2.0, tre
    assert result.qc.metric_after < result.qc.metric_before
    angle, _ = rigid_motion(truth, tuple(centre))
    assert abs(result.qc.rotation_deg - angle) < 0.5


def test_same_seed_gives_identical_transform() -> None:
    fixed = pelvis_like()
    shift = sitk.TranslationTransform(3, (3.0, 2.0, 0.0))
    moving = moved(fixed, shift)
    config = load_config().registration
    a = register_linear(
        fixed, moving, config=config.dwi_to_t2w, qc_config=config.qc, seed=7, threads=1
    )
    b = register_linear(
        fixed, moving, config=config.dwi_to_t2w, qc_config=config.qc, seed=7, threads=1
    )
    assert a.transform.GetParameters() == b.transform.GetParameters()


def test_implausible_motion_is_refused() -> None:
    fixed = pelvis_like()
    moving = moved(fixed, sitk.TranslationTransform(3, (12.0, 0.0, 0.0)))
    config = load_config().registration
    tight = config.dwi_to_t2w.model_copy(update={"max_translation_mm": 2.0})
    with pytest.raises(RegistrationError, match="beyond the limits"):
        register_linear(fixed, moving, config=tight, qc_config=config.qc, seed=1)


@pytest.mark.slow
def test_deformable_carries_a_mask_with_high_dice() -> None:
    fixed = pelvis_like()
    field = sitk.Image(list(fixed.size_xyz), sitk.sitkVectorFloat64, 3)
    field.CopyInformation(fixed.to_sitk())
    _, y, x = np.meshgrid(*[np.arange(n) for n in fixed.shape], indexing="ij")
    disp = np.zeros((*fixed.shape, 3))
    disp[..., 0] = 3.0 * np.sin(y / fixed.shape[1] * np.pi)
    disp[..., 1] = 2.0 * np.cos(x / fixed.shape[2] * np.pi)
    field = sitk.GetImageFromArray(disp, isVector=True)
    field.CopyInformation(fixed.to_sitk())
    warp = sitk.DisplacementFieldTransform(sitk.Cast(field, sitk.sitkVectorFloat64))
    moving = moved(fixed, warp)
    truth_mask = fixed.with_array((fixed.array > 750).astype(np.uint8), kind=VolumeKind.LABEL)
    moving_mask = resample_mask_smooth(truth_mask, fixed, warp)
    config = load_config().registration
    rigid = register_linear(
        fixed, moving, config=config.baseline_rigid, qc_config=config.qc, seed=1
    )
    result = register_deformable(
        fixed, moving, initial=rigid, config=config.baseline_deformable, qc_config=config.qc, seed=1
    )
    carried = resample_mask_smooth(moving_mask, fixed, result.transform)
    a, b = carried.array > 0, truth_mask.array > 0
    dice = 2 * (a & b).sum() / (a.sum() + b.sum())
    assert dice >= 0.85, dice
    assert result.qc.folding_fraction == 0.0
