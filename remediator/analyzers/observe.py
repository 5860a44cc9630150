"""The observations only the analyzers need, made once per round through the backends.

``facts.gather`` sees containers, the resolved config and env files; the analyzers also want what
compose says while resolving (its warnings, or the error that stops it), what ``up`` would do
(drift, from compose's own ``--dry-run``), when each volume was made, and which images are absent.
Cost measured on the sandbox (12 services), on 2 cores at load 20-30: 1.7-4.9 s a call, most of it the
four compose processes (``config``, and ``dry_run_up``'s dry run, config and ps); now two: the dry
run is handed the resolved services and the container names this observation already read, and it is
read only up to the end of its create phase (``dry_run_create_phase``: about 1 s less a round on the
quiet sandbox; the rest of a dry run only waits on health). ``drift=False`` skips the dry run on rounds
that need no drift.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..backends.compose import Compose, Proc
from ..backends.engine import ContainerState, Engine
from ..errors import UserError
from ..secrets import MASKER

_MSG = re.compile(r'msg="((?:[^"\\]|\\.)*)"')
_FILE_IN_ERROR = re.compile(r"failed to read (\S+?): line \d+")
_MAX_FILE = 1 << 20


@dataclass(frozen=True)
class StackFacts:
    """What compose and the engine say about the project beyond its containers."""

    config_error: str = ""  # compose config's error when the project does not resolve ("" when it does)
    config_warnings: tuple[str, ...] = ()  # its warnings when it does (unset variables...)
    error_files: Mapping[str, str] = field(default_factory=dict)  # path -> text of a file an error names
    # service -> what ``up``'s create phase would do: ``recreate`` or ``create`` (``running`` when nothing)
    drift: Mapping[str, str] = field(default_factory=dict)
    volumes: Mapping[str, str] = field(default_factory=dict)  # engine volume name -> creation time
    missing_images: Mapping[str, str] = field(default_factory=dict)  # service -> image absent from the engine
    services: Mapping[str, Any] = field(default_factory=dict)  # the resolved services, when config resolved
    # service -> bind-mount sources absent from this host, for containers not running (the engine
    # leaves such a container "created" with no State.Error: the reason is only in start's reply)
    missing_mounts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def _message(line: str) -> str:
    m = _MSG.search(line)
    return m.group(1).replace('\\"', '"') if m else line.strip()


def observe(compose: Compose, engine: Engine, drift: bool = True) -> StackFacts:
    """Ask compose and the engine once; nothing is changed (``--dry-run`` only). The dry run, mostly
    waiting, runs in a thread beside the rest and is read last."""
    dry: list[Proc] = []
    runner = threading.Thread(
        target=lambda: dry.append(compose.dry_run_create_phase()), name="remediate-dry-run", daemon=True
    )
    if drift:
        runner.start()
    try:
        return _observe(compose, engine, runner if drift else None, dry)
    finally:
        if drift:
            runner.join()


def _observe(compose: Compose, engine: Engine, runner: threading.Thread | None, dry: list[Proc]) -> StackFacts:
    proc = compose.config_run()  # its services are remembered: the facts gathered next ask no config again
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    warnings = tuple(MASKER.mask(_message(line)) for line in lines if "level=warning" in line)
    if not proc.ok:
        errors = [line for line in lines if "level=warning" not in line] or [proc.error_line()]
        error = errors[-1].strip()
        files = {}
        m = _FILE_IN_ERROR.search(error)
        if m and Path(m.group(1)).is_file() and Path(m.group(1)).stat().st_size < _MAX_FILE:
            files[m.group(1)] = Path(m.group(1)).read_text(encoding="utf-8", errors="replace")
        return StackFacts(config_error=error, config_warnings=warnings, error_files=files)
    services = json.loads(proc.stdout).get("services", {})
    missing = {
        name: str(cfg["image"])
        for name, cfg in services.items()
        if cfg.get("image") and not engine.has_image(cfg["image"])
    }
    containers = engine.containers(compose.project.project)  # once: the dry run's names and the mounts
    plan: Mapping[str, str] = {}
    if runner is not None:
        runner.join()
        try:
            if not dry:  # the thread raised (no binary, no engine): ask again here, where it is reported
                dry.append(compose.dry_run_create_phase())
            plan = compose.plan_of(dry[0], known=services, names={st.name: st.service for st in containers})
        except UserError:
            plan = {}  # a service that cannot be created (a missing image) fails the dry run too
    return StackFacts(
        config_warnings=warnings,
        drift=plan,
        volumes=engine.volumes(compose.project.project),
        missing_images=missing,
        services=services,
        missing_mounts=_missing_mounts(containers) if _local(engine) else {},
    )


def _local(engine: Engine) -> bool:
    """Whether the engine shares this machine's filesystem (a bind source can be looked at here)."""
    host = engine.endpoint.host or ""
    return not engine.endpoint.context and (not host or host.startswith("unix://"))


def _missing_mounts(containers: list[ContainerState]) -> dict[str, tuple[str, ...]]:
    out = {}
    for st in containers:
        if st.state == "running":
            continue
        gone = tuple(m["source"] for m in st.mounts if m.get("type") == "bind" and not Path(m["source"]).exists())
        if gone:
            out[st.service] = gone
    return out
