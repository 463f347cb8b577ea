"""ccr evaluate: metrics against an independent scikit-learn computation, plots, errors, CLI.

The expected values are computed here, from the same CSV files, with pandas and
scikit-learn only (no code of pipeline.evaluate), so a wrong join, filter or formula fails.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, confusion_matrix, roc_auc_score
from typer.testing import CliRunner

from pipeline import RESEARCH_USE_STATEMENT
from pipeline.cli import app
from pipeline.config.decision import DecisionConfig
from pipeline.errors import InputError
from pipeline.evaluate import (
    EvaluationOptions,
    JoinKey,
    evaluate_files,
    labels_to_csv,
    phantom_labels,
    read_labels,
)

REPO = Path(__file__).resolve().parents[1]
OUTCOMES = ["cCR", "near_cCR", "incomplete", "indeterminate"]
DECISION = DecisionConfig()  # shipped defaults: p_residual_ccr_max 0.2, tumour_min 0.8


# --- a realistic synthetic cohort ---------------------------------------------------------


def _cohort(n: int = 90, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Batch-like results and labels: failed studies, missing labels and scores, ties,
    probabilities exactly on calibration bin edges, every outcome."""
    rng = np.random.default_rng(seed)
    residual = rng.random(n) < 0.4
    p = np.clip(rng.normal(0.3 + 0.35 * residual, 0.2), 0.0, 1.0).round(2)  # ties, bin edges
    p[:4] = [0.1, 0.2, 0.8, 1.0]
    outcome = np.where(p <= 0.2, "cCR", np.where(p >= 0.8, "incomplete", "near_cCR")).astype(object)
    outcome[rng.random(n) < 0.1] = "indeterminate"
    status = np.where(rng.random(n) < 0.08, "failed", "done")
    results = pd.DataFrame(
        {
            "study_key": [f"s{i:04x}" for i in range(n)],
            "input": [f"case-{i:03d}" for i in range(n)],
            "status": status,
            "outcome": np.where(status == "failed", "", outcome),
            "p_residual": np.where(status == "failed", np.nan, p),
            "p_rules": rng.random(n).round(3),
        }
    )
    results.loc[11, "p_residual"] = np.nan  # done, decided, but no score
    results.loc[11, "status"] = "done"
    reference = np.where(residual, np.where(p > 0.5, "incomplete", "near_cCR"), "cCR")
    labels = pd.DataFrame(
        {
            "input": [f"case-{i:03d}" for i in range(n)],
            "residual": residual.astype(int).astype(str),
            "reference_outcome": reference,
        }
    )
    labels.loc[[5, 23], "residual"] = ""  # no label: excluded and counted
    labels = labels.drop(index=[n // 2])  # a study without a labels row
    extra = pd.DataFrame({"input": ["case-999"], "residual": ["1"], "reference_outcome": [""]})
    return results, pd.concat([labels, extra], ignore_index=True)


@pytest.fixture()
def cohort(tmp_path: Path) -> tuple[Path, Path]:
    results, labels = _cohort()
    batch = tmp_path / "batch"
    batch.mkdir()
    results.to_csv(batch / "results.csv", index=False)
    labels.to_csv(tmp_path / "labels.csv", index=False)
    return batch / "results.csv", tmp_path / "labels.csv"


def _expected(results_csv: Path, labels_csv: Path) -> dict[str, Any]:
    """The reference computation: pandas join + scikit-learn."""
    res = pd.read_csv(results_csv, dtype={"input": str})
    lab = pd.read_csv(labels_csv, dtype={"input": str, "residual": "Int64"})
    merged = res.merge(lab, on="input", how="left")
    done = merged[merged["status"] == "done"]
    labelled = done[done["residual"].notna()]
    scored = labelled[labelled["p_residual"].notna()]
    y = scored["residual"].astype(int).to_numpy()
    p = scored["p_residual"].astype(float).to_numpy()
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy="uniform")
    decided = labelled[labelled["outcome"].notna()]
    referenced = decided[decided["reference_outcome"].notna()]

    def sens_spec(pred: np.ndarray) -> tuple[float, float]:
        tn, fp, fn, tp = confusion_matrix(y, pred.astype(int), labels=[0, 1]).ravel()
        return tp / (tp + fn), tn / (tn + fp)

    return {
        "failed": int((merged["status"] == "failed").sum()),
        "no_label": int(len(done) - len(labelled)),
        "evaluated": len(labelled),
        "scored": len(scored),
        "auc": roc_auc_score(y, p),
        "brier": brier_score_loss(y, p),
        "prob_true": prob_true,
        "prob_pred": prob_pred,
        "ccr_max": sens_spec(p > DECISION.p_residual_ccr_max),
        "tumour_min": sens_spec(p >= DECISION.p_residual_tumour_min),
        "vs_residual": confusion_matrix(
            np.where(decided["residual"].astype(int) == 1, "residual", "no_residual"),
            decided["outcome"],
            labels=["residual", "no_residual", *OUTCOMES],
        )[:2, 2:],
        "vs_reference": confusion_matrix(
            referenced["reference_outcome"], referenced["outcome"], labels=OUTCOMES
        ),
        "y": y,
        "p": p,
    }


def _run(results: Path, labels: Path | None, out: Path, **options: Any) -> dict[str, Any]:
    evaluate_files(results, labels, out, decision=DECISION, options=EvaluationOptions(**options))
    metrics: dict[str, Any] = json.loads((out / "metrics.json").read_text())
    return metrics


# --- metrics equal scikit-learn's ---------------------------------------------------------


def test_metrics_equal_independent_sklearn(cohort: tuple[Path, Path], tmp_path: Path) -> None:
    results_csv, labels_csv = cohort
    got = _run(results_csv, labels_csv, tmp_path / "out", n_bootstrap=200)
    want = _expected(results_csv, labels_csv)

    counts = got["counts"]
    assert counts["excluded_status"] == {"failed": want["failed"]}
    assert counts["excluded_no_label"] == want["no_label"]
    assert counts["evaluated"] == want["evaluated"]
    assert counts["scored"] == want["scored"]
    assert counts["excluded_no_score"] == 1
    assert counts["labels_without_result"] == 1  # case-999
    assert "1 of 90 labels match no results row by 'input'" in got["warnings"]
    assert got["auc"]["value"] == pytest.approx(want["auc"], abs=1e-12)
    assert got["calibration"]["brier"] == pytest.approx(want["brier"], abs=1e-12)
    filled = [b for b in got["calibration"]["bins"] if b["n"] > 0]
    np.testing.assert_allclose([b["fraction_positive"] for b in filled], want["prob_true"])
    np.testing.assert_allclose([b["mean_predicted"] for b in filled], want["prob_pred"])
    points = {pt["name"]: pt for pt in got["operating_points"]}
    assert got["primary_operating_point"] == "ccr_max"
    for name in ("ccr_max", "tumour_min"):
        sens, spec = want[name]
        assert points[name]["sensitivity"] == pytest.approx(sens, abs=1e-12)
        assert points[name]["specificity"] == pytest.approx(spec, abs=1e-12)
    assert points["ccr_max"]["threshold"] == 0.2
    assert points["tumour_min"]["threshold"] == 0.8
    decisions = got["decisions"]
    assert decisions["outcomes"] == OUTCOMES
    assert decisions["vs_residual"]["matrix"] == want["vs_residual"].tolist()
    assert decisions["vs_reference"]["matrix"] == want["vs_reference"].tolist()
    ref = want["vs_reference"]
    assert decisions["vs_reference"]["agreement"] == pytest.approx(np.trace(ref) / ref.sum())


def test_bootstrap_ci_reproduced_by_independent_resampling(
    cohort: tuple[Path, Path], tmp_path: Path
) -> None:
    """The documented draw order (per resample: positive indices, then negative ones, from
    default_rng(seed)) with sklearn's AUC and numpy's percentiles gives the same interval."""
    results_csv, labels_csv = cohort
    n_boot, seed = 300, 11
    got = _run(results_csv, labels_csv, tmp_path / "out", n_bootstrap=n_boot, seed=seed)
    want = _expected(results_csv, labels_csv)
    y, p = want["y"], want["p"]
    pos, neg = p[y == 1], p[y == 0]
    rng = np.random.default_rng(seed)
    aucs = []
    for _ in range(n_boot):
        draw_pos = pos[rng.integers(0, pos.size, size=pos.size)]
        draw_neg = neg[rng.integers(0, neg.size, size=neg.size)]
        truth = np.r_[np.ones(pos.size), np.zeros(neg.size)]
        aucs.append(roc_auc_score(truth, np.r_[draw_pos, draw_neg]))
    low, high = np.percentile(aucs, [2.5, 97.5])
    assert got["auc"]["ci_low"] == pytest.approx(low, abs=1e-12)
    assert got["auc"]["ci_high"] == pytest.approx(high, abs=1e-12)


def test_bootstrap_ci_contains_auc_and_is_seeded(cohort: tuple[Path, Path], tmp_path: Path) -> None:
    results_csv, labels_csv = cohort
    a = _run(results_csv, labels_csv, tmp_path / "a", n_bootstrap=500, seed=3)["auc"]
    b = _run(results_csv, labels_csv, tmp_path / "b", n_bootstrap=500, seed=3)["auc"]
    c = _run(results_csv, labels_csv, tmp_path / "c", n_bootstrap=500, seed=4)["auc"]
    assert a["ci_low"] < a["value"] < a["ci_high"]
    assert (a["ci_low"], a["ci_high"]) == (b["ci_low"], b["ci_high"])
    assert (a["ci_low"], a["ci_high"]) != (c["ci_low"], c["ci_high"])
    assert a["value"] == c["value"]
    assert (a["n_bootstrap"], a["seed"], a["ci_level"]) == (500, 3, 0.95)


def test_parquet_and_batch_folder_give_the_csv_metrics(
    cohort: tuple[Path, Path], tmp_path: Path
) -> None:
    results_csv, labels_csv = cohort
    frame = pd.read_csv(results_csv, dtype={"outcome": str})
    frame.to_parquet(results_csv.with_suffix(".parquet"))
    from_csv = _run(results_csv, labels_csv, tmp_path / "csv", n_bootstrap=200)
    from_dir = _run(results_csv.parent, labels_csv, tmp_path / "dir", n_bootstrap=200)
    assert from_dir["inputs"]["results"]["path"].endswith("results.parquet")  # preferred
    for key in ("counts", "auc", "operating_points", "calibration", "decisions"):
        assert from_dir[key] == from_csv[key], key


def test_column_aliases_entry_and_decision(cohort: tuple[Path, Path], tmp_path: Path) -> None:
    """A results table that says ``entry`` / ``decision`` reads as ``input`` / ``outcome``;
    extra columns (other scorers, timings) are ignored."""
    results_csv, labels_csv = cohort
    frame = pd.read_csv(results_csv, dtype=str, keep_default_na=False)
    renamed = frame.rename(columns={"input": "entry", "outcome": "decision"}).assign(seconds="12.5")
    aliased = _write(tmp_path / "aliased.csv", renamed)
    a = _run(results_csv, labels_csv, tmp_path / "a", n_bootstrap=200)
    b = _run(aliased, labels_csv, tmp_path / "b", n_bootstrap=200)
    for key in ("counts", "auc", "operating_points", "calibration", "decisions"):
        assert a[key] == b[key], key


# --- outputs ----------------------------------------------------------------------------


def test_plots_are_png_and_not_blank(cohort: tuple[Path, Path], tmp_path: Path) -> None:
    import matplotlib.image as mpimg

    out = tmp_path / "out"
    _run(*cohort, out, n_bootstrap=200)
    for name in ("roc.png", "calibration.png"):
        path = out / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        image = mpimg.imread(path)
        assert image.shape[:2] == (660, 660)  # 5.5 in at 120 dpi
        rgb = image[..., :3]
        drawn = np.mean(np.any(rgb < 0.9, axis=-1))
        assert 0.01 < drawn < 0.6, f"{name}: {drawn:.3f} of the pixels drawn"
        assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 20  # curves, text, colours
    assert not list(out.glob(".tmp-*"))


def test_metrics_json_stable_fields(cohort: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    metrics = _run(*cohort, out, n_bootstrap=200)
    assert metrics["research_use"] == RESEARCH_USE_STATEMENT
    assert "Not a medical device" in metrics["research_use"]
    for key in (
        "schema_version",
        "generator",
        "inputs",
        "options",
        "thresholds",
        "counts",
        "auc",
        "primary_operating_point",
        "operating_points",
        "calibration",
        "roc",
        "decisions",
        "warnings",
        "files",
    ):
        assert key in metrics, key
    assert metrics["inputs"]["labels"]["key_column"] == "input"
    assert len(metrics["inputs"]["results"]["sha256"]) == 64
    assert metrics["roc"]["thresholds"][0] is None  # +inf: nobody positive
    assert metrics["roc"]["fpr"][0] == 0.0 and metrics["roc"]["tpr"][-1] == 1.0
    assert len(metrics["calibration"]["bins"]) == 10
    cases = pd.read_csv(out / "cases.csv", dtype=str, keep_default_na=False)
    assert len(cases) == metrics["counts"]["results_rows"]
    excluded = cases["excluded"].value_counts().to_dict()
    assert excluded["status:failed"] == metrics["counts"]["excluded_status"]["failed"]
    assert excluded["no_label"] == metrics["counts"]["excluded_no_label"]


def test_threshold_option_and_config_override(cohort: tuple[Path, Path], tmp_path: Path) -> None:
    results_csv, labels_csv = cohort
    custom = _run(results_csv, labels_csv, tmp_path / "t", n_bootstrap=200, threshold=0.5)
    assert custom["primary_operating_point"] == "custom"
    point = next(pt for pt in custom["operating_points"] if pt["name"] == "custom")
    want = _expected(results_csv, labels_csv)
    predicted = want["p"] >= 0.5
    assert point["tp"] == int(np.sum(predicted & (want["y"] == 1)))
    assert point["fp"] == int(np.sum(predicted & (want["y"] == 0)))

    site = tmp_path / "site.yaml"
    site.write_text("decision:\n  p_residual_ccr_max: 0.3\n")
    out = tmp_path / "cfg"
    result = CliRunner().invoke(
        app,
        [
            *("evaluate", str(results_csv), "--labels", str(labels_csv), "--out", str(out)),
            *("--config", str(site), "--bootstrap", "200"),
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["thresholds"]["p_residual_ccr_max"] == 0.3
    assert str(site) in metrics["thresholds"]["source"]


# --- labels -----------------------------------------------------------------------------


def test_label_formats_and_study_key_join(tmp_path: Path) -> None:
    results, labels = _cohort(n=40)
    results.to_csv(tmp_path / "results.csv", index=False)
    words = labels.assign(
        study_key=labels["input"]
        .map(dict(zip(results["input"], results["study_key"], strict=True)))
        .fillna("s-unknown"),
        label=labels["residual"].map({"1": "Residual", "0": "complete", "": ""}),
    ).drop(columns=["residual", "input"])
    words.to_csv(tmp_path / "words.csv", index=False)
    booleans = labels.assign(
        residual=labels["residual"].map({"1": "true", "0": "False", "": ""})
    ).rename(columns={"input": "entry"})
    booleans.to_csv(tmp_path / "bools.csv", index=False)
    labels.to_csv(tmp_path / "ints.csv", index=False)
    a = _run(tmp_path / "results.csv", tmp_path / "ints.csv", tmp_path / "a", n_bootstrap=200)
    b = _run(tmp_path / "results.csv", tmp_path / "words.csv", tmp_path / "b", n_bootstrap=200)
    c = _run(tmp_path / "results.csv", tmp_path / "bools.csv", tmp_path / "c", n_bootstrap=200)
    assert b["inputs"]["labels"]["key_column"] == "study_key"
    for other in (b, c):
        assert other["auc"] == a["auc"]
        assert other["counts"]["evaluated"] == a["counts"]["evaluated"]


def test_labels_from_the_results_reference_label(tmp_path: Path) -> None:
    results, labels = _cohort(n=50)
    merged = results.merge(
        labels.rename(columns={"residual": "reference_label"}), on="input", how="left"
    )
    merged.to_csv(tmp_path / "results.csv", index=False)
    labels.to_csv(tmp_path / "labels.csv", index=False)
    inline = _run(tmp_path / "results.csv", None, tmp_path / "a", n_bootstrap=200)
    separate = _run(
        tmp_path / "results.csv", tmp_path / "labels.csv", tmp_path / "b", n_bootstrap=200
    )
    assert inline["inputs"]["labels"]["kind"] == "results_reference_label"
    assert inline["auc"] == separate["auc"]
    assert inline["decisions"] == separate["decisions"]


def test_phantom_truth_labels(tmp_path: Path) -> None:
    """Labels from the shipped sample phantoms' truth.json, by library, script and CLI."""
    samples = REPO / "data_samples"
    table = phantom_labels(samples)
    truth = {p.parent.name: json.loads(p.read_text()) for p in sorted(samples.glob("*/truth.json"))}
    assert table.key_column is JoinKey.INPUT
    assert {r.key for r in table.rows} == set(truth)
    for row in table.rows:
        assert row.residual is truth[row.key]["residual_tumour"]
        assert row.reference_outcome is not None
        assert row.reference_outcome.value == truth[row.key]["expected_decision"]

    script = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "phantom_labels.py"),
            str(samples),
            "--out",
            str(tmp_path / "labels.csv"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert script.returncode == 0, script.stderr
    assert (tmp_path / "labels.csv").read_text() == labels_to_csv(table)
    assert read_labels(tmp_path / "labels.csv").rows == table.rows

    # a batch over the samples: residual cases score higher except one, so AUC = 5/6
    scores = {
        "sample-1-complete": 0.1,
        "sample-2-near-complete": 0.45,
        "sample-3-submucosal-residual": 0.9,
        "sample-4-shine-through": 0.6,
        "sample-5-missing-endoscopy": 0.3,
    }
    pd.DataFrame(
        {
            "study_key": [f"k{i}" for i in range(5)],
            "input": list(scores),
            "status": "done",
            "outcome": [truth[k]["expected_decision"] for k in scores],
            "p_residual": list(scores.values()),
        }
    ).to_csv(tmp_path / "results.csv", index=False)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            str(tmp_path / "results.csv"),
            "--labels",
            str(samples),
            "--out",
            str(out),
            "--bootstrap",
            "200",
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["auc"]["value"] == pytest.approx(5 / 6)
    assert metrics["inputs"]["labels"]["kind"] == "phantom_truth"
    assert metrics["decisions"]["vs_reference"]["agreement"] == 1.0
    assert (out / "labels.csv").read_text() == labels_to_csv(table)


# --- bad input --------------------------------------------------------------------------


def _write(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


def test_missing_columns_name_file_and_column(cohort: tuple[Path, Path], tmp_path: Path) -> None:
    results_csv, labels_csv = cohort
    frame = pd.read_csv(results_csv, dtype=str)
    no_score = _write(tmp_path / "no_score.csv", frame.drop(columns=["p_residual"]))
    with pytest.raises(InputError, match=r"no_score\.csv.*no score column 'p_residual'"):
        _run(no_score, labels_csv, tmp_path / "o1")
    no_key = _write(tmp_path / "no_key.csv", frame.drop(columns=["input", "study_key"]))
    with pytest.raises(InputError, match=r"no_key\.csv.*need 'study_key' or 'input'"):
        _run(no_key, labels_csv, tmp_path / "o2")
    only_key = _write(tmp_path / "only_key.csv", frame.drop(columns=["input"]))
    with pytest.raises(InputError, match=r"only_key\.csv.*no 'input' column"):
        _run(only_key, labels_csv, tmp_path / "o3")
    labels = pd.read_csv(labels_csv, dtype=str)
    unlabelled = _write(tmp_path / "unlabelled.csv", labels.drop(columns=["residual"]))
    with pytest.raises(InputError, match=r"unlabelled\.csv.*no label column"):
        _run(results_csv, unlabelled, tmp_path / "o4")
    with pytest.raises(InputError, match=r"no --labels given.*'reference_label'"):
        _run(results_csv, None, tmp_path / "o5")
    assert not (tmp_path / "o1").exists()


def test_one_class_only_is_a_clear_error(cohort: tuple[Path, Path], tmp_path: Path) -> None:
    results_csv, labels_csv = cohort
    labels = pd.read_csv(labels_csv, dtype=str, keep_default_na=False)
    for value, missing in (("0", "residual-tumour"), ("1", "no-residual")):
        path = _write(tmp_path / f"all_{value}.csv", labels.assign(residual=value))
        with pytest.raises(InputError, match=rf"no {missing} \(label [01]\) case"):
            _run(results_csv, path, tmp_path / f"out_{value}")


def test_bad_values_are_errors(cohort: tuple[Path, Path], tmp_path: Path) -> None:
    results_csv, labels_csv = cohort
    labels = pd.read_csv(labels_csv, dtype=str, keep_default_na=False)
    bad_label = _write(tmp_path / "bad_label.csv", labels.assign(residual="maybe"))
    with pytest.raises(InputError, match=r"line 2, column 'residual': label 'maybe'"):
        _run(results_csv, bad_label, tmp_path / "o")
    repeated = _write(tmp_path / "rep.csv", pd.concat([labels, labels.head(1)]))
    with pytest.raises(InputError, match=r"input 'case-000' repeats line 2"):
        _run(results_csv, repeated, tmp_path / "o")
    bad_outcome = _write(
        tmp_path / "bad_outcome.csv", labels.assign(reference_outcome="complete_response")
    )
    with pytest.raises(InputError, match=r"'complete_response' is not one of cCR, near_cCR"):
        _run(results_csv, bad_outcome, tmp_path / "o")
    frame = pd.read_csv(results_csv, dtype=str, keep_default_na=False)
    frame.loc[0, "p_residual"] = "1.7"
    with pytest.raises(InputError, match=r"row 1 \(s0000\): p_residual 1.7 is outside \[0, 1\]"):
        _run(_write(tmp_path / "p.csv", frame), labels_csv, tmp_path / "o")
    other_keys = _write(tmp_path / "other.csv", labels.assign(input="x-" + labels["input"]))
    with pytest.raises(InputError, match=r"no study can be evaluated.*match no results row"):
        _run(results_csv, other_keys, tmp_path / "o")
    assert not (tmp_path / "o").exists()  # nothing written on bad input
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"no results\.parquet or results\.csv"):
        _run(tmp_path / "empty", labels_csv, tmp_path / "o")


# --- CLI ----------------------------------------------------------------------------------


def test_cli_summary_exit_codes_and_help(cohort: tuple[Path, Path], tmp_path: Path) -> None:
    results_csv, labels_csv = cohort
    runner = CliRunner()
    out = tmp_path / "out"
    ok = runner.invoke(
        app,
        [
            *("evaluate", str(results_csv.parent), "--labels", str(labels_csv)),
            *("--out", str(out), "--bootstrap", "200", "--seed", "5", "--bins", "5"),
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert "AUC" in ok.output and "Not a medical device" in ok.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["options"]["seed"], metrics["options"]["calibration_bins"]) == (5, 5)
    assert f"{metrics['auc']['value']:.3f}" in ok.output

    broken = _write(tmp_path / "r.csv", pd.read_csv(results_csv).drop(columns=["p_residual"]))
    bad = runner.invoke(
        app, ["evaluate", str(broken), "--labels", str(labels_csv), "--out", str(tmp_path / "b")]
    )
    assert bad.exit_code == 1
    assert "p_residual" in bad.output and "r.csv" in bad.output

    helped = runner.invoke(app, ["evaluate", "--help"])
    assert helped.exit_code == 0
    for word in ("--labels", "--threshold", "--bootstrap", "--seed", "residual"):
        assert word in helped.output


def test_cli_import_stays_light() -> None:
    """Registering the command must not import pandas or matplotlib for every ccr call."""
    code = (
        "import sys, pipeline.cli; "
        "print(sorted(m for m in ('pandas', 'matplotlib') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_options_are_validated() -> None:
    with pytest.raises(InputError, match="n_bootstrap 10 < 100"):
        EvaluationOptions(n_bootstrap=10)
    with pytest.raises(InputError, match=r"threshold 1.5 not in \[0, 1\]"):
        EvaluationOptions(threshold=1.5)


def test_public_api_resolves() -> None:
    """The lazily loaded public names all exist (a typo in the export table would not)."""
    import pipeline.evaluate as evaluate_pkg

    assert set(evaluate_pkg.__all__) == set(evaluate_pkg._EXPORTS)
    for name in evaluate_pkg.__all__:
        assert getattr(evaluate_pkg, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = evaluate_pkg.nope


def test_reads_the_table_that_ccr_batch_writes(tmp_path: Path) -> None:
    """The two halves meet: rows written by pipeline.batch's own writer (CSV and Parquet,
    its column names) evaluate to scikit-learn's AUC and Brier score, with the batch's
    ``reference_label`` column as the labels and failed studies excluded."""
    from pipeline.batch._results import write_results

    rng = np.random.default_rng(3)
    rows = []
    for i in range(40):
        residual = i % 3 == 0
        failed = i in (5, 17)
        p = float(np.clip(rng.normal(0.25 + 0.5 * residual, 0.2), 0.0, 1.0))
        rows.append(
            {
                "study_key": f"k{i:03d}",
                "entry": f"case-{i:03d}",
                "status": "failed" if failed else "done",
                "decision": None if failed else ("incomplete" if p >= 0.8 else "near_cCR"),
                "p_residual": None if failed else p,
                "reference_label": "residual" if residual else "complete",
                "error": "boom" if failed else None,
            }
        )
    out = tmp_path / "batch"
    out.mkdir()
    write_results(out, rows)
    done = [r for r in rows if r["status"] == "done"]
    y = np.asarray([r["reference_label"] == "residual" for r in done], int)
    p = np.asarray([r["p_residual"] for r in done], float)
    for source in (out / "results.csv", out / "results.parquet"):
        got = _run(source, None, tmp_path / source.suffix.strip("."), n_bootstrap=200)
        assert got["counts"]["excluded_status"] == {"failed": 2}
        assert got["auc"]["value"] == pytest.approx(roc_auc_score(y, p), abs=1e-6)
        assert got["calibration"]["brier"] == pytest.approx(brier_score_loss(y, p), abs=1e-6)
