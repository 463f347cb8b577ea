"""Seconds per study for radiomics-v1 and segnet-v2 (CPU; batched CUDA when present).

    .venv/bin/python scripts/bench_scoring.py --cache /tmp/ccr_cache/eval --studies 10

Radiomics: pyradiomics extraction on the cached maps (restaging T2W grid, box around the bed)
plus the classifier. Network: crop onto the network grid, inference with 4 test-time
flips (batched as one forward pass) and the probability map resampled onto the T2W grid.
Bed search: the sliding-window search of the cached maps (bed + 40 mm in plane) as when no
mask exists. Prints markdown rows for the README
performance table.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import torch

from pipeline.config import load_config
from pipeline.device import cuda_available
from pipeline.radiomics import extract_features
from pipeline.scoring import (
    find_bed,
    load_network,
    load_radiomics_model,
    make_crop,
    score_crops,
)
from pipeline.scoring._network import probability_on
from pipeline.training import cached_cases, read_cached_case


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/ccr_cache/eval"))
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.add_argument("--studies", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    config = load_config()
    radiomics = load_radiomics_model(args.models / "radiomics-v1.json")
    net = load_network(args.models / "segnet-v2.json")
    cases = [read_cached_case(p) for p in cached_cases(args.cache)[: args.studies]]
    start = time.perf_counter()
    for case in cases:
        row = extract_features(
            {"t2w": case.t2w, "adc": case.adc, "high_b": case.high_b},
            case.bed,
            config=config.radiomics,
        )
        radiomics.predict(row.features)
    t_rad = (time.perf_counter() - start) / len(cases)
    score_crops(
        net, [make_crop(cases[0].t2w, cases[0].high_b, cases[0].adc, cases[0].bed, spec=net.spec)]
    )  # warm-up
    start = time.perf_counter()
    for case in cases:
        crop = make_crop(case.t2w, case.high_b, case.adc, case.bed, spec=net.spec)
        score = score_crops(net, [crop])[0]
        probability_on(case.t2w, crop.grid, score.probability)
    t_net = (time.perf_counter() - start) / len(cases)
    start = time.perf_counter()
    for case in cases:
        find_bed(net, case.t2w, case.high_b, case.adc)
    t_search = (time.perf_counter() - start) / len(cases)
    print(
        f"| radiomics-v1 per study, CPU {args.threads} threads (n={len(cases)}) "
        f"| {t_rad:.2f} s | target <= 2 s |"
    )
    print(
        f"| segnet-v2 per study (crop + 4 TTA flips + map onto T2W), CPU {args.threads} threads "
        f"(n={len(cases)}) | {t_net:.2f} s | target <= 2 s |"
    )
    print(
        f"| segnet-v2 bed search without a mask (bed + 40 mm box), CPU {args.threads} threads "
        f"(n={len(cases)}) | {t_search:.2f} s | |"
    )
    if cuda_available():
        crops = [make_crop(c.t2w, c.high_b, c.adc, c.bed, spec=net.spec) for c in cases]
        batch = crops * max(1, 256 // len(crops))
        score_crops(net, batch[:8], device="cuda")
        torch.cuda.synchronize()
        start = time.perf_counter()
        score_crops(net, batch, device="cuda", batch_size=64)
        torch.cuda.synchronize()
        rate = len(batch) / (time.perf_counter() - start)
        print(f"| segnet-v2 batched CUDA inference (AMP, 4 TTA flips) | {rate:.1f} studies/s | |")
    else:
        print("| segnet-v2 batched CUDA inference | not measured (no GPU) | |")


if __name__ == "__main__":
    main()
