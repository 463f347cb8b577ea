#!/usr/bin/env python
"""Benchmark of ``ccr batch``: throughput with 1 and 2 workers, peak memory per worker.

    python scripts/bench_batch.py [--cases 50] [--seed 2026] [--size small|full]
                                  [--workers 1,2] [--work DIR] [--json out.json]

Writes ``--cases`` phantom patients (``ccr phantom`` layout: restaging + baseline DICOM and
clinical.yaml, so every study also registers its baseline), then runs
``ccr batch CASES --out DIR --workers N`` from scratch for each N, as a user would (one
process each). Reported per run: wall time from start to exit (planning, cluster start-up and
every study), throughput in studies/min, and the peak resident memory of each worker process,
both as the worker itself reports it (``ru_maxrss``, in the ledger) and as sampled from
outside every 0.2 s (psutil, worker process and its children). The last line is the README
row: the throughput ratio of the largest worker count to 1 worker (target >= 1.8) and the
largest worker peak (target <= 2 GB).

Other processes on the machine distort the ratio: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from pipeline.phantom import PhantomOptions, generate_cohort


def make_cohort(root: Path, cases: int, seed: int, *, small: bool) -> Path:
    """``root/cases`` with ``cases`` patients (kept between runs of the benchmark)."""
    folder = root / f"cases-{cases}-{seed}-{'small' if small else 'full'}"
    if not (folder / f"case-{cases - 1:03d}" / "truth.json").is_file():
        shutil.rmtree(folder, ignore_errors=True)
        generate_cohort(folder, cases=cases, seed=seed, options=PhantomOptions(small=small))
    return folder


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    for proc in (process, *process.children(recursive=True)):
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


def run_batch(cases: Path, out: Path, workers: int) -> dict[str, Any]:
    """One ``ccr batch`` from scratch; wall time and memory of its worker processes."""
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "pipeline.cli", "batch", str(cases), "--out", str(out)]
    command += ["--workers", str(workers)]
    start = time.perf_counter()
    batch = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    parent = psutil.Process(batch.pid)
    sampled: dict[int, int] = {}  # worker pid -> peak RSS of it and its children, bytes
    while batch.poll() is None:
        try:
            workers_now = [c for c in parent.children() if c.name().startswith("python")]
        except psutil.Error:
            workers_now = []
        for worker in workers_now:
            with contextlib.suppress(psutil.Error):
                sampled[worker.pid] = max(sampled.get(worker.pid, 0), _tree_rss(worker))
        time.sleep(0.2)
    wall = time.perf_counter() - start
    stderr = batch.stderr.read().decode(errors="replace") if batch.stderr else ""
    db = sqlite3.connect(out / "ledger.sqlite")
    rows = db.execute("SELECT status, peak_rss_mb, duration_s FROM studies").fetchall()
    db.close()
    done = sum(1 for status, _, _ in rows if status == "done")
    if batch.returncode != 0 or done != len(rows):
        raise SystemExit(f"batch with {workers} worker(s) failed ({batch.returncode}): {stderr}")
    return {
        "workers": workers,
        "studies": done,
        "wall_s": round(wall, 1),
        "studies_per_min": round(done / wall * 60.0, 3),
        "mean_study_s": round(sum(r[2] for r in rows) / len(rows), 2),
        "peak_worker_rss_mb_reported": round(max(r[1] for r in rows), 1),
        "peak_worker_rss_mb_sampled": round(max(sampled.values(), default=0) / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=50)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--size", choices=("small", "full"), default="small")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()

    counts = sorted({int(n) for n in args.workers.split(",")})
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as scratch:
        work = args.work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        cases = make_cohort(work, args.cases, args.seed, small=args.size == "small")
        print(f"cohort: {args.cases} {args.size} phantoms in {time.perf_counter() - start:.0f} s")
        runs = []
        for n in counts:
            result = run_batch(cases, work / f"out-{n}", n)
            runs.append(result)
            print(json.dumps(result))
    by_workers = {r["workers"]: r for r in runs}
    most = max(counts)
    ratio = (
        by_workers[most]["studies_per_min"] / by_workers[1]["studies_per_min"]
        if 1 in by_workers and most > 1
        else None
    )
    peak_mb = max(
        max(r["peak_worker_rss_mb_reported"], r["peak_worker_rss_mb_sampled"]) for r in runs
    )
    summary = {"cases": args.cases, "size": args.size, "runs": runs, "ratio": ratio}
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    rates = " vs ".join(f"{by_workers[n]['studies_per_min']:.2f}" for n in reversed(counts))
    ratio_text = f"ratio {ratio:.2f} (target >= 1.8)" if ratio is not None else "no ratio"
    print(
        f"| `ccr batch`, {args.cases} {args.size} phantoms with baseline, --workers "
        f"{' vs '.join(str(n) for n in reversed(counts))} | {rates} studies/min: {ratio_text}; "
        f"peak worker memory {peak_mb / 1024:.2f} GB (target <= 2 GB) | "
        f"`python scripts/bench_batch.py --cases {args.cases} --size {args.size}` |"
    )


if __name__ == "__main__":
    main()
