"""External suites as verifiers: run a team's own test command, then read its results file.

Two formats: JUnit XML, and the results JSON of the PyAirtable integration suite
(``test_execution_summary``, ``category_results``, ``detailed_results`` with PASS/FAIL/SKIP). That
suite appended a SKIP with the same name after every FAIL, so its totals counted those tests twice;
here a FAIL followed by a SKIP of the same test is one failed test, and the run says how many were
merged.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UserError
from .model import ExternalSource
from .results import FAILED, PASSED, SKIPPED, CheckResult
from .secrets import MASKER

_STATUS = {
    "PASS": PASSED,
    "PASSED": PASSED,
    "OK": PASSED,
    "SUCCESS": PASSED,
    "FAIL": FAILED,
    "FAILED": FAILED,
    "ERROR": FAILED,
    "SKIP": SKIPPED,
    "SKIPPED": SKIPPED,
}


@dataclass
class ExternalRun:
    """Results read from one external source."""

    results: list[CheckResult]
    merged: int = 0
    duration_s: float = 0.0
    notes: list[str] = field(default_factory=list)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "test"


def _first(entry: dict[str, Any], *keys: str, default: Any = "") -> Any:
    return next((entry[k] for k in keys if k in entry and entry[k] is not None), default)


def _result(
    source_id: str, category: str, name: str, status: str, reason: str, evidence: dict[str, Any], duration_ms: float
) -> CheckResult:
    """One external test as a check result: a stable id from source, category and name; masked text."""
    return CheckResult(
        id=f"{source_id}.{_slug(category)}.{_slug(name)}",
        category=category,
        name=name,
        status=status,
        reason=MASKER.mask(reason),
        evidence=MASKER.mask_data(evidence),
        duration_ms=duration_ms,
    )


def read_report_json(path: Path, source_id: str = "suite", category: str | None = None) -> ExternalRun:
    """Read the integration suite's results JSON, merging each FAIL+SKIP pair of one test."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"{path}: cannot read results: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UserError(f"{path}: not JSON: {exc}") from None
    entries = doc.get("detailed_results") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise UserError(f"{path}: expected a 'detailed_results' list of tests")
    results: list[CheckResult] = []
    index: dict[tuple[str, str], int] = {}
    merged = 0
    for n, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise UserError(f"{path}: detailed_results[{n}]: expected an object")
        name = str(_first(entry, "test_name", "name", "test"))
        cat = str(category or _first(entry, "category", default="uncategorized"))
        raw = str(_first(entry, "status", "result")).upper()
        if raw not in _STATUS:
            raise UserError(f"{path}: detailed_results[{n}].status: {raw!r}; expected PASS, FAIL or SKIP")
        status = _STATUS[raw]
        key = (cat, name)
        if key in index:
            earlier = results[index[key]]
            if earlier.status == FAILED and status == SKIPPED:
                merged += 1
                continue
        message = str(_first(entry, "message", "details", "error", "reason"))
        index[key] = len(results)
        evidence = {k: v for k, v in entry.items() if k not in ("status", "result")}
        duration_ms = float(_first(entry, "duration_ms", default=0) or 0)
        results.append(
            _result(source_id, cat, name, status, "" if status == PASSED else message, evidence, duration_ms)
        )
    notes = []
    if merged:
        notes.append(
            f"{source_id}: merged {merged} FAIL+SKIP pairs of one test each "
            f"({len(results) + merged} entries -> {len(results)} tests)"
        )
    return ExternalRun(results=results, merged=merged, notes=notes)


def read_junit(path: Path, source_id: str = "suite", category: str | None = None) -> ExternalRun:
    """Read JUnit XML: each testcase a result, its classname (or ``category``) the category."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(path).getroot()
    except OSError as exc:
        raise UserError(f"{path}: cannot read results: {exc.strerror or exc}") from None
    except ET.ParseError as exc:
        raise UserError(f"{path}:{exc.position[0]}:{exc.position[1] + 1}: not JUnit XML: {exc}") from None
    results = []
    for case in root.iter("testcase"):
        name = case.get("name", "test")
        cat = category or case.get("classname") or "uncategorized"
        status, reason = PASSED, ""
        for tag, st in (("failure", FAILED), ("error", FAILED), ("skipped", SKIPPED)):
            el = case.find(tag)
            if el is not None:
                status, reason = st, (el.get("message") or (el.text or "").strip())[:300]
                break
        duration_ms = float(case.get("time", 0) or 0) * 1000
        results.append(_result(source_id, cat, name, status, reason, {"junit": str(path)}, duration_ms))
    return ExternalRun(results=results)


_READERS = {"junit": read_junit, "report-json": read_report_json}


def run_source(source: ExternalSource) -> ExternalRun:
    """Run the source's command (if any; its exit code is not a verdict, the results are), then read."""
    started = time.perf_counter()
    notes = []
    if source.command:
        try:
            proc = subprocess.run(
                list(source.command),
                cwd=source.cwd,
                capture_output=True,
                text=True,
                timeout=source.timeout,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except FileNotFoundError:
            raise UserError(f"{source.where}: source {source.id}: no such command {source.command[0]!r}") from None
        except subprocess.TimeoutExpired:
            raise UserError(f"{source.where}: source {source.id}: timed out after {source.timeout:g} s") from None
        notes.append(f"{source.id}: command exited {proc.returncode}")
    ext = _READERS[source.format](source.results, source.id, source.category)
    ext.notes = notes + ext.notes
    ext.duration_s = time.perf_counter() - started
    return ext
