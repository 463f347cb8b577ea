"""Rendering one study (T2W, DWI, vendor ADC) from the anatomy and writing it as DICOM."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from pipeline.phantom._anatomy import Structure
from pipeline.phantom._dicom import SeriesSpec, StudyWriter, WrittenSeries, write_mr_series
from pipeline.phantom._physics import BiasField, Rescale, rician, vendor_adc
from pipeline.phantom._protocol import StudyPlan
from pipeline.phantom._render import SampledGrid
from pipeline.phantom._tissues import Tissue, TissueTable

#: Sub-samples per voxel (x, y, z): T2W ~0.7 x 0.7 x 3 mm, DWI ~2 x 2 x 4-5 mm.
T2W_FACTORS = (1, 1, 3)
DWI_FACTORS = (2, 2, 3)


@dataclass(frozen=True)
class Physics:
    """Drawn intensity settings of one study."""

    snr: float
    t2w_scale: float
    dwi_scale: float
    t2w_bias: BiasField
    dwi_bias: BiasField

    def t2w_sigma(self, tissues: TissueTable) -> float:
        wall = 0.5 * (tissues.t2w[Tissue.WALL_INNER] + tissues.t2w[Tissue.WALL_OUTER])
        return 0.0 if math.isinf(self.snr) else float(self.t2w_scale * wall / (2.0 * self.snr))

    def dwi_sigma(self, tissues: TissueTable) -> float:
        wall = 0.5 * (tissues.s0[Tissue.WALL_INNER] + tissues.s0[Tissue.WALL_OUTER])
        return 0.0 if math.isinf(self.snr) else float(self.dwi_scale * wall / self.snr)

    def as_dict(self, tissues: TissueTable) -> dict[str, Any]:
        return {
            "t2w_scale": round(self.t2w_scale, 6),
            "dwi_scale": round(self.dwi_scale, 6),
            "t2w_noise_sigma": round(self.t2w_sigma(tissues), 6),
            "dwi_noise_sigma": round(self.dwi_sigma(tissues), 6),
            "t2w_bias_field": self.t2w_bias.as_dict(),
            "dwi_bias_field": self.dwi_bias.as_dict(),
            "noise": "Rician: magnitude of signal + complex Gaussian noise (sigma per channel), "
            "in units of the rescaled pixel values",
        }


def draw_physics(
    rng: np.random.Generator, plan: StudyPlan, tissues: TissueTable, snr: float
) -> Physics:
    return Physics(
        snr=snr,
        t2w_scale=float(rng.uniform(500.0, 1500.0) / tissues.t2w[Tissue.FAT]),
        dwi_scale=float(rng.uniform(400.0, 1200.0)),
        t2w_bias=BiasField.draw(rng, plan.t2w, 0.25),
        dwi_bias=BiasField.draw(rng, plan.dwi.grid, 0.2),
    )


@dataclass
class RenderedStudy:
    """Pixel data of one study and what the truth needs from its rendering."""

    t2w_grid: SampledGrid
    t2w_labels: npt.NDArray[np.uint8]
    t2w: npt.NDArray[np.uint16]
    dwi: dict[int, npt.NDArray[np.uint16]]
    adc: npt.NDArray[np.uint16] | None
    written: dict[str, WrittenSeries] = field(default_factory=dict)


def render_study(
    plan: StudyPlan,
    structures: list[Structure],
    tissues: TissueTable,
    physics: Physics,
    *,
    style_rescales: tuple[Any, Any],
    noise: np.random.Generator,
    with_adc: bool,
) -> RenderedStudy:
    """Render T2W and DWI (and the vendor ADC) of one study as stored integers."""
    t2w_rescale, dwi_rescale = style_rescales
    t2w_grid = SampledGrid(plan.t2w, plan.t2w_sampler, T2W_FACTORS)
    labels = t2w_grid.labels(structures)
    clean = t2w_grid.signal(labels, tissues.t2w) * physics.t2w_bias.evaluate(plan.t2w)
    t2w = rician(clean * np.float32(physics.t2w_scale), physics.t2w_sigma(tissues), noise)
    t2w_stored = t2w_rescale.to_stored(t2w)

    dwi_grid = SampledGrid(plan.dwi.grid, plan.dwi_sampler, DWI_FACTORS)
    dwi_labels = dwi_grid.labels(structures)
    bias = physics.dwi_bias.evaluate(plan.dwi.grid) * np.float32(physics.dwi_scale)
    sigma = physics.dwi_sigma(tissues)
    stored: dict[int, npt.NDArray[np.uint16]] = {}
    values: dict[int, npt.NDArray[np.float64]] = {}
    for b in plan.dwi.b_values:
        image = rician(dwi_grid.signal(dwi_labels, tissues.dwi(b)) * bias, sigma, noise)
        stored[b] = dwi_rescale.to_stored(image)
        values[b] = dwi_rescale.to_values(stored[b])
    adc = None
    if with_adc:
        adc = vendor_adc(values, threshold=max(3.0 * sigma, 0.03 * physics.dwi_scale))
    return RenderedStudy(t2w_grid, labels, t2w_stored, stored, adc)


def write_study(
    writer: StudyWriter,
    plan: StudyPlan,
    rendered: RenderedStudy,
    style_rescales: tuple[Any, Any],
    rng: np.random.Generator,
) -> None:
    """Write the T2W, DWI and (if rendered) ADC series of one study."""
    t2w_rescale, dwi_rescale = style_rescales
    thickness = 3.0 if plan.t2w.spacing[2] > 3.0 else plan.t2w.spacing[2]
    rendered.written["t2w"] = write_mr_series(
        writer,
        SeriesSpec("t2w", plan.t2w, {None: rendered.t2w}, t2w_rescale, slice_thickness=thickness),
        rng,
    )
    rendered.written["dwi"] = write_mr_series(
        writer,
        SeriesSpec(
            "dwi",
            plan.dwi.grid,
            {b: image for b, image in rendered.dwi.items()},
            dwi_rescale,
            b_values=plan.dwi.b_values,
            phase_encode=plan.dwi.phase_encode,
        ),
        rng,
    )
    if rendered.adc is not None:
        rendered.written["adc"] = write_mr_series(
            writer,
            SeriesSpec(
                "adc",
                plan.dwi.grid,
                {None: rendered.adc},
                Rescale(),
                b_values=plan.dwi.b_values,
                phase_encode=plan.dwi.phase_encode,
            ),
            rng,
        )
