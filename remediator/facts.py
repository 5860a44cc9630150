"""Observations of a target beyond the check results: containers, compose config, env files, logs.

A snapshot gathered once per diagnosis round, read-only: the process environment is read once here,
and logs come through an explicit ``LogSource`` (the engine's, cached; or recorded lines). Everything
a playbook's ``when`` looks at comes from here or from the latest run, so the same facts can be
recorded and replayed to test diagnosis logic.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from .backends.engine import ContainerState, Engine, by_service
from .errors import UserError
from .model import Check, Target, dependents
from .results import Run
from .secrets import MASKER, is_secret_name

if TYPE_CHECKING:
    from .analyzers.observe import StackFacts

_LOOPBACK = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}


class LogSource(Protocol):
    """A service's last log lines, oldest first, secrets masked."""

    def tail(self, service: str, lines: int) -> list[str]: ...


@dataclass(frozen=True)
class RecordedLogs:
    """Log lines written down (tests, replays): the last ``lines`` of each service's list."""

    lines: Mapping[str, list[str]] = field(default_factory=dict)

    def tail(self, service: str, lines: int) -> list[str]:
        return list(self.lines.get(service, []))[-lines:] if lines > 0 else []


class EngineLogs:
    """The round's container logs, each container's read at most once: at the first question about any
    service, every container's last ``LINES`` lines at once, and each question's tail is cut from them. A
    diagnosis of the sandbox asked 12-25 tails (5, 50 or 200 lines), each an engine call of its own."""

    LINES = 200  # the longest tail a leaf asks by default (conditions' ``logs``); longer ones are read alone

    def __init__(self, engine: Engine, containers: Mapping[str, ContainerState]) -> None:
        self.engine, self.containers = engine, containers
        self._read: dict[tuple[str, int], list[str]] = {}

    def tail(self, service: str, lines: int) -> list[str]:
        if lines <= 0:
            return []
        size = max(lines, self.LINES)
        if (service, size) not in self._read:
            # Every container's tail at once (the analyzers read each service's: credentials_refused); a
            # longer tail only for the service that asks it.
            everyone = size == self.LINES and service in self.containers
            chosen = self.containers if everyone else {service: self.containers.get(service)}
            ids = {st.id: name for name, st in chosen.items() if st is not None}
            found = self.engine.logs_of_each(list(ids), size) if ids else {}
            self._read[(service, size)] = []
            for cid, said in found.items():
                self._read[(ids[cid], size)] = [MASKER.mask(line) for line in said]
        return self._read[(service, size)][-lines:]


@dataclass
class Facts:
    """What one diagnosis round knows about a target."""

    run: Run
    checks: Mapping[str, Check]
    rendered: Mapping[str, Mapping[str, Any]]  # check id -> its probe with templates rendered
    containers: Mapping[str, ContainerState] = field(default_factory=dict)
    services: Mapping[str, Any] = field(default_factory=dict)  # resolved compose config, by service
    env: Mapping[str, str] = field(default_factory=dict)  # the project's env files, merged
    compose_text: str = ""  # the compose files as written (for ${VAR} references)
    secrets: Mapping[str, str] = field(default_factory=dict)
    context: Mapping[str, Any] = field(default_factory=dict)  # template variables (vars, urls, run_id)
    logs: LogSource = field(default_factory=RecordedLogs)
    environ: Mapping[str, str] = field(default_factory=dict)  # the process environment, read once
    stack: StackFacts | None = None  # what only the analyzers read (compose's warnings, drift, volumes)
    unresolved: str = ""  # why compose's config or the env files could not be read this round ("" when they were)

    def logs_of(self, service: str, tail: int = 50) -> list[str]:
        """The service's last ``tail`` log lines, oldest first, secrets masked."""
        return self.logs.tail(service, tail)

    # -- derived ------------------------------------------------------------------------------

    def host_ports(self) -> dict[int, tuple[str, int]]:
        """Published host port -> (service, container port), from the resolved compose config."""
        out: dict[int, tuple[str, int]] = {}
        for name, svc in self.services.items():
            for p in svc.get("ports") or []:
                if isinstance(p, dict) and p.get("published"):
                    out[int(p["published"])] = (name, int(p.get("target", 0)))
        return out

    def url_of(self, check_id: str) -> tuple[str, int] | None:
        """(host, port) an http or tcp check aims at, after templating."""
        probe = self.rendered.get(check_id) or {}
        if "url" in probe:
            parts = urlsplit(str(probe["url"]))
            port = parts.port or (443 if parts.scheme == "https" else 80)
            return parts.hostname or "", port
        if "port" in probe:
            return str(probe.get("host", "127.0.0.1")), int(probe["port"])
        return None

    def service_of(self, check_id: str) -> str | None:
        """The compose service a check is about: named by its probe, reached by its port, or required."""
        check = self.checks.get(check_id)
        if check is None:
            return None
        if "service" in check.probe:
            return str(check.probe["service"])
        aim = self.url_of(check_id)
        if aim and aim[0] in _LOOPBACK and aim[1] in self.host_ports():
            return self.host_ports()[aim[1]][0]
        for required in check.requires:
            found = self.service_of(required)
            if found:
                return found
        return None

    def dependents(self, check_ids: set[str]) -> set[str]:
        """``check_ids`` and every check that requires one of them, transitively."""
        return dependents(self.checks.values(), check_ids)


def render_probes(checks: Mapping[str, Check], scope: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Each check's probe with its templates rendered in ``scope`` (the target's context and the
    captures so far); a probe whose capture is not taken yet has no known aim this round: ``{}``."""
    from . import templating

    out: dict[str, Mapping[str, Any]] = {}
    for cid, c in checks.items():
        try:
            out[cid] = templating.render(c.probe, scope)
        except Exception:
            out[cid] = {}
    return out


def read_env_files(paths: tuple[Path, ...]) -> dict[str, str]:
    """Env files merged in order (later wins), parsed as compose reads them; secret values registered."""
    from .actions import envfile

    env: dict[str, str] = {}
    for path in paths:
        if path.exists():
            env.update(envfile.values(path.read_text(encoding="utf-8"), str(path)))
    for key, value in env.items():
        if is_secret_name(key) and value:
            MASKER.add(value)
    return env


def gather(
    target: Target,
    run: Run,
    checks: Mapping[str, Check],
    rendered: Mapping[str, Mapping[str, Any]],
    context: Mapping[str, Any],
    engine: Engine | None = None,
) -> Facts:
    """Observe the target now: containers by compose labels, the resolved config, env files, the process
    environment; logs through the engine, read when a leaf first asks (``EngineLogs``)."""
    from .backends.compose import Compose

    facts = Facts(
        run=run,
        checks=checks,
        rendered=rendered,
        context=context,
        secrets=context.get("secrets", {}),
        environ=dict(os.environ),
    )
    if target.compose is None:
        return facts
    engine = engine or Engine(target.docker)
    facts.containers = by_service(engine.containers(target.compose.project))
    # A project compose cannot resolve (an env file it cannot read) is a fact to diagnose, not a reason to
    # stop: the playbooks see no config and no env values, and the analyzers read compose's own error.
    try:
        facts.services = Compose(target.compose, target.docker).resolved_services()
    except UserError as exc:
        facts.unresolved = str(exc)
    try:
        facts.env = read_env_files(target.compose.env_files)
    except UserError as exc:
        facts.unresolved = facts.unresolved or str(exc)
    facts.compose_text = "\n".join(p.read_text(encoding="utf-8") for p in target.compose.files if p.exists())
    facts.logs = EngineLogs(engine, facts.containers)
    return facts
