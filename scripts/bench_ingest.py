#!/usr/bin/env python
"""Benchmark: DICOM inventory + pixel load of ../shared/data against dcm2niix, in one run.

    python scripts/bench_ingest.py [--data ../shared/data] [--repeats 3] [--json out.json]

For every case folder (``dwi_qa/*``, ``ibsi_mr/*``) it times

* ours: :func:`pipeline.ingest.scan` (headers, grouping, classification, b-values, header
  geometry) and :func:`pipeline.ingest.load_series_volume` of every series (pixels, slice
  sorting, geometry checks, DWI trace volumes), in this process;
* dcm2niix: ``dcm2niix -z n -o TMP FOLDER`` (compression off) on the same folders, as a
  subprocess (the PyPI package ``dcm2niix``; not a dependency of the pipeline).

Both are timed best of ``--repeats`` over all folders, warm file cache (one untimed pass
first). Wall-clock time is the measure; CPU time (this process for ours, the dcm2niix child
processes for dcm2niix, user + system) is reported beside it, as it varies less when other
work shares the cores. Prints a summary and a markdown table row for the README performance
table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"


def case_folders(data: Path) -> list[Path]:
    """Each case folder with DICOM under ``data`` (the folders dcm2niix is given too)."""
    folders = []
    for group in ("dwi_qa", "ibsi_mr"):
        root = data / group
        if root.is_dir():
            folders.extend(sorted(p for p in root.iterdir() if p.is_dir()))
    return folders


def run_ours(folders: list[Path]) -> dict[str, int]:
    from pipeline.config import load_section
    from pipeline.config.series_rules import SeriesRulesConfig
    from pipeline.ingest import load_series_volume, scan

    rules = load_section("series_rules")
    if not isinstance(rules, SeriesRulesConfig):
        raise TypeError("series_rules did not load")
    counts = {"series": 0, "files": 0, "voxels": 0, "failed": 0}
    for folder in folders:
        inventory = scan(folder, rules=rules)
        for study in inventory.studies:
            for series in study.series:
                counts["series"] += 1
                counts["files"] += len(series.files)
                try:
                    volume = load_series_volume(series, rules=rules, inventory=inventory)
                except Exception:  # counted; the benchmark goes on
                    counts["failed"] += 1
                    continue
                counts["voxels"] += int(volume.array.size)
    return counts


def run_dcm2niix(exe: str, folders: list[Path], out: Path) -> int:
    converted = 0
    for folder in folders:
        target = out / folder.name
        target.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [exe, "-z", "n", "-o", str(target), str(folder)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode not in (0, 8):  # 8: some files not converted (non-image objects)
            raise RuntimeError(f"dcm2niix failed on {folder} ({done.returncode})")
        converted += len(list(target.glob("*.nii")))
    return converted


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process and of its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def best_of(fn: Any, repeats: int) -> tuple[float, float, Any]:
    """Best wall-clock and best CPU seconds of ``repeats`` runs, and the last result."""
    best, best_cpu, result = float("inf"), float("inf"), None
    for _ in range(repeats):
        cpu = _cpu_seconds()
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, _cpu_seconds() - cpu)
    return best, best_cpu, result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=str, default=None, help="write results to this file")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # pydicom's per-file notes would swamp the output

    folders = case_folders(args.data)
    if not folders:
        print(f"no case folders under {args.data}", file=sys.stderr)
        return 1
    exe = shutil.which("dcm2niix") or str(Path(sys.executable).parent / "dcm2niix")
    if not Path(exe).exists():
        print("dcm2niix not found: pip install dcm2niix", file=sys.stderr)
        return 1
    version = subprocess.run([exe, "-v"], capture_output=True, text=True, check=False)
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:

        def d2n() -> int:
            out = Path(tmp) / f"run{time.monotonic_ns()}"
            try:
                return run_dcm2niix(exe, folders, out)
            finally:
                shutil.rmtree(out, ignore_errors=True)

        run_ours(folders)  # warm file cache and imports, untimed
        d2n()
        ours_s, ours_cpu, counts = best_of(lambda: run_ours(folders), args.repeats)
        theirs_s, theirs_cpu, n_nifti = best_of(d2n, args.repeats)
    ratio = ours_s / theirs_s
    cpu_ratio = ours_cpu / theirs_cpu
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    result = {
        "data": str(args.data),
        "folders": len(folders),
        "series": counts["series"],
        "files": counts["files"],
        "series_failed": counts["failed"],
        "voxels": counts["voxels"],
        "dcm2niix_nifti": n_nifti,
        "ours_s": round(ours_s, 3),
        "dcm2niix_s": round(theirs_s, 3),
        "ratio": round(ratio, 2),
        "ours_cpu_s": round(ours_cpu, 3),
        "dcm2niix_cpu_s": round(theirs_cpu, 3),
        "cpu_ratio": round(cpu_ratio, 2),
        "repeats": args.repeats,
        "cores": cores,
        "load_avg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "dcm2niix_version": (version.stdout.strip().splitlines() or [""])[-1],
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    print(
        f"ours (scan + load {counts['series']} series, {counts['files']} files): "
        f"{ours_s:.3f} s; dcm2niix -z n ({n_nifti} NIfTI): {theirs_s:.3f} s; "
        f"ratio {ratio:.2f} (target <= 1.0), best of {args.repeats}, {cores} core(s)"
    )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"CPU time: ours {ours_cpu:.3f} s, dcm2niix {theirs_cpu:.3f} s, ratio {cpu_ratio:.2f}; "
        f"load average {load:.2f}"
    )
    print(
        f"| ingest: inventory + load of every series, ../shared/data ({counts['series']} series, "
        f"{counts['files']} files) | {ours_s:.2f} s | dcm2niix -z n {theirs_s:.2f} s | "
        f"ratio {ratio:.1f} | {cores} cores, {platform.machine()} |"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
