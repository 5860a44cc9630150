"""The template context of a target: its variables, rendered URLs, secrets (read lazily), a run id.

One place builds it, so checks, discriminating probes and actions all see the same names.
"""

from __future__ import annotations

import os
import secrets as _random
from collections.abc import Iterator, Mapping
from typing import Any

from . import templating
from .errors import UserError
from .model import Target
from .secrets import MASKER, is_secret_name, read


class LazySecrets(Mapping[str, str]):
    """A target's secrets, each read (and registered with the masker) only when a template uses it."""

    def __init__(self, target: Target) -> None:
        self._target = target
        self._values: dict[str, str] = {}

    def __getitem__(self, name: str) -> str:
        if name not in self._values:
            if name not in self._target.secrets:
                known = ", ".join(sorted(self._target.secrets)) or "none"
                raise UserError(f"target {self._target.name!r} has no secret {name!r} (it has: {known})")
            self._values[name] = read(self._target.secrets[name])
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._target.secrets)

    def __len__(self) -> int:
        return len(self._target.secrets)


class ProcessEnv(Mapping[str, str]):
    """The process environment as ``{{ env.NAME }}``: a variable is read only when a template names it,
    and a secret-named one is registered with the masker as it is read, so a check that asks for
    ``env.API_TOKEN`` never prints it. No template sees the environment unless it asks."""

    def __getitem__(self, name: str) -> str:
        value = os.environ[name]
        if is_secret_name(name):
            MASKER.add(value)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(os.environ)

    def __len__(self) -> int:
        return len(os.environ)


def base_context(target: Target, run_id: str | None = None) -> dict[str, Any]:
    """Variables every template sees: the target's vars, its rendered URLs, its secrets, a run id."""
    ctx: dict[str, Any] = dict(target.vars)
    ctx["vars"] = dict(target.vars)
    ctx["env"] = ProcessEnv()
    ctx["urls"] = {name: templating.render_str(url, ctx) for name, url in target.urls.items()}
    ctx["secrets"] = LazySecrets(target)
    ctx["run_id"] = run_id or _random.token_hex(4)
    ctx["target"] = target.name
    return ctx
