"""The log-linear / weighted ADC fit in PyTorch (same algebra as :mod:`._fit`), for CUDA.

Runs in float32 on CUDA and float64 on CPU; agrees with the numpy fit within float32
tolerance (tested).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pipeline.diffusion._fit import VoxelFit


def fit_log_linear_torch(
    signal: npt.NDArray[np.floating],
    b_values: npt.NDArray[np.floating],
    *,
    valid: npt.NDArray[np.bool_] | None = None,
    weighted: bool = False,
    device: str = "cpu",
    chunk: int = 4_000_000,
) -> VoxelFit:
    """Torch version of :func:`pipeline.diffusion.fit_log_linear` (``[n_b, n_voxels]`` in).

    Voxels are processed in chunks of ``chunk`` to bound GPU memory.
    """
    import torch

    dtype = torch.float32 if device.startswith("cuda") else torch.float64
    n_voxels = signal.shape[1]
    outputs: dict[str, list[npt.NDArray[np.float64]]] = {"adc": [], "s0": [], "rms": [], "n": []}
    b = torch.as_tensor(np.asarray(b_values, dtype=np.float64), dtype=dtype, device=device)[:, None]
    with torch.no_grad():
        for start in range(0, max(n_voxels, 1), chunk):
            stop = min(start + chunk, n_voxels)
            s = torch.as_tensor(np.asarray(signal[:, start:stop]), device=device).to(dtype)
            ok = s > 0
            if valid is not None:
                ok &= torch.as_tensor(np.asarray(valid[:, start:stop]), device=device)
            log_s = torch.where(ok, torch.log(torch.where(ok, s, torch.ones_like(s))), 0.0)
            w = torch.where(ok, s * s if weighted else torch.ones_like(s), 0.0)
            sw, swb = w.sum(0), (w * b).sum(0)
            swy, swbb, swby = (w * log_s).sum(0), (w * b * b).sum(0), (w * b * log_s).sum(0)
            det = sw * swbb - swb * swb
            n_points = ok.sum(0)
            good = (n_points >= 2) & (det > 1e-12 * torch.clamp(sw * swbb, min=1e-30))
            safe = torch.where(good, det, torch.ones_like(det))
            slope = (sw * swby - swb * swy) / safe
            intercept = (swbb * swy - swb * swby) / safe
            resid = torch.where(ok, log_s - (intercept[None] + slope[None] * b), 0.0)
            rms = torch.sqrt((resid * resid).sum(0) / torch.clamp(n_points, min=1))
            nan = torch.full_like(slope, float("nan"))
            outputs["adc"].append(torch.where(good, -slope, nan).double().cpu().numpy())
            outputs["s0"].append(
                torch.where(good, torch.exp(intercept), nan).double().cpu().numpy()
            )
            outputs["rms"].append(torch.where(good, rms, nan).double().cpu().numpy())
            outputs["n"].append(n_points.cpu().numpy())
    return VoxelFit(
        adc=np.concatenate(outputs["adc"]),
        s0=np.concatenate(outputs["s0"]),
        rms_residual=np.concatenate(outputs["rms"]),
        n_points=np.concatenate(outputs["n"]).astype(np.int64),
    )
