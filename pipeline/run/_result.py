"""What one study run produces, before it is written to disk."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.findings import ImagingFindings
from pipeline.volume import Volume


@dataclass(frozen=True)
class ImagingMaps:
    """Maps on the restaging T2W grid (ADC in 1e-3 mm^2/s); ``*_dwi_grid`` on the native DWI
    grid, written only on request."""

    t2w: Volume
    adc: Volume | None = None
    high_b: Volume | None = None
    tumour_bed: Volume | None = None
    residual: Volume | None = None
    residual_probability: Volume | None = None
    network_probability: Volume | None = None
    network_tumour: Volume | None = None
    baseline_t2w: Volume | None = None
    adc_dwi_grid: Volume | None = None
    high_b_dwi_grid: Volume | None = None
    baseline_tumour: Volume | None = None


@dataclass(frozen=True)
class ImagingResult:
    """Findings, maps and the provenance of the imaging stages of one study."""

    findings: ImagingFindings
    maps: ImagingMaps | None
    provenance: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
