#!/usr/bin/env python
"""Benchmark and known-answer check of registration on phantom cases (CPU).

    python scripts/bench_registration.py [--cases 5] [--draws 20] [--baseline-cases 10]
                                         [--threads 2] [--size small|full] [--json out.json]

DWI -> T2W: ``--draws`` known rigid motions (rotation <= 5 deg, shift <= 10 mm) spread over
``--cases`` phantom cases (``--size small``: PhantomOptions(small=True)); each draw
re-positions the restaging DWI by relabelling its geometry (exact truth) and registers its
low-b image onto the T2W with the shipped settings.
Target registration error (TRE) over tumour-bed voxels is reported twice: with the phantom's
EPI distortion as generated (against the rigid truth) and with the distortion removed by its
known field. Baseline -> restaging: Dice of the propagated baseline tumour against the truth,
with the calls of the pipeline's run, on ``--baseline-cases`` cases.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import load_config
from pipeline.phantom import CaseType, PhantomOptions, generate_case
from pipeline.registration._known_answer import (
    baseline_to_restaging,
    centre_of,
    draw_rigid,
    dwi_to_t2w_draw,
    load_phantom_pair,
)


def make_cases(root: Path, n: int, seed: int, *, small: bool = True) -> list[Path]:
    types = list(CaseType)
    out = []
    for i in range(n):
        truth = generate_case(
            root,
            case_id=f"reg-{i:03d}",
            case_type=types[i % len(types)],
            seed=seed + i,
            options=PhantomOptions(small=small),
        )
        out.append(truth.parent)
    return out


def summary(values: list[float]) -> dict[str, float]:
    a = np.asarray(values)
    return {"mean": float(a.mean()), "max": float(a.max()), "min": float(a.min())}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=5)
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--baseline-cases", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument(
        "--size", choices=("small", "full"), default="small", help="phantom field of view"
    )
    parser.add_argument("--json", type=str, default=None)
    args = parser.parse_args()
    config = load_config()
    reg = config.registration
    results: dict[str, Any] = {"threads": args.threads, "size": args.size}
    with tempfile.TemporaryDirectory() as tmp:
        n_cases = max(args.cases, args.baseline_cases)
        start = time.perf_counter()
        cases = make_cases(Path(tmp), n_cases, args.seed, small=args.size == "small")
        pairs = [load_phantom_pair(c, config.series_rules) for c in cases]
        print(f"{n_cases} {args.size} phantom cases in {time.perf_counter() - start:.1f} s")
        rng = np.random.default_rng(args.seed)
        draws = []
        for i in range(args.draws):
            pair = pairs[i % args.cases]
            target = draw_rigid(rng, centre_of(pair.t2w), max_deg=5.0, max_mm=10.0)
            for undistort in (False, True):
                draw = dwi_to_t2w_draw(
                    pair.t2w,
                    pair.low_b,
                    pair.bed,
                    pair.truth,
                    target,
                    config=reg,
                    case=pair.name,
                    undistort=undistort,
                    threads=args.threads,
                )
                draws.append(draw)
                print(
                    f"DWI->T2W {pair.name} {'undistorted' if undistort else 'distorted  '} "
                    f"rot {draw.rotation_deg:4.2f} deg shift {draw.translation_mm:5.2f} mm: "
                    f"TRE mean {draw.tre_mean_mm:.2f} max {draw.tre_max_mm:.2f} mm "
                    f"(vs distorted truth {draw.tre_true_mean_mm:.2f}), {draw.seconds:.2f} s"
                )
        for label, distorted in (("distorted", True), ("undistorted", False)):
            chosen = [d for d in draws if d.distorted is distorted]
            results[f"dwi_to_t2w_{label}"] = {
                "draws": len(chosen),
                "tre_mean_mm": float(np.mean([d.tre_mean_mm for d in chosen])),
                "tre_worst_mean_mm": float(max(d.tre_mean_mm for d in chosen)),
                "tre_worst_point_mm": float(max(d.tre_max_mm for d in chosen)),
                "tre_vs_distorted_truth_mm": float(np.mean([d.tre_true_mean_mm for d in chosen])),
                "seconds": summary([d.seconds for d in chosen]),
                "doubtful": sum(d.doubtful for d in chosen),
            }
        base = []
        for pair in pairs[: args.baseline_cases]:
            result = baseline_to_restaging(
                pair.t2w,
                pair.baseline_t2w,
                pair.baseline_mask,
                pair.baseline_on_restaging,
                config=reg,
                case=pair.name,
                threads=args.threads,
            )
            base.append(result)
            print(
                f"baseline {pair.name}: Dice {result.dice:.3f} (rigid only {result.dice_rigid:.3f})"
                f", {result.seconds:.1f} s{' DOUBTFUL' if result.doubtful else ''}"
            )
        results["baseline_to_restaging"] = {
            "cases": len(base),
            "dice": summary([b.dice for b in base]),
            "dice_rigid_only": summary([b.dice_rigid for b in base]),
            "seconds": summary([b.seconds for b in base]),
            "doubtful": sum(b.doubtful for b in base),
        }
        results["draws"] = [asdict(d) for d in draws]
    print(json.dumps({k: v for k, v in results.items() if k != "draws"}, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
