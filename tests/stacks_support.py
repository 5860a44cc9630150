"""The second test stack, ``tests/stacks/shop``, as a fixture: a stack no playbook was tuned to.

``shop_stack`` copies the stack into a directory of its own and writes the copy's ``.env``: a unique
project name (``COMPOSE_PROJECT_NAME``, which compose reads from ``.env`` itself, so plain
``docker compose`` in that directory and ``remediate init`` see the same project) and the two published
ports, shifted by ``REMEDIATE_TEST_PORT_SHIFT`` and the caller's offset so test sessions do not meet.
It brings the stack up with ``compose up -d --wait`` and tears it down afterwards, also when the
set-up failed half-way. See ``tests/stacks/shop/README.md`` for what each service is for.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from .support import PORT_SHIFT, ROOT, require_engine, wait_for

SHOP = ROOT / "tests" / "stacks" / "shop"
SERVICES = ("catalog", "storefront", "worker")
BASE_PORT = 18100  # catalog; the storefront is the next port


def compose_binary() -> list[str]:
    """The Compose v2 command remediator itself would find (its own lookup, so both agree)."""
    from remediator.backends.compose import find_command
    from remediator.model import ComposeProject

    return list(find_command(ComposeProject(project="x", directory=ROOT)))


@dataclass
class ShopStack:
    """A copy of the shop stack in ``directory``, as compose project ``project``."""

    directory: Path
    project: str
    catalog_port: int
    storefront_port: int

    @property
    def ports(self) -> dict[str, int]:
        return {"catalog": self.catalog_port, "storefront": self.storefront_port}

    def compose(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Compose as a user runs it in the stack's directory: no -p, no --env-file (``.env`` names both)."""
        proc = subprocess.run(
            [*compose_binary(), *args],
            cwd=self.directory,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"compose {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def up(self, wait_ready: bool = True) -> None:
        """``up -d --wait`` (healthchecks only); with ``wait_ready`` also until the storefront answers HTTP,
        which it does ~0.8 s after its container starts and which no healthcheck reports. (A TCP connect
        is no sign: Docker's proxy accepts on the published port before the process listens.)"""
        # generous: at load 100+ on the 2 shared cores, the first healthy catalog took over 60 s
        self.compose("up", "-d", "--wait", "--wait-timeout", "180", timeout=240)
        if wait_ready:
            assert wait_for(lambda: _answers(self.storefront_port), timeout=15), "storefront never answered"

    def down(self) -> None:
        self.compose("down", "--volumes", "--remove-orphans", "--timeout", "0", check=False)


def _answers(port: int) -> bool:
    """Any HTTP answer (a 502 while the catalog is down included): the process listens."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def write_env(directory: Path, project: str, catalog_port: int, storefront_port: int) -> None:
    """The copy's ``.env``: what compose substitutes into compose.yml (and the project's name)."""
    (directory / ".env").write_text(
        "# written by tests/stacks_support.py: compose reads it itself\n"
        f"COMPOSE_PROJECT_NAME={project}\n"
        f"CATALOG_PORT={catalog_port}\n"
        f"STOREFRONT_PORT={storefront_port}\n"
    )


def copy_shop(tmp: Path, offset: int = 0) -> ShopStack:
    """A private copy of the shop stack with its own project name and ports (not started)."""
    directory = tmp / "shop"
    shutil.copytree(SHOP, directory, ignore=shutil.ignore_patterns("__pycache__", ".remediate"))
    catalog = BASE_PORT + offset + PORT_SHIFT
    stack = ShopStack(directory, f"remediate-shop-{secrets.token_hex(3)}", catalog, catalog + 1)
    write_env(directory, stack.project, stack.catalog_port, stack.storefront_port)
    return stack


@contextmanager
def shop_stack(
    tmp_path_factory: pytest.TempPathFactory, offset: int = 0, wait_ready: bool = True
) -> Iterator[ShopStack]:
    """The shop stack up for the duration on a real engine, torn down after (also on failure)."""
    require_engine()
    stack = copy_shop(tmp_path_factory.mktemp("shop"), offset)
    try:
        stack.up(wait_ready)  # inside the try: a half-started project is torn down too
        yield stack
    finally:
        stack.down()
