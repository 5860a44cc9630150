"""The live stack as the heal loop sees it: one seam for everything that reaches the outside.

The loop measures (runs checks), observes (gathers facts), asks discriminating probes, waits for
containers that are still starting, and acts (inspects, applies, rolls back actions) only through a
``Stack``. ``LiveStack`` is the real one: the Docker engine, Compose, HTTP. Tests hand the loop a
recorded stack instead, so every decision of the loop can be tested without an engine.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

from .actions import Action, ActionContext, ActionResult, Inspection
from .backends.engine import Engine, by_service
from .clock import SYSTEM_CLOCK, Clock
from .context import base_context
from .facts import Facts, gather, render_probes
from .model import Check, Target
from .probes import Outcome, probe_for, run_with
from .readiness import has_healthcheck, waiting_on
from .results import Run
from .runner import RunState, run_checks

if TYPE_CHECKING:
    from .analyzers.observe import StackFacts

How = Literal["apply", "rollback"]
_FEW = 3  # up to so many services are listed one by one (a list and an inspect each)


class Stack(Protocol):
    """What the heal loop may do to the world, and all it may see of it."""

    clock: Clock

    def test(
        self,
        checks: Sequence[Check],
        only: set[str] | None,
        prior: Run | None,
        captures: Mapping[str, Any],
        deep: bool = False,
    ) -> tuple[Run, dict[str, Any]]:
        """Run ``checks`` (only ``only`` of them, re-using ``prior``); the run and the captures after it.
        ``deep``: a deep ``observe`` of this run will follow; what it needs beyond the facts may be read
        while the checks run (it does not depend on their results)."""
        ...

    def observe(self, run: Run, checks: Mapping[str, Check], captures: Mapping[str, Any], deep: bool = False) -> Facts:
        """A snapshot of the facts beside ``run``; ``deep`` adds what only the analyzers read (compose's
        warnings, drift from ``up --dry-run``, volumes, images: about 0.6 s on the sandbox). Asked again
        for the same run with nothing acted since, the same snapshot (deepened when asked)."""
        ...

    def probe(self, probe: Mapping[str, Any], expect: Mapping[str, Any]) -> Outcome:
        """One discriminating probe."""
        ...

    def starting(self) -> list[str]:
        """Services whose container is running but still in its health start period."""
        ...

    def readiness(self, services: set[str]) -> tuple[dict[str, str], set[str]]:
        """What each of ``services`` still waits for (``readiness.waiting_on``; absent when ready), and
        which of them have a healthcheck."""
        ...

    def running(self, services: set[str]) -> set[str]:
        """Which of ``services`` have a running container now."""
        ...

    def start_as_before(self, services: set[str]) -> str:
        """Start these services' containers on the config as it is now, without waiting for their
        dependencies (``up --no-deps``): what a rollback needs to leave running what was running.
        Returns compose's error line, or "" when it worked."""
        ...

    def context(self, captures: Mapping[str, Any], run_id: str) -> ActionContext:
        """What actions of one step see: the target, template values, the run id that names backups."""
        ...

    def inspect(self, action: Action, ctx: ActionContext) -> Inspection: ...

    def reload_target(self) -> Target:
        """Read the target again from its inventory (after ``--fix-suite`` corrected a URL there)."""
        ...

    def act(self, action: Action, ctx: ActionContext, how: How = "apply") -> ActionResult: ...


class LiveStack:
    """A target on a real engine: one engine connection for every run, observation and action.

    What it observed stays tied to the run it was observed beside, and is forgotten at the next
    action: a shallow diagnosis and the deep one after it on the same run gather the facts once, and
    the analyzers' observation (four compose processes) asked for with a run is read while it runs.
    """

    def __init__(self, target: Target, concurrency: int = 64, clock: Clock = SYSTEM_CLOCK) -> None:
        self.target, self.concurrency, self.clock = target, concurrency, clock
        self._engine: Engine | None = None
        self._facts: tuple[Run, Facts] | None = None  # the latest snapshot and the run it is beside
        self._deep: tuple[Run, StackFacts] | None = None  # the analyzers' observation read during a run

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = Engine(self.target.docker)
        return self._engine

    def test(
        self,
        checks: Sequence[Check],
        only: set[str] | None,
        prior: Run | None,
        captures: Mapping[str, Any],
        deep: bool = False,
    ) -> tuple[Run, dict[str, Any]]:
        state = RunState(context=base_context(self.target), captures=dict(captures))
        self._facts = self._deep = None  # a new run: what was observed beside the last one no longer is
        reader = _Background(self._observe_stack) if deep and self.target.compose is not None else None

        async def main(ctx: Any) -> tuple[Run, RunState]:
            return await run_checks(self.target, checks, only=only, prior=prior, state=state, probe_context=ctx)

        try:
            run, state = run_with(self.target, main, concurrency=self.concurrency, engine=self.engine)
        finally:
            found = reader.result() if reader is not None else None
        if found is not None:
            self._deep = (run, found)
        return run, state.captures

    def observe(self, run: Run, checks: Mapping[str, Check], captures: Mapping[str, Any], deep: bool = False) -> Facts:
        if self._facts is not None and self._facts[0] is run:
            facts = self._facts[1]
        else:
            context = base_context(self.target)
            rendered = render_probes(checks, {**context, **captures})
            facts = gather(self.target, run, checks, rendered, context, engine=self.engine)
            self._facts = (run, facts)
        if deep and facts.stack is None and self.target.compose is not None:
            facts.stack = self._deep[1] if self._deep is not None and self._deep[0] is run else self._observe_stack()
        return facts

    def _observe_stack(self) -> StackFacts:
        from .analyzers.observe import observe
        from .backends.compose import Compose

        assert self.target.compose is not None
        return observe(Compose(self.target.compose, self.target.docker), self.engine)

    def probe(self, probe: Mapping[str, Any], expect: Mapping[str, Any]) -> Outcome:
        async def main(ctx: Any) -> Outcome:
            return await probe_for(str(probe["kind"]))(probe, expect, ctx)

        return run_with(self.target, main, engine=self.engine)

    def starting(self) -> list[str]:
        if self.target.compose is None:
            return []
        return self.engine.services_with_health(self.target.compose.project, "starting")

    def readiness(self, services: set[str]) -> tuple[dict[str, str], set[str]]:
        states = self._states(services)
        waiting = {s: why for s in sorted(services) if (why := waiting_on(states.get(s)))}
        return waiting, {s for s in services if has_healthcheck(states.get(s))}

    def running(self, services: set[str]) -> set[str]:
        states = self._states(services)
        return {s for s in services if s in states and states[s].state == "running"}

    def start_as_before(self, services: set[str]) -> str:
        if not services or self.target.compose is None:
            return ""
        self._facts = self._deep = None
        from .backends.compose import Compose

        proc = Compose(self.target.compose, self.target.docker).up(sorted(services), no_deps=True, timeout=120)
        return "" if proc.ok else proc.error_line()

    def _states(self, services: set[str] | None = None) -> dict[str, Any]:
        """The containers by service: of the whole project, or of a few ``services`` only (the engine
        filters by label; listing the project inspects every container, 13 calls on the sandbox)."""
        if self.target.compose is None:
            return {}
        project = self.target.compose.project
        if services is None or len(services) > _FEW:
            return by_service(self.engine.containers(project))
        return by_service([st for s in sorted(services) for st in self.engine.containers(project, s)])

    def context(self, captures: Mapping[str, Any], run_id: str) -> ActionContext:
        return ActionContext.for_target(self.target, captures=captures, run_id=run_id, engine=self.engine)

    def inspect(self, action: Action, ctx: ActionContext) -> Inspection:
        return action.inspect(ctx)

    def reload_target(self) -> Target:
        from .loader import load_inventory

        self.target = next(t for t in load_inventory(self.target.inventory).select(self.target.name))
        self._facts = self._deep = None  # observed with the target as it was
        return self.target

    def act(self, action: Action, ctx: ActionContext, how: How = "apply") -> ActionResult:
        self._facts = self._deep = None  # the stack may change: nothing observed before describes it
        return action.apply(ctx) if how == "apply" else action.rollback(ctx)


class _Background:
    """A call made in a thread of its own; its result, or None when it raised (the caller then asks
    again the ordinary way, and meets the error there)."""

    def __init__(self, call: Callable[[], StackFacts]) -> None:
        self._call, self._out = call, None
        self._thread = threading.Thread(target=self._run, name="remediate-observe", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._out = self._call()
        except Exception:  # asked again in the caller's thread, where it is reported
            self._out = None

    def result(self) -> StackFacts | None:
        self._thread.join()
        return self._out
