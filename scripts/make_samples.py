#!/usr/bin/env python
"""Regenerate ``data_samples/``: five small synthetic patients for ``ccr demo``.

    python scripts/make_samples.py [--out data_samples]

The cases are chosen to show every kind of outcome and the traps the pipeline must not fall
into; each is deterministic for its seed (so the shipped files can be checked against a fresh
run). Research use only.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from pipeline.phantom import CaseType, MaskFormat, PhantomOptions, Vendor, generate_case

#: (folder, case type, seed, options): what each sample shows.
SAMPLES = (
    # complete response; no restaging mask, so the baseline tumour is propagated
    (
        "sample-1-complete",
        CaseType.COMPLETE_RESPONSE,
        11,
        PhantomOptions(small=True, restaging_mask=False, vendor=Vendor.SIEMENS),
    ),
    # near-complete: small residual focus, smooth induration, superficial ulcer
    (
        "sample-2-near-complete",
        CaseType.NEAR_COMPLETE,
        12,
        PhantomOptions(small=True, mask_format=MaskFormat.SEG, vendor=Vendor.PHILIPS),
    ),
    # residual tumour deep in the wall under intact mucosa: only MRI shows it
    (
        "sample-3-submucosal-residual",
        CaseType.RESIDUAL_SUBMUCOSAL,
        13,
        PhantomOptions(small=True, mask_format=MaskFormat.RTSTRUCT, vendor=Vendor.GE),
    ),
    # T2 shine-through: bright on high-b but high ADC, must not count as restriction
    (
        "sample-4-shine-through",
        CaseType.SHINE_THROUGH,
        14,
        PhantomOptions(small=True, with_adc_series=True, vendor=Vendor.SIEMENS),
    ),
    # endoscopy not recorded: never cCR on missing input
    (
        "sample-5-missing-endoscopy",
        CaseType.MISSING_INPUTS,
        15,
        PhantomOptions(small=True, vendor=Vendor.PHILIPS),
    ),
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parents[1] / "data_samples"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for folder, case_type, seed, options in SAMPLES:
        target = args.out / folder
        if target.exists():
            shutil.rmtree(target)
        generate_case(args.out, case_id=folder, case_type=case_type, seed=seed, options=options)
        size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file()) / 1e6
        print(f"{folder}: {case_type.value}, {size:.1f} MB")


if __name__ == "__main__":
    main()
