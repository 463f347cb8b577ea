"""Overlay figures (PNG bytes) of T2W, high-b and ADC through the tumour bed."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pipeline.volume import Volume


@dataclass(frozen=True)
class Panel:
    title: str
    image: Volume
    window: tuple[float, float] | None = None
    cmap: str = "gray"
    colorbar_label: str | None = None


def pick_slice(mask: Volume | None, fallback_depth: int) -> int:
    """The axial slice with the largest mask area, or the middle slice."""
    if mask is None or not (mask.array > 0).any():
        return fallback_depth // 2
    areas = (mask.array > 0).reshape(mask.shape[0], -1).sum(axis=1)
    return int(np.argmax(areas))


def _robust_window(values: npt.NDArray[np.floating]) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return (0.0, 1.0)
    low, high = np.percentile(finite, [1, 99.5])
    return (float(low), float(high if high > low else low + 1))


def _crop_box(mask: npt.NDArray[np.bool_], shape: tuple[int, int], pad: int) -> tuple[slice, slice]:
    if not mask.any():
        return (slice(0, shape[0]), slice(0, shape[1]))
    rows, cols = np.nonzero(mask)
    r0, r1 = max(rows.min() - pad, 0), min(rows.max() + pad + 1, shape[0])
    c0, c1 = max(cols.min() - pad, 0), min(cols.max() + pad + 1, shape[1])
    return (slice(r0, r1), slice(c0, c1))


def overlay_figure(
    panels: list[Panel],
    *,
    bed: Volume | None,
    residual: Volume | None,
    title: str,
    crop_mm: float = 45.0,
) -> bytes:
    """One row of panels at the bed's largest slice, bed outline (cyan), residual (red)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    reference = panels[0].image
    has_residual = residual is not None and bool((residual.array > 0).any())
    z = pick_slice(residual if has_residual else bed, reference.shape[0])
    bed_slice = (bed.array[z] > 0) if bed is not None else np.zeros(reference.shape[1:], bool)
    pad = round(crop_mm / min(reference.spacing[:2]))
    box = _crop_box(bed_slice, reference.shape[1:], pad)
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.9), dpi=100)
    axes = np.atleast_1d(axes)
    aspect = reference.spacing[1] / reference.spacing[0]
    for ax, panel in zip(axes, panels, strict=True):
        plane = np.asarray(panel.image.array[z], dtype=float)[box]
        low, high = panel.window or _robust_window(plane)
        shown = ax.imshow(plane, cmap=panel.cmap, vmin=low, vmax=high, aspect=aspect)
        if bed is not None:
            ax.contour(bed_slice[box].astype(float), levels=[0.5], colors="cyan", linewidths=1.2)
        if residual is not None and (residual.array[z] > 0).any():
            red = np.zeros((*plane.shape, 4))
            red[..., 0] = 1.0
            red[..., 3] = 0.45 * (residual.array[z][box] > 0)
            ax.imshow(red, aspect=aspect)
        ax.set_title(panel.title, fontsize=10)
        ax.set_axis_off()
        if panel.colorbar_label:
            bar = fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02)
            bar.set_label(panel.colorbar_label, fontsize=8)
    fig.suptitle(f"{title} (slice {z + 1}/{reference.shape[0]})", fontsize=10)
    fig.text(0.5, 0.01, "Research use only. Not a medical device.", ha="center", fontsize=7)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()
