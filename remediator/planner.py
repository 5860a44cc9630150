"""The planner: the only place that decides what to do next.

    observe -> diagnose -> plan -> act -> verify -> (again, until the target is met)

It measures through a ``Meter``, orders findings with ``schedule``, takes each step as a
``Transaction``, and keeps the ``Guards``. For ``apply`` it takes one step at a time, re-testing after
each, and diagnoses again, because a fix can reveal the next symptom. It stops at the target, when
nothing applicable is left, at a step or time limit, or when a finding keeps coming back (a breaker,
like Monit's "if 3 restarts within 5 cycles then unmonitor").

Findings against the suite itself (a check aimed where nothing listens) are reported with the patch
that would correct the suite and applied only with ``fix_suite``: the planner never moves its own
goalposts. ``plan`` and ``apply`` share every decision; ``plan`` only inspects instead of acting.
"""

from __future__ import annotations

from collections.abc import Callable

from . import schedule, suitepatch
from .actions import new_run_id
from .diagnosis import Finding
from .facts import Facts
from .guards import Guards
from .journal import Journal, journal_path
from .measure import Meter
from .model import Entry, Suite, Target
from .outcomes import ApplyResult, PlanResult, Step
from .results import Run
from .stack import LiveStack, Stack
from .step import Transaction

Notify = Callable[[str], None]


def actionable(findings: list[Finding], fix_suite: bool) -> list[Finding]:
    """Findings a step can be taken for: environment findings with actions; suite ones with --fix-suite."""
    return [f for f in findings if (f.entry.suite and fix_suite) or (not f.entry.suite and f.entry.actions)]


class Planner:
    """Diagnose and heal one target with one suite and a set of playbook entries."""

    def __init__(
        self,
        target: Target,
        suite: Suite,
        entries: list[Entry],
        *,
        stack: Stack | None = None,
        concurrency: int = 64,
        fix_suite: bool = False,
        assume_yes: bool = False,
        settle_s: float = 60.0,
        guards: Guards | None = None,
        notify: Notify | None = None,
    ) -> None:
        self.target, self.fix_suite, self.assume_yes = target, fix_suite, assume_yes
        self.notify = notify or (lambda _msg: None)  # equivalent mutant: what notify returns is never read
        self.stack = stack or LiveStack(target, concurrency)
        self.meter = Meter(self.stack, suite, entries, self.notify)
        self.steps = Transaction(self.meter, self.stack, settle_s)
        self.guards = guards or Guards(clock=self.stack.clock)

    def plan(self) -> PlanResult:
        """The ordered steps with evidence, diffs and predicted rates. Changes nothing."""
        run = self.meter.start()
        self.notify(f"checked: {run.passed}/{run.total} passed ({run.rate:.1%})")
        _, findings = self.meter.diagnosis()
        # equivalent mutant: fix_suite=None is as false as False
        ordered = schedule.order(actionable(findings, False), self.meter.suite.by_id())
        steps = []
        # equivalent mutant: strict= (predict gives one rate per finding)
        for f, rate in zip(ordered, schedule.predict(run, ordered), strict=True):
            self.notify(f"inspecting {f.key}")
            # equivalent mutant: the run id (it names backups, and inspecting writes none)
            steps.append(Step(finding=f, predicted_rate=rate, actions=list(self.steps.inspect(f, new_run_id()))))
        return PlanResult(self.target.name, run, steps, self._suite_findings(findings), _diagnoses(findings))

    def apply(
        self,
        until: float | None = None,
        max_steps: int = 20,  # equivalent mutant: every caller (cli, watch) passes it
        timeout_s: float = 1800.0,  # equivalent mutant: every caller (cli, watch) passes it
        initial_run: Run | None = None,
        run_id: str | None = None,
    ) -> ApplyResult:
        """Heal: one step at a time, re-testing after each, until the target or nothing applicable is left.

        ``initial_run``: a whole run just measured by the caller (``watch``), the starting point.
        """
        clock, meter, guards = self.stack.clock, self.meter, self.guards
        deadline = clock.monotonic() + timeout_s
        run_id = run_id or new_run_id()
        journal = Journal(journal_path(self.target), run_id)
        run = meter.start(initial_run)
        initial = run.rate
        self.notify(f"checked: {run.passed}/{run.total} passed ({run.rate:.1%})")
        target_rate = 1.0 if until is None else until
        steps: list[Step] = []
        while True:
            if until is not None and run.rate >= until:
                stop_reason = f"target {until:.0%} met"
                break
            if len(steps) >= max_steps:
                stop_reason = f"stopped after {max_steps} steps (--max-steps)"
                break
            if clock.monotonic() >= deadline:
                stop_reason = f"stopped at the time limit ({timeout_s:g} s)"
                break
            facts, findings = meter.diagnosis()
            candidates = [f for f in actionable(findings, self.fix_suite) if f.key not in guards.excluded]
            candidates = [f for f in candidates if not guards.trip(f.key, f.entry.max_attempts)]
            if not candidates:
                stop_reason = "nothing applicable is left"
                break
            finding = schedule.order(candidates, meter.suite.by_id())[0]
            predicted = schedule.predict(run, [finding])[0]
            clock.sleep(min(guards.cooldown_left(finding.key, finding.entry.cooldown), deadline - clock.monotonic()))
            step = Step(finding, predicted, rate_before=run.rate, attempt=guards.record(finding.key))
            self.notify(f"step {len(steps) + 1}: {finding.entry.name} [{finding.key}]")
            started = clock.monotonic()
            run = self._take(finding, step, facts, deadline, f"{run_id}-step{len(steps) + 1}", target_rate)
            step.duration_s, step.rate_after = clock.monotonic() - started, run.rate
            steps.append(step)
            journal.write(step.to_json())
            self.notify(f"  {step.status}: rate {step.rate_before:.1%} -> {run.rate:.1%} (predicted {predicted:.1%})")
            if step.status in ("failed", "rolled back") and step.attempt >= finding.entry.max_attempts:
                guards.excluded[finding.key] = f"did not help in {step.attempt} attempt(s): {step.reason}"
            elif step.kept:
                guards.succeeded.add(finding.key)
        # The reported rate is measured whole, not pieced together from partial re-tests: the latest run
        # when it was whole and nothing acted since (no step, or a kept step that re-tested everything).
        final = run if meter.whole else meter.test()
        if until is not None and final.rate < until <= run.rate:
            stop_reason += f"; the full re-run measured {final.rate:.1%}"
        _, left = meter.diagnosis()
        remaining = actionable(left, False)  # equivalent mutant: fix_suite=None is as false as False
        met = final.rate >= target_rate and (until is not None or not remaining)
        return ApplyResult(
            self.target.name, initial, final, target_rate, met, stop_reason, steps, self._suite_findings(left),
            remaining, _diagnoses(left), dict(guards.excluded), meter.runs, run_id,
        )  # fmt: skip

    def _take(self, finding: Finding, step: Step, facts: Facts, deadline: float, run_id: str, target: float) -> Run:
        """Run one step: ask first where the entry says so, patch the suite, or act on the stack."""
        if finding.entry.confirm and not self.assume_yes:
            step.status, step.reason = "needs confirmation", "confirm: true; run again with --yes to allow it"
            self.guards.excluded[finding.key] = step.reason
            return self.meter.measured()
        if finding.entry.suite:
            return self.steps.fix_suite(finding, step, facts, deadline, run_id)
        # A step predicted to reach the target re-tests everything: if it does, that run is the whole
        # final measurement, and the partial re-test it replaces is saved.
        whole = step.predicted_rate >= target
        return self.steps.take(finding, step, facts, deadline, run_id, whole)

    def _suite_findings(self, findings: list[Finding]) -> list[dict[str, object]]:
        return suitepatch.described(self.meter.suite, [f for f in findings if f.entry.suite])


def _diagnoses(findings: list[Finding]) -> list[Finding]:
    """Findings that name a cause but have no fix: reported with their evidence, never acted on."""
    return [f for f in findings if not f.entry.suite and not f.entry.actions]
