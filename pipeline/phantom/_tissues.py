"""Tissue classes of the phantom and their MR properties, drawn per case within ranges.

Units
-----
* ``t2w``: relative T2-weighted TSE signal (mesorectal fat ~1.0).
* ``s0``: relative DWI signal at b = 0 (T2-weighted, fat-suppressed EPI).
* ``adc``: apparent diffusion coefficient in 1e-3 mm^2/s. The DWI signal is
  ``S(b) = s0 * exp(-b * adc * 1e-3)`` with ``b`` in s/mm^2.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt


class Tissue(IntEnum):
    """Tissue codes; also the values of ``truth/tissue.nii.gz``."""

    AIR = 0
    FAT = 1
    SKIN = 2
    MUSCLE = 3
    BONE_MARROW = 4
    BONE_CORTEX = 5
    URINE = 6
    BLADDER_WALL = 7
    PELVIC_ORGAN = 8
    FASCIA = 9
    WALL_INNER = 10
    WALL_OUTER = 11
    LUMEN = 12
    TUMOUR = 13
    FIBROSIS = 14
    OEDEMA = 15
    FLUID = 16
    NODE = 17
    NODE_SUSPICIOUS = 18


#: (t2w, s0, adc) ranges per tissue; a case draws one value in each range.
_RANGES: dict[Tissue, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    Tissue.AIR: ((0.0, 0.0), (0.0, 0.0), (3.0, 3.0)),
    Tissue.FAT: ((0.95, 1.05), (0.05, 0.07), (0.45, 0.55)),
    Tissue.SKIN: ((0.45, 0.55), (0.25, 0.35), (1.0, 1.2)),
    Tissue.MUSCLE: ((0.22, 0.28), (0.32, 0.38), (1.35, 1.45)),
    Tissue.BONE_MARROW: ((0.6, 0.7), (0.08, 0.12), (0.45, 0.55)),
    Tissue.BONE_CORTEX: ((0.02, 0.04), (0.01, 0.02), (0.5, 0.5)),
    Tissue.URINE: ((1.05, 1.15), (0.95, 1.05), (2.8, 3.2)),
    Tissue.BLADDER_WALL: ((0.28, 0.34), (0.4, 0.5), (1.4, 1.6)),
    Tissue.PELVIC_ORGAN: ((0.4, 0.5), (0.5, 0.6), (1.4, 1.7)),
    Tissue.FASCIA: ((0.18, 0.22), (0.2, 0.25), (1.2, 1.4)),
    Tissue.WALL_INNER: ((0.4, 0.45), (0.5, 0.55), (1.4, 1.65)),
    Tissue.WALL_OUTER: ((0.28, 0.32), (0.45, 0.5), (1.3, 1.55)),
    Tissue.LUMEN: ((0.02, 0.04), (0.0, 0.0), (3.0, 3.0)),
    Tissue.TUMOUR: ((0.5, 0.56), (0.65, 0.75), (0.72, 1.02)),
    Tissue.FIBROSIS: ((0.13, 0.17), (0.2, 0.26), (1.28, 1.48)),
    Tissue.OEDEMA: ((0.75, 0.85), (0.85, 0.95), (1.75, 2.05)),
    Tissue.FLUID: ((1.15, 1.3), (1.6, 2.1), (1.85, 2.15)),
    Tissue.NODE: ((0.42, 0.48), (0.42, 0.48), (1.25, 1.4)),
    Tissue.NODE_SUSPICIOUS: ((0.5, 0.55), (0.65, 0.75), (0.82, 0.98)),
}


@dataclass(frozen=True)
class TissueTable:
    """Per-tissue property arrays indexed by :class:`Tissue` code (float64, length = #tissues)."""

    t2w: npt.NDArray[np.float64]
    s0: npt.NDArray[np.float64]
    adc: npt.NDArray[np.float64]

    def dwi(self, b_value: float) -> npt.NDArray[np.float64]:
        """Noise-free DWI signal per tissue at ``b_value`` s/mm^2."""
        return np.asarray(self.s0 * np.exp(-float(b_value) * self.adc * 1e-3), dtype=np.float64)

    def adc_dict(self) -> dict[str, float]:
        """``{tissue name: adc in 1e-3 mm^2/s}`` for tissues with DWI signal."""
        return {
            t.name.lower(): round(float(self.adc[t]), 4)
            for t in Tissue
            if t not in (Tissue.AIR, Tissue.LUMEN)
        }

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {
            t.name.lower(): {
                "t2w": round(float(self.t2w[t]), 4),
                "s0": round(float(self.s0[t]), 4),
                "adc": round(float(self.adc[t]), 4),
            }
            for t in Tissue
        }


def draw_tissue_table(rng: np.random.Generator) -> TissueTable:
    """Draw one value of each property of each tissue uniformly within its range."""
    n = len(Tissue)
    t2w = np.zeros(n)
    s0 = np.zeros(n)
    adc = np.zeros(n)
    for tissue in Tissue:
        (t_lo, t_hi), (s_lo, s_hi), (a_lo, a_hi) = _RANGES[tissue]
        t2w[tissue] = rng.uniform(t_lo, t_hi)
        s0[tissue] = rng.uniform(s_lo, s_hi)
        adc[tissue] = rng.uniform(a_lo, a_hi)
    return TissueTable(t2w=t2w, s0=s0, adc=adc)
