"""Acquisition plan of one case: grids of every series, b-values, motion and distortion.

Grids are planned like a technologist does: the T2W slab is centred on the tumour (bed), axial
or tilted about the left-right axis; the DWI slab covers the same region with thicker slices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pipeline.phantom._anatomy import Anatomy
from pipeline.phantom._geometry import (
    F64,
    BaselineSampler,
    EpiDistortion,
    GaussianDeformation,
    Grid,
    IdentitySampler,
    MovedSampler,
    RigidTransform,
    rotation_matrix,
)

#: Largest rigid misalignment of the DWI relative to the T2W of the same study.
DWI_MAX_ROTATION_DEG = 3.0
DWI_MAX_TRANSLATION_MM = 5.0
#: Largest rigid repositioning between the baseline and the restaging session.
BASELINE_MAX_ROTATION_DEG = 5.0
BASELINE_MAX_TRANSLATION_MM = 15.0


@dataclass(frozen=True)
class DwiPlan:
    """A DWI series: grid (one per b-value, identical), b-values, motion and distortion."""

    grid: Grid
    b_values: tuple[int, ...]
    rigid: RigidTransform
    distortion: EpiDistortion
    phase_encode: str  # DICOM InPlanePhaseEncodingDirection: "COL" (A-P) or "ROW" (L-R)


@dataclass(frozen=True)
class StudyPlan:
    """Grids and samplers of one study (restaging or baseline)."""

    t2w: Grid
    dwi: DwiPlan
    t2w_sampler: IdentitySampler | BaselineSampler
    dwi_sampler: MovedSampler


@dataclass(frozen=True)
class CasePlan:
    """Everything geometric about one case."""

    restaging: StudyPlan
    baseline: StudyPlan
    baseline_rigid: RigidTransform
    deformation: GaussianDeformation
    baseline_sampler: BaselineSampler


def _direction(tilt_deg: float) -> tuple[float, ...]:
    rot = rotation_matrix(np.array([1.0, 0.0, 0.0]), tilt_deg)
    return tuple(float(v) for v in rot.ravel())


def _grid(
    centre: F64,
    size: tuple[int, int, int],
    spacing: tuple[float, float, float],
    direction: tuple[float, ...],
) -> Grid:
    d = np.asarray(direction).reshape(3, 3) @ np.diag(spacing)
    half = (np.asarray(size, dtype=float) - 1.0) / 2.0
    origin = np.asarray(centre, dtype=float) - d @ half
    rounded = tuple(round(float(v), 4) for v in origin)
    return Grid(size, spacing, (rounded[0], rounded[1], rounded[2]), direction)


def _t2w_grid(rng: np.random.Generator, centre: F64, small: bool, *, baseline: bool) -> Grid:
    fov = rng.uniform(140.0, 150.0) if small else rng.uniform(180.0, 200.0)
    matrix = 2 * round(fov / (rng.uniform(0.72, 0.8) if baseline else rng.uniform(0.66, 0.74)) / 2)
    pixel = round(fov / matrix, 5)
    n_slices = 16 if small else int(rng.integers(24, 29))
    gap = float(rng.choice([0.0, 0.0, 0.3]))
    tilt = 0.0 if rng.random() < 0.5 else rng.uniform(5.0, 15.0) * rng.choice([-1.0, 1.0])
    offset = np.array([rng.uniform(-8, 8), rng.uniform(-8, 8), rng.uniform(-3, 3)])
    return _grid(
        centre + offset, (matrix, matrix, n_slices), (pixel, pixel, 3.0 + gap), _direction(tilt)
    )


def _dwi_grid(rng: np.random.Generator, t2w: Grid, small: bool) -> Grid:
    pixel = round(rng.uniform(1.8, 2.5) if small else rng.uniform(1.6, 2.5), 4)
    fov = rng.uniform(160.0, 180.0) if small else rng.uniform(200.0, 260.0)
    matrix = 2 * round(fov / pixel / 2)
    thickness = float(rng.choice([4.0, 5.0]))
    extent = t2w.size[2] * t2w.spacing[2]
    n_slices = math.ceil(extent / thickness) + 2
    direction = t2w.direction if rng.random() < 0.5 else _direction(0.0)
    centre = t2w.index_to_world((np.asarray(t2w.size, dtype=float)[None, :] - 1.0) / 2.0)[0]
    centre = centre + rng.uniform(-2.0, 2.0, size=3)
    return _grid(centre, (matrix, matrix, n_slices), (pixel, pixel, thickness), direction)


def _b_values(rng: np.random.Generator) -> tuple[int, ...]:
    low = int(rng.choice([0, 50]))
    high = 800 if rng.random() < 0.25 else 1000
    mid = 400 if high == 800 and rng.random() < 0.5 else 500
    return (low, mid, high)


def _dwi_plan(rng: np.random.Generator, t2w: Grid, centre: F64, small: bool) -> DwiPlan:
    grid = _dwi_grid(rng, t2w, small)
    rigid = RigidTransform.draw(
        rng, centre=centre, max_deg=DWI_MAX_ROTATION_DEG, max_mm=DWI_MAX_TRANSLATION_MM
    )
    phase_encode = "COL" if rng.random() < 0.8 else "ROW"
    d = np.asarray(grid.direction).reshape(3, 3)
    pe = d[:, 1] if phase_encode == "COL" else d[:, 0]
    distortion = EpiDistortion(
        amplitude_mm=rng.uniform(1.0, 3.0) * rng.choice([-1.0, 1.0]),
        sigma_mm=rng.uniform(30.0, 50.0),
        centre=rigid.apply(centre[None, :])[0],
        pe_direction=pe,
        normal=d[:, 2],
    )
    return DwiPlan(grid, _b_values(rng), rigid, distortion, phase_encode)


def plan_case(rng: np.random.Generator, anatomy: Anatomy, *, small: bool) -> CasePlan:
    """Draw all grids, b-values, motions and deformations of one case."""
    bed = anatomy.bed_centre
    t2w = _t2w_grid(rng, bed, small, baseline=False)
    dwi = _dwi_plan(rng, t2w, bed, small)
    restaging = StudyPlan(t2w, dwi, IdentitySampler(), MovedSampler(dwi.rigid, dwi.distortion))

    rigid = RigidTransform.draw(
        rng, centre=bed, max_deg=BASELINE_MAX_ROTATION_DEG, max_mm=BASELINE_MAX_TRANSLATION_MM
    )
    n_bumps = int(rng.integers(2, 4))
    deformation = GaussianDeformation(
        centres=bed[None, :] + rng.uniform(-25.0, 25.0, size=(n_bumps, 3)),
        amplitudes=rng.uniform(-3.0, 3.0, size=(n_bumps, 3)),
        sigmas=rng.uniform(25.0, 45.0, size=n_bumps),
    )
    sampler = BaselineSampler(rigid, deformation)
    tumour_centre = sampler.forward(anatomy.baseline_centre[None, :])[0]
    b_t2w = _t2w_grid(rng, tumour_centre, small, baseline=True)
    b_dwi = _dwi_plan(rng, b_t2w, tumour_centre, small)
    baseline = StudyPlan(
        b_t2w, b_dwi, sampler, MovedSampler(b_dwi.rigid, b_dwi.distortion, inner=sampler)
    )
    return CasePlan(restaging, baseline, rigid, deformation, sampler)
