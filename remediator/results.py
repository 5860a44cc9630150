"""Results of a run: each check passed, failed, skipped or in error, and the rate as the report counts it.

rate = passed / (total - errors). Skipped checks are in the total (as the integration report did), so
a check that could not run because what it requires failed still counts against the target. A check
in ``error`` is a fault of the suite, not of the stack: its template could not be rendered (``{{ 1/0 }}``,
a capture that never came), so it measured nothing. It is listed as an error, never counted as the
stack failing, and left out of the rate; so is a check that could not run only because a check it
requires is in error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PASSED, FAILED, SKIPPED, ERROR = "passed", "failed", "skipped", "error"


@dataclass
class CheckResult:
    """One check's outcome with the evidence it rests on (secrets already masked)."""

    id: str
    category: str
    name: str
    status: str
    reason: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    duration_ms: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "category": self.category,
            "name": self.name,
            "status": self.status,
            "reason": self.reason,
            "evidence": self.evidence,
            "duration_ms": round(self.duration_ms, 1),
        }


def _rate(passed: int, total: int) -> float:
    return passed / total if total else 1.0


@dataclass
class Run:
    """One execution of a suite (or of part of it, when re-testing after a fix)."""

    results: list[CheckResult]
    duration_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def total(self) -> int:
        return len(self.results)

    @property
    def passed(self) -> int:
        return self.count(PASSED)

    @property
    def rate(self) -> float:
        return _rate(self.passed, self.total - self.count(ERROR))

    def by_id(self) -> dict[str, CheckResult]:
        return {r.id: r for r in self.results}

    def categories(self) -> dict[str, dict[str, Any]]:
        """Per category, in the order categories first appear: total, passed, failed, skipped, rate, and
        error only in a category that has suite errors (the common document stays as it was)."""
        out: dict[str, dict[str, Any]] = {}
        for r in self.results:
            c = out.setdefault(r.category, {"total": 0, PASSED: 0, FAILED: 0, SKIPPED: 0})
            c["total"] += 1
            c[r.status] = c.get(r.status, 0) + 1
        for c in out.values():
            c["rate"] = round(_rate(c[PASSED], c["total"] - c.get(ERROR, 0)), 4)
        return out

    def merged(self, newer: Run) -> Run:
        """This run with the results of a partial re-run put in place of the old ones."""
        fresh = newer.by_id()
        return Run(
            results=[fresh.get(r.id, r) for r in self.results],
            duration_s=newer.duration_s,
            notes=[*self.notes, *newer.notes],
        )

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "total": self.total,
            PASSED: self.passed,
            FAILED: self.count(FAILED),
            SKIPPED: self.count(SKIPPED),
            ERROR: self.count(ERROR),
            "rate": round(self.rate, 4),
            "duration_s": round(self.duration_s, 3),
            "categories": self.categories(),
            "checks": [r.to_json() for r in self.results],
        }
        if self.notes:
            doc["notes"] = self.notes
        return doc
