"""The HTML page of an ``apply``: what ran, the rate's trajectory, and each step with its evidence.

One self-contained file (no script, no external asset) that reads on a phone as on a desktop: a
viewport meta, a chart that scales with the page (an SVG viewBox), a steps table that becomes one
card per step below 640 px, and evidence pretty-printed and wrapped instead of one escaped line.
Predicted and measured rates stay apart where they are equal (a hollow square around a dot, a dashed
line over a solid one); the final full measurement is its own point. Every string passes through the
masker, so a secret shows only as its fingerprint (``***(sha256:1a2b)``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .report import subject
from .secrets import MASKER

# The chart's own coordinates, one set for a wide page and one for a phone; the page scales them.
_WIDE, _NARROW, _H = 720, 400, 300
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 16, 16, 40
_LABEL_ROOM = 44  # the least room an x label needs; closer labels are thinned out
NONE = "\N{EN DASH}"  # a value not measured

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>remediate apply: {{ doc.target_name }}</title>
<style>
*{box-sizing:border-box}
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;padding:16px;max-width:1100px;
color:#1d2330;overflow-wrap:anywhere}
h1{font-size:1.35rem;margin:0 0 .5rem} h2{font-size:1.1rem;margin:1.6rem 0 .5rem}
.verdict{font-size:1.05rem;margin:.2rem 0 .8rem} .met{color:#187a2f} .notmet{color:#b3261e}
dl.meta{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:2px 12px;margin:0 0 1rem}
dl.meta dt{color:#5b6275} dl.meta dd{margin:0}
code,pre{font:12.5px/1.45 ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace}
.chart{max-width:820px} .chart>svg{display:block;width:100%;height:auto} .chart>svg.narrow{display:none}
.chart text{font-size:13px;fill:#3b4252} .chart .grid{stroke:#e6e8f0} .chart .frame{fill:#fbfbfe;stroke:#dde}
.legend{display:flex;flex-wrap:wrap;gap:4px 18px;margin:.3rem 0 0;padding:0;list-style:none;font-size:13px}
.legend svg{vertical-align:middle;margin-right:4px}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #dde;padding:6px 8px;text-align:left;vertical-align:top}
th{font-weight:600;color:#3b4252;background:#f5f6fa} .num{text-align:right;white-space:nowrap}
td.status{white-space:nowrap;overflow-wrap:normal}
.ok{color:#187a2f} .changed{color:#a86400} .failed,.rolled,.needs{color:#b3261e}
.muted{color:#5b6275} .subject{font-weight:600}
details{margin:.3rem 0} summary{cursor:pointer;color:#1f5fbf}
pre{background:#f5f6fa;border:1px solid #e6e8f0;border-radius:4px;padding:8px;margin:.35rem 0;
white-space:pre-wrap;overflow-wrap:anywhere;max-width:100%}
.diff span{display:inline-block;min-width:100%}
.diff .add{color:#116329;background:#e6ffec} .diff .del{color:#82071e;background:#ffebe9}
.diff .hunk{color:#0550ae} .diff .file{color:#5b6275;font-weight:600}
.action{margin:.5rem 0 .2rem} .action b{font-weight:600}
ul{padding-left:1.2rem}
@media (max-width:640px){
 body{padding:12px;font-size:14px}
 .chart>svg.wide{display:none} .chart>svg.narrow{display:block}
 table.steps thead{display:none}
 table.steps,table.steps tbody,table.steps tr,table.steps td{display:block;width:100%}
 table.steps tr{border-bottom:2px solid #cfd3e0;padding:6px 0}
 table.steps td{border:0;padding:2px 4px}
 table.steps td.num{text-align:left}
 table.steps td[data-label]::before{content:attr(data-label) ": ";color:#5b6275}
}
</style></head><body>
<h1>remediate apply — {{ doc.target_name }}</h1>
<p class="verdict">Rate {{ pct(doc.initial_rate) }} → <b>{{ pct(doc.final_rate) }}</b>; target {{ pct(doc.target) }}:
<b class="{{ 'met' if doc.met else 'notmet' }}">{{ "met" if doc.met else "not met" }}</b>.
Stopped: {{ doc.stop_reason }}.</p>
<dl class="meta">
{% for label, value in meta %}<dt>{{ label }}</dt><dd>{{ value }}</dd>
{% endfor %}</dl>

<h2>Trajectory</h2>
{% macro chart(c, cls) %}
<svg class="{{ cls }}" viewBox="0 0 {{ c.W }} {{ c.H }}" role="img"
 aria-label="rate after each step: predicted and measured"{% if cls == 'narrow' %} aria-hidden="true"{% endif %}>
 <rect class="frame" x="{{ c.left }}" y="{{ c.top }}" width="{{ c.W - c.left - c.right }}"
 height="{{ c.H - c.top - c.bottom }}"/>
 {% for y in [0, 0.25, 0.5, 0.75, 1.0] %}<line class="grid" x1="{{ c.left }}" x2="{{ c.W - c.right }}"
 y1="{{ c.sy(y) }}" y2="{{ c.sy(y) }}"/><text x="{{ c.left - 8 }}" y="{{ c.sy(y) + 5 }}"
 text-anchor="end">{{ pct0(y) }}</text>
 {% endfor %}
 <line x1="{{ c.left }}" x2="{{ c.W - c.right }}" y1="{{ c.sy(doc.target) }}" y2="{{ c.sy(doc.target) }}"
 stroke="#7a7f8c" stroke-dasharray="2 4" stroke-width="1.5"/>
 <polyline fill="none" stroke="#1f5fbf" stroke-width="3" points="{{ c.measured_line }}"/>
 <polyline fill="none" stroke="#1f5fbf" stroke-width="2" stroke-dasharray="1 4" points="{{ c.final_link }}"/>
 {% for seg in c.predicted_segments %}<line x1="{{ seg[0] }}" y1="{{ seg[1] }}" x2="{{ seg[2] }}" y2="{{ seg[3] }}"
 stroke="#c26a00" stroke-width="2" stroke-dasharray="6 5"/>{% endfor %}
 {% for p in c.predicted_points %}<rect x="{{ p.x - 7 }}" y="{{ p.y - 7 }}" width="14" height="14" fill="none"
 stroke="#c26a00" stroke-width="2"><title>{{ p.label }}</title></rect>{% endfor %}
 {% for p in c.measured_points %}<circle cx="{{ p.x }}" cy="{{ p.y }}" r="4.5" fill="#1f5fbf">
 <title>{{ p.label }}</title></circle>{% endfor %}
 <path d="M {{ c.final.x }} {{ c.final.y - 8 }} l 8 8 l -8 8 l -8 -8 z" fill="#187a2f" stroke="#fff"
 stroke-width="1.5"><title>{{ c.final.label }}</title></path>
 {% for x, label in c.xs %}<text x="{{ x }}" y="{{ c.H - 12 }}" text-anchor="middle">{{ label }}</text>{% endfor %}
</svg>
{% endmacro %}
<div class="chart">
{{ chart(wide, "wide") }}
{{ chart(narrow, "narrow") }}
<ul class="legend">
 <li><svg width="30" height="12"><line x1="0" x2="30" y1="6" y2="6" stroke="#1f5fbf" stroke-width="3"/>
 <circle cx="15" cy="6" r="4" fill="#1f5fbf"/></svg>measured after the step</li>
 <li><svg width="30" height="14"><line x1="0" x2="30" y1="7" y2="7" stroke="#c26a00" stroke-width="2"
 stroke-dasharray="6 5"/><rect x="9" y="1" width="12" height="12" fill="none" stroke="#c26a00" stroke-width="2"/>
 </svg>predicted before it</li>
 <li><svg width="18" height="18"><path d="M 9 1 l 8 8 l -8 8 l -8 -8 z" fill="#187a2f"/></svg>final full run
 ({{ pct(doc.final_rate) }})</li>
 <li><svg width="30" height="12"><line x1="0" x2="30" y1="6" y2="6" stroke="#7a7f8c" stroke-dasharray="2 4"
 stroke-width="1.5"/></svg>target ({{ pct(doc.target) }})</li>
</ul>
</div>

<h2>Steps</h2>
{% if doc.steps %}
<table class="steps"><thead><tr><th>#</th><th>finding</th><th>status</th><th class="num">time</th>
<th class="num">predicted</th><th class="num">measured</th></tr></thead><tbody>
{% for s in doc.steps %}<tr>
<td data-label="step">{{ loop.index }}</td>
<td><b>{{ s.finding.name }}</b>{% if subject(s.finding) %}<br><span class="subject">{{ subject(s.finding) }}</span>
{% endif %}<br><span class="muted">{{ s.finding.id }}{% if s.attempt and s.attempt > 1 %}, attempt {{ s.attempt }}
{% endif %}</span>{% if s.reason %}<br>{{ s.reason }}{% endif %}
<details><summary>evidence ({{ s.evidence | length }}) and actions ({{ s.actions | length }})</summary>
{% for e in s.evidence %}<pre>{{ pretty(e) }}</pre>{% endfor %}
{% for a in s.actions %}<div class="action"><b>{{ a.action }}</b>:
<span class="{{ a.result.split()[0] }}">{{ a.result }}</span> {{ a.message }}</div>
{% if a.diff %}<pre class="diff">{% for cls, line in diff_lines(a.diff) %}<span class="{{ cls }}">{{ line }}</span>
{% endfor %}</pre>
{% endif %}{% endfor %}</details></td>
<td data-label="status" class="status {{ s.status.split()[0] }}">{{ s.status }}</td>
<td data-label="time" class="num">{{ seconds(s.duration_s) }}</td>
<td data-label="predicted" class="num">{{ pct(s.predicted_rate) }}</td>
<td data-label="measured" class="num">{{ pct(s.rate_after) }}{% if s.rate_after == s.predicted_rate %}
<span class="muted" title="as predicted">=</span>{% endif %}</td>
</tr>{% endfor %}
</tbody></table>
{% else %}<p>No step was taken.</p>{% endif %}

{% if doc.excluded %}<h2>Not taken any more</h2><ul>{% for key, why in doc.excluded.items() %}
<li><b>{{ key }}</b>: {{ why }}</li>{% endfor %}</ul>{% endif %}

{% if doc.suite_findings %}<h2>Findings against the suite (not applied without --fix-suite)</h2>
{% for f in doc.suite_findings %}<p><b>{{ f.name }}</b> <span class="muted">{{ f.key }}</span></p>
{% if f.patch %}<pre class="diff">{% for cls, line in diff_lines(f.patch) %}<span class="{{ cls }}">{{ line }}</span>
{% endfor %}</pre>
{% endif %}{% endfor %}{% endif %}

{% if doc.diagnoses or doc.analysis %}<h2>Diagnoses without a fix taken</h2>
{% for d in doc.diagnoses %}<p><b>{{ d.name }}</b> <span class="muted">{{ d.key }}</span><br>{{ d.description }}</p>
<details><summary>evidence ({{ d.evidence | length }})</summary>{% for e in d.evidence %}<pre>{{ pretty(e) }}</pre>
{% endfor %}</details>{% endfor %}
{% for d in doc.analysis %}<p><b>{{ d.title }}</b> <span class="muted">{{ d.key }}, {{ d.confidence }} confidence</span>
<br>{{ d.cause }}<br><i>fix:</i> {{ d.fix }}</p>
<details><summary>evidence ({{ d.evidence | length }})</summary>{% for e in d.evidence %}<pre>{{ pretty(e) }}</pre>
{% endfor %}</details>{% endfor %}{% endif %}

{% if doc.unexplained %}<h2>Unexplained: failing checks no finding explains ({{ doc.unexplained | length }})</h2>
{% for u in doc.unexplained %}<p><code>{{ u.check }}</code> ({{ u.status }})</p><pre>{{ pretty(u) }}</pre>
{% endfor %}{% endif %}

{% if doc.remaining_failures %}<h2>Still failing after the final run ({{ doc.remaining_failures | length }})</h2>
<ul>{% for r in doc.remaining_failures %}<li><code>{{ r.id }}</code> ({{ r.status }}): {{ r.reason }}</li>
{% endfor %}</ul>{% endif %}
</body></html>
"""


def _pct(value: float | None) -> str:
    return NONE if value is None else f"{value:.1%}"


def _pct0(value: float) -> str:
    return f"{value:.0%}"


def _seconds(value: float | None) -> str:
    return NONE if value is None else f"{value:.1f} s"


def _unnest(value: Any) -> Any:
    """JSON carried inside a string (a response body) is shown as the structure it is."""
    if isinstance(value, dict):
        return {k: _unnest(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unnest(v) for v in value]
    if isinstance(value, str) and value[:1] in "{[" and value.rstrip()[-1:] in "}]":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _pretty(evidence: Any) -> str:
    return json.dumps(_unnest(evidence), indent=2, ensure_ascii=False, default=str)


def _diff_lines(diff: str) -> list[tuple[str, str]]:
    """Each line of a unified diff with the class that colours it."""
    out = []
    for line in diff.rstrip("\n").splitlines():
        if line.startswith(("+++", "---")):
            cls = "file"
        elif line.startswith("@@"):
            cls = "hunk"
        elif line.startswith("+"):
            cls = "add"
        elif line.startswith("-"):
            cls = "del"
        else:
            cls = "ctx"
        out.append((cls, line))
    return out


def _meta(doc: dict[str, Any], meta: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [
        ("date", meta.get("date")),
        ("command", meta.get("command")),
        ("duration", _seconds(meta["duration_s"]) if meta.get("duration_s") is not None else None),
        ("target", meta.get("target") or doc.get("target_name")),
        ("run", doc.get("run_id")),
        ("test runs", doc.get("test_runs")),
        ("steps", len(doc.get("steps", ()))),
    ]
    return [(label, str(value)) for label, value in rows if value not in (None, "")]


def _chart(doc: dict[str, Any], width: int) -> dict[str, Any]:
    """Coordinates of the trajectory: x is the step (start, 1..n, final), y the rate."""
    steps = doc["steps"]
    slots = len(steps) + 2  # start, each step, the final run
    span = width - _LEFT - _RIGHT - 36

    def sx(i: int) -> float:
        return round(_LEFT + 18 + span * i / max(1, slots - 1), 1)

    def sy(rate: float) -> float:
        return round(_TOP + (_H - _TOP - _BOTTOM) * (1 - rate), 1)

    measured = [{"x": sx(0), "y": sy(doc["initial_rate"]), "label": f"start: {_pct(doc['initial_rate'])}"}]
    predicted, segments = [], []
    before = doc["initial_rate"]
    for i, step in enumerate(steps, 1):
        start = step.get("rate_before")
        start = before if start is None else start
        px, py = sx(i), sy(step["predicted_rate"])
        segments.append((sx(i - 1), sy(start), px, py))
        predicted.append({"x": px, "y": py, "label": f"step {i} predicted: {_pct(step['predicted_rate'])}"})
        if step.get("rate_after") is not None:
            before = step["rate_after"]
            measured.append({"x": px, "y": sy(before), "label": f"step {i} measured: {_pct(before)}"})
    final = {"x": sx(slots - 1), "y": sy(doc["final_rate"]), "label": f"final full run: {_pct(doc['final_rate'])}"}
    last = measured[-1]
    every = max(1, math.ceil(_LABEL_ROOM / (span / max(1, slots - 1))))
    labels = ["start", *[str(i) if i % every == 0 else "" for i in range(1, len(steps) + 1)], "final"]
    return {
        "W": width,
        "H": _H,
        "left": _LEFT,
        "right": _RIGHT,
        "top": _TOP,
        "bottom": _BOTTOM,
        "sy": sy,
        "measured_line": " ".join(f"{p['x']},{p['y']}" for p in measured),
        "final_link": f"{last['x']},{last['y']} {final['x']},{final['y']}",
        "measured_points": measured,
        "predicted_points": predicted,
        "predicted_segments": segments,
        "final": final,
        "xs": [(sx(i), label) for i, label in enumerate(labels) if label],
    }


def render_html(doc: dict[str, Any], meta: dict[str, Any] | None = None) -> str:
    """The page for an apply result (the JSON document ``apply --json`` prints), masked."""
    from jinja2 import Environment

    doc = MASKER.mask_data(doc)
    page = (
        Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
        .from_string(_PAGE)
        .render(
            doc=doc,
            meta=_meta(doc, MASKER.mask_data(meta or {})),
            pct=_pct,
            pct0=_pct0,
            seconds=_seconds,
            pretty=_pretty,
            diff_lines=_diff_lines,
            subject=subject,
            wide=_chart(doc, _WIDE),
            narrow=_chart(doc, _NARROW),
        )
    )
    return MASKER.mask(page)


def write_html(doc: dict[str, Any], path: Path, meta: dict[str, Any] | None = None) -> None:
    """Write the page atomically; ``meta`` names the run: date, command, duration_s, target."""
    from .backends.files import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, render_html(doc, meta).encode())
