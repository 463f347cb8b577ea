"""report.html opened in headless Chromium: the decision is shown and both figures render.

The test adds a small script to its copy of the report that writes each figure's layout box
and decoded image size into the DOM; ``--dump-dom`` returns them, and a screenshot at the same
window size gives the pixels inside those boxes.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from pipeline import RESEARCH_USE_STATEMENT
from pipeline.report import Panel, overlay_figure, render_report
from pipeline.volume import Volume, VolumeKind

WINDOW = (1280, 2400)
BROWSER_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")

_LAYOUT_SCRIPT = """
<script>
window.addEventListener('load', () => {
  const boxes = [...document.querySelectorAll('figure img')].map((img) => {
    const r = img.getBoundingClientRect();
    return {x: r.left + window.scrollX, y: r.top + window.scrollY, w: r.width, h: r.height,
            natural: img.naturalWidth, complete: img.complete};
  });
  const out = document.createElement('pre');
  out.id = 'layout';
  out.textContent = JSON.stringify(boxes);
  out.style.display = 'none';
  document.body.appendChild(out);
});
</script>
"""


def _browser() -> str:
    for candidate in BROWSER_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    pytest.skip("headless Chromium not installed (apt-get install -y chromium)")


def _chromium(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--user-data-dir={profile}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--virtual-time-budget=5000",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def _phantom() -> tuple[Volume, Volume, Volume, Volume]:
    z, y, x = np.mgrid[0:9, 0:80, 0:80]
    r2 = ((y - 40) / 18.0) ** 2 + ((x - 40) / 22.0) ** 2
    t2w_array = 200.0 + 600.0 * (r2 < 1.0) + 30.0 * np.sin(x / 3.0)
    t2w = Volume(array=t2w_array.astype(np.float32), spacing=(0.7, 0.7, 3.0))
    bed = ((y - 42) ** 2 + (x - 38) ** 2 < 64) & (abs(z - 4) <= 2)
    residual = ((y - 42) ** 2 + (x - 36) ** 2 < 9) & (abs(z - 4) <= 2)
    adc = t2w.with_array(np.where(bed, 0.9, 1.5).astype(np.float32), units="1e-3 mm2/s")
    return (
        t2w,
        t2w.with_array(bed.astype(np.uint8), kind=VolumeKind.LABEL),
        t2w.with_array(residual.astype(np.uint8), kind=VolumeKind.LABEL),
        adc,
    )


def _report(tmp_path: Path) -> Path:
    t2w, bed, residual, adc = _phantom()
    figures = [
        (
            "Restaging: tumour bed and restricted diffusion",
            overlay_figure(
                [Panel("T2W", t2w), Panel("ADC", adc, window=(0.0, 3.0), colorbar_label="ADC")],
                bed=bed,
                residual=residual,
                title="phantom",
            ),
        ),
        (
            "Baseline beside restaging",
            overlay_figure(
                [Panel("baseline T2W", t2w), Panel("restaging T2W", t2w)],
                bed=bed,
                residual=None,
                title="baseline vs restaging",
            ),
        ),
    ]
    decision = {
        "study_key": "phantom-001",
        "decision": "near_cCR",
        "p_residual": 0.42,
        "rationale": "small focus of restricted diffusion",
        "criteria": [
            {"name": "dre", "status": "met", "evidence": {"palpable_tumour": False}},
            {"name": "mri_dwi", "status": "not_met", "evidence": {"restricted_volume_ml": 0.2}},
        ],
        "missing": [],
        "context_notes": [],
    }
    html = render_report(decision, figures=figures, quality={"problems": []})
    assert html.count("data:image/png;base64,") == 2
    page = tmp_path / "report.html"
    page.write_text(html.replace("</body>", f"{_LAYOUT_SCRIPT}</body>"), encoding="utf-8")
    return page


def _non_white_fraction(pixels: np.ndarray, box: dict[str, float]) -> float:
    x0, y0 = int(box["x"]) + 2, int(box["y"]) + 2
    x1, y1 = int(box["x"] + box["w"]) - 2, int(box["y"] + box["h"]) - 2
    region = pixels[y0:y1, x0:x1, :3]
    assert region.size > 0, f"figure box {box} lies outside the screenshot"
    return float((region.min(axis=2) < 0.9).mean())


@pytest.mark.slow
def test_report_renders_decision_and_figures_in_chromium(tmp_path: Path) -> None:
    browser = _browser()
    page = _report(tmp_path)
    url = page.resolve().as_uri()

    dumped = _chromium(browser, tmp_path / "profile-dom", "--dump-dom", url)
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = dumped.stdout
    decision = re.search(r'id="decision"[^>]*>([^<]*)<', dom)
    assert decision is not None and decision.group(1).strip() == "Decision: near_cCR"
    assert dom.count(RESEARCH_USE_STATEMENT) == 2  # top banner and footer
    layout = re.search(r'<pre id="layout"[^>]*>([^<]*)</pre>', dom)
    assert layout is not None, "layout script did not run"
    boxes = json.loads(layout.group(1))
    assert len(boxes) == 2
    for box in boxes:
        assert box["complete"] and box["natural"] > 100, f"embedded PNG not decoded: {box}"
        assert box["w"] > 300 and box["h"] > 150
        assert box["y"] + box["h"] <= WINDOW[1], f"figure below the screenshot: {box}"

    shot = tmp_path / "report.png"
    taken = _chromium(browser, tmp_path / "profile-shot", f"--screenshot={shot}", url)
    assert taken.returncode == 0 and shot.is_file(), taken.stderr[-2000:]
    pixels = np.asarray(matplotlib.image.imread(shot), dtype=float)
    assert pixels.shape[:2] == (WINDOW[1], WINDOW[0])
    for box in boxes:
        assert _non_white_fraction(pixels, box) > 0.2, f"figure at {box} is blank"
    margin = {"x": WINDOW[0] - 40.0, "y": boxes[0]["y"], "w": 36.0, "h": boxes[0]["h"]}
    assert _non_white_fraction(pixels, margin) < 0.01  # the check can tell blank from drawn
