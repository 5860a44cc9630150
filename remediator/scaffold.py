"""``remediate init``: a starting inventory, checks and playbook for a compose project, read through compose.

What a stack is comes from ``compose config --format json`` alone (services, published ports,
healthchecks, ``depends_on``, the project's name), never from parsing the compose file by hand, so
anchors, overrides, ``extends`` and ``.env`` substitution are resolved exactly as compose resolves them.
From that it derives what a healthy stack looks like:

- each service's container is running, and healthy where compose gives it a healthcheck;
- each published TCP port accepts connections;
- each HTTP URL a healthcheck calls answers 2xx, aimed at the published host port;
- a service's running check ``requires`` those of the services it ``depends_on``.

It plans the files first (``plan``) and writes them only after (``write``), so ``--dry-run`` and a
refusal to overwrite cost nothing; every file is written atomically.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .backends.compose import Compose
from .errors import UserError
from .model import ComposeProject

# The names compose itself looks for, in its order of preference, and the override it merges.
COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
CHECKS_FILE = Path("checks") / "services.yml"
PLAYBOOK_FILE = Path("playbooks") / "generic.yml"
# The generic entries (a stopped service, a crash loop, an unset variable, a check aimed at nothing).
_GENERIC = Path(__file__).resolve().parent.parent / "playbooks" / "generic.yml"
# A URL a healthcheck calls on its own container: the port (default 80) and path are what we need.
_LOCAL_URL = re.compile(r"\bhttps?://(?:localhost|127\.0\.0\.1|0\.0\.0\.0|\[::1\])(?::(\d+))?(/[^\s'\"`)]*)?")
# curl and wget also take one without a scheme (``curl -f localhost:8080/health``): then a port is required
_BARE_URL = re.compile(r"(?<![\w/.:-])(?:localhost|127\.0\.0\.1|0\.0\.0\.0):(\d+)(/[^\s'\"`)]*)?")
_HTTP_CLIENTS = re.compile(r"\b(?:curl|wget)\b")


@dataclass(frozen=True)
class Planned:
    """One file ``init`` would write: where, its text, and a one-line account of what it holds."""

    path: Path
    text: str
    summary: str


def compose_files(directory: Path, named: list[Path] | None = None) -> tuple[Path, ...]:
    """The compose files of ``directory``: those named, else the first default name and its override."""
    if not directory.exists():
        raise UserError(f"{directory}: no such directory; expected a compose project directory")
    if not directory.is_dir():
        raise UserError(f"{directory}: not a directory; expected a compose project directory")
    if named:
        files = tuple((directory / f).resolve() for f in named)
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise UserError(f"{missing[0]}: no such compose file")
        return files
    for name in COMPOSE_NAMES:
        if (directory / name).is_file():
            stem, ext = name.rsplit(".", 1)
            override = directory / f"{stem}.override.{ext}"
            return (directory / name, *((override,) if override.is_file() else ()))
    raise UserError(f"{directory}: no compose file; expected one of {', '.join(COMPOSE_NAMES)} (or pass --file)")


def plan(directory: Path, named: list[Path] | None = None, target: str | None = None) -> list[Planned]:
    """The files ``init`` writes for the compose project in ``directory``; writes nothing."""
    if target is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+", target):
        raise UserError(f"--target {target!r}: expected letters, digits, '.', '_' or '-'")
    directory = directory.resolve()
    files = compose_files(directory, named)
    compose = Compose(ComposeProject(project="", directory=directory, files=files))
    resolved = compose.config()
    raw_services = compose.config(interpolate=False).get("services", {})
    project = str(resolved.get("name") or directory.name)
    services: Mapping[str, Any] = resolved.get("services", {})
    name = target or re.sub(r"[^A-Za-z0-9_.-]", "-", project)

    env_files = _env_files(directory, raw_services)
    checks, urls = _checks(services)
    inventory = {
        "targets": {
            name: {
                "compose": {
                    "project": project,
                    "directory": ".",
                    "files": [_rel(f, directory) for f in files],
                    "env_files": env_files,
                },
                "checks": [str(CHECKS_FILE.parent)],  # a directory: check files you add are read too
                "playbooks": [str(PLAYBOOK_FILE.parent)],
                "vars": {"host": "127.0.0.1"},
                **({"urls": urls} if urls else {}),
            }
        }
    }
    header = (
        f"# Written by `remediate init` from `compose config` of project {project!r}.\n"
        "# env_files: the files remediator reads (the `env` leaf, {{ env_file.X }}) and edits; compose is\n"
        "# not given them and keeps reading its own .env for substitution. Paths are relative to this file.\n"
    )
    out = [
        Planned(directory / "inventory.yml", header + _dump(inventory), f"target {name!r}, project {project!r}"),
        Planned(
            directory / CHECKS_FILE,
            "# Written by `remediate init`: what a healthy stack looks like, as compose describes it.\n"
            + _dump({"checks": checks}),
            f"{len(checks)} checks for {len(services)} services",
        ),
    ]
    if _GENERIC.is_file():
        out.append(Planned(directory / PLAYBOOK_FILE, _GENERIC.read_text(encoding="utf-8"), "the generic entries"))
    return out


def write(planned: list[Planned], force: bool = False) -> None:
    """Write every planned file, or none: an existing file is replaced only with ``force``."""
    from .backends.files import atomic_write

    existing = [p.path for p in planned if p.path.exists()]
    if existing and not force:
        raise UserError(f"{existing[0]}: already exists; pass --force to overwrite (or --dry-run to see the files)")
    for p in planned:
        p.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(p.path, p.text.encode())


def _checks(services: Mapping[str, Any]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The checks of every service, and the base URL of each service whose healthcheck speaks HTTP."""
    checks: list[dict[str, Any]] = []
    urls: dict[str, str] = {}
    # a service another waits for with service_completed_successfully runs once and exits (a migration)
    one_shot = {
        dep
        for cfg in services.values()
        for dep, how in (cfg.get("depends_on") or {}).items()
        if (how or {}).get("condition") == "service_completed_successfully"
    }
    for svc, cfg in sorted(services.items()):
        running = f"{_slug(svc)}.running"
        health = "" if svc in one_shot else _health_test(cfg)
        deps = sorted(d for d in cfg.get("depends_on") or {} if d in services)
        if svc in one_shot:
            name, expect = f"{svc} ran once and exited (others wait for it to complete)", {"state": "exited"}
        else:
            name = f"{svc} is running" + (" and healthy" if health else "")
            expect = {"state": "running", **({"health": "healthy"} if health else {})}
        checks.append(
            {
                "id": running,
                "category": "containers",
                "name": name,
                **({"requires": [f"{_slug(d)}.running" for d in deps]} if deps else {}),
                "probe": {"kind": "container", "service": svc},
                "expect": expect,
            }
        )
        published = _published(cfg)
        for target_port, (host_ip, port) in sorted(published.items()):
            checks.append(
                {
                    "id": f"{_slug(svc)}.port.{port}",
                    "category": "ports",
                    "name": f"{svc} accepts connections on its published port {port} (container port {target_port})",
                    "requires": [running],
                    "probe": {"kind": "tcp", "host": host_ip or "{{ host }}", "port": port, "timeout": 3},
                    "expect": {"open": True},
                }
            )
        for target_port, path in _health_urls(health):
            if target_port not in published:
                continue  # the healthcheck's port is not published: the host cannot reach it
            host_ip, port = published[target_port]
            key = re.sub(r"\W", "_", svc)  # a name a template can use: {{ urls.api_gateway }}
            urls.setdefault(key, f"http://{host_ip or '{{ host }}'}:{port}")
            checks.append(
                {
                    "id": f"{_slug(svc)}.http.{_slug(path) or 'root'}",
                    "category": "http",
                    "name": f"{svc} answers its healthcheck URL {path} on the published port",
                    "requires": [running],
                    "probe": {"kind": "http", "method": "GET", "url": f"{{{{ urls.{key} }}}}{path}", "timeout": 5},
                    "expect": {"status": "2xx"},
                }
            )
    return checks, urls


def _health_test(cfg: Mapping[str, Any]) -> str:
    """The service's healthcheck command as one string; "" when it has none or it is disabled."""
    hc = cfg.get("healthcheck") or {}
    test = hc.get("test") or []
    if hc.get("disable") or not test or test[0] == "NONE":
        return ""
    return " ".join(test[1:] if test[0] in ("CMD", "CMD-SHELL") else test) if isinstance(test, list) else str(test)


def _health_urls(test: str) -> list[tuple[int, str]]:
    """(container port, path) of each URL on the container itself that the healthcheck calls."""
    found = []
    for match in _LOCAL_URL.finditer(test):
        port = int(match.group(1) or (443 if match.group(0).startswith("https") else 80))
        found.append((port, match.group(2) or "/"))
    if _HTTP_CLIENTS.search(test):
        found += [(int(m.group(1)), m.group(2) or "/") for m in _BARE_URL.finditer(test)]
    return list(dict.fromkeys(found))


def _published(cfg: Mapping[str, Any]) -> dict[int, tuple[str, int]]:
    """{container port: (host address or "" for the default host, host port)} of its fixed TCP ports."""
    out: dict[int, tuple[str, int]] = {}
    for p in cfg.get("ports") or []:
        published = str(p.get("published") or "")
        if p.get("protocol", "tcp") != "tcp" or not published.isdigit():
            continue  # udp, an ephemeral port (a new one at every start) or a range
        host_ip = p.get("host_ip") or ""
        out[int(p["target"])] = ("" if host_ip in ("", "0.0.0.0", "127.0.0.1", "::") else host_ip, int(published))
    return out


def _env_files(directory: Path, raw_services: Mapping[str, Any]) -> list[str]:
    """``.env`` if present (what compose substitutes from), then every service's env_file, relative."""
    found = [".env"] if (directory / ".env").is_file() else []
    for cfg in raw_services.values():
        for entry in cfg.get("env_file") or []:
            path = entry.get("path") if isinstance(entry, Mapping) else entry
            if path and "$" not in str(path):
                found.append(_rel(Path(path), directory))
    return list(dict.fromkeys(found))


def _slug(text: str) -> str:
    """``text`` as a piece of a check id (lower case letters, digits, ``.``, ``_``, ``-``)."""
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-.")


def _rel(path: Path, directory: Path) -> str:
    path = directory / path
    try:
        return str(path.relative_to(directory))
    except ValueError:
        return str(path)


def _dump(doc: Mapping[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=False, width=120, allow_unicode=True)
