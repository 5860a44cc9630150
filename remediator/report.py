"""Turn results into what people read: a table by category, failure lines, JSON, JUnit XML (the
HTML page is ``html_report``).

Every string that leaves here has passed through the masker already (results are masked when they
are made); ``emit_json`` masks once more so nothing added later can leak a secret.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .results import ERROR, FAILED, PASSED, SKIPPED, Run
from .secrets import MASKER


def emit_json(doc: Any) -> None:
    """Print one JSON document on stdout."""
    sys.stdout.write(json.dumps(MASKER.mask_data(doc), indent=2, default=str) + "\n")


def subject(finding: dict[str, Any]) -> str:
    """What a finding is about, e.g. ``service=api-gateway``: its group_by values (the part of its key
    in brackets), else the variables that usually name a subject. Tells apart rows of the same entry."""
    key = str(finding.get("key", ""))
    if key.endswith("]") and "[" in key:
        return key[key.index("[") + 1 : -1].replace(",", ", ")
    chosen = {k: v for k, v in (finding.get("vars") or {}).items() if k in ("service", "variable", "key", "port")}
    return ", ".join(f"{k}={v}" for k, v in chosen.items())


def _value_text(value: Any) -> str:
    """A value as it reads best on one line: nested data as compact JSON, not Python's repr."""
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)


def _evidence_line(evidence: dict[str, Any]) -> str:
    from .terminal import clip

    parts = []
    for key in ("status", "error", "state", "health", "exit_code", "statuses"):
        if key in evidence:
            parts.append(f"{key}={evidence[key]}")
    producer = (evidence.get("headers") or {}).get("x-service")
    if producer:
        parts.append(f"from={producer}")
    body = evidence.get("body")
    if body:
        parts.append("body=" + clip(str(body), 120))
    hl = evidence.get("health_log")
    if hl:
        parts.append("health_log=" + clip(str(hl.get("output", "")), 120))
    return "  ".join(parts)


def print_run(run: Run, target: str, until: float | None = None, console: Any = None) -> None:
    """The table by category, the overall rate against the target, then one line per failure."""
    from rich.console import Console
    from rich.markup import escape
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
        elif r.status == ERROR:  # the suite's own fault; not in the rate (see results.py)
            console.print(
                f"[magenta]ERROR[/] {r.id} (suite error, not in the rate): {escape(r.reason)}", highlight=False
            )


def write_junit(run: Run, path: Path, suite_name: str) -> None:
    """JUnit XML for CI dashboards: one testsuite per category."""
    import xml.etree.ElementTree as ET

    root = ET.Element(
        "testsuites",
        name=suite_name,
        tests=str(run.total),
        failures=str(run.count(FAILED)),
        skipped=str(run.count(SKIPPED)),
        errors=str(run.count(ERROR)),
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
        elif r.status == ERROR:
            ET.SubElement(case, "error", message=MASKER.mask(r.reason))
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
    from rich.markup import escape
    from rich.table import Table

    console = console or Console()
    table = Table(
        title=f"{doc['target_name']}: plan from {_pct(doc['initial_rate'])} ({doc['passed']}/{doc['total']} passed)",
        title_justify="left",
    )
    for col in ("#", "finding", "subject", "explains", "actions", "simulated", "predicted"):
        table.add_column(
            col,
            justify="right" if col in ("#", "explains", "predicted") else "left",
            overflow="fold" if col in ("finding", "subject") else "ellipsis",
        )
    for i, step in enumerate(doc["steps"], 1):
        f = step["finding"]
        actions = ", ".join(a["action"] for a in step["actions"])
        simulated = "yes" if all(a["simulated"] for a in step["actions"]) else "partly"
        table.add_row(
            str(i),
            escape(f["id"]),
            escape(subject(f)),
            str(len(f["explains"])),
            actions,
            simulated,
            _pct(step["predicted_rate"]),
        )
    console.print(table)
    for i, step in enumerate(doc["steps"], 1):
        f = step["finding"]
        about = f" [{subject(f)}]" if subject(f) else ""
        console.print(f"\n[bold]{i}. {escape(f['name'])}[/]{escape(about)} [dim]({f['id']})[/]", highlight=False)
        for ev in f["evidence"][:6]:
            _print_evidence(console, ev)
        for a in step["actions"]:
            mark = "would change" if a["would_change"] else "no change"
            console.print(f"   {a['action']}: {escape(MASKER.mask(a['summary']))} [dim]({mark})[/]", highlight=False)
            if a["diff"]:
                console.print(_indent(a["diff"], console.width), highlight=False, markup=False, soft_wrap=True)
    _print_suite_findings(console, doc["suite_findings"], evidence=True)
    _print_unfixed(console, doc)
    said = doc.get("diagnoses") or doc.get("unexplained") or doc.get("analysis") or doc.get("entry_errors")
    if not doc["steps"] and not doc["suite_findings"] and not said:
        console.print("nothing to do: every check passes and no playbook entry matches")


def _print_suite_findings(console: Any, findings: list[dict[str, Any]], evidence: bool) -> None:
    """Findings against the suite: with their patch when one is known (applied only with --fix-suite),
    else said plainly that the suite must be corrected by hand."""
    from rich.markup import escape

    for sf in findings:
        how = (
            "reported, not applied (use apply --fix-suite)"
            if sf.get("fixable", bool(sf.get("patch")))
            else "no patch is known (the right port is not): correct the suite by hand"
        )
        console.print(
            f"\n[bold yellow]suite finding[/]: {escape(sf['name'])} [dim]({escape(sf['key'])})[/] — {how}",
            highlight=False,
        )
        if evidence:
            for ev in sf["evidence"][:6]:
                _print_evidence(console, ev)
        if sf.get("patch"):
            console.print(_indent(sf["patch"], console.width), highlight=False, markup=False, soft_wrap=True)


def _print_unfixed(console: Any, doc: dict[str, Any]) -> None:
    """What no step will fix: diagnoses (a cause named, no safe fix: the evidence says what to do), then
    every failing check that nothing explains, with what was seen. Nothing is left in silence."""
    from rich.markup import escape

    for d in doc.get("diagnoses") or []:
        about = f" [{subject(d)}]" if subject(d) else ""
        name, eid = escape(d["name"]), escape(d["id"])
        console.print(
            f"\n[bold cyan]diagnosis[/]: {name}{escape(about)} [dim]({eid}; no fix is taken)[/]", highlight=False
        )
        if d.get("description"):
            console.print(f"   {escape(MASKER.mask(d['description']))}", highlight=False)
        for ev in d["evidence"][:6]:
            _print_evidence(console, ev)
    for d in doc.get("analysis") or []:
        title, key = escape(d["title"]), escape(d["key"])
        console.print(
            f"\n[bold cyan]analysis[/]: {title} [dim]({key}, {d['confidence']} confidence)[/]", highlight=False
        )
        console.print(f"   cause: {escape(MASKER.mask(d['cause']))}", highlight=False)
        console.print(f"   fix: {escape(MASKER.mask(d['fix']))}", highlight=False)
        for ev in d["evidence"][:4]:
            _print_evidence(console, ev)
    for entry, why in (doc.get("entry_errors") or {}).items():
        console.print(f"\n[bold red]playbook entry {escape(entry)} left out[/]: {escape(why)}", highlight=False)
    unexplained = doc.get("unexplained") or []
    if unexplained:
        console.print(
            f"\n[bold red]unexplained[/]: {len(unexplained)} failing check(s) no finding explains; what was seen:",
            highlight=False,
        )
        for u in unexplained:
            seen = {k: v for k, v in u.items() if k != "check"}
            console.print(f"   {escape(u['check'])}", highlight=False)
            _print_evidence(console, seen)


def _indent(text: str, width: int) -> str:
    """A diff, masked and indented under its action. A line too long for the width is folded under
    its own indent (exactly, no character lost) instead of wrapping to the left margin, where it
    would read as the next line of the plan."""
    room = max(20, width - 6)
    out = []
    for line in MASKER.mask(text).rstrip().splitlines():
        out.extend("      " + line[i : i + room] for i in range(0, max(1, len(line)), room))
    return "\n".join(out)


def _evidence_text(ev: dict[str, Any]) -> str:
    return MASKER.mask(", ".join(f"{k}={_value_text(v)}" for k, v in ev.items() if v not in (None, "", [], {})))


def _print_evidence(console: Any, ev: dict[str, Any]) -> None:
    """One evidence item in at most two lines of the console's width, cut at a word with an ellipsis;
    wrapped lines hang under the first so the eye finds where the next item starts."""
    import textwrap

    from .terminal import clip

    head = "   evidence: "
    room = max(20, console.width - len(head))
    lines = textwrap.wrap(_evidence_text(ev), width=room, break_on_hyphens=False) or [""]
    if len(lines) > 2:
        lines = [lines[0], clip(lines[1] + " " + lines[2], room)]
    console.print(head + ("\n" + " " * len(head)).join(lines), highlight=False, markup=False, soft_wrap=True)


def print_apply(doc: dict[str, Any], console: Any = None) -> None:
    """A recap like Ansible's: per step ok / changed / failed / rolled back, and the rate's trajectory."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = console or Console()
    table = Table(
        title=f"{doc['target_name']}: {_pct(doc['initial_rate'])} -> {_pct(doc['final_rate'])} "
        f"(target {_pct(doc['target'])}: {'met' if doc['met'] else 'not met'})",
        title_justify="left",
    )
    for col in ("#", "finding", "subject", "status", "actions", "time", "predicted", "measured"):
        table.add_column(
            col,
            justify="right" if col in ("#", "time", "predicted", "measured") else "left",
            overflow="fold" if col in ("finding", "subject") else "ellipsis",
        )
    colors = {"ok": "green", "changed": "yellow", "failed": "red", "rolled back": "magenta"}
    for i, step in enumerate(doc["steps"], 1):
        st = step["status"]
        acts = ", ".join(f"{a['action']}={a['result']}" for a in step["actions"])
        table.add_row(
            str(i),
            escape(step["finding"]["id"]),
            escape(subject(step["finding"])),
            f"[{colors.get(st, 'white')}]{st}[/]",
            acts,
            f"{step.get('duration_s', 0):.1f} s",
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
    if doc.get("interrupted"):
        it = doc["interrupted"]
        done = "put back" if it.get("recovered") else "not put back (run again with --yes)"
        console.print(
            f"interrupted earlier: step {it['finding']} of {it['time']}; its files {', '.join(it['files'])}: {done}",
            highlight=False,
        )
    _print_suite_findings(console, doc["suite_findings"], evidence=False)
    _print_unfixed(console, doc)
    left = doc["remaining_failures"]
    if left:
        console.print(
            f"\nremaining: {len(left)} check(s) not passing: " + ", ".join(r["id"] for r in left[:12]), highlight=False
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
