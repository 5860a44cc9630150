"""The planner: the only place that decides what to do next.

    observe -> diagnose -> plan -> act -> verify -> (again, until the target is met)

It runs the checks, gathers facts, matches playbook entries into findings, orders them by the checks
each is expected to turn (directly and through ``requires``) over what its actions cost, and, for
``apply``, takes one step at a time: act, re-test only what the step can have affected, compare the
measured rate with the predicted one, roll back a step that did not verify or lowered the rate, and
diagnose again, because a fix can reveal the next symptom. It stops at the target, when nothing
applicable is left, at a step or time limit, or when a finding keeps coming back (a breaker, like
Monit's "if 3 restarts within 5 cycles then unmonitor").

Findings against the suite itself (a check aimed where nothing listens) are reported with the patch
that would correct the suite and applied only with ``fix_suite``: the planner never moves its own
goalposts.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import templating
from .actions import Action, ActionContext, build_action, new_run_id
from .backends.engine import Engine
from .context import base_context
from .diagnosis import Evaluator, Finding, diagnose, run_probe
from .facts import Facts, gather
from .model import Check, Entry, Suite, Target
from .probes import ProbeContext
from .results import FAILED, PASSED, SKIPPED, Run
from .runner import RunState, run_checks
from .secrets import MASKER

# What a step costs, roughly in seconds of disruption: edits are cheap, recreating containers is not.
COST = {
    "env_set": 1,
    "env_unset": 1,
    "env_rename": 1,
    "compose_set": 1,
    "compose_unset": 1,
    "yaml_set": 1,
    "yaml_unset": 1,
    "http": 1,
    "wait_healthy": 1,
    "exec": 2,
    "compose_restart": 3,
    "compose_up": 4,
    "compose_recreate": 4,
    "run": 5,
}
EDITS = {"env_set", "env_unset", "env_rename", "compose_set", "compose_unset", "yaml_set", "yaml_unset"}
COMPOSE = {"compose_up", "compose_restart", "compose_recreate"}
BLIND = {"exec", "run", "http"}  # their effect is known only once they ran: a plan cannot simulate them

Notify = Callable[[str], None]


@dataclass
class Guards:
    """What the guards of the entries remember: attempts, the last try, what was excluded and why.

    One ``apply`` uses one; ``watch`` keeps one for its whole life, so a fix that keeps coming back
    trips the breaker across cycles too. Attempts count within ``window_s`` only (a watch that runs
    for days may fix the same stopped service twice a day without ever tripping it).
    """

    window_s: float = float("inf")
    tries: dict[str, list[float]] = field(default_factory=dict)  # finding key -> monotonic times
    succeeded: set[str] = field(default_factory=set)
    excluded: dict[str, str] = field(default_factory=dict)  # finding key -> why it is no longer taken

    def attempts(self, key: str) -> int:
        """Attempts at this finding within the window."""
        now = time.monotonic()
        recent = [t for t in self.tries.get(key, ()) if now - t < self.window_s]
        self.tries[key] = recent
        return len(recent)

    def last_try(self, key: str) -> float | None:
        return self.tries[key][-1] if self.tries.get(key) else None

    def record(self, key: str) -> int:
        """Count one more attempt; return the attempt's number within the window."""
        count = self.attempts(key) + 1
        self.tries.setdefault(key, []).append(time.monotonic())
        return count


@dataclass
class Step:
    """One finding taken (or planned): its actions, what was predicted and what was measured."""

    finding: Finding
    predicted_rate: float
    status: str = "planned"  # planned | ok | changed | failed | rolled back | needs confirmation
    actions: list[dict[str, Any]] = field(default_factory=list)
    rate_before: float | None = None
    rate_after: float | None = None
    verified: bool | None = None
    reason: str = ""
    attempt: int = 1
    duration_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return MASKER.mask_data(
            {
                "finding": self.finding.to_json(),
                "evidence": self.finding.evidence,
                "actions": self.actions,
                "status": self.status,
                "predicted_rate": round(self.predicted_rate, 4),
                "rate_before": None if self.rate_before is None else round(self.rate_before, 4),
                "rate_after": None if self.rate_after is None else round(self.rate_after, 4),
                "verified": self.verified,
                "reason": self.reason,
                "attempt": self.attempt,
                "duration_s": round(self.duration_s, 2),
            }
        )


class Planner:
    """Diagnose and heal one target with one suite and a set of playbook entries."""

    def __init__(
        self,
        target: Target,
        suite: Suite,
        entries: list[Entry],
        *,
        concurrency: int = 64,
        fix_suite: bool = False,
        assume_yes: bool = False,
        settle_s: float = 60.0,
        notify: Notify | None = None,
    ) -> None:
        self.target, self.suite, self.entries = target, suite, entries
        self.concurrency, self.fix_suite, self.assume_yes, self.settle_s = concurrency, fix_suite, assume_yes, settle_s
        self.notify = notify or (lambda _msg: None)
        self.run_id = new_run_id()
        self.captures: dict[str, Any] = {}
        self.run: Run | None = None
        self.runs = 0
        self.run_is_whole = False  # the latest run measured every check (not a partial re-test merged in)
        self.guards = Guards()
        self._diagnosed: tuple[Run | None, Facts, list[Finding]] | None = None
        self._engine: Engine | None = None

    @property
    def checks(self) -> list[Check]:
        return list(self.suite.checks)

    # -- observing ------------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        """One engine connection for every run and observation of this planner."""
        if self._engine is None:
            self._engine = Engine(self.target.docker)
        return self._engine

    def test(self, only: set[str] | None = None) -> Run:
        """Run the checks (all, or ``only`` those and re-use the rest) and remember the merged result."""
        state = RunState(context=base_context(self.target), captures=dict(self.captures))

        async def main() -> tuple[Run, RunState]:
            ctx = ProbeContext(self.target, concurrency=self.concurrency, engine=self.engine)
            try:
                prior = self.run if only is not None else None
                return await run_checks(
                    self.target, self.checks, only=only, prior=prior, state=state, probe_context=ctx
                )
            finally:
                await ctx.close()

        run, state = asyncio.run(main())
        self.captures, self.run, self.run_is_whole = state.captures, run, only is None
        self.runs += 1
        return run

    def wait_settled(self, limit_s: float = 90.0) -> None:
        """Wait (bounded) while a container of the project is still in its health start period.

        A container whose health is "starting" has not shown yet whether it is healthy: diagnosing it
        now would read a health log that is not there yet (a Kubernetes probe's start period).
        """
        if self.target.compose is None:
            return
        engine = self.engine
        end = time.monotonic() + limit_s
        while time.monotonic() < end:
            starting = [
                c.service
                for c in engine.containers(self.target.compose.project)
                if c.state == "running" and c.health == "starting"
            ]
            if not starting:
                return
            self.notify(f"waiting for {', '.join(sorted(starting))} to finish starting")
            time.sleep(1.0)

    def _rendered(self) -> dict[str, Mapping[str, Any]]:
        scope = {**base_context(self.target), **self.captures}
        out = {}
        for c in self.checks:
            try:
                out[c.id] = templating.render(c.probe, scope)
            except Exception:  # a capture not taken yet: this probe's aim is unknown this round
                out[c.id] = {}
        return out

    def observe(self) -> Facts:
        assert self.run is not None
        return gather(
            self.target, self.run, self.suite.by_id(), self._rendered(), base_context(self.target), engine=self.engine
        )

    def diagnose(self, facts: Facts) -> list[Finding]:
        return diagnose(self.entries, facts, Evaluator(facts, run_probe(self.target)))

    def _acted(self) -> None:
        """Actions ran: the latest run is no longer a whole measurement of the stack as it is, and its
        diagnosis no longer describes it (a failing action may still have changed something), until
        the next run."""
        self.run_is_whole = False
        self._diagnosed = None

    def diagnosis(self) -> tuple[Facts, list[Finding]]:
        """Facts and findings on the latest run, gathered once per run: a step's verify and the round
        after it read the same evidence, so the second would only ask the engine again for nothing."""
        if self._diagnosed is None or self._diagnosed[0] is not self.run:
            facts = self.observe()
            self._diagnosed = (self.run, facts, self.diagnose(facts))
        return self._diagnosed[1], self._diagnosed[2]

    # -- deciding -------------------------------------------------------------------------------

    def cost(self, finding: Finding) -> int:
        return max(1, sum(COST.get(next(iter(spec)), 1) for spec in finding.entry.actions))

    def order(self, findings: list[Finding]) -> list[Finding]:
        """Most checks turned per unit of cost first; ``after`` and dependencies between checks respected.

        When one finding's checks are what another's checks require, the first must come first: the
        others may only be symptoms of it, and are diagnosed again after its verify.
        """
        by_id = self.suite.by_id()

        def requires_all(cid: str, seen: set[str] | None = None) -> set[str]:
            seen = seen if seen is not None else set()
            for r in by_id[cid].requires if cid in by_id else ():
                if r not in seen:
                    seen.add(r)
                    requires_all(r, seen)
            return seen

        before: dict[str, set[str]] = {f.key: set() for f in findings}
        for b in findings:
            needed = set().union(*(requires_all(c) for c in b.checks)) if b.checks else set()
            for a in findings:
                if a is b:
                    continue
                # a container finding rests on no check: what it explains stands for its checks
                if a.entry.id in b.entry.after or (a.checks or a.explains) & needed:
                    before[b.key].add(a.key)
        score = {f.key: len(f.explains) / self.cost(f) for f in findings}
        remaining = sorted(findings, key=lambda f: (-score[f.key], f.entry.where.line if f.entry.where else 0))
        ordered: list[Finding] = []
        placed: set[str] = set()
        while remaining:
            ready = next((f for f in remaining if before[f.key] <= placed), remaining[0])  # a cycle: best first
            ordered.append(ready)
            placed.add(ready.key)
            remaining.remove(ready)
        return ordered

    def predict(self, ordered: list[Finding]) -> list[float]:
        """The rate expected after each step, if each turns the checks it explains (and no others)."""
        assert self.run is not None
        status = {r.id: r.status for r in self.run.results}
        turned: set[str] = set()
        out = []
        for f in ordered:
            turned |= {c for c in f.explains if status.get(c) != PASSED}
            out.append((self.run.passed + len(turned)) / max(1, self.run.total))
        return out

    def _specs(self, finding: Finding) -> list[Mapping[str, Any]]:
        """The entry's actions, with one rule from evidence: after an edit, a restart becomes a recreate.

        ``compose restart`` never picks up env or compose changes; ``compose up`` recreates exactly
        the containers whose resolved configuration the edit changed.
        """
        specs: list[Mapping[str, Any]] = []
        edited = False
        for spec in finding.entry.actions:
            ((name, args),) = spec.items()
            if name == "compose_restart" and edited:
                spec = {"compose_up": dict(args or {})}
            edited = edited or name in EDITS
            specs.append(spec)
        return specs

    def _context(self, finding: Finding) -> ActionContext:
        captures = {**self.captures, **finding.vars}
        return ActionContext.for_target(self.target, captures=captures, run_id=self.run_id, engine=self.engine)

    def _actions(self, finding: Finding) -> list[Action]:
        where = str(finding.entry.where or finding.entry.id)
        return [build_action(spec, where=f"{where}: {finding.entry.id}") for spec in self._specs(finding)]

    def inspect(self, finding: Finding) -> list[dict[str, Any]]:
        """What each action of a finding would change now, without changing anything."""
        ctx = self._context(finding)
        out, edits = [], False
        for action in self._actions(finding):
            ins = action.inspect(ctx)
            item = {
                "action": action.name,
                "would_change": ins.would_change,
                "summary": ins.summary,
                "diff": ins.diff,
                "simulated": action.name not in BLIND,
            }
            if action.name in COMPOSE and edits:
                item["summary"] += " (the edits above change the config: compose recreates what they touch)"
                item["would_change"] = True
            edits = edits or (action.name in EDITS and ins.would_change)
            out.append(MASKER.mask_data(item))
        return out

    # -- suite findings -------------------------------------------------------------------------

    def suite_patch(self, finding: Finding) -> tuple[dict[Path, str], str]:
        """The corrected text of the check files a suite finding blames, and the diff.

        Every check of those files aimed at the unpublished port is corrected, not only those that
        failed: the ones behind them (skipped, since what they require failed) aim there too.
        """
        from .actions.base import unified

        old_port, new_port = finding.vars.get("port"), finding.vars.get("suggested_port")
        if old_port is None or new_port is None:
            return {}, ""
        by_id = self.suite.by_id()
        paths = {Path(by_id[c].where.path) for c in finding.checks if by_id[c].where}
        aimed = re.compile(rf"(url:.*?:){old_port}(?!\d)|(port:\s*){old_port}(?!\d)")
        texts: dict[Path, str] = {}
        for path in sorted(paths):
            original = path.read_text(encoding="utf-8")
            lines = original.splitlines(keepends=True)
            starts = sorted(c.where.line - 1 for c in self.suite.checks if c.where and Path(c.where.path) == path)
            for start, end in zip(starts, [*starts[1:], len(lines)], strict=True):
                for i in range(start, end):
                    lines[i] = aimed.sub(lambda m: (m.group(1) or m.group(2)) + str(new_port), lines[i])
            if "".join(lines) != original:
                texts[path] = "".join(lines)
        diff = "".join(unified(p.read_text(encoding="utf-8"), t, p.name) for p, t in texts.items())
        return texts, diff

    def suite_findings_json(self, findings: list[Finding]) -> list[dict[str, Any]]:
        out = []
        for f in findings:
            _, diff = self.suite_patch(f)
            out.append({**f.to_json(), "patch": diff})
        return out

    # -- plan -----------------------------------------------------------------------------------

    def plan(self) -> dict[str, Any]:
        """The ordered steps with evidence, diffs and predicted rates. Changes nothing."""
        self.wait_settled()
        run = self.test()
        self.notify(f"checked: {run.passed}/{run.total} passed ({run.rate:.1%})")
        _, findings = self.diagnosis()
        env_findings = self.order([f for f in findings if not f.entry.suite and f.entry.actions])
        suite_findings = [f for f in findings if f.entry.suite]
        predicted = self.predict(env_findings)
        steps = []
        for f, rate in zip(env_findings, predicted, strict=True):
            self.notify(f"inspecting {f.key}")
            step = Step(finding=f, predicted_rate=rate)
            step.actions = self.inspect(f)
            steps.append(step.to_json())
        return {
            "target": self.target.name,
            "initial_rate": round(run.rate, 4),
            "total": run.total,
            "passed": run.passed,
            "steps": steps,
            "suite_findings": self.suite_findings_json(suite_findings),
            "diagnoses": [f.to_json() for f in findings if not f.entry.suite and not f.entry.actions],
            "checks": run.to_json(),
        }

    # -- apply ----------------------------------------------------------------------------------

    def _affected(self, step_checks: set[str], services: set[str], facts: Facts) -> set[str]:
        """What a re-test must repeat: the step's checks, the touched services' checks and those of the
        services that depend on them, everything that requires those, widened to whole categories (a
        flow such as register -> login re-runs together, with one fresh identity). Load probes
        (``exclusive``) run alone and slowly: they are repeated only when the step is about them."""
        touched = set(services)
        for name, svc in facts.services.items():
            if set(svc.get("depends_on") or {}) & services:
                touched.add(name)
        roots = set(step_checks) | {c.id for c in self.checks if facts.service_of(c.id) in touched}
        ids = facts.dependents(roots)
        categories = {c.category for c in self.checks if c.id in ids}
        wide = facts.dependents({c.id for c in self.checks if c.category in categories})
        direct = facts.dependents(set(step_checks))
        return {c.id for c in self.checks if c.id in wide and (not c.exclusive or c.id in direct)}

    @staticmethod
    def _services(actions: list[Action], facts: Facts, bound: Mapping[str, Any]) -> set[str]:
        """Services an action list touches: named ones, or every service of a bare ``compose up``."""
        out: set[str] = set()
        for a in actions:
            args = a.args
            if a.name in COMPOSE or a.name == "wait_healthy":
                out |= set(args.get("services") or facts.services)
            if a.name in ("exec", "run"):
                out.add(str(args.get("service")))
        scope = {**facts.context, **bound}
        return {templating.render_str(s, scope) for s in out}

    def _settle(self, only: set[str] | None, done: Callable[[Run], bool], deadline: float) -> tuple[Run, bool]:
        """Re-test ``only`` (None: every check) until ``done`` says the step has taken effect, or the
        settle time runs out.

        Containers take a moment to start and to pass their first health check; polling the affected
        checks (cheap: a partial run) beats a fixed sleep, and a step that never takes effect costs
        at most ``settle_s``.
        """
        end = min(deadline, time.monotonic() + self.settle_s)
        while True:
            run = self.test(only)
            ok = done(run)
            if ok or time.monotonic() >= end:
                return run, ok
            time.sleep(0.25)

    def apply(
        self,
        until: float | None = None,
        max_steps: int = 20,
        timeout_s: float = 1800.0,
        initial_run: Run | None = None,
    ) -> dict[str, Any]:
        """Heal: one step at a time, re-testing after each, until the target or nothing applicable is left.

        ``initial_run``: a full run just measured by the caller (``watch``), taken as the starting point
        instead of running the suite again.
        """
        deadline = time.monotonic() + timeout_s
        if initial_run is None:
            self.wait_settled()
            run = self.test()
        else:
            run = self.run = initial_run
        initial = run.rate
        self.notify(f"checked: {run.passed}/{run.total} passed ({run.rate:.1%})")
        steps: list[Step] = []
        guards = self.guards
        excluded = guards.excluded
        suite_findings: list[Finding] = []
        stop_reason = ""
        while True:
            if until is not None and run.rate >= until:
                stop_reason = f"target {until:.0%} met"
                break
            if len(steps) >= max_steps:
                stop_reason = f"stopped after {max_steps} steps (--max-steps)"
                break
            if time.monotonic() >= deadline:
                stop_reason = f"stopped at the time limit ({timeout_s:g} s)"
                break
            facts, findings = self.diagnosis()
            suite_findings = [f for f in findings if f.entry.suite]
            candidates = [
                f
                for f in findings
                if f.key not in excluded
                and ((f.entry.suite and self.fix_suite) or (not f.entry.suite and f.entry.actions))
            ]
            for f in candidates:  # the breaker: a finding fixed before that keeps coming back
                if f.key in guards.succeeded and guards.attempts(f.key) >= f.entry.max_attempts:
                    excluded[f.key] = f"breaker: the finding came back after {guards.attempts(f.key)} fix(es)"
            candidates = [f for f in candidates if f.key not in excluded]
            if not candidates:
                stop_reason = "nothing applicable is left"
                break
            finding = self.order(candidates)[0]
            predicted = self.predict([finding])[0]
            key = finding.key
            last = guards.last_try(key)
            if finding.entry.cooldown and last is not None:
                wait = last + finding.entry.cooldown - time.monotonic()
                if wait > 0:
                    time.sleep(min(wait, max(0.0, deadline - time.monotonic())))
            attempt = guards.record(key)
            step = Step(finding=finding, predicted_rate=predicted, rate_before=run.rate, attempt=attempt)
            self.notify(f"step {len(steps) + 1}: {finding.entry.name} [{key}]")
            started = time.monotonic()
            if finding.entry.confirm and not self.assume_yes:
                step.status, step.reason = "needs confirmation", "confirm: true; run again with --yes to allow it"
                excluded[key] = step.reason
            elif finding.entry.suite:
                run = self._fix_suite(finding, step, facts, deadline)
            else:
                # A step predicted to reach the target re-tests everything: if it does, that run is the
                # whole final measurement, and the partial re-test it replaces is saved.
                whole = predicted >= (1.0 if until is None else until)
                run = self._take(finding, step, facts, deadline, len(steps) + 1, whole)
            step.duration_s = time.monotonic() - started
            step.rate_after = run.rate
            steps.append(step)
            self._journal(step)
            self.notify(
                f"  {step.status}: rate {step.rate_before:.1%} -> {run.rate:.1%} (predicted {step.predicted_rate:.1%})"
            )
            if step.status in ("failed", "rolled back") and attempt >= finding.entry.max_attempts:
                excluded[key] = f"did not help in {attempt} attempt(s): {step.reason}"
            elif step.status in ("changed", "ok"):
                guards.succeeded.add(key)
        # The reported rate is measured whole, not pieced together from partial re-tests: the latest run
        # when it was whole and nothing acted since (no step, or a kept step that re-tested everything).
        final = run if self.run_is_whole else self.test()
        if until is not None and final.rate < until and run.rate >= until:
            stop_reason += f"; the full re-run measured {final.rate:.1%}"
        _, left = self.diagnosis()
        suite_findings = [f for f in left if f.entry.suite]
        target_rate = 1.0 if until is None else until
        actionable = [f for f in left if not f.entry.suite and f.entry.actions]
        met = final.rate >= target_rate and (until is not None or not actionable)
        return MASKER.mask_data(
            {
                "target_name": self.target.name,
                "initial_rate": round(initial, 4),
                "final_rate": round(final.rate, 4),
                "target": target_rate,
                "met": met,
                "stop_reason": stop_reason,
                "steps": [s.to_json() for s in steps],
                "suite_findings": self.suite_findings_json(suite_findings),
                "remaining_findings": [f.to_json() for f in actionable],
                "diagnoses": [f.to_json() for f in left if not f.entry.suite and not f.entry.actions],
                "excluded": dict(excluded),
                "remaining_failures": [r.to_json() for r in final.results if r.status in (FAILED, SKIPPED)],
                "checks": final.to_json(),
                "test_runs": self.runs,
                "run_id": self.run_id,
            }
        )

    def _verified(self, finding: Finding, run: Run) -> bool:
        """Did the step work? An entry's ``verify`` checks must pass; without them, the evidence that
        made the finding match must be gone (its checks may still fail for a cause stacked behind it:
        the gateway key fixed reveals the missing internal key, and that is progress, not failure)."""
        status = {r.id: r.status for r in run.results}
        if finding.entry.verify:
            return all(status.get(c) == PASSED for c in finding.entry.verify)
        if finding.checks and all(status.get(c) == PASSED for c in finding.checks):
            return True
        return not any(f.key == finding.key for f in self.diagnosis()[1])

    def _take(
        self, finding: Finding, step: Step, facts: Facts, deadline: float, number: int, whole: bool = False
    ) -> Run:
        """Act, re-test what the step can have affected (everything when ``whole``), keep it or roll it back."""
        assert self.run is not None
        before = self.run
        ctx = self._context(finding)
        ctx.run_id = f"{self.run_id}-step{number}"  # backups per step: a rollback undoes this step only
        actions = self._actions(finding)
        done: list[Action] = []
        failed = False
        for action in actions:
            result = action.apply(ctx)
            step.actions.append(
                {"action": action.name, "result": result.status, "message": result.message, "diff": result.diff}
            )
            done.append(action)
            if result.status == "failed":
                failed, step.reason = True, f"{action.name}: {result.message}"
                break
        self._acted()
        if failed and not any(a.reversible and a in done for a in actions[: len(done) - 1]):
            step.status = "failed"  # nothing was changed before the failing action: nothing to undo
            return before
        services = self._services(actions, facts, finding.vars)
        only = self._affected(set(finding.entry.verify or ()) | set(finding.explains), services, facts)
        run = before
        if not failed:
            retest = None if whole else only
            run, step.verified = self._settle(retest, lambda r: self._verified(finding, r), deadline)
        worse = run.rate < before.rate
        if failed or not step.verified or worse:
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
            was_passing = {r.id for r in before.results if r.status == PASSED and r.id in only}
            self._rollback(done, ctx, step)
            run, _ = self._settle(
                only, lambda r: all(x.status == PASSED for x in r.results if x.id in was_passing), deadline
            )
            step.status = "rolled back"
            return run
        step.status = "changed" if any(a["result"] == "changed" for a in step.actions) else "ok"
        return run

    def _rollback(self, done: list[Action], ctx: ActionContext, step: Step) -> None:
        """Put back every file the step edited, then re-run its compose and wait actions on the restored config."""
        for action in reversed(done):
            if action.reversible:
                res = action.rollback(ctx)
                step.actions.append(
                    {
                        "action": f"rollback {action.name}",
                        "result": res.status,
                        "message": res.message,
                        "diff": res.diff,
                    }
                )
        if not any(a.reversible for a in done):
            return
        for action in done:
            if action.name in COMPOSE or action.name == "wait_healthy":
                res = action.apply(ctx)
                step.actions.append(
                    {"action": f"re-apply {action.name}", "result": res.status, "message": res.message, "diff": ""}
                )

    def _fix_suite(self, finding: Finding, step: Step, facts: Facts, deadline: float) -> Run:
        """Correct the suite's checks (only with fix_suite), reload it, re-test the checks it changed."""
        from .backends import files
        from .loader import load_suite

        texts, diff = self.suite_patch(finding)
        if not texts:
            step.status, step.reason = "failed", "no patch: the right port is not known"
            assert self.run is not None
            return self.run
        for path, text in texts.items():
            files.edit(path, lambda _old, t=text: t.encode(), self.run_id)
        self._acted()
        step.actions.append({"action": "suite_patch", "result": "changed", "message": "checks corrected", "diff": diff})
        self.suite = load_suite(self.suite.files)
        run, step.verified = self._settle(
            facts.dependents(set(finding.checks)), lambda r: self._verified(finding, r), deadline
        )
        step.status = "changed"
        return run

    def _journal(self, step: Step) -> None:
        """Append the step, masked, to the target's journal (.remediate/journal.jsonl)."""
        import json

        base = self.target.compose.directory if self.target.compose else Path(self.target.inventory).parent
        path = Path(base) / ".remediate" / "journal.jsonl"
        path.parent.mkdir(mode=0o700, exist_ok=True)
        record = {"run_id": self.run_id, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **step.to_json()}
        with path.open("a", encoding="utf-8") as fh:
            fh.write(MASKER.mask(json.dumps(record, default=str)) + "\n")
