"""Evaluate rules-v1, radiomics-v1, segnet-v2 and fusion-v1 on a cached phantom cohort.

The cohort must come from a seed not used in training, e.g.::

    .venv/bin/python -c "from pathlib import Path; from pipeline.training import \\
        prepare_phantom_cohort as p; p(Path('/tmp/ccr_cache/eval'), cases=100, seed=2024)"
    .venv/bin/python scripts/eval_scoring.py --cache /tmp/ccr_cache/eval --out /tmp/ccr_eval

Writes ``results.json``, ``cases.csv``, ``roc.png`` and ``table.md`` (README rows) to ``--out``.
Dice is measured on the restaging T2W grid, where the truth lives: the network's TTA-mean
tumour probability is resampled (linear) from its crop grid onto the T2W grid and thresholded
at the card's ``segmentation.threshold`` (fitted on the training cases), as ``ccr run`` writes
``network_tumour.nii.gz``. Reported for cases whose truth tumour has a largest extent >= 5 mm
(smaller foci are below DWI resolution); ``dice_crop`` is the same on the coarser crop grid
(truth resampled onto it), for reference.

Bed search: the network also searches each cached case's maps (the tumour bed plus 40 mm in
plane, all slices) for the tumour bed as if no mask existed; reported as Dice against the
bed the pipeline used and the share of cases whose found bed overlaps it (Dice > 0.5).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
from pathlib import Path

import numpy as np
import torch

from pipeline.config import load_config
from pipeline.scoring import (
    find_bed,
    fuse,
    load_network,
    load_radiomics_model,
    make_crop,
    score_crops,
)
from pipeline.scoring._crop import label_on_crop
from pipeline.scoring._network import probability_on
from pipeline.training import cached_cases, read_cached_case

SCORERS = ("rules", "radiomics", "network", "fusion")


def _extent_mm(mask: np.ndarray, spacing_xyz: tuple[float, float, float]) -> float:
    points = np.argwhere(mask > 0)
    if points.size == 0:
        return 0.0
    span = (points.max(axis=0) - points.min(axis=0) + 1) * np.asarray(spacing_xyz[::-1])
    return float(span.max())


def main() -> None:
    from sklearn.metrics import roc_auc_score, roc_curve

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/ccr_cache/eval"))
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.add_argument("--out", type=Path, default=Path("/tmp/ccr_eval"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    config = load_config().scoring.learned
    radiomics = load_radiomics_model(args.models / "radiomics-v1.json")
    net = load_network(args.models / "segnet-v2.json")
    rows = []
    for path in cached_cases(args.cache):
        case = read_cached_case(path)
        crop = make_crop(case.t2w, case.high_b, case.adc, case.bed, spec=net.spec)
        score = score_crops(net, [crop])[0]
        p_rad = radiomics.predict(case.features)
        fused = fuse(
            {"radiomics": p_rad, "network": score.p_residual},
            names={"radiomics": radiomics.name, "network": net.name},
            weights=config.fusion,
            network_spread=score.uncertainty,
        )
        truth = label_on_crop(case.tumour, crop.grid) > 0
        pred = score.probability > net.segmentation_threshold
        dice_crop = (
            float(2 * (pred & truth).sum() / (pred.sum() + truth.sum())) if truth.any() else None
        )
        truth_t2 = np.asarray(case.tumour.array) > 0
        prob_t2 = probability_on(case.t2w, crop.grid, score.probability)
        pred_t2 = np.asarray(prob_t2.array) > net.segmentation_threshold
        dice = (
            float(2 * (pred_t2 & truth_t2).sum() / (pred_t2.sum() + truth_t2.sum()))
            if truth_t2.any()
            else None
        )
        found = find_bed(net, case.t2w, case.high_b, case.adc)
        bed_truth = np.asarray(case.bed.array) > 0
        bed_found = (
            np.asarray(found.mask.array) > 0 if found is not None else np.zeros_like(bed_truth)
        )
        bed_dice = float(
            2 * (bed_found & bed_truth).sum() / max(bed_found.sum() + bed_truth.sum(), 1)
        )
        rows.append(
            {
                "case_id": case.case_id,
                "case_type": case.case_type,
                "label": int(case.label),
                "rules": case.rules_p,
                "radiomics": p_rad,
                "network": score.p_residual,
                "fusion": fused.p_residual,
                "uncertainty": fused.uncertainty,
                "dice": dice,
                "dice_crop": dice_crop,
                "bed_search_dice": bed_dice,
                "tumour_extent_mm": _extent_mm(np.asarray(case.tumour.array), case.t2w.spacing),
                "truth_in_crop": float(truth.sum() * np.prod(net.spec.spacing_xyz))
                / max(float((case.tumour.array > 0).sum() * case.t2w.voxel_volume_mm3), 1e-9)
                if case.label
                else None,
            }
        )
    args.out.mkdir(parents=True, exist_ok=True)
    y = np.asarray([r["label"] for r in rows])
    results: dict[str, object] = {"cases": len(rows), "residual": int(y.sum())}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    for name in SCORERS:
        p = np.asarray([r[name] if r[name] is not None else 0.0 for r in rows], float)
        fpr, tpr, _ = roc_curve(y, p)
        auc = float(roc_auc_score(y, p))
        results[name] = {
            "auc": auc,
            "min_p_residual_cases": float(p[y == 1].min()),
            "max_p_nonresidual_cases": float(p[y == 0].max()),
            "residual_below_0.1": int((p[y == 1] < 0.1).sum()),
            "nonresidual_above_0.2": int((p[y == 0] > 0.2).sum()),
        }
        ax.plot(fpr, tpr, label=f"{name} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set_xlabel("1 - specificity")
    ax.set_ylabel("sensitivity")
    ax.set_title(f"Residual tumour, phantom cohort (n={len(rows)})")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(args.out / "roc.png", dpi=120)
    big = [r for r in rows if r["dice"] is not None and r["tumour_extent_mm"] >= 5.0]
    results["dice_foci_ge_5mm"] = {
        "mean": float(np.mean([r["dice"] for r in big])),
        "min": float(np.min([r["dice"] for r in big])),
        "mean_on_crop_grid": float(np.mean([r["dice_crop"] for r in big])),
        "n": len(big),
    }
    bed_dices = np.asarray([r["bed_search_dice"] for r in rows])
    results["bed_search"] = {
        "dice_mean": float(bed_dices.mean()),
        "dice_median": float(np.median(bed_dices)),
        "found_share_dice_gt_0.5": float((bed_dices > 0.5).mean()),
        "n": len(rows),
    }
    per_type: dict[str, dict[str, object]] = {}
    for t in sorted({r["case_type"] for r in rows}):
        sub = [r for r in rows if r["case_type"] == t]
        dices = [r["dice"] for r in sub if r["dice"] is not None]
        per_type[t] = {
            "n": len(sub),
            **{f"mean_p_{n}": float(np.mean([r[n] or 0.0 for r in sub])) for n in SCORERS},
            "min_p_fusion": float(min(r["fusion"] for r in sub)),
            "max_p_fusion": float(max(r["fusion"] for r in sub)),
            "dice_mean": float(np.mean(dices)) if dices else None,
        }
    results["per_case_type"] = per_type
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    with (args.out / "cases.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    lines = []
    for name in SCORERS:
        r = results[name]
        assert isinstance(r, dict)
        lines.append(
            f"| residual tumour AUC, {name} (phantoms n={len(rows)}, unseen seed) "
            f"| {r['auc']:.3f} | min P over residual cases {r['min_p_residual_cases']:.3f} |"
        )
    d = results["dice_foci_ge_5mm"]
    assert isinstance(d, dict)
    lines.append(
        f"| segnet-v2 Dice, residual foci >= 5 mm (n={d['n']}) "
        f"| {d['mean']:.3f} | min {d['min']:.3f} |"
    )
    b = results["bed_search"]
    assert isinstance(b, dict)
    lines.append(
        f"| segnet-v2 bed search without a mask (n={b['n']}): Dice vs the bed used "
        f"| {b['dice_mean']:.3f} | Dice > 0.5 in {100 * b['found_share_dice_gt_0.5']:.0f} % |"
    )
    (args.out / "table.md").write_text("\n".join(lines) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
