"""Actions on the compose project's containers: up, restart, recreate, wait until healthy.

What changed is compose's call (``up --dry-run``), never computed by hand: compose alone knows that
an env-file edit changes a service's resolved config (``config --hash`` is unreliable for that).
"""

from __future__ import annotations

import time
from typing import Any

from .. import progress
from ..backends.engine import ContainerState
from ..readiness import Changes, waiting_on
from .base import Action, ActionContext, ActionResult, Inspection


def _changes(plan: dict[str, str]) -> dict[str, str]:
    return {service: verb for service, verb in sorted(plan.items()) if verb != "running"}


def _plan_diff(changes: dict[str, str]) -> str:
    return "".join(f"~ service {service}: {verb}\n" for service, verb in changes.items())


def _words(changes: dict[str, str]) -> str:
    return ", ".join(f"{verb} {service}" for service, verb in changes.items())


class ComposeUp(Action):
    """Services running with their current config: create missing, recreate changed, else nothing."""

    name = "compose_up"

    def _inspect(self, ctx: ActionContext, args: dict[str, Any]) -> Inspection:
        plan = ctx.need_compose().dry_run_up(args.get("services"))
        changes = _changes(plan)
        summary = f"would {_words(changes)}" if changes else "all services up to date"
        return Inspection(self.name, bool(changes), summary, _plan_diff(changes), {"plan": plan})

    def _apply(self, ctx: ActionContext, args: dict[str, Any]) -> ActionResult:
        # ``up -d`` is itself idempotent and says what it did: no dry run first (it cost three more
        # compose calls, ~1 s a step, measured by benchmarks/heal.py).
        compose = ctx.need_compose()
        services = args.get("services")
        proc = compose.up(services, wait=args.get("wait", False), timeout=args.get("timeout", 120))
        plan = compose.changes_of(proc, services)
        changes = _changes(plan)
        evidence = {"plan": plan, "seconds": round(proc.duration_s, 2)}
        if not proc.ok:
            return self.result("failed", f"compose up failed: {proc.error_line()}", _plan_diff(changes), **evidence)
        if not changes:
            return self.result("ok", "all services up to date", **evidence)
        return self.result("changed", _words(changes), _plan_diff(changes), **evidence)


class ComposeRestart(Action):
    """Restart containers (a restart never picks up config changes; use compose_up for those)."""

    name = "compose_restart"

    def _inspect(self, ctx: ActionContext, args: dict[str, Any]) -> Inspection:
        services = args.get("services") or []
        return Inspection(self.name, True, f"would restart {', '.join(services) or 'all services'}")

    def _apply(self, ctx: ActionContext, args: dict[str, Any]) -> ActionResult:
        services = args.get("services") or []
        proc = ctx.need_compose().restart(services, timeout=args.get("timeout", 60))
        if not proc.ok:
            return self.result("failed", f"compose restart failed: {proc.error_line()}")
        return self.result("changed", f"restarted {', '.join(services) or 'all services'}", seconds=proc.duration_s)


class ComposeRecreate(Action):
    """Force-recreate: for changes compose cannot see, such as a bind-mounted file's content."""

    name = "compose_recreate"

    def _inspect(self, ctx: ActionContext, args: dict[str, Any]) -> Inspection:
        services = args.get("services") or []
        return Inspection(self.name, True, f"would recreate {', '.join(services) or 'all services'}")

    def _apply(self, ctx: ActionContext, args: dict[str, Any]) -> ActionResult:
        services = args.get("services") or []
        proc = ctx.need_compose().up(services, recreate="force", timeout=args.get("timeout", 120))
        if not proc.ok:
            return self.result("failed", f"compose up --force-recreate failed: {proc.error_line()}")
        return self.result("changed", f"recreated {', '.join(services) or 'all services'}", seconds=proc.duration_s)


def _describe(c: ContainerState | None) -> str:
    if c is None:
        return "no container"
    last = c.health_log[-1].get("Output", "").strip().splitlines()[-1:] if c.health_log else []
    return waiting_on(c) + (f" (last check: {last[0][:160]})" if last else "")


class WaitHealthy(Action):
    """Wait until services are ready (``readiness``: healthy by their healthcheck, else their published
    ports accept connections). ``start_period`` counts from the start of the wait, whether the container
    runs or not: within it an exited or unhealthy container is waited for (it may be restarting, or its
    first checks may fail while it warms up); after it, either fails at once instead of at the timeout.
    Without a start period an exited container fails at once and an unhealthy one is waited for."""

    name = "wait_healthy"

    def _states(self, ctx: ActionContext, services: list[str]) -> dict[str, ContainerState | None]:
        project = ctx.need_compose().project.project
        return {s: ctx.engine.container(project, s) for s in services}

    def _services(self, ctx: ActionContext, args: dict[str, Any]) -> list[str]:
        return list(args.get("services") or ctx.need_compose().config().get("services", {}))

    def _inspect(self, ctx: ActionContext, args: dict[str, Any]) -> Inspection:
        states = self._states(ctx, self._services(ctx, args))
        waiting = {s: _describe(c) for s, c in states.items() if waiting_on(c)}
        summary = f"would wait for {', '.join(waiting)}" if waiting else "all services healthy"
        return Inspection(self.name, bool(waiting), summary, evidence={"not_healthy": waiting})

    def _apply(self, ctx: ActionContext, args: dict[str, Any]) -> ActionResult:
        services = self._services(ctx, args)
        timeout, start_period = float(args.get("timeout", 60)), float(args.get("start_period", 0))
        interval = float(args.get("interval", 0.25))
        started = time.monotonic()
        with Changes(ctx.engine, ctx.need_compose().project.project, services) as changes:
            return self._wait(ctx, services, changes, started, timeout, start_period, interval)

    def _wait(
        self,
        ctx: ActionContext,
        services: list[str],
        changes: Changes,
        started: float,
        timeout: float,
        start_period: float,
        interval: float,
    ) -> ActionResult:
        """Poll every ``interval``, and at once when the engine reports a change (``readiness.Changes``)."""
        waited = False
        while True:
            states = self._states(ctx, services)
            bad = {s: c for s, c in states.items() if waiting_on(c)}
            elapsed = time.monotonic() - started
            if not bad:
                status = "changed" if waited else "ok"
                return self.result(status, f"ready after {elapsed:.1f} s", seconds=round(elapsed, 2))
            dead = [s for s, c in bad.items() if c is None or c.state in ("exited", "dead")]
            if start_period:  # a start period given: past it, an unhealthy container fails too
                dead += [s for s, c in bad.items() if c is not None and c.health == "unhealthy"]
            if elapsed >= timeout or (dead and elapsed >= start_period):
                reasons = {s: _describe(c) for s, c in bad.items()}
                why = "; ".join(f"{s}: {r}" for s, r in reasons.items())
                return self.result("failed", f"not ready after {elapsed:.1f} s: {why}", not_healthy=reasons)
            waited = True
            states_now = ", ".join(
                f"{s} ({'no container' if c is None else f'{c.state}/{c.health}'})" for s, c in bad.items()
            )
            progress.waiting(f"health of {states_now}, up to {timeout:.0f} s", elapsed)
            changes.wait(interval)
