"""Typed results of the heal loop: a step, a plan, an apply. They travel as objects between the loop,
``watch`` and the CLI, and become JSON (masked, once) only where output leaves: ``to_json``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .analyzers import Diagnosis
from .diagnosis import Finding
from .results import FAILED, SKIPPED, Run
from .secrets import MASKER

StepStatus = Literal["planned", "ok", "changed", "failed", "rolled back", "needs confirmation"]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


@dataclass
class Step:
    """One finding taken (or planned): its actions, what was predicted and what was measured."""

    finding: Finding
    predicted_rate: float
    status: StepStatus = "planned"
    actions: list[dict[str, Any]] = field(default_factory=list)
    rate_before: float | None = None
    rate_after: float | None = None
    verified: bool | None = None
    reason: str = ""
    attempt: int = 1
    duration_s: float = 0.0
    blocked_by: str = ""  # the container of a dependency that kept the step's compose action from starting

    @property
    def kept(self) -> bool:
        """The step's change stands (it verified, or changed nothing that needed undoing)."""
        return self.status in ("changed", "ok")

    def record(self, action: str, result: str, message: str = "", diff: str = "") -> None:
        self.actions.append({"action": action, "result": result, "message": message, "diff": diff})

    def to_json(self) -> dict[str, Any]:
        return MASKER.mask_data(
            {
                "finding": self.finding.to_json(),
                "evidence": self.finding.evidence,
                "actions": self.actions,
                "status": self.status,
                "predicted_rate": round(self.predicted_rate, 4),
                "rate_before": _round(self.rate_before),
                "rate_after": _round(self.rate_after),
                "verified": self.verified,
                "reason": self.reason,
                "attempt": self.attempt,
                "duration_s": round(self.duration_s, 2),
                **({"blocked_by": self.blocked_by} if self.blocked_by else {}),
            }
        )


@dataclass
class PlanResult:
    """What ``plan`` found: the ordered steps with their diffs, suite findings, diagnoses, the run."""

    target_name: str
    run: Run
    steps: list[Step]
    suite_findings: list[dict[str, Any]]
    diagnoses: list[Finding]
    unexplained: list[dict[str, Any]] = field(default_factory=list)  # failing checks no finding explains
    analysis: list[Diagnosis] = field(default_factory=list)  # the built-in analyzers' diagnoses
    entry_errors: dict[str, str] = field(default_factory=dict)  # entries left out: entry id -> why

    def to_json(self) -> dict[str, Any]:
        return MASKER.mask_data(
            {
                "target_name": self.target_name,
                "initial_rate": round(self.run.rate, 4),
                "total": self.run.total,
                "passed": self.run.passed,
                "steps": [s.to_json() for s in self.steps],
                "suite_findings": self.suite_findings,
                "diagnoses": [f.to_json() for f in self.diagnoses],
                "unexplained": self.unexplained,
                "analysis": [d.to_json() for d in self.analysis],
                "entry_errors": dict(self.entry_errors),
                "checks": self.run.to_json(),
            }
        )


@dataclass
class ApplyResult:
    """What ``apply`` did and where it ended: the final rate is a whole run taken after the last step."""

    target_name: str
    initial_rate: float
    final: Run
    target: float
    met: bool
    stop_reason: str
    steps: list[Step]
    suite_findings: list[dict[str, Any]]
    remaining: list[Finding]
    diagnoses: list[Finding]
    excluded: dict[str, str]
    test_runs: int
    run_id: str
    fell: list[str] = field(default_factory=list)  # checks that passed at the start and not at the end
    interrupted: dict[str, Any] | None = None  # an earlier run's step that never finished
    unexplained: list[dict[str, Any]] = field(default_factory=list)  # failing checks no finding explains
    analysis: list[Diagnosis] = field(default_factory=list)  # the built-in analyzers' diagnoses at the end
    entry_errors: dict[str, str] = field(default_factory=dict)  # entries left out at the end: entry id -> why

    @property
    def final_rate(self) -> float:
        return self.final.rate

    @property
    def failing(self) -> list[str]:
        """Ids of the checks that did not pass in the final run."""
        return [r.id for r in self.final.results if r.status in (FAILED, SKIPPED)]

    def to_json(self) -> dict[str, Any]:
        return MASKER.mask_data(
            {
                "target_name": self.target_name,
                "initial_rate": round(self.initial_rate, 4),
                "final_rate": round(self.final.rate, 4),
                "target": self.target,
                "met": self.met,
                "stop_reason": self.stop_reason,
                "steps": [s.to_json() for s in self.steps],
                "suite_findings": self.suite_findings,
                "remaining_findings": [f.to_json() for f in self.remaining],
                "diagnoses": [f.to_json() for f in self.diagnoses],
                "excluded": dict(self.excluded),
                "remaining_failures": [r.to_json() for r in self.final.results if r.status in (FAILED, SKIPPED)],
                "checks": self.final.to_json(),
                "test_runs": self.test_runs,
                "run_id": self.run_id,
                "fell": list(self.fell),
                "interrupted": self.interrupted,
                "unexplained": self.unexplained,
                "analysis": [d.to_json() for d in self.analysis],
                "entry_errors": dict(self.entry_errors),
            }
        )
