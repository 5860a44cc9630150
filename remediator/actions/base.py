"""The shape every action shares: inspect (no side effects), apply (only what differs), rollback.

Modelled on pyinfra's operations: an action compares what is wanted with what is, and ``inspect``
answers the plan's question (would it change, and how, as a short diff) without touching anything.
The public ``inspect``/``apply``/``rollback`` wrap each action's ``_inspect``/``_apply``/``_rollback``
so that templating, timing, logging and secret masking happen in one place and cannot be forgotten.
"""

from __future__ import annotations

import difflib
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from .. import secrets
from ..backends.compose import Compose
from ..backends.engine import Engine
from ..context import base_context
from ..errors import UserError
from ..model import SecretSource, Target
from ..templating import render

Status = Literal["ok", "changed", "failed"]


def new_run_id() -> str:
    """A run id that sorts by time and is unique across concurrent processes (names the backups)."""
    return f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class Inspection:
    """What an action would do now; produced without side effects."""

    action: str
    would_change: bool
    summary: str
    diff: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ActionResult:
    """What an action did: ``ok`` (nothing to do), ``changed`` or ``failed``, and on what evidence."""

    action: str
    status: Status
    message: str
    diff: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "status": self.status,
            "message": self.message,
            "diff": self.diff,
            "evidence": dict(self.evidence),
            "duration_s": round(self.duration_s, 3),
        }


@dataclass
class ActionContext:
    """Everything an action may use: the target, its engine and compose project, template values."""

    target: Target
    engine: Engine
    compose: Compose | None
    template: Mapping[str, Any]
    masker: secrets.Masker = secrets.MASKER
    run_id: str = field(default_factory=new_run_id)

    @classmethod
    def for_target(
        cls,
        target: Target,
        captures: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        engine: Engine | None = None,
    ) -> ActionContext:
        """A context with a lazily connected engine; templates see vars, urls, captures and secrets.

        ``engine``: the caller's connection, shared (the planner's), so a step does not connect again.
        """
        captures = dict(captures or {})
        template = {**base_context(target), **captures, "captures": captures}
        compose = Compose(target.compose, target.docker) if target.compose else None
        return cls(target, engine or Engine(target.docker), compose, template, run_id=run_id or new_run_id())

    @property
    def base_dir(self) -> Path:
        """Relative paths of actions are relative to the compose directory (else the inventory's)."""
        if self.target.compose:
            return Path(self.target.compose.directory)
        return Path(self.target.inventory).resolve().parent

    def path(self, name: str) -> Path:
        p = Path(name)
        return p if p.is_absolute() else self.base_dir / p

    def need_compose(self) -> Compose:
        if self.compose is None:
            raise UserError(f"target {self.target.name}: this action needs a compose project in the inventory")
        return self.compose

    def resolve(self, args: Mapping[str, Any]) -> Any:
        """An action's value: ``value`` (already templated) or ``value_from`` (a secret, so masked)."""
        if "value" in args:
            return args["value"]
        source = dict(args["value_from"])
        if "secret" in source:
            name = source["secret"]
            if name not in self.target.secrets:
                known = ", ".join(sorted(self.target.secrets)) or "none"
                raise UserError(f"value_from: target {self.target.name} has no secret {name!r} (it has: {known})")
            return secrets.read(self.target.secrets[name])
        ((kind, ref),) = source.items()
        return secrets.read(SecretSource(kind, tuple(ref) if kind == "command" else ref, self.base_dir))


def unified(before: str, after: str, name: str) -> str:
    """A unified diff of two texts (an empty string when they are equal)."""
    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{name}", f"b/{name}", n=1
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


class Action:
    """One idempotent step, built from a spec such as ``{compose_up: {services: [api]}}``."""

    name: ClassVar[str]
    reversible: ClassVar[bool] = False
    # argument keys rendered late, by the action itself (``validate_with`` sees ``{{ candidate }}``)
    late_keys: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, args: Mapping[str, Any]) -> None:
        self.args = dict(args)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.args!r})"

    def _rendered(self, ctx: ActionContext) -> dict[str, Any]:
        late = {k: v for k, v in self.args.items() if k in self.late_keys}
        early = {k: v for k, v in self.args.items() if k not in self.late_keys}
        return {**render(early, ctx.template), **late}

    def inspect(self, ctx: ActionContext) -> Inspection:
        """What would change now; never changes anything."""
        found = self._inspect(ctx, self._rendered(ctx))
        masked = Inspection(
            action=self.name,
            would_change=found.would_change,
            summary=ctx.masker.mask(found.summary),
            diff=ctx.masker.mask(found.diff),
            evidence=ctx.masker.mask_data(dict(found.evidence)),
        )
        _log(ctx).info("inspect", action=self.name, would_change=masked.would_change, summary=masked.summary)
        return masked

    def apply(self, ctx: ActionContext) -> ActionResult:
        """Change what differs; ``ok`` when nothing did."""
        started = time.monotonic()
        return self._finish(ctx, "apply", self._apply(ctx, self._rendered(ctx)), started)

    def rollback(self, ctx: ActionContext) -> ActionResult:
        """Undo this run's change (file actions put back the run's backup)."""
        if not self.reversible:
            raise UserError(f"{self.name} cannot be rolled back")
        started = time.monotonic()
        return self._finish(ctx, "rollback", self._rollback(ctx, self._rendered(ctx)), started)

    def _finish(self, ctx: ActionContext, phase: str, result: ActionResult, started: float) -> ActionResult:
        masked = ActionResult(
            action=self.name,
            status=result.status,
            message=ctx.masker.mask(result.message),
            diff=ctx.masker.mask(result.diff),
            evidence=ctx.masker.mask_data(dict(result.evidence)),
            duration_s=time.monotonic() - started,
        )
        _log(ctx).info(phase, action=self.name, status=masked.status, message=masked.message)
        return masked

    def result(self, status: Status, message: str, diff: str = "", **evidence: Any) -> ActionResult:
        return ActionResult(self.name, status, message, diff, evidence)

    def _inspect(self, ctx: ActionContext, args: dict[str, Any]) -> Inspection:
        raise NotImplementedError

    def _apply(self, ctx: ActionContext, args: dict[str, Any]) -> ActionResult:
        raise NotImplementedError

    def _rollback(self, ctx: ActionContext, args: dict[str, Any]) -> ActionResult:
        raise NotImplementedError


def _log(ctx: ActionContext) -> Any:
    from .. import log

    return log.get("remediator.actions").bind(target=ctx.target.name, run=ctx.run_id)
