"""The drawn anatomy of one phantom patient, at baseline and at restaging.

All positions are in the patient frame (restaging T2W LPS, mm). The anatomy is a list of
:class:`Structure` painted in order (later ones win): body, muscles, bone, mesorectum, pelvic
organs, nodes, rectal wall layers, lumen, then the lesion of the state (baseline tumour, or the
restaging tumour bed with fibrosis, oedema, fluid and residual tumour by case type).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pipeline.phantom._options import CaseType
from pipeline.phantom._shapes import (
    AxisDisk,
    Ellipsoid,
    EllipticCylinder,
    RectalAxis,
    Shape,
    WallDome,
)
from pipeline.phantom._tissues import Tissue


@dataclass(frozen=True)
class Structure:
    """One painted region: its tissue and its shape."""

    tissue: Tissue
    shape: Shape


@dataclass(frozen=True)
class Node:
    """A mesorectal lymph node at restaging and at baseline."""

    restaging: Ellipsoid
    baseline: Ellipsoid
    suspicious: bool

    @property
    def short_axis_mm(self) -> float:
        return 2.0 * min(self.restaging.semi_axes)


@dataclass(frozen=True)
class Anatomy:
    """Everything drawn for one patient; :meth:`structures` lists what to paint per state."""

    case_type: CaseType
    female: bool
    axis: RectalAxis
    r_outer: float
    wall: float
    background: tuple[Structure, ...]
    nodes: tuple[Node, ...]
    baseline_tumour: WallDome
    bed: WallDome
    residual: tuple[Shape, ...]
    oedema: WallDome | None
    fluid: Ellipsoid | None

    @property
    def lumen_radius(self) -> float:
        return self.r_outer - self.wall

    @property
    def bed_centre(self) -> np.ndarray:
        return self._centre_of(self.bed)

    @property
    def baseline_centre(self) -> np.ndarray:
        return self._centre_of(self.baseline_tumour)

    def _centre_of(self, dome: WallDome) -> np.ndarray:
        z = np.float32(dome.z0)
        cx, cy = self.axis.centre(np.asarray([z], np.float32))
        t = math.radians(dome.theta0_deg)
        r = 0.5 * self.r_outer
        return np.array([float(cx[0]) + r * math.cos(t), float(cy[0]) + r * math.sin(t), dome.z0])

    def _rectum(self) -> list[Structure]:
        inner = self.r_outer - 0.55 * self.wall
        return [
            Structure(Tissue.WALL_OUTER, AxisDisk(self.axis, self.r_outer)),
            Structure(Tissue.WALL_INNER, AxisDisk(self.axis, inner)),
            Structure(Tissue.LUMEN, AxisDisk(self.axis, self.lumen_radius)),
        ]

    def structures(self, *, baseline: bool) -> list[Structure]:
        """Structures in painting order for the baseline or the restaging state."""
        out = list(self.background)
        for node in self.nodes:
            tissue = Tissue.NODE_SUSPICIOUS if node.suspicious else Tissue.NODE
            out.append(Structure(tissue, node.baseline if baseline else node.restaging))
        out.extend(self._rectum())
        if baseline:
            out.append(Structure(Tissue.TUMOUR, self.baseline_tumour))
            return out
        out.append(Structure(Tissue.FIBROSIS, self.bed))
        if self.oedema is not None:
            out.append(Structure(Tissue.OEDEMA, self.oedema))
        if self.fluid is not None:
            out.append(Structure(Tissue.FLUID, self.fluid))
        out.extend(Structure(Tissue.TUMOUR, shape) for shape in self.residual)
        return out

    def bed_region(self) -> tuple[Shape, ...]:
        """The tumour bed the pipeline should analyse: scar envelope, fluid and residual."""
        extra: tuple[Shape, ...] = (self.fluid,) if self.fluid is not None else ()
        return (self.bed, *extra, *self.residual)


def _background(rng: np.random.Generator, axis: RectalAxis, female: bool) -> list[Structure]:
    mx, my, z0 = axis.x0, axis.y0 + rng.uniform(4.0, 8.0), axis.z0
    a_m, b_m = rng.uniform(34.0, 42.0), rng.uniform(28.0, 34.0)
    taper = rng.uniform(0.003, 0.007)
    off_y = my - axis.y0
    body_cx, body_cy = mx + rng.uniform(-5, 5), my - rng.uniform(22.0, 30.0)
    body_a, body_b = rng.uniform(135.0, 160.0), rng.uniform(95.0, 110.0)
    out = [
        Structure(Tissue.SKIN, EllipticCylinder(body_cx, body_cy, body_a, body_b)),
        Structure(Tissue.FAT, EllipticCylinder(body_cx, body_cy, body_a - 2.0, body_b - 2.0)),
    ]
    for side in (-1.0, 1.0):
        out.append(
            Structure(
                Tissue.MUSCLE,
                EllipticCylinder(
                    mx + side * rng.uniform(45.0, 52.0),
                    my + b_m + rng.uniform(26.0, 32.0),
                    rng.uniform(44.0, 52.0),
                    rng.uniform(20.0, 26.0),
                    angle_deg=side * 25.0,
                ),
            )
        )
        ix, iy = mx + side * (a_m + rng.uniform(38.0, 42.0)), my - rng.uniform(3.0, 8.0)
        out.append(Structure(Tissue.BONE_CORTEX, EllipticCylinder(ix, iy, 11.0, 23.0)))
        out.append(Structure(Tissue.BONE_MARROW, EllipticCylinder(ix, iy, 8.5, 20.5)))
        out.append(
            Structure(
                Tissue.MUSCLE,
                EllipticCylinder(
                    mx + side * (a_m + rng.uniform(20.0, 24.0)),
                    my - rng.uniform(6.0, 10.0),
                    rng.uniform(8.0, 10.0),
                    rng.uniform(24.0, 28.0),
                    angle_deg=side * 15.0,
                ),
            )
        )
    sy = my + b_m + rng.uniform(12.0, 16.0)
    out.append(Structure(Tissue.BONE_CORTEX, EllipticCylinder(mx, sy, 21.0, 10.0)))
    out.append(Structure(Tissue.BONE_MARROW, EllipticCylinder(mx, sy, 18.5, 7.5)))

    def meso(a: float, b: float, y_min: float | None = None) -> EllipticCylinder:
        return EllipticCylinder(0.0, off_y, a, b, taper=taper, z_ref=z0, y_min=y_min, axis=axis)

    out.append(Structure(Tissue.MUSCLE, meso(a_m + 7.0, b_m + 7.0, y_min=-0.3 * b_m)))
    out.append(Structure(Tissue.FASCIA, meso(a_m + 1.0, b_m + 1.0)))
    out.append(Structure(Tissue.FAT, meso(a_m, b_m)))
    front = my - b_m
    if female:
        organ = Ellipsoid((mx, front - rng.uniform(8.0, 11.0), z0 - 5.0), (24.0, 6.0, 40.0))
    else:
        organ = Ellipsoid(
            (mx, front - rng.uniform(16.0, 19.0), z0 - rng.uniform(5.0, 15.0)),
            (rng.uniform(16.0, 20.0), rng.uniform(12.0, 15.0), 18.0),
        )
    out.append(Structure(Tissue.PELVIC_ORGAN, organ))
    bladder_c = (mx, front - rng.uniform(36.0, 42.0), z0 + rng.uniform(28.0, 40.0))
    semi = (rng.uniform(38.0, 46.0), rng.uniform(26.0, 32.0), rng.uniform(32.0, 40.0))
    wall_semi = (semi[0] + 2.5, semi[1] + 2.5, semi[2] + 2.5)
    out.append(Structure(Tissue.BLADDER_WALL, Ellipsoid(bladder_c, wall_semi)))
    out.append(Structure(Tissue.URINE, Ellipsoid(bladder_c, semi)))
    return out


def _cyl_point(
    axis: RectalAxis, theta_deg: float, r: float, z: float
) -> tuple[float, float, float]:
    cx, cy = axis.centre(np.asarray([z], np.float32))
    t = math.radians(theta_deg)
    return (float(cx[0]) + r * math.cos(t), float(cy[0]) + r * math.sin(t), z)


def _draw_nodes(
    rng: np.random.Generator,
    anatomy_axis: RectalAxis,
    r_outer: float,
    z_bed: float,
    suspicious: bool,
) -> tuple[Node, ...]:
    nodes: list[Node] = []
    centres: list[np.ndarray] = []
    specs = [(True, rng.uniform(5.0, 6.5))] if suspicious else []
    specs += [(False, rng.uniform(1.4, 2.4)) for _ in range(int(rng.integers(2, 5)))]
    for is_susp, semi in specs:
        for _ in range(50):
            theta = rng.uniform(25.0, 155.0)
            rho = r_outer + 3.0 + semi + rng.uniform(0.0, 8.0)
            z = z_bed + rng.uniform(-14.0, 14.0) if is_susp else z_bed + rng.uniform(-20.0, 20.0)
            centre = np.asarray(_cyl_point(anatomy_axis, theta, rho, z))
            if all(np.linalg.norm(centre - c) > semi + 9.0 for c in centres):
                break
        centres.append(centre)
        if is_susp:
            axes = (semi, semi * rng.uniform(0.92, 1.0), semi * rng.uniform(0.95, 1.05))
            grow = rng.uniform(1.05, 1.2)
        else:
            axes = (semi, semi * rng.uniform(0.55, 0.75), semi * rng.uniform(1.0, 1.5))
            grow = rng.uniform(1.0, 1.1)
        angle = math.radians(rng.uniform(0.0, 180.0))
        rot = (
            math.cos(angle),
            math.sin(angle),
            0.0,
            -math.sin(angle),
            math.cos(angle),
            0.0,
            0.0,
            0.0,
            1.0,
        )
        c = (float(centre[0]), float(centre[1]), float(centre[2]))
        nodes.append(
            Node(
                restaging=Ellipsoid(c, axes, rot),
                baseline=Ellipsoid(c, tuple(a * grow for a in axes), rot),  # type: ignore[arg-type]
                suspicious=is_susp,
            )
        )
    return tuple(nodes)


def draw_anatomy(rng: np.random.Generator, case_type: CaseType, *, female: bool) -> Anatomy:
    """Draw the anatomy of one patient for ``case_type`` (deterministic for ``rng``)."""
    axis = RectalAxis(
        x0=rng.uniform(-6.0, 6.0),
        y0=rng.uniform(20.0, 40.0),
        z0=rng.uniform(-60.0, -20.0),
        sx=rng.uniform(-0.08, 0.08),
        sy=rng.uniform(-0.25, -0.05),
        k=rng.uniform(0.0, 0.004),
    )
    r_outer = rng.uniform(12.0, 17.0)
    wall = rng.uniform(3.0, 5.0)
    lumen = r_outer - wall
    inner = 0.45 * wall
    background = _background(rng, axis, female)

    theta0 = rng.uniform(-180.0, 180.0)
    alpha = rng.uniform(60.0, 130.0)
    z_t = axis.z0 + rng.uniform(-5.0, 5.0)
    h = rng.uniform(12.5, 25.0)
    r_in = rng.uniform(max(3.0, lumen - 6.0), lumen - 1.0)
    r_out = r_outer + rng.uniform(0.5, 4.0)
    baseline_tumour = WallDome(
        axis,
        theta0,
        alpha,
        z_t,
        h,
        0.5 * (r_in + r_out),
        0.5 * (r_out - r_in),
        lobulation=0.15,
        phase=rng.uniform(0, 2 * math.pi),
    )

    alpha_b = max(alpha * rng.uniform(0.45, 0.7), 35.0)
    h_b = max(h * rng.uniform(0.45, 0.7), 7.0)
    z_b = z_t + rng.uniform(-0.2, 0.2) * h
    bed_r_min = lumen
    residual: tuple[Shape, ...] = ()
    oedema: WallDome | None = None
    fluid: Ellipsoid | None = None
    r_mid_wall = lumen + 0.5 * wall
    if case_type is CaseType.NEAR_COMPLETE:
        d = rng.uniform(4.5, 8.0)
        c = _cyl_point(
            axis,
            theta0 + rng.uniform(-0.3, 0.3) * alpha_b,
            lumen + 0.45 * d,
            z_b + rng.uniform(-0.3, 0.3) * h_b,
        )
        residual = (Ellipsoid(c, (0.5 * d, 0.5 * d * rng.uniform(0.85, 1.0), 0.5 * d)),)
    elif case_type is CaseType.RESIDUAL_TUMOUR:
        length = rng.uniform(16.0, 26.0)
        rr_in, rr_out = lumen - rng.uniform(1.0, 3.5), r_outer + rng.uniform(0.5, 2.5)
        rr_mid = 0.5 * (rr_in + rr_out)
        alpha_r = math.degrees(rng.uniform(16.0, 26.0) / (2.0 * rr_mid))
        h_b, alpha_b = max(h_b, 0.5 * length + 2.0), max(alpha_b, alpha_r + 8.0)
        residual = (
            WallDome(
                axis,
                theta0,
                alpha_r,
                z_b,
                0.5 * length,
                rr_mid,
                0.5 * (rr_out - rr_in),
                lobulation=0.1,
                phase=rng.uniform(0, 6.0),
            ),
        )
    elif case_type is CaseType.RESIDUAL_SUBMUCOSAL:
        length = rng.uniform(10.0, 15.0)
        rr_in, rr_out = lumen + inner + 0.3, r_outer + rng.uniform(2.0, 3.5)
        rr_mid = 0.5 * (rr_in + rr_out)
        alpha_r = math.degrees(rng.uniform(10.0, 15.0) / (2.0 * rr_mid))
        h_b, alpha_b = max(h_b, 0.5 * length + 2.0), max(alpha_b, alpha_r + 8.0)
        residual = (
            WallDome(
                axis,
                theta0,
                alpha_r,
                z_b,
                0.5 * length,
                rr_mid,
                0.5 * (rr_out - rr_in) + 1.0,
                r_min=rr_in,
            ),
        )
    elif case_type is CaseType.FIBROSIS_OEDEMA:
        thick = rng.uniform(2.0, 4.0)
        bed_r_min = lumen - thick
        oedema = WallDome(
            axis,
            theta0,
            alpha_b * 1.5,
            z_b,
            h_b * 1.6,
            lumen + 0.5 * inner,
            thick + inner,
            r_min=lumen - thick,
            r_max=lumen + inner + 0.5,
        )
    elif case_type is CaseType.SHINE_THROUGH:
        semi = (rng.uniform(3.0, 4.5), rng.uniform(3.0, 4.5), rng.uniform(4.0, 6.0))
        h_b = max(h_b, semi[2] + 3.0)
        c = _cyl_point(axis, theta0, r_mid_wall, z_b)
        angle = math.radians(theta0)
        rot = (
            math.cos(angle),
            -math.sin(angle),
            0.0,
            math.sin(angle),
            math.cos(angle),
            0.0,
            0.0,
            0.0,
            1.0,
        )
        fluid = Ellipsoid(c, (min(semi[0], 0.5 * wall + 1.5), semi[1] * 1.6, semi[2]), rot)
    bed_r_max = r_outer + rng.uniform(0.5, 1.5)
    half = 0.5 * (bed_r_max - bed_r_min)
    bed = WallDome(
        axis,
        theta0,
        alpha_b,
        z_b,
        h_b,
        0.5 * (bed_r_max + bed_r_min),
        1.6 * half,
        lobulation=0.08,
        phase=rng.uniform(0, 6.0),
        r_min=bed_r_min,
        r_max=bed_r_max,
    )
    nodes = _draw_nodes(rng, axis, r_outer, z_b, case_type is CaseType.SUSPICIOUS_NODE)
    return Anatomy(
        case_type=case_type,
        female=female,
        axis=axis,
        r_outer=r_outer,
        wall=wall,
        background=tuple(background),
        nodes=nodes,
        baseline_tumour=baseline_tumour,
        bed=bed,
        residual=residual,
        oedema=oedema,
        fluid=fluid,
    )
