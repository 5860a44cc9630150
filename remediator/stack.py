"""The live stack as the heal loop sees it: one seam for everything that reaches the outside.

The loop measures (runs checks), observes (gathers facts), asks discriminating probes, waits for
containers that are still starting, and acts (inspects, applies, rolls back actions) only through a
``Stack``. ``LiveStack`` is the real one: the Docker engine, Compose, HTTP. Tests hand the loop a
recorded stack instead, so every decision of the loop can be tested without an engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

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

How = Literal["apply", "rollback"]


class Stack(Protocol):
    """What the heal loop may do to the world, and all it may see of it."""

    clock: Clock

    def test(
        self, checks: Sequence[Check], only: set[str] | None, prior: Run | None, captures: Mapping[str, Any]
    ) -> tuple[Run, dict[str, Any]]:
        """Run ``checks`` (only ``only`` of them, re-using ``prior``); the run and the captures after it."""
        ...

    def observe(self, run: Run, checks: Mapping[str, Check], captures: Mapping[str, Any], deep: bool = False) -> Facts:
        """A snapshot of the facts beside ``run``; ``deep`` adds what only the analyzers read (compose's
        warnings, drift from ``up --dry-run``, volumes, images: about 0.6 s on the sandbox)."""
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
    """A target on a real engine: one engine connection for every run, observation and action."""

    def __init__(self, target: Target, concurrency: int = 64, clock: Clock = SYSTEM_CLOCK) -> None:
        self.target, self.concurrency, self.clock = target, concurrency, clock
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = Engine(self.target.docker)
        return self._engine

    def test(
        self, checks: Sequence[Check], only: set[str] | None, prior: Run | None, captures: Mapping[str, Any]
    ) -> tuple[Run, dict[str, Any]]:
        state = RunState(context=base_context(self.target), captures=dict(captures))

        async def main(ctx: Any) -> tuple[Run, RunState]:
            return await run_checks(self.target, checks, only=only, prior=prior, state=state, probe_context=ctx)

        run, state = run_with(self.target, main, concurrency=self.concurrency, engine=self.engine)
        return run, state.captures

    def observe(self, run: Run, checks: Mapping[str, Check], captures: Mapping[str, Any], deep: bool = False) -> Facts:
        context = base_context(self.target)
        rendered = render_probes(checks, {**context, **captures})
        facts = gather(self.target, run, checks, rendered, context, engine=self.engine)
        if deep and self.target.compose is not None:
            from .analyzers.observe import observe
            from .backends.compose import Compose

            facts.stack = observe(Compose(self.target.compose, self.target.docker), self.engine)
        return facts

    def probe(self, probe: Mapping[str, Any], expect: Mapping[str, Any]) -> Outcome:
        async def main(ctx: Any) -> Outcome:
            return await probe_for(str(probe["kind"]))(probe, expect, ctx)

        return run_with(self.target, main, engine=self.engine)

    def starting(self) -> list[str]:
        return sorted(s for s, st in self._states().items() if st.state == "running" and st.health == "starting")

    def readiness(self, services: set[str]) -> tuple[dict[str, str], set[str]]:
        states = self._states()
        waiting = {s: why for s in sorted(services) if (why := waiting_on(states.get(s)))}
        return waiting, {s for s in services if has_healthcheck(states.get(s))}

    def running(self, services: set[str]) -> set[str]:
        states = self._states()
        return {s for s in services if s in states and states[s].state == "running"}

    def start_as_before(self, services: set[str]) -> str:
        if not services or self.target.compose is None:
            return ""
        from .backends.compose import Compose

        proc = Compose(self.target.compose, self.target.docker).up(sorted(services), no_deps=True, timeout=120)
        return "" if proc.ok else proc.error_line()

    def _states(self) -> dict[str, Any]:
        if self.target.compose is None:
            return {}
        return by_service(self.engine.containers(self.target.compose.project))

    def context(self, captures: Mapping[str, Any], run_id: str) -> ActionContext:
        return ActionContext.for_target(self.target, captures=captures, run_id=run_id, engine=self.engine)

    def inspect(self, action: Action, ctx: ActionContext) -> Inspection:
        return action.inspect(ctx)

    def reload_target(self) -> Target:
        from .loader import load_inventory

        self.target = next(t for t in load_inventory(self.target.inventory).select(self.target.name))
        return self.target

    def act(self, action: Action, ctx: ActionContext, how: How = "apply") -> ActionResult:
        return action.apply(ctx) if how == "apply" else action.rollback(ctx)
