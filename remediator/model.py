"""The typed form of inventory, checks and playbooks.

Plain frozen dataclasses built once by ``loader`` from validated YAML; every later stage trusts them
and never re-reads a file. Probe and expectation bodies stay mappings: their shape is fixed by the
JSON Schema of their ``kind``, and each probe module reads the keys it owns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import Location


@dataclass(frozen=True)
class SecretSource:
    """Where a secret value comes from: an environment variable, a file, or a command's stdout."""

    kind: str  # "env" | "file" | "command"
    ref: str | tuple[str, ...]
    base: Path  # relative file paths and commands are resolved against it


@dataclass(frozen=True)
class ComposeProject:
    """A compose project as ``docker compose -p PROJECT --project-directory DIR -f ...``.

    ``env_files`` are the files remediator reads (the ``env`` leaf, ``{{ env_file.X }}``) and its env
    actions edit; they are not handed to compose, whose own substitution reads the project
    directory's ``.env`` as it always does. An empty ``project`` lets compose name the project itself
    (``COMPOSE_PROJECT_NAME``, ``name:``, the directory), as ``remediate init`` needs.
    """

    project: str
    directory: Path
    files: tuple[Path, ...] = ()
    env_files: tuple[Path, ...] = ()
    command: tuple[str, ...] | None = None  # e.g. ("docker", "compose"); found at run time when None


@dataclass(frozen=True)
class DockerEndpoint:
    """The engine to talk to: the environment's default, a ``host`` URL or a named ``context``."""

    host: str | None = None
    context: str | None = None


@dataclass(frozen=True)
class Target:
    """One environment: an engine, a compose project, the URLs and variables its checks use."""

    name: str
    inventory: Path
    compose: ComposeProject | None
    docker: DockerEndpoint = DockerEndpoint()
    vars: Mapping[str, Any] = field(default_factory=dict)
    urls: Mapping[str, str] = field(default_factory=dict)
    secrets: Mapping[str, SecretSource] = field(default_factory=dict)
    checks: tuple[Path, ...] = ()
    playbooks: tuple[Path, ...] = ()
    write_roots: tuple[Path, ...] = ()  # where actions may write besides the compose directory (resolved)


@dataclass(frozen=True)
class Inventory:
    """All targets of an inventory file and the groups that name them."""

    path: Path
    targets: Mapping[str, Target]
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def select(self, limit: str | None = None) -> list[Target]:
        """Targets named by ``limit`` (a target or a group; comma-separated), all when None."""
        from .errors import UserError

        if not limit:
            return list(self.targets.values())
        chosen: dict[str, Target] = {}
        for name in (part.strip() for part in limit.split(",") if part.strip()):
            if name in self.targets:
                chosen[name] = self.targets[name]
            elif name in self.groups:
                chosen.update({t: self.targets[t] for t in self.groups[name]})
            else:
                known = ", ".join(sorted([*self.targets, *self.groups]))
                raise UserError(f"{self.path}: no target or group {name!r}; expected one of: {known}")
        return list(chosen.values())


@dataclass(frozen=True)
class Check:
    """One verification probe with its expectation.

    ``requires`` ids must pass first, else it is skipped; ``after`` ids only have to finish first (an
    order, not a condition: a login that uses the user a registration made, but must show its own fault
    even when the registration failed).
    """

    id: str
    category: str
    name: str
    probe: Mapping[str, Any]
    expect: Mapping[str, Any]
    requires: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    capture: Mapping[str, str] = field(default_factory=dict)
    exclusive: bool = False
    where: Location | None = None

    @property
    def kind(self) -> str:
        return str(self.probe["kind"])


def dependents(checks: Iterable[Check], roots: set[str]) -> set[str]:
    """``roots`` and every check that requires one of them, transitively: what a re-test must repeat."""
    reverse: dict[str, set[str]] = {}
    for c in checks:
        for r in c.requires:
            reverse.setdefault(r, set()).add(c.id)
    out, todo = set(), list(roots)
    while todo:
        cid = todo.pop()
        if cid not in out:
            out.add(cid)
            todo.extend(reverse.get(cid, ()))
    return out


@dataclass(frozen=True)
class ExternalSource:
    """A team's existing suite as a verifier: run ``command``, then read ``results``."""

    id: str
    format: str  # "junit" | "report-json"
    results: Path
    command: tuple[str, ...] | None = None
    cwd: Path | None = None
    timeout: float = 600.0
    category: str | None = None
    where: Location | None = None


@dataclass(frozen=True)
class Suite:
    """Every check and external source of one or more check files, ids unique, ``requires`` acyclic."""

    checks: tuple[Check, ...]
    sources: tuple[ExternalSource, ...] = ()
    files: tuple[Path, ...] = ()

    def by_id(self) -> dict[str, Check]:
        return {c.id: c for c in self.checks}


@dataclass(frozen=True)
class DiagnosticProbe:
    """A probe an entry runs only to decide between causes, once its other conditions matched."""

    name: str
    probe: Mapping[str, Any]
    expect: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Entry:
    """A playbook entry: a diagnosis (``when``), the actions that fix it, how to verify, its guards.

    ``suite: true`` marks a diagnosis that blames the check suite itself: it is reported with the patch
    that would correct the suite, and applied only when the user asks (``--fix-suite``).
    """

    id: str
    name: str
    when: Mapping[str, Any]
    description: str = ""
    group_by: tuple[str, ...] = ()
    probes: tuple[DiagnosticProbe, ...] = ()
    actions: tuple[Mapping[str, Any], ...] = ()
    suite: bool = False
    verify: tuple[str, ...] | None = None
    after: tuple[str, ...] = ()
    max_attempts: int = 2
    cooldown: float = 0.0
    confirm: bool = False
    where: Location | None = None
