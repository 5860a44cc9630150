"""Turn results into what people read: a table by category, failure lines, JSON, JUnit XML.

Every string that leaves here has passed through the masker already (results are masked when they
are made); ``emit_json`` masks once more so nothing added later can leak a secret.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .results import FAILED, PASSED, SKIPPED, Run
from .secrets import MASKER


def emit_json(doc: Any) -> None:
    """Print one JSON document on stdout."""
    sys.stdout.write(json.dumps(MASKER.mask_data(doc), indent=2, default=str) + "\n")


def _evidence_line(evidence: dict[str, Any]) -> str:
    parts = []
    for key in ("status", "error", "state", "health", "exit_code", "statuses"):
        if key in evidence:
            parts.append(f"{key}={evidence[key]}")
    producer = (evidence.get("headers") or {}).get("x-service")
    if producer:
        parts.append(f"from={producer}")
    body = evidence.get("body")
    if body:
        parts.append("body=" + " ".join(str(body).split())[:120])
    hl = evidence.get("health_log")
    if hl:
        parts.append("health_log=" + " ".join(str(hl.get("output", "")).split())[:120])
    return "  ".join(parts)


def print_run(run: Run, target: str, until: float | None = None, console: Any = None) -> None:
    """The table by category, the overall rate against the target, then one line per failure."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=f"{target}: {run.total} checks in {run.duration_s:.2f} s", title_justify="left")
    table.add_column("category")
    for col in ("total", PASSED, FAILED, SKIPPED, "rate"):
        table.add_column(col, justify="right")
    for name, c in run.categories().items():
        style = "green" if c[PASSED] == c["total"] else ("red" if c[PASSED] == 0 else "yellow")
        table.add_row(
            name, str(c["total"]), str(c[PASSED]), str(c[FAILED]), str(c[SKIPPED]), f"[{style}]{c['rate']:.1%}[/]"
        )
    table.add_section()
    table.add_row(
        "all",
        str(run.total),
        str(run.passed),
        str(run.count(FAILED)),
        str(run.count(SKIPPED)),
        f"[bold]{run.rate:.1%}[/]",
    )
    console.print(table)
    if until is not None:
        verdict = "[green]met[/]" if run.rate >= until else "[red]not met[/]"
        console.print(f"target {until:.0%}: {verdict} (rate {run.rate:.1%})")
    for note in run.notes:
        console.print(f"[dim]note: {MASKER.mask(note)}[/]")
    for r in run.results:
        if r.status == FAILED:
            console.print(
                f"[red]FAIL[/] {r.id}: {r.reason}  [dim]{_evidence_line(r.evidence)}[/]",
                highlight=False,
                markup=True,
                soft_wrap=True,
            )
        elif r.status == SKIPPED:
            console.print(f"[yellow]SKIP[/] {r.id}: {r.reason}", highlight=False)


def write_junit(run: Run, path: Path, suite_name: str) -> None:
    """JUnit XML for CI dashboards: one testsuite per category."""
    import xml.etree.ElementTree as ET

    root = ET.Element(
        "testsuites",
        name=suite_name,
        tests=str(run.total),
        failures=str(run.count(FAILED)),
        skipped=str(run.count(SKIPPED)),
        time=f"{run.duration_s:.3f}",
    )
    suites: dict[str, Any] = {}
    for r in run.results:
        suite = suites.get(r.category)
        if suite is None:
            suite = suites[r.category] = ET.SubElement(root, "testsuite", name=r.category)
        case = ET.SubElement(suite, "testcase", classname=r.category, name=r.id, time=f"{r.duration_ms / 1000:.3f}")
        if r.status == FAILED:
            el = ET.SubElement(case, "failure", message=MASKER.mask(r.reason))
            el.text = MASKER.mask(json.dumps(r.evidence, default=str))
        elif r.status == SKIPPED:
            ET.SubElement(case, "skipped", message=MASKER.mask(r.reason))
    for suite in suites.values():
        cases = suite.findall("testcase")
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
        suite.set("skipped", str(sum(1 for c in cases if c.find("skipped") is not None)))
    from .backends.files import atomic_write

    atomic_write(path, ET.tostring(root, encoding="unicode", xml_declaration=True).encode())


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def print_plan(doc: dict[str, Any], console: Any = None) -> None:
    """The plan like the report's "expected impact" table, then each step's evidence and diffs."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(
        title=f"{doc['target_name']}: plan from {_pct(doc['initial_rate'])} ({doc['passed']}/{doc['total']} passed)",
        title_justify="left",
    )
    for col in ("#", "finding", "explains", "actions", "simulated", "predicted rate"):
        table.add_column(col, justify="right" if col in ("#", "explains", "predicted rate") else "left")
    for i, step in enumerate(doc["steps"], 1):
        f = step["finding"]
        actions = ", ".join(a["action"] for a in step["actions"])
        simulated = "yes" if all(a["simulated"] for a in step["actions"]) else "partly"
        table.add_row(
            str(i),
            f"{f['name']} [dim]{f['key']}[/]",
            str(len(f["explains"])),
            actions,
            simulated,
            _pct(step["predicted_rate"]),
        )
    console.print(table)
    for i, step in enumerate(doc["steps"], 1):
        f = step["finding"]
        console.print(f"\n[bold]{i}. {f['name']}[/] [dim]({f['id']})[/]", highlight=False)
        for ev in f["evidence"][:6]:
            console.print("   evidence: " + _evidence_text(ev), highlight=False, markup=False)
        for a in step["actions"]:
            mark = "would change" if a["would_change"] else "no change"
            console.print(f"   {a['action']}: {a['summary']} [dim]({mark})[/]", highlight=False)
            if a["diff"]:
                console.print(_indent(a["diff"]), highlight=False, markup=False)
    for sf in doc["suite_findings"]:
        console.print(
            f"\n[bold yellow]suite finding[/]: {sf['name']} [dim]({sf['key']})[/] — reported, not "
            "applied (use apply --fix-suite)",
            highlight=False,
        )
        for ev in sf["evidence"][:6]:
            console.print("   evidence: " + _evidence_text(ev), highlight=False, markup=False)
        if sf.get("patch"):
            console.print(_indent(sf["patch"]), highlight=False, markup=False)
    if not doc["steps"] and not doc["suite_findings"]:
        console.print("nothing to do: no playbook entry matches")


def _indent(text: str) -> str:
    return "\n".join("      " + line for line in MASKER.mask(text).rstrip().splitlines())


def _evidence_text(ev: dict[str, Any]) -> str:
    return MASKER.mask(", ".join(f"{k}={v}" for k, v in ev.items() if v not in (None, "", [], {})))[:240]


def print_apply(doc: dict[str, Any], console: Any = None) -> None:
    """A recap like Ansible's: per step ok / changed / failed / rolled back, and the rate's trajectory."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(
        title=f"{doc['target_name']}: {_pct(doc['initial_rate'])} -> {_pct(doc['final_rate'])} "
        f"(target {_pct(doc['target'])}: {'met' if doc['met'] else 'not met'})",
        title_justify="left",
    )
    for col in ("#", "finding", "status", "actions", "predicted", "measured"):
        table.add_column(col, justify="right" if col in ("#", "predicted", "measured") else "left")
    colors = {"ok": "green", "changed": "yellow", "failed": "red", "rolled back": "magenta"}
    for i, step in enumerate(doc["steps"], 1):
        st = step["status"]
        acts = ", ".join(f"{a['action']}={a['result']}" for a in step["actions"])
        table.add_row(
            str(i),
            step["finding"]["key"],
            f"[{colors.get(st, 'white')}]{st}[/]",
            acts,
            _pct(step["predicted_rate"]),
            _pct(step["rate_after"]),
        )
    console.print(table)
    counts = {k: sum(1 for s in doc["steps"] if s["status"] == k) for k in ("ok", "changed", "failed", "rolled back")}
    console.print("recap: " + "  ".join(f"{k}={v}" for k, v in counts.items()), highlight=False)
    trajectory = [doc["initial_rate"], *[s["rate_after"] for s in doc["steps"]], doc["final_rate"]]
    console.print("trajectory: " + " -> ".join(_pct(r) for r in trajectory), highlight=False)
    console.print(f"stopped: {doc['stop_reason']}", highlight=False)
    for step in doc["steps"]:
        if step["reason"]:
            console.print(f"  {step['finding']['key']}: {MASKER.mask(step['reason'])}", highlight=False)
    for sf in doc["suite_findings"]:
        console.print(
            f"[yellow]suite finding[/]: {sf['name']} ({sf['key']}), not applied without --fix-suite", highlight=False
        )
        if sf.get("patch"):
            console.print(_indent(sf["patch"]), highlight=False, markup=False)
    left = doc["remaining_failures"]
    if left:
        console.print(
            f"remaining: {len(left)} check(s) not passing: " + ", ".join(r["id"] for r in left[:12]), highlight=False
        )
    if doc.get("report"):
        console.print(f"report: {doc['report']}", highlight=False)


def emit_json_line(doc: Any) -> None:
    """One JSON document on one line of stdout, flushed: ``watch --json`` is read as it happens."""
    sys.stdout.write(json.dumps(MASKER.mask_data(doc), default=str) + "\n")
    sys.stdout.flush()


def _names(ids: list[str], limit: int = 8) -> str:
    """A list of check ids or finding keys on one line: the first ``limit``, then how many more."""
    more = f" (+{len(ids) - limit} more)" if len(ids) > limit else ""
    return ", ".join(ids[:limit]) + more


def print_watch(record: dict[str, Any], console: Any = None) -> None:
    """One line per watch cycle (and its steps, when it healed); the summary when the watch stops."""
    from rich.console import Console
    from rich.markup import escape

    console = console or Console()
    if record.get("kind") == "summary":
        rate = "" if record.get("rate") is None else f", last rate {_pct(record['rate'])}"
        console.print(
            f"watch stopped ({escape(record['stop_reason'])}): {record['cycles']} cycle(s), "
            f"{record['healing_cycles']} healing, {record['steps']} step(s){rate}",
            highlight=False,
            soft_wrap=True,
        )
        for key, why in record.get("excluded", {}).items():
            console.print(f"  not taken any more: {escape(key)}: {escape(why)}", highlight=False, soft_wrap=True)
        return
    head = f"{record['time'][11:]} cycle {record['cycle']} [dim]({escape(record['trigger'])})[/]"
    if "error" in record:
        console.print(f"{head}: [red]{escape(record['error'])}[/]", highlight=False, soft_wrap=True)
        return
    total = record["total"]
    before = f"{record['passed_before']}/{total} {_pct(record['rate_before'])}"
    after = f"{record['passed_after']}/{total} {_pct(record['rate_after'])}"
    color = "green" if record["met"] else "red"
    if not record.get("steps") and record["rate_before"] == record["rate_after"]:
        line = f"{head}: [{color}]{before}[/]"
    else:
        line = f"{head}: {before} -> [{color}]{after}[/], {len(record['steps'])} step(s)"
    if not record["met"] and record.get("stop_reason"):
        line += f" [dim]({escape(record['stop_reason'])})[/]"
    console.print(line, highlight=False, soft_wrap=True)
    if record.get("failing_before"):
        console.print(f"    failing: {escape(_names(record['failing_before']))}", highlight=False, soft_wrap=True)
        acted = _names(record.get("acted_on") or []) or "nothing"
        console.print(f"    acted on: {escape(acted)}", highlight=False, soft_wrap=True)
    still = record.get("remaining_failures") or []
    if record.get("steps") and still:
        console.print(f"    still failing: [red]{escape(_names(still))}[/]", highlight=False, soft_wrap=True)
    for key, why in (record.get("excluded") or {}).items() if not record.get("steps") else ():
        console.print(f"    not taken: {escape(key)}: {escape(why)}", highlight=False, soft_wrap=True)
    colors = {"ok": "green", "changed": "yellow", "failed": "red", "rolled back": "magenta"}
    for step in record.get("steps", ()):
        st = step["status"]
        reason = f" [dim]{escape(step['reason'])}[/]" if step.get("reason") else ""
        console.print(
            f"    [{colors.get(st, 'white')}]{st:<11}[/] {escape(step['finding']['key'])} "
            f"{_pct(step['rate_before'])} -> {_pct(step['rate_after'])} ({step['duration_s']:.1f} s){reason}",
            highlight=False,
            soft_wrap=True,
        )


_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>remediate apply: {{ doc.target_name }}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1000px;color:#1d2330}
h1{font-size:1.4rem} table{border-collapse:collapse;width:100%} td,th{border-bottom:1px solid #dde;padding:4px 8px;
text-align:left;vertical-align:top} .ok{color:#187a2f} .changed{color:#a86400} .failed,.rolled{color:#b3261e}
pre{background:#f5f6fa;padding:6px;overflow:auto;font-size:12px} .muted{color:#667} svg text{font-size:11px}
</style></head><body>
<h1>remediate apply — {{ doc.target_name }}</h1>
<p>Rate {{ pct(doc.initial_rate) }} → <b>{{ pct(doc.final_rate) }}</b>; target {{ pct(doc.target) }}:
<b>{{ "met" if doc.met else "not met" }}</b>. Stopped: {{ doc.stop_reason }}.</p>
<svg width="{{ w }}" height="{{ h }}" role="img" aria-label="rate trajectory">
 <rect x="40" y="10" width="{{ w - 60 }}" height="{{ h - 40 }}" fill="#fbfbfe" stroke="#dde"/>
 {% for y in [0, 0.25, 0.5, 0.75, 1.0] %}<line x1="40" x2="{{ w - 20 }}" y1="{{ sy(y) }}" y2="{{ sy(y) }}"
 stroke="#eef"/><text x="4" y="{{ sy(y) + 4 }}">{{ pct(y) }}</text>{% endfor %}
 <line x1="40" x2="{{ w - 20 }}" y1="{{ sy(doc.target) }}" y2="{{ sy(doc.target) }}" stroke="#999"
 stroke-dasharray="4 3"/><text x="{{ w - 70 }}" y="{{ sy(doc.target) - 4 }}">target</text>
 <polyline fill="none" stroke="#a86400" stroke-dasharray="5 3" stroke-width="2" points="{{ predicted }}"/>
 <polyline fill="none" stroke="#1f5fbf" stroke-width="2.5" points="{{ measured }}"/>
 {% for x, y in predicted_points %}<rect x="{{ x - 4 }}" y="{{ y - 4 }}" width="8" height="8" fill="none"
 stroke="#a86400"/>{% endfor %}
 {% for x, y in measured_points %}<circle cx="{{ x }}" cy="{{ y }}" r="3.5" fill="#1f5fbf"/>{% endfor %}
 {% for x, label in xs %}<text x="{{ x - 6 }}" y="{{ h - 12 }}">{{ label }}</text>{% endfor %}
 <text x="50" y="26" fill="#1f5fbf">measured</text><text x="120" y="26" fill="#a86400">predicted</text>
</svg>
<h2>Steps</h2>
<table><tr><th>#</th><th>finding</th><th>status</th><th>predicted</th><th>measured</th></tr>
{% for s in doc.steps %}<tr><td>{{ loop.index }}</td><td><b>{{ s.finding.name }}</b><br><span class="muted">
{{ s.finding.key }}</span>{% if s.reason %}<br>{{ s.reason }}{% endif %}
<details><summary>evidence and actions</summary><pre>{% for e in s.evidence %}{{ e | tojson }}
{% endfor %}</pre>{% for a in s.actions %}<div>{{ a.action }}: <span class="{{ a.result }}">{{ a.result }}</span>
{{ a.message }}</div>{% if a.diff %}<pre>{{ a.diff }}</pre>{% endif %}{% endfor %}</details></td>
<td class="{{ s.status.split()[0] }}">{{ s.status }}</td><td>{{ pct(s.predicted_rate) }}</td>
<td>{{ pct(s.rate_after) }}</td></tr>{% endfor %}</table>
{% if doc.suite_findings %}<h2>Findings against the suite (not applied without --fix-suite)</h2>
{% for f in doc.suite_findings %}<p><b>{{ f.name }}</b> <span class="muted">{{ f.key }}</span></p>
<pre>{{ f.patch }}</pre>{% endfor %}{% endif %}
{% if doc.remaining_failures %}<h2>Remaining failures</h2><ul>{% for r in doc.remaining_failures %}
<li>{{ r.id }} ({{ r.status }}): {{ r.reason }}</li>{% endfor %}</ul>{% endif %}
</body></html>
"""


def write_html(doc: dict[str, Any], path: Path) -> None:
    """A self-contained page: the trajectory as a chart (predicted against measured), each step's evidence."""
    from jinja2 import Environment

    w, h = 900, 260
    steps = doc["steps"]
    n = len(steps) + 1

    def sx(i: int) -> float:
        return 40 + (w - 70) * (i / max(1, n - 1))

    def sy(rate: float) -> float:
        return 10 + (h - 40) * (1 - rate)

    measured_rates = [doc["initial_rate"], *[s["rate_after"] if s["rate_after"] is not None else 0 for s in steps]]
    predicted_rates = [doc["initial_rate"], *[s["predicted_rate"] for s in steps]]
    measured_points = [(sx(i), sy(r)) for i, r in enumerate(measured_rates)]
    predicted_points = [(sx(i), sy(r)) for i, r in enumerate(predicted_rates)]
    page = (
        Environment(autoescape=True)
        .from_string(_HTML)
        .render(
            doc=MASKER.mask_data(doc),
            w=w,
            h=h,
            sy=sy,
            pct=_pct,
            measured=" ".join(f"{x:.1f},{y:.1f}" for x, y in measured_points),
            predicted=" ".join(f"{x:.1f},{y:.1f}" for x, y in predicted_points),
            measured_points=measured_points,
            predicted_points=predicted_points,
            xs=[(sx(i), "start" if i == 0 else str(i)) for i in range(n)],
        )
    )
    from .backends.files import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, MASKER.mask(page).encode())
