"""Probes observe; each kind compares what it saw with the check's expectation.

A probe never changes anything and never decides what to do next: it returns an ``Outcome`` with
the evidence it saw (status, body excerpt, which component answered, container state, log lines),
which the runner records and the planner later reads.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..backends.engine import Engine
from ..model import Target


@dataclass
class Outcome:
    """What one probe saw and whether it met the expectation."""

    passed: bool
    reason: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    data: Any = None  # parsed JSON body, for captures


class ProbeContext:
    """What probes share during one run: one HTTP session, one engine connection, one bound."""

    def __init__(self, target: Target, concurrency: int = 64, engine: Engine | None = None) -> None:
        self.target = target
        self.concurrency = concurrency
        self._engine = engine
        self._transport: Any = None
        self._containers: asyncio.Task[dict[str, Any]] | None = None

    @property
    def project(self) -> str:
        if self.target.compose is None:
            from ..errors import UserError

            raise UserError(f"target {self.target.name!r} has no compose project; container and logs probes need one")
        return self.target.compose.project

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = Engine(self.target.docker)
        return self._engine

    def http(self) -> Any:
        """One HTTP transport for the whole run (``backends.http``: the one way out)."""
        if self._transport is None:
            from ..backends import http

            self._transport = http.transport(self.concurrency)
        return self._transport

    def list_containers(self) -> asyncio.Task[dict[str, Any]]:
        """Start listing the project's containers, if not started yet. The runner calls it before its own
        set-up, so the listing (the head of every suite's critical path: most checks require a container
        check) overlaps that set-up."""
        if self._containers is None:
            self._containers = asyncio.ensure_future(self._listing())
        return self._containers

    async def _listing(self) -> dict[str, Any]:
        """Straight from the engine's socket on the event loop when the target's engine is the default local
        one (``backends.engine_api``: no SDK import, the inspects at once; an engine handed in is the
        heal loop's for the same endpoint, and its run gains the same); else, or when that does not
        answer, through the SDK in a thread, as every other engine call."""
        from ..backends import engine_api
        from ..backends.engine import by_service

        project = self.project
        if (socket := engine_api.local_socket(self.target.docker)) is not None:
            found = await engine_api.containers(socket, project)
            if found is not None:
                return by_service(found)
        return await asyncio.to_thread(lambda: by_service(self.engine.containers(project)))

    async def container(self, service: str) -> Any:
        """A service's container state; the project's containers are listed once per run, not per check."""
        return (await self.list_containers()).get(service)

    async def engine_call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a blocking engine call off the event loop."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def close(self) -> None:
        if self._transport is not None:
            await self._transport.close()
            self._transport = None


T = TypeVar("T")


def run_with(
    target: Target, fn: Callable[[ProbeContext], Awaitable[T]], *, concurrency: int = 64, engine: Engine | None = None
) -> T:
    """``fn`` in an event loop of its own with a ProbeContext opened for it and closed after: the one way
    synchronous code (the heal loop, ``check``) runs probes."""

    async def main() -> T:
        ctx = ProbeContext(target, concurrency=concurrency, engine=engine)
        try:
            return await fn(ctx)
        finally:
            await ctx.close()

    return asyncio.run(main())


ProbeFn = Callable[[Mapping[str, Any], Mapping[str, Any], ProbeContext], Awaitable[Outcome]]


@functools.cache
def probe_for(kind: str) -> ProbeFn:
    """The probe function of a kind; modules are imported only when a kind is used (and looked up once:
    ``import_module`` on every check was 2 % of a 10,000-check run)."""
    from importlib import import_module

    return import_module(f".{kind}", __name__).run  # type: ignore[no-any-return]
