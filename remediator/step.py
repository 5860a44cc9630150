"""One step of a heal as a transaction: act, re-test what the step can have affected, then keep it or
roll it back. A step is kept only when it verified and the rate did not fall; otherwise every file it
edited is put back and its compose actions re-run on the restored config."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import schedule, suitepatch
from .actions import Action, ActionContext, ActionResult, build_action
from .diagnosis import Finding
from .errors import UserError
from .facts import Facts
from .measure import Meter
from .model import Target
from .outcomes import Step
from .results import PASSED, Run
from .stack import How, Stack

_DEPENDENCY = re.compile(r"dependency failed to start: container (\S+) (?:is unhealthy|exited)")


def actions_of(finding: Finding) -> list[Action]:
    """The actions a finding's step runs, in order (a restart after an edit becomes an up)."""
    where = f"{finding.entry.where or finding.entry.id}: {finding.entry.id}"
    return [build_action(spec, where=where) for spec in schedule.specs(finding)]


def _fell(before: Run, after: Run, among: set[str]) -> list[str]:
    """Checks of ``among`` that passed before and do not now."""
    was = {r.id for r in before.results if r.status == PASSED and r.id in among}
    return sorted(r.id for r in after.results if r.id in was and r.status != PASSED)


def _run(stack: Stack, action: Action, ctx: ActionContext, how: How = "apply") -> ActionResult:
    """One action, whatever it raises turned into its ``failed`` result: an action that refuses half way
    through a step (a template that raises, a value compose could not read back, both keys of a rename
    set, a file it may not write) must not end the heal with the step's earlier edits left in place.
    The step is then undone like any step whose action failed."""
    try:
        return stack.act(action, ctx, how)
    except UserError as exc:
        return ActionResult(action.name, "failed", str(exc))
    except Exception as exc:
        return ActionResult(action.name, "failed", f"internal error ({type(exc).__name__}): {exc}")


def failed_dependency(message: str) -> str | None:
    """The container a compose failure names as the dependency that did not start, if that was why."""
    match = _DEPENDENCY.search(message)
    return match.group(1) if match else None


def verified(meter: Meter, finding: Finding, run: Run) -> bool:
    """Did the step work? An entry's ``verify`` checks must pass; without them, the evidence that made
    the finding match must be gone (its checks may still fail for a cause stacked behind it: the gateway
    key fixed reveals the missing internal key, and that is progress, not failure)."""
    status = {r.id: r.status for r in run.results}
    if finding.entry.verify:
        return all(status.get(c) == PASSED for c in finding.entry.verify)
    if finding.checks and all(status.get(c) == PASSED for c in finding.checks):
        return True
    deep = finding.entry.id.startswith("analyzer:")  # an analyzer's finding is seen only in a deep look
    return not any(f.key == finding.key for f in meter.diagnosis(deep=deep)[1])


class Transaction:
    """Takes steps on one stack; ``settle_s`` bounds how long a step may take to show its effect."""

    # equivalent mutant: the default settle_s (its one caller, the Planner, passes it)
    def __init__(self, meter: Meter, stack: Stack, settle_s: float = 60.0, target: Target | None = None) -> None:
        self.meter, self.stack, self.settle_s, self.target = meter, stack, settle_s, target

    def context(self, finding: Finding, run_id: str) -> ActionContext:
        return self.stack.context({**self.meter.captures, **finding.vars}, run_id)

    def take(
        self, finding: Finding, step: Step, facts: Facts, deadline: float, run_id: str, whole: bool, deep: bool = True
    ) -> Run:
        """Act, wait until what the step touched is ready, re-test what it can have affected (everything
        when ``whole``; ``deep``: that run will be diagnosed deeply), then keep it or roll it back.
        ``run_id`` names this step's backups, so a rollback undoes this step only.

        Kept: it verified, and none of its affected checks that passed before fails (measured once more
        before deciding: a flicker is not the step's fault). Otherwise every file it edited is put back,
        its compose actions re-run on the restored config, and every container it touched that was
        running before is running again."""
        meter = self.meter
        before = meter.measured()
        services = schedule.services_touched(schedule.specs(finding), facts, finding.vars)
        was_running = self.stack.running(services)
        was_ready = services - set(self.stack.readiness(services)[0]) if services else set()
        ctx = self.context(finding, run_id)
        done, failed = self._act(finding, step, ctx)
        meter.acted()
        step_checks = set(finding.entry.verify or ()) | set(finding.explains)
        only = schedule.affected(meter.suite.checks, step_checks, services, facts)
        if failed and not any(a.reversible for a in done[:-1]):
            step.status = "failed"  # nothing was changed before the failing action: nothing to undo
            self._restore(was_running, step)
            return before
        run = before
        if not failed:
            # one settle time for both: waiting until ready, then until the checks show the effect
            settle_end = min(deadline, self.stack.clock.monotonic() + self.settle_s)
            unchecked = meter.wait_ready(services, settle_end, self.settle_s)
            retest = None if whole else only
            run, step.verified = meter.settle(
                retest,
                lambda r: verified(meter, finding, r),
                settle_end,
                self.settle_s,
                stable=bool(unchecked),
                deep=whole and deep,
            )
            fell = _fell(before, run, only)
            if fell and step.verified:
                run = meter.test(retest, deep=whole and deep)  # once more before blaming the step
                step.verified, fell = verified(meter, finding, run), _fell(before, run, only)
            if step.verified and not fell:
                step.status = "changed" if any(a["result"] == "changed" for a in step.actions) else "ok"
                return run
            if not step.reason:
                step.reason = (
                    f"checks that passed before fail now: {', '.join(fell)}"
                    if fell
                    else "the step did not take effect: "
                    + (
                        "verify checks " + ", ".join(finding.entry.verify)
                        if finding.entry.verify
                        else "the finding still matches"
                    )
                )
        was_passing = {r.id for r in before.results if r.status == PASSED and r.id in only}
        self.rollback(done, ctx, step)
        self._restore(was_running, step)
        settle_end = min(deadline, self.stack.clock.monotonic() + self.settle_s)
        meter.wait_ready(was_ready, settle_end, self.settle_s)
        run, _ = meter.settle(
            only, lambda r: all(x.status == PASSED for x in r.results if x.id in was_passing), settle_end, self.settle_s
        )
        step.status = "rolled back"
        return run

    def take_together(
        self,
        findings: list[Finding],
        steps: list[Step],
        facts: Facts,
        deadline: float,
        run_id: str,
        whole: bool,
        deep: bool = True,
    ) -> Run:
        """Several findings of one compose-only entry on disjoint services (``schedule.companions``) in
        one compose call per action, then measured per finding: each step verifies on its own evidence.
        Nothing they do is reversible, so a step that does not verify is failed, not rolled back.
        ``deep``: a whole re-test (``whole``) will be diagnosed deeply."""
        meter = self.meter
        before = meter.measured()
        services: set[str] = set()
        for f in findings:
            services |= schedule.services_touched(schedule.specs(f), facts, f.vars)
        was_running = self.stack.running(services)
        ctx = self.stack.context(meter.captures, run_id)
        where = f"{findings[0].entry.where or findings[0].entry.id}: {findings[0].entry.id}"
        scope = {**facts.context, **meter.captures}
        failed = ""
        for spec in schedule.merged_specs(findings, scope):
            action = build_action(spec, where=where)
            result = _run(self.stack, action, ctx)
            for st in steps:
                st.record(action.name, result.status, result.message, result.diff)
            if result.status == "failed":
                failed = f"{action.name}: {result.message}"
                break
        meter.acted()
        if failed:
            for st in steps:
                st.status, st.reason, st.blocked_by = "failed", failed, failed_dependency(failed) or ""
            self._restore(was_running, steps[0])
            return before
        only = schedule.affected(meter.suite.checks, set().union(*(f.explains for f in findings)), services, facts)
        settle_end = min(deadline, self.stack.clock.monotonic() + self.settle_s)
        unchecked = meter.wait_ready(services, settle_end, self.settle_s)
        run, _ = meter.settle(
            None if whole else only,
            lambda r: all(verified(meter, f, r) for f in findings),
            settle_end,
            self.settle_s,
            stable=bool(unchecked),
            deep=whole and deep,
        )
        for f, st in zip(findings, steps, strict=True):
            st.verified = verified(meter, f, run)
            if st.verified:
                st.status = "changed" if any(a["result"] == "changed" for a in st.actions) else "ok"
            else:
                st.status, st.reason = "failed", "the step did not take effect: the finding still matches"
        return run

    def _act(self, finding: Finding, step: Step, ctx: ActionContext) -> tuple[list[Action], bool]:
        """Run the finding's actions in order until one fails; record each."""
        done: list[Action] = []
        for action in actions_of(finding):
            result = _run(self.stack, action, ctx)
            step.record(action.name, result.status, result.message, result.diff)
            done.append(action)
            if result.status == "failed":
                step.reason = f"{action.name}: {result.message}"
                blocked = failed_dependency(result.message)
                if blocked:
                    step.blocked_by = blocked
                return done, True
        return done, False

    def _restore(self, was_running: set[str], step: Step) -> None:
        """Start again, on the config as it now is, what was running before the step and is not now."""
        stopped = was_running - self.stack.running(was_running)
        if not stopped:
            return
        error = self.stack.start_as_before(stopped)
        step.record("restore", "failed" if error else "changed", error or f"started {', '.join(sorted(stopped))} again")
        if error:
            step.reason += f"; could not start {', '.join(sorted(stopped))} again: {error}"

    def rollback(self, done: list[Action], ctx: ActionContext, step: Step) -> None:
        """Put back every file the step edited, then re-run its compose and wait actions on the restored
        config (nothing to re-run when nothing was edited)."""
        for action in reversed(done):
            if action.reversible:
                res = _run(self.stack, action, ctx, "rollback")
                step.record(f"rollback {action.name}", res.status, res.message, res.diff)
        if not any(a.reversible for a in done):
            return
        for action in done:
            if action.name in schedule.COMPOSE or action.name == "wait_healthy":
                res = _run(self.stack, action, ctx)
                step.record(f"re-apply {action.name}", res.status, res.message)

    def fix_suite(self, finding: Finding, step: Step, facts: Facts, deadline: float, run_id: str) -> Run:
        """Correct the suite's checks (only with ``--fix-suite``), reload it, re-test what it changed."""
        from .loader import load_suite

        meter = self.meter
        texts, diff = suitepatch.suite_patch(meter.suite, finding, self.target)
        if not texts:
            step.status, step.reason = "failed", "no patch: the right port is not known"
            return meter.measured()
        suitepatch.write(texts, run_id)
        meter.acted()
        inventory = self.target is not None and Path(self.target.inventory) in texts
        step.record("suite_patch", "changed", "inventory URL corrected" if inventory else "checks corrected", diff)
        if inventory:
            self.target = self.stack.reload_target()
        meter.suite = load_suite(meter.suite.files)
        run, step.verified = meter.settle(
            facts.dependents(set(finding.checks)), lambda r: verified(meter, finding, r), deadline, self.settle_s
        )
        step.status = "changed"
        return run

    def inspect(self, finding: Finding, run_id: str) -> list[Mapping[str, Any]]:
        """What each action of a finding would change now, without changing anything."""
        ctx = self.context(finding, run_id)
        out: list[Mapping[str, Any]] = []
        edits = False
        for action in actions_of(finding):
            try:
                ins = self.stack.inspect(action, ctx)
            except UserError as exc:  # an unhealthy stack is what plan is for: show it, go on
                out.append(
                    {"action": action.name, "would_change": True, "summary": f"not simulated: {exc}", "diff": "",
                     "simulated": False}
                )  # fmt: skip
                continue
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
