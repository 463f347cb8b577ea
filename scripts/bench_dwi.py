#!/usr/bin/env python
"""Benchmark: ADC voxel fits per second (numpy, torch CPU, torch CUDA when present).

    python scripts/bench_dwi.py [--voxels 4000000] [--repeats 3] [--json out.json]

Prints one line per backend: voxel fits per second over b = 50, 500, 1000 s/mm^2 with a
noise-floor mask, best of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from pipeline.diffusion import fit_log_linear, fit_log_linear_torch


def make_signal(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    b = np.array([50.0, 500.0, 1000.0])
    adc = rng.uniform(0.5e-3, 3.0e-3, n)
    s0 = rng.uniform(100, 1000, n)
    clean = s0[None, :] * np.exp(-np.outer(b, adc))
    noisy = np.hypot(clean + rng.normal(0, 10, clean.shape), rng.normal(0, 10, clean.shape))
    return noisy.astype(np.float32), b


def best_rate(fn, n: int, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return n / best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--voxels", type=int, default=4_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=str, default=None)
    args = parser.parse_args()
    signal, b = make_signal(args.voxels)
    valid = signal > 10
    results = {
        "numpy": best_rate(
            lambda: fit_log_linear(signal, b, valid=valid), args.voxels, args.repeats
        )
    }
    import torch

    results["torch-cpu"] = best_rate(
        lambda: fit_log_linear_torch(signal, b, valid=valid, device="cpu"),
        args.voxels,
        args.repeats,
    )
    if torch.cuda.is_available():
        fit_log_linear_torch(signal, b, valid=valid, device="cuda")  # warm-up
        results["torch-cuda"] = best_rate(
            lambda: (
                fit_log_linear_torch(signal, b, valid=valid, device="cuda"),
                torch.cuda.synchronize(),
            ),
            args.voxels,
            args.repeats,
        )
    for name, rate in results.items():
        print(f"{name:>10}: {rate / 1e6:7.1f} M voxel fits/s  ({args.voxels} voxels, 3 b-values)")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({k: v / 1e6 for k, v in results.items()}, handle, indent=2)


if __name__ == "__main__":
    main()
