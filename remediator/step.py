"""One step of a heal as a transaction: act, re-test what the step can have affected, then keep it or
roll it back. A step is kept only when it verified and the rate did not fall; otherwise every file it
edited is put back and its compose actions re-run on the restored config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import schedule, suitepatch
from .actions import Action, ActionContext, build_action
from .diagnosis import Finding
from .facts import Facts
from .measure import Meter
from .outcomes import Step
from .results import PASSED, Run
from .stack import Stack


def actions_of(finding: Finding) -> list[Action]:
    """The actions a finding's step runs, in order (a restart after an edit becomes an up)."""
    where = f"{finding.entry.where or finding.entry.id}: {finding.entry.id}"
    return [build_action(spec, where=where) for spec in schedule.specs(finding)]


def verified(meter: Meter, finding: Finding, run: Run) -> bool:
    """Did the step work? An entry's ``verify`` checks must pass; without them, the evidence that made
    the finding match must be gone (its checks may still fail for a cause stacked behind it: the gateway
    key fixed reveals the missing internal key, and that is progress, not failure)."""
    status = {r.id: r.status for r in run.results}
    if finding.entry.verify:
        return all(status.get(c) == PASSED for c in finding.entry.verify)
    if finding.checks and all(status.get(c) == PASSED for c in finding.checks):
        return True
    return not any(f.key == finding.key for f in meter.diagnosis()[1])


class Transaction:
    """Takes steps on one stack; ``settle_s`` bounds how long a step may take to show its effect."""

    # equivalent mutant: the default settle_s (its one caller, the Planner, passes it)
    def __init__(self, meter: Meter, stack: Stack, settle_s: float = 60.0) -> None:
        self.meter, self.stack, self.settle_s = meter, stack, settle_s

    def context(self, finding: Finding, run_id: str) -> ActionContext:
        return self.stack.context({**self.meter.captures, **finding.vars}, run_id)

    def take(self, finding: Finding, step: Step, facts: Facts, deadline: float, run_id: str, whole: bool) -> Run:
        """Act, re-test what the step can have affected (everything when ``whole``), keep or roll back.

        ``run_id`` names this step's backups, so a rollback undoes this step only."""
        meter = self.meter
        before = meter.measured()
        ctx = self.context(finding, run_id)
        actions = actions_of(finding)
        done: list[Action] = []
        failed = False  # equivalent mutant: None is as false
        for action in actions:
            result = self.stack.act(action, ctx)
            step.record(action.name, result.status, result.message, result.diff)
            done.append(action)
            if result.status == "failed":
                failed, step.reason = True, f"{action.name}: {result.message}"
                break
        meter.acted()
        if failed and not any(a.reversible for a in done[:-1]):
            step.status = "failed"  # nothing was changed before the failing action: nothing to undo
            return before
        services = schedule.services_touched(schedule.specs(finding), facts, finding.vars)
        step_checks = set(finding.entry.verify or ()) | set(finding.explains)
        only = schedule.affected(meter.suite.checks, step_checks, services, facts)
        run = before
        if not failed:
            retest = None if whole else only
            run, step.verified = meter.settle(retest, lambda r: verified(meter, finding, r), deadline, self.settle_s)
        worse = run.rate < before.rate
        if not (failed or not step.verified or worse):
            step.status = "changed" if any(a["result"] == "changed" for a in step.actions) else "ok"
            return run
        if not step.reason:
            step.reason = (
                "the rate fell"
                if worse
                else "the step did not take effect: "
                + (
                    "verify checks " + ", ".join(finding.entry.verify)
                    if finding.entry.verify
                    else "the finding still matches"
                )
            )
        # equivalent mutant: `not in only` (those are reused by the re-test, so they pass as before)
        was_passing = {r.id for r in before.results if r.status == PASSED and r.id in only}
        self.rollback(done, ctx, step)
        run, _ = meter.settle(
            only, lambda r: all(x.status == PASSED for x in r.results if x.id in was_passing), deadline, self.settle_s
        )
        step.status = "rolled back"
        return run

    def rollback(self, done: list[Action], ctx: ActionContext, step: Step) -> None:
        """Put back every file the step edited, then re-run its compose and wait actions on the restored
        config (nothing to re-run when nothing was edited)."""
        for action in reversed(done):
            if action.reversible:
                res = self.stack.act(action, ctx, "rollback")
                step.record(f"rollback {action.name}", res.status, res.message, res.diff)
        if not any(a.reversible for a in done):
            return
        for action in done:
            if action.name in schedule.COMPOSE or action.name == "wait_healthy":
                res = self.stack.act(action, ctx)
                step.record(f"re-apply {action.name}", res.status, res.message)

    def fix_suite(self, finding: Finding, step: Step, facts: Facts, deadline: float, run_id: str) -> Run:
        """Correct the suite's checks (only with ``--fix-suite``), reload it, re-test what it changed."""
        from .loader import load_suite

        meter = self.meter
        texts, diff = suitepatch.suite_patch(meter.suite, finding)
        if not texts:
            step.status, step.reason = "failed", "no patch: the right port is not known"
            return meter.measured()
        suitepatch.write(texts, run_id)
        meter.acted()
        step.record("suite_patch", "changed", "checks corrected", diff)
        meter.suite = load_suite(meter.suite.files)
        run, step.verified = meter.settle(
            facts.dependents(set(finding.checks)), lambda r: verified(meter, finding, r), deadline, self.settle_s
        )
        step.status = "changed"
        return run

    def inspect(self, finding: Finding, run_id: str) -> list[Mapping[str, Any]]:
        """What each action of a finding would change now, without changing anything."""
        ctx = self.context(finding, run_id)  # equivalent mutant: the run id (inspecting writes no backup)
        out: list[Mapping[str, Any]] = []
        edits = False  # equivalent mutant: None is as false
        for action in actions_of(finding):
            ins = self.stack.inspect(action, ctx)
            item = {
                "action": action.name,
                "would_change": ins.would_change,
                "summary": ins.summary,
                "diff": ins.diff,
                "simulated": action.name not in schedule.BLIND,
            }
            if action.name in schedule.COMPOSE and edits:
                item["summary"] += " (the edits above change the config: compose recreates what they touch)"
                item["would_change"] = True
            edits = edits or (action.name in schedule.EDITS and ins.would_change)
            out.append(item)
        return out
