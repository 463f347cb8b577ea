"""Self-contained ``report.html``: decision, criteria table, figures (embedded PNG), quality."""

from __future__ import annotations

import base64
import html
from typing import Any

from pipeline import RESEARCH_USE_STATEMENT

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;
  color:#1d2733;max-width:1200px}
.banner{background:#fff3cd;border:1px solid #e0c36b;padding:8px 12px;border-radius:6px;
  font-weight:600}
.decision{font-size:28px;font-weight:700;margin:16px 0 4px}
.cCR{color:#1a7f37}.near_cCR{color:#9a6700}.incomplete{color:#cf222e}.indeterminate{color:#57606a}
table{border-collapse:collapse;margin:8px 0 16px;font-size:14px}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}.met{color:#1a7f37;font-weight:600}.not_met{color:#cf222e;font-weight:600}
.unknown{color:#57606a;font-weight:600}figure{margin:8px 0 20px}img{max-width:100%}
code{font-size:12px;white-space:pre-wrap}
"""


def _value_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value_text(v) for v in value) + "]"
    return str(value)


def _evidence_text(evidence: Any) -> str:
    if isinstance(evidence, dict):
        return "; ".join(f"{k}: {_value_text(v)}" for k, v in evidence.items())
    return _value_text(evidence)


_QUALITY_FIELDS = {
    "diffusion": (
        ("b_values_used", "b-values used (s/mm²)"),
        ("snr_b_low", "SNR of the lowest b"),
        ("noise_method", "noise estimate"),
        ("fitted_fraction", "fraction of body voxels fitted"),
        ("median_rms_residual", "median fit residual (log signal)"),
    ),
    "registration_dwi_t2w": (
        ("metric_before", "MI before"),
        ("metric_after", "MI after"),
        ("rotation_deg", "rotation (deg)"),
        ("translation_mm", "translation (mm)"),
        ("seconds", "seconds"),
        ("problems", "problems"),
    ),
    "registration_baseline": (
        ("metric_before", "MI before"),
        ("metric_after", "MI after"),
        ("rotation_deg", "rotation (deg)"),
        ("translation_mm", "translation (mm)"),
        ("max_displacement_mm", "max deformation (mm)"),
        ("folding_fraction", "folding fraction"),
        ("seconds", "seconds"),
        ("problems", "problems"),
    ),
}
_QUALITY_TITLES = {
    "diffusion": "DWI and ADC fit",
    "registration_dwi_t2w": "DWI to T2W registration",
    "registration_baseline": "Baseline to restaging registration",
}


def _quality_html(quality: dict[str, Any]) -> list[str]:
    """Readable tables of the quality figures; problems first."""
    parts = []
    problems = quality.get("problems") or []
    if problems:
        parts.append("<p><b>Quality problems (no cCR can be called on them):</b></p><ul>")
        parts += [
            f"<li>{html.escape(str(p.get('problem')))}: {html.escape(str(p.get('detail')))}</li>"
            for p in problems
        ]
        parts.append("</ul>")
    else:
        parts.append("<p>No quality problem was found.</p>")
    for section, fields in _QUALITY_FIELDS.items():
        values = quality.get(section)
        if not values:
            continue
        parts.append(f"<h3>{_QUALITY_TITLES[section]}</h3><table>")
        for key, label in fields:
            if key in values:
                value = values[key]
                shown = ", ".join(map(str, value)) if isinstance(value, list) else value
                parts.append(
                    f"<tr><th>{html.escape(label)}</th><td>{html.escape(str(shown))}</td></tr>"
                )
        parts.append("</table>")
    return parts


def render_report(
    decision: dict[str, Any],
    *,
    figures: list[tuple[str, bytes]],
    quality: dict[str, Any],
) -> str:
    """HTML text of the report. ``figures`` are (caption, PNG bytes) pairs, embedded inline."""
    outcome = str(decision.get("decision", "indeterminate"))
    outcome_html = html.escape(outcome)
    rows = []
    for criterion in decision.get("criteria", []):
        status = html.escape(str(criterion.get("status", "unknown")))
        rows.append(
            f"<tr><td>{html.escape(str(criterion.get('name')))}</td>"
            f"<td class='{status}'>{status}</td>"
            f"<td>{html.escape(_evidence_text(criterion.get('evidence', '')))}</td></tr>"
        )
    figure_html = []
    for index, (caption, png) in enumerate(figures):
        data = base64.b64encode(png).decode("ascii")
        caption_html = html.escape(caption)
        figure_html.append(
            f"<figure id='figure-{index}'><img alt='{caption_html}' "
            f"src='data:image/png;base64,{data}'><figcaption>{caption_html}</figcaption></figure>"
        )
    p = decision.get("p_residual")
    p_text = "not available" if p is None else f"{float(p):.3f}"
    missing = decision.get("missing") or []
    notes = decision.get("context_notes") or []
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>ccr-pipeline report {html.escape(str(decision.get('study_key', '')))}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<div class='banner'>{html.escape(RESEARCH_USE_STATEMENT)}</div>",
        f"<h1>Response assessment, study {html.escape(str(decision.get('study_key', '')))}</h1>",
        f"<div class='decision {outcome_html}' id='decision'>Decision: {outcome_html}</div>",
        f"<p>P(residual tumour): <b>{p_text}</b></p>",
        f"<p>{html.escape(str(decision.get('rationale', '')))}</p>",
    ]
    if missing:
        parts.append(f"<p><b>Missing inputs:</b> {html.escape(', '.join(map(str, missing)))}</p>")
    parts += [
        "<h2>Criteria</h2><table><tr><th>criterion</th><th>status</th><th>evidence</th></tr>",
        *rows,
        "</table>",
    ]
    if notes:
        parts.append("<h2>Context</h2><ul>")
        parts += [
            f"<li>{html.escape(str(n.get('text', n)) if isinstance(n, dict) else str(n))}</li>"
            for n in notes
        ]
        parts.append("</ul>")
    parts.append("<h2>Images</h2>")
    parts += figure_html or ["<p>No images could be rendered for this study.</p>"]
    parts += ["<h2>Quality</h2>", *_quality_html(quality)]
    parts.append(f"<p class='banner'>{html.escape(RESEARCH_USE_STATEMENT)}</p></body></html>")
    return "\n".join(parts)
