"""Known-answer registration checks on phantom cases (used by tests and benchmarks).

DWI -> T2W: the phantom's restaging DWI is given an extra, exactly known rigid motion by
*relabelling its geometry* (origin and direction), never by resampling, so the truth stays exact:
a voxel that sat at DWI LPS point ``q`` now sits at ``E q``. With ``T`` the phantom's own
T2W -> DWI motion (``truth.json`` ``dwi_to_t2w.t2w_to_dwi``), the new T2W -> DWI motion is
``G = E T``; ``E`` is chosen as ``G T^-1`` for a drawn target ``G``.

The phantom also applies an EPI distortion ``u`` along the phase-encode direction, which no
rigid transform undoes. :func:`undistort_dwi` removes it with the known field (an in-plane
resampling, so only interpolation blur and no geometric error), which gives the
distortion-free measurement; without it, the target error is measured against the rigid truth
``G`` with the distortion left in.

Baseline -> restaging: the calls of the pipeline's run (rigid with translation search, then the
B-spline step on the rigidly carried mask dilated by ``roi_margin_mm``), scored by Dice against
``truth/baseline_tumour_on_restaging.nii.gz``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import SimpleITK as sitk
from scipy import ndimage

from pipeline.config.registration import RegistrationConfig
from pipeline.masks import dilate_mm
from pipeline.registration._deformable import register_deformable
from pipeline.registration._resample import resample_mask_smooth
from pipeline.registration._rigid import register_linear
from pipeline.volume import Volume

F64 = npt.NDArray[np.float64]


def _matrix(values: Any) -> F64:
    return np.asarray(values, dtype=np.float64).reshape(4, 4)


def draw_rigid(rng: np.random.Generator, centre: F64, *, max_deg: float, max_mm: float) -> F64:
    """A 4x4 rigid motion about ``centre``: random axis, angle uniform in ``[0, max_deg]``,
    translation of length uniform in ``[0, max_mm]`` in a random direction."""
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    theta = math.radians(rng.uniform(0.0, max_deg))
    k = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    rotation = np.eye(3) + math.sin(theta) * k + (1.0 - math.cos(theta)) * (k @ k)
    direction = rng.normal(size=3)
    shift = direction / np.linalg.norm(direction) * rng.uniform(0.0, max_mm)
    out = np.eye(4)
    out[:3, :3] = rotation
    out[:3, 3] = centre + shift - rotation @ centre
    return out


def move_geometry(volume: Volume, motion: F64) -> Volume:
    """The same voxels, placed in LPS by ``motion`` (4x4 rigid): voxel at ``q`` goes to ``E q``.

    Exact (no resampling). The direction stays orthonormal because ``motion`` is rigid.
    """
    rotation = motion[:3, :3]
    direction = rotation @ volume.direction_matrix
    origin = rotation @ np.asarray(volume.origin) + motion[:3, 3]
    return Volume(
        array=volume.array,
        spacing=volume.spacing,
        origin=(float(origin[0]), float(origin[1]), float(origin[2])),
        direction=direction.ravel().tolist(),  # type: ignore[arg-type]
        kind=volume.kind,
        units=volume.units,
        frame_of_reference_uid=volume.frame_of_reference_uid,
        channels=volume.channels,
        b_values=volume.b_values,
    )


@dataclass(frozen=True)
class Distortion:
    """The phantom's EPI field: DWI pixel ``q`` shows undistorted content at ``q + u(q) e``."""

    amplitude_mm: float
    sigma_mm: float
    centre: F64
    pe: F64
    normal: F64

    @classmethod
    def from_truth(cls, entry: dict[str, Any]) -> Distortion:
        return cls(
            amplitude_mm=float(entry["amplitude_mm"]),
            sigma_mm=float(entry["sigma_mm"]),
            centre=np.asarray(entry["centre_lps_mm"], dtype=np.float64),
            pe=np.asarray(entry["pe_direction"], dtype=np.float64),
            normal=np.asarray(entry["slice_normal"], dtype=np.float64),
        )

    def u(self, points: F64) -> F64:
        """Shift (mm, along ``pe``) at DWI LPS points ``(N, 3)``."""
        d = points - self.centre
        along = d @ self.normal
        rho2 = (d * d).sum(axis=-1) - along * along
        return np.asarray(self.amplitude_mm * np.exp(-rho2 / (2.0 * self.sigma_mm**2)))

    def source(self, points: F64, iterations: int = 20) -> F64:
        """DWI points ``q`` whose pixel shows undistorted point ``r``: ``q + u(q) e = r``."""
        q = points.copy()
        for _ in range(iterations):
            q = points - self.u(q)[..., None] * self.pe
        return q


def undistort_dwi(dwi: Volume, distortion: Distortion) -> Volume:
    """Remove the known EPI shift: cubic-spline resampling of every channel, in plane only."""
    nz, ny, nx = dwi.shape
    zz, yy, xx = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    index = np.stack([xx, yy, zz], axis=-1).reshape(-1, 3).astype(np.float64)
    source = dwi.world_to_index(distortion.source(dwi.index_to_world(index)))
    coords = source[:, ::-1].T  # (z, y, x) rows for map_coordinates
    array = np.asarray(dwi.array, dtype=np.float32)
    channels = array if array.ndim == 4 else array[None]
    out = np.stack(
        [
            ndimage.map_coordinates(c, coords, order=3, mode="nearest").reshape(nz, ny, nx)
            for c in channels
        ]
    )
    out = np.maximum(out, 0.0)
    return dwi.with_array(out if array.ndim == 4 else out[0])


def mask_points(mask: Volume) -> F64:
    """LPS centres ``(N, 3)`` of the voxels inside ``mask``."""
    zyx = np.argwhere(np.asarray(mask.array) > 0)
    return mask.index_to_world(zyx[:, ::-1].astype(np.float64))


def transform_points(transform: sitk.Transform, points: F64) -> F64:
    return np.array([transform.TransformPoint(p.tolist()) for p in points])


def apply_4x4(matrix: F64, points: F64) -> F64:
    return np.asarray(points @ matrix[:3, :3].T + matrix[:3, 3])


@dataclass(frozen=True)
class DwiDraw:
    """One DWI -> T2W draw: target error over tumour-bed points, seconds, drawn motion."""

    case: str
    distorted: bool
    rotation_deg: float
    translation_mm: float
    tre_mean_mm: float
    tre_max_mm: float
    tre_true_mean_mm: float
    seconds: float
    doubtful: bool


def _angle(matrix: F64) -> float:
    return math.degrees(math.acos(float(np.clip((np.trace(matrix[:3, :3]) - 1) / 2, -1, 1))))


def dwi_to_t2w_draw(
    t2w: Volume,
    low_b: Volume,
    bed: Volume,
    truth: dict[str, Any],
    target: F64,
    *,
    config: RegistrationConfig,
    case: str,
    undistort: bool,
    threads: int = 0,
) -> DwiDraw:
    """Register one re-positioned low-b DWI onto the T2W and measure the target error.

    ``target`` is the drawn T2W -> DWI motion ``G`` (4x4). ``truth`` is the case's
    ``truth.json``. ``tre_true_mean_mm`` compares with the true (distorted) correspondence.
    """
    entry = truth["dwi_to_t2w"]
    own = _matrix(entry["t2w_to_dwi"]["matrix_4x4"])
    distortion = Distortion.from_truth(entry["distortion"])
    moving = undistort_dwi(low_b, distortion) if undistort else low_b
    extra = target @ np.linalg.inv(own)
    moving = move_geometry(moving, extra)
    result = register_linear(
        t2w,
        moving,
        config=config.dwi_to_t2w,
        qc_config=config.qc,
        seed=config.sampling_seed,
        threads=threads,
    )
    points = mask_points(bed)
    estimated = transform_points(result.transform, points)
    rigid_truth = apply_4x4(target, points)
    tre = np.linalg.norm(estimated - rigid_truth, axis=1)
    if undistort:
        true_points = rigid_truth
    else:  # the DWI point that shows p: q_old + u(q_old) e = T p, then moved by E
        true_points = apply_4x4(extra, distortion.source(apply_4x4(own, points)))
    tre_true = np.linalg.norm(estimated - true_points, axis=1)
    shift = np.linalg.norm(apply_4x4(target, points.mean(axis=0)[None])[0] - points.mean(axis=0))
    return DwiDraw(
        case=case,
        distorted=not undistort,
        rotation_deg=_angle(target),
        translation_mm=float(shift),
        tre_mean_mm=float(tre.mean()),
        tre_max_mm=float(tre.max()),
        tre_true_mean_mm=float(tre_true.mean()),
        seconds=result.qc.seconds,
        doubtful=result.qc.doubtful,
    )


@dataclass(frozen=True)
class BaselineResult:
    case: str
    dice: float
    dice_rigid: float
    seconds: float
    doubtful: bool


def dice(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> float:
    x, y = np.asarray(a) > 0, np.asarray(b) > 0
    total = int(x.sum() + y.sum())
    return 2.0 * float((x & y).sum()) / total if total else 1.0


def baseline_to_restaging(
    t2w: Volume,
    base_t2w: Volume,
    base_mask: Volume,
    truth_on_restaging: Volume,
    *,
    config: RegistrationConfig,
    case: str,
    threads: int = 0,
) -> BaselineResult:
    """Propagate the baseline mask as the run does and score it against the truth."""
    start = time.perf_counter()
    rigid = register_linear(
        t2w,
        base_t2w,
        config=config.baseline_rigid,
        qc_config=config.qc,
        seed=config.sampling_seed,
        threads=threads,
    )
    region = dilate_mm(
        resample_mask_smooth(base_mask, t2w, rigid.transform),
        config.baseline_deformable.roi_margin_mm,
    )
    registration = register_deformable(
        t2w,
        base_t2w,
        initial=rigid,
        config=config.baseline_deformable,
        qc_config=config.qc,
        seed=config.sampling_seed,
        threads=threads,
        fixed_mask=region,
    )
    seconds = time.perf_counter() - start
    moved = resample_mask_smooth(base_mask, t2w, registration.transform)
    moved_rigid = resample_mask_smooth(base_mask, t2w, rigid.transform)
    return BaselineResult(
        case=case,
        dice=dice(moved.array, truth_on_restaging.array),
        dice_rigid=dice(moved_rigid.array, truth_on_restaging.array),
        seconds=seconds,
        doubtful=registration.qc.doubtful,
    )


def read_truth(truth_json: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(truth_json).read_text())
    return data


@dataclass(frozen=True)
class PhantomPair:
    """What the checks need from one phantom case (read through the pipeline's ingest)."""

    name: str
    truth: dict[str, Any]
    t2w: Volume
    low_b: Volume
    bed: Volume
    baseline_t2w: Volume
    baseline_mask: Volume
    baseline_on_restaging: Volume


def load_phantom_pair(case_dir: Path, rules: Any) -> PhantomPair:
    """Read a generated phantom case (``generate_case`` layout) with ``load_study``."""
    from pipeline.ingest import load_study
    from pipeline.study import SeriesRole
    from pipeline.volume import VolumeKind

    def label(name: str) -> Volume:
        image = sitk.ReadImage(str(case_dir / "truth" / f"{name}.nii.gz"))
        return Volume.from_sitk(image, kind=VolumeKind.LABEL)

    rest = load_study(case_dir / "restaging", rules=rules, roles=(SeriesRole.T2W, SeriesRole.DWI))
    base = load_study(case_dir / "baseline", rules=rules, roles=(SeriesRole.T2W,))
    dwi = rest.require(SeriesRole.DWI).require_volume()
    return PhantomPair(
        name=case_dir.name,
        truth=read_truth(case_dir / "truth.json"),
        t2w=rest.require(SeriesRole.T2W).require_volume(),
        low_b=dwi.channel(int(np.argmin(dwi.b_values))),
        bed=label("tumour_bed"),
        baseline_t2w=base.require(SeriesRole.T2W).require_volume(),
        baseline_mask=base.masks[0].volume,
        baseline_on_restaging=label("baseline_tumour_on_restaging"),
    )


def centre_of(volume: Volume) -> F64:
    """LPS centre of a volume's grid."""
    return volume.index_to_world((np.asarray(volume.size_xyz, dtype=np.float64) - 1.0) / 2.0)
