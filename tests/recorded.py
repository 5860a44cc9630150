"""A stack without an engine for the heal loop's tests: a small world of env values and running
services, checks judged from it, actions that change it, a clock that moves only when slept.

``remediator.stack.Stack`` is the one seam between the loop and the outside; this is the other side
of it. Everything above the seam (meter, schedule, diagnosis, step transaction, guards, planner) runs
for real on it, so each decision of the loop can be tested in milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from remediator import templating
from remediator.actions import Action, ActionResult, Inspection
from remediator.backends.engine import ContainerState
from remediator.errors import UserError
from remediator.facts import Facts, RecordedLogs
from remediator.model import Check, Entry, Suite
from remediator.probes import Outcome
from remediator.results import FAILED, PASSED, SKIPPED, CheckResult, Run


class FakeClock:
    """Monotonic time that moves only when the loop sleeps (or a test advances it)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.sleeps.append(seconds)
            self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


Judge = Callable[["World"], bool]


@dataclass
class World:
    """What the fake stack is: env values, services running, services that refuse to start."""

    env: dict[str, str] = field(default_factory=dict)
    running: set[str] = field(default_factory=set)
    services: tuple[str, ...] = ()
    unstartable: set[str] = field(default_factory=set)
    healthchecked: set[str] = field(default_factory=set)
    ports: Mapping[str, tuple[dict[str, Any], ...]] = field(default_factory=dict)  # as compose config shows them
    depends_on: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def check(
    cid: str, judge: Judge, requires: tuple[str, ...] = (), service: str | None = None, url: str | None = None
) -> tuple[Check, Judge]:
    """A check and how the world decides it: a container check when ``service`` names one, else http."""
    probe: dict[str, Any] = (
        {"kind": "container", "service": service} if service else {"kind": "http", "url": url or cid}
    )
    return Check(cid, cid.split(".")[0], cid, probe, {}, requires=requires), judge


def entry(eid: str, when: Mapping[str, Any], *actions: Mapping[str, Any], **kw: Any) -> Entry:
    return Entry(id=eid, name=eid, when=when, actions=tuple(actions), **kw)


class RecordedStack:
    """The loop's whole outside, in memory. ``log`` lists every call the loop made through the seam."""

    def __init__(self, world: World, checks: list[tuple[Check, Judge]], clock: FakeClock | None = None) -> None:
        self.world = world
        self.judges = {c.id: j for c, j in checks}
        self.suite = Suite(checks=tuple(c for c, _ in checks))
        self.clock = clock or FakeClock()
        self.log: list[tuple[Any, ...]] = []
        self.tested: list[set[str] | None] = []
        self.deep_asked: list[bool] = []  # per test(): was a deep observation of that run announced
        self.flicker: dict[str, int] = {}  # check id -> how many more runs it fails whatever the world says
        self.starting_for: list[list[str]] = []  # what starting() answers, one item per call
        self.fail_actions: dict[str, str] = {}  # action name -> the message it fails with
        self.raise_actions: dict[str, Exception] = {}  # action name -> what it raises when applied
        self.probe_answers: dict[str, bool] = {}
        self.cannot_simulate: dict[str, str] = {}  # action name -> why its inspection fails

    # -- measuring and observing -----------------------------------------------------------------

    def test(
        self, checks: Any, only: set[str] | None, prior: Run | None, captures: Mapping[str, Any], deep: bool = False
    ) -> tuple[Run, dict[str, Any]]:
        self.tested.append(None if only is None else set(only))
        self.deep_asked.append(deep)
        reuse = prior.by_id() if prior is not None else {}
        results: dict[str, CheckResult] = {}
        for c in checks:
            if only is not None and c.id not in only and c.id in reuse:
                results[c.id] = reuse[c.id]
                continue
            blockers = [r for r in c.requires if results.get(r) and results[r].status != PASSED]
            if blockers:
                results[c.id] = CheckResult(c.id, c.category, c.name, SKIPPED, f"requires {blockers[0]} failed")
                continue
            ok = self.judges[c.id](self.world)
            if self.flicker.get(c.id, 0) > 0:
                self.flicker[c.id] -= 1
                ok = False
            results[c.id] = CheckResult(c.id, c.category, c.name, PASSED if ok else FAILED, "" if ok else "broken")
        self.clock.advance(0.1)
        return Run([results[c.id] for c in checks]), dict(captures)

    def observe(self, run: Run, checks: Mapping[str, Check], captures: Mapping[str, Any], deep: bool = False) -> Facts:
        w = self.world
        containers = {
            s: ContainerState(s, f"p-{s}-1", f"id-{s}", "running" if s in w.running else "exited", "none", 0, 0)
            for s in w.services
        }
        services = {
            s: {"depends_on": {d: {} for d in w.depends_on.get(s, ())}, "ports": list(w.ports.get(s, ()))}
            for s in w.services
        }
        return Facts(
            run=run,
            checks=checks,
            rendered={cid: c.probe for cid, c in checks.items()},
            containers=containers,
            services=services,
            env=dict(w.env),
            logs=RecordedLogs({}),
        )

    def probe(self, probe: Mapping[str, Any], expect: Mapping[str, Any]) -> Outcome:
        self.log.append(("probe", dict(probe)))
        return Outcome(self.probe_answers.get(str(probe.get("url")), False))

    def starting(self) -> list[str]:
        self.log.append(("starting",))
        return self.starting_for.pop(0) if self.starting_for else []

    def readiness(self, services: set[str]) -> tuple[dict[str, str], set[str]]:
        w = self.world
        waiting = {s: "exited" for s in sorted(services) if s in w.services and s not in w.running}
        return waiting, {s for s in services if s in w.healthchecked}

    def running(self, services: set[str]) -> set[str]:
        return {s for s in services if s in self.world.running}

    def start_as_before(self, services: set[str]) -> str:
        self.log.append(("start_as_before", sorted(services)))
        refused = services & self.world.unstartable
        self.world.running |= services - refused
        return f"{sorted(refused)[0]} did not start" if refused else ""

    # -- acting ----------------------------------------------------------------------------------

    def context(self, captures: Mapping[str, Any], run_id: str) -> Any:
        return SimpleNamespace(template=dict(captures), run_id=run_id)

    def inspect(self, action: Action, ctx: Any) -> Inspection:
        args = templating.render(action.args, ctx.template)
        self.log.append(("inspect", action.name, args))
        if action.name in self.cannot_simulate:
            raise UserError(self.cannot_simulate[action.name])
        return Inspection(action.name, True, f"would {action.name} {args}")

    def act(self, action: Action, ctx: Any, how: str = "apply") -> ActionResult:
        args = templating.render(action.args, ctx.template)
        self.log.append((how, action.name, args, ctx.run_id))
        w = self.world
        if how == "apply" and action.name in self.fail_actions:
            return ActionResult(action.name, "failed", self.fail_actions[action.name])
        if how == "apply" and action.name in self.raise_actions:
            raise self.raise_actions[action.name]
        if action.name == "env_set":
            key = args["key"]
            if how == "rollback":
                backup = ctx.__dict__.setdefault("backups", {})
                old = backup.pop(key, None)
                if old is None:
                    w.env.pop(key, None)
                else:
                    w.env[key] = old
                return ActionResult(action.name, "changed", f"restored {key}")
            if w.env.get(key) == args["value"]:
                return ActionResult(action.name, "ok", f"{key} already set")
            ctx.__dict__.setdefault("backups", {}).setdefault(key, w.env.get(key))
            w.env[key] = args["value"]
            return ActionResult(action.name, "changed", f"set {key}")
        if action.name in ("compose_up", "compose_restart"):
            wanted = set(args.get("services") or w.services)
            refused = wanted & w.unstartable
            if refused:
                return ActionResult(action.name, "failed", f"{sorted(refused)[0]} did not start")
            changed = wanted - w.running
            w.running |= wanted
            return ActionResult(action.name, "changed" if changed else "ok", f"up {sorted(wanted)}")
        return ActionResult(action.name, "ok", "nothing to do")
