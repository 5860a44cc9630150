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
    path.write_bytes(ET.tostring(root, encoding="unicode", xml_declaration=True).encode())
