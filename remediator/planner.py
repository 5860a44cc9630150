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
from .backends.lock import heal_lock
from .diagnosis import Finding, unexplained
from .facts import Facts
from .guards import Guards
from .journal import Journal, journal_path, offer_recovery, target_base
from .measure import Meter
from .model import Entry, Suite, Target
from .outcomes import ApplyResult, PlanResult, Step
from .results import PASSED, Run
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
        lock_timeout: float = 0.0,
    ) -> None:
        self.target, self.fix_suite, self.assume_yes, self.lock_timeout = target, fix_suite, assume_yes, lock_timeout
        self.notify = notify or (lambda _msg: None)
        self.stack = stack or LiveStack(target, concurrency)
        self.meter = Meter(self.stack, suite, entries, self.notify)
        self.steps = Transaction(self.meter, self.stack, settle_s, target)
        self.guards = guards or Guards(clock=self.stack.clock)

    def plan(self) -> PlanResult:
        """The ordered steps with evidence, diffs and predicted rates. Changes nothing."""
        run = self.meter.start()
        self.notify(f"checked: {run.passed}/{run.total} passed ({run.rate:.1%})")
        facts, findings = self.meter.diagnosis(deep=True)
        ordered = schedule.order(actionable(findings, False), self.meter.suite.by_id())
        steps = []
        for f, rate in zip(ordered, schedule.predict(run, ordered), strict=True):
            self.notify(f"inspecting {f.key}")
            steps.append(Step(finding=f, predicted_rate=rate, actions=list(self.steps.inspect(f, new_run_id()))))
        analysis = self.meter.analysis()
        return PlanResult(
            self.target.name, run, steps, self._suite_findings(findings), _diagnoses(findings),
            unexplained(facts, findings, analysis), analysis, self.meter.entry_errors(),
        )  # fmt: skip

    def apply(
        self,
        until: float | None = None,
        max_steps: int = 20,
        timeout_s: float = 1800.0,
        initial_run: Run | None = None,
        run_id: str | None = None,
        analyze_first: bool = True,
        analyze_last: bool = True,
    ) -> ApplyResult:
        """Heal: one step at a time, re-testing after each, until the target or nothing applicable is left.

        ``initial_run``: a whole run just measured by the caller (``watch``), the starting point. Holds
        the target's heal lock throughout (``Busy`` when another heal holds it past ``lock_timeout``).
        ``analyze_first=False``: the first diagnosis is the playbooks' alone, without the analyzers' look
        at compose (``watch``, for a service's exit the engine reported: its cause is in the container's
        facts); the final diagnosis still has it, unless ``analyze_last=False``: a caller that reports no
        analysis (``watch``'s record) spares the heal's end the analyzers' look (four compose processes
        beside the final re-test); the findings it acts on and reports are the playbooks', the same either way.
        """
        with heal_lock(target_base(self.target), self.target.name, self.lock_timeout, self.notify):
            return self._apply(
                until, max_steps, timeout_s, initial_run, run_id or new_run_id(), analyze_first, analyze_last
            )

    def _apply(
        self,
        until: float | None,
        max_steps: int,
        timeout_s: float,
        initial_run: Run | None,
        run_id: str,
        analyze_first: bool = True,
        analyze_last: bool = True,
    ) -> ApplyResult:
        clock, meter, guards = self.stack.clock, self.meter, self.guards
        deadline = clock.monotonic() + timeout_s
        journal = Journal(journal_path(self.target), run_id)
        interrupted = offer_recovery(journal, self.assume_yes, self.notify)
        run = meter.start(initial_run)
        first = run
        self.notify(f"checked: {run.passed}/{run.total} passed ({run.rate:.1%})")
        target_rate = 1.0 if until is None else until
        steps: list[Step] = []
        touched: set[str] = set()
        blockers: set[str] = set()
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
            facts, findings = meter.diagnosis(deep=analyze_first and not steps)  # the analyzers' first look
            candidates = [f for f in actionable(findings, self.fix_suite) if f.key not in guards.excluded]
            candidates = [f for f in candidates if not guards.trip(f.key, f.entry.max_attempts)]
            if not candidates:
                stop_reason = "nothing applicable is left"
                break
            ordered = schedule.order(candidates, meter.suite.by_id())
            # a dependency that kept an earlier step from starting comes first
            finding = next((f for f in ordered if _about(f, blockers, facts)), ordered[0])
            batch = [finding, *schedule.companions(finding, ordered, max_steps - len(steps) - 1)]
            rates = schedule.predict(run, batch)
            clock.sleep(min(guards.cooldown_left(finding.key, finding.entry.cooldown), deadline - clock.monotonic()))
            taken = [
                Step(f, rate, rate_before=run.rate, attempt=guards.record(f.key))
                for f, rate in zip(batch, rates, strict=True)
            ]
            more = f" (and {len(batch) - 1} more of the same kind, together)" if len(batch) > 1 else ""
            self.notify(f"step {len(steps) + 1}: {finding.entry.name} [{finding.key}]{more}")
            started = clock.monotonic()
            step_run_id = f"{run_id}-step{len(steps) + 1}"
            journal.write({"event": "started", "step_run_id": step_run_id, "key": ", ".join(f.key for f in batch)})
            if len(batch) == 1:
                run = self._take(finding, taken[0], facts, deadline, step_run_id, target_rate, analyze_last)
            else:
                whole = rates[-1] >= target_rate
                run = self.steps.take_together(batch, taken, facts, deadline, step_run_id, whole, analyze_last)
            for f, step in zip(batch, taken, strict=True):
                step.duration_s, step.rate_after = clock.monotonic() - started, run.rate
                steps.append(step)
                touched |= schedule.services_touched(schedule.specs(f), facts, f.vars)
                journal.write({"event": "finished", "step_run_id": step_run_id, **step.to_json()})
                self.notify(
                    f"  {step.status}: rate {step.rate_before:.1%} -> {run.rate:.1%} "
                    f"(predicted {step.predicted_rate:.1%})"
                )
                guards.learn(f.key, f.entry.max_attempts, step, blockers)
        # The reported rate is measured whole, not pieced together from partial re-tests, once what the heal
        # touched is ready: the latest run when it was whole and nothing acted since, else a new one.
        if not meter.whole:
            meter.wait_ready(touched, deadline + 60, 60)
        final = run if meter.whole else meter.test(deep=analyze_last)
        if until is not None and final.rate < until <= run.rate:
            stop_reason += f"; the full re-run measured {final.rate:.1%}"
        fell = _fell(first, final)
        if final.rate < first.rate:
            stop_reason += f"; ended lower than it started: {', '.join(fell)} fell and could not be restored"
        last_facts, left = meter.diagnosis(deep=analyze_last)
        analysis = meter.analysis()
        remaining = actionable(left, False)
        met = final.rate >= target_rate and final.rate >= first.rate and (until is not None or not remaining)
        return ApplyResult(
            self.target.name, first.rate, final, target_rate, met, stop_reason, steps, self._suite_findings(left),
            remaining, _diagnoses(left), dict(guards.excluded), meter.runs, run_id, fell, interrupted,
            unexplained(last_facts, left, analysis), analysis, meter.entry_errors(),
        )  # fmt: skip

    def _take(
        self, finding: Finding, step: Step, facts: Facts, deadline: float, run_id: str, target: float, deep: bool
    ) -> Run:
        """Run one step: ask first where the entry says so, patch the suite, or act on the stack. ``deep``:
        a whole re-test will be diagnosed deeply."""
        if finding.entry.confirm and not self.assume_yes:
            step.status, step.reason = "needs confirmation", "confirm: true; run again with --yes to allow it"
            self.guards.excluded[finding.key] = step.reason
            return self.meter.measured()
        if finding.entry.suite:
            return self.steps.fix_suite(finding, step, facts, deadline, run_id)
        # A step predicted to reach the target re-tests everything: if it does, that run is the whole
        # final measurement, and the partial re-test it replaces is saved.
        return self.steps.take(finding, step, facts, deadline, run_id, whole=step.predicted_rate >= target, deep=deep)

    def _suite_findings(self, findings: list[Finding]) -> list[dict[str, object]]:
        return suitepatch.described(self.meter.suite, [f for f in findings if f.entry.suite], self.steps.target)


def _about(finding: Finding, containers: set[str], facts: Facts) -> bool:
    """The finding names the service of one of these containers."""
    service = finding.vars.get("service")
    return bool(service) and any(st.name in containers for s, st in facts.containers.items() if s == service)


def _fell(first: Run, final: Run) -> list[str]:
    """Checks that passed in the first run and not in the final one."""
    was = {r.id for r in first.results if r.status == PASSED}
    return sorted(r.id for r in final.results if r.id in was and r.status != PASSED)


def _diagnoses(findings: list[Finding]) -> list[Finding]:
    """Findings that name a cause but have no fix: reported with their evidence, never acted on."""
    return [f for f in findings if not f.entry.suite and not f.entry.actions]
