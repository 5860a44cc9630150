"""Helpers shared by the tests: the real CLI as a subprocess, a real HTTP server, the engine gate,
a real sandbox driven through its own CLI."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SANDBOX = ROOT / "sandbox" / "sandbox.py"
# Added to every sandbox port offset: two test sessions can share one engine without their ports meeting.
PORT_SHIFT = int(os.environ.get("REMEDIATE_TEST_PORT_SHIFT", "0"))


def remediate(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a child process, as a user would."""
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "remediator", *args],
        cwd=cwd or ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def json_out(proc: subprocess.CompletedProcess[str]) -> Any:
    try:
        return json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(f"not JSON (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}") from None


def require_engine() -> Any:
    """A docker SDK client; without an engine the test fails in CI and is skipped elsewhere."""
    import docker

    try:
        client = docker.from_env()
        client.ping()
        return client
    except Exception as exc:
        message = f"no Docker engine ({exc}); run 'bash scripts/engine.sh'"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)


Handler = Callable[[BaseHTTPRequestHandler], tuple[int, dict[str, str], bytes]]


@contextmanager
def http_server(handler: Handler) -> Iterator[str]:
    """A real threaded HTTP server on 127.0.0.1 with a free port; yields its base URL."""

    class _H(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            status, headers, body = handler(self)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, *args: Any) -> None:
            pass

    with serving(_H) as url:
        yield url


@contextmanager
def serving(handler_class: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A real threaded HTTP server on 127.0.0.1 with a free port, answering with ``handler_class``;
    yields its base URL and is shut down afterwards."""

    class _Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 1024

    server = _Server(("127.0.0.1", 0), handler_class)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def wait_for(predicate: Callable[[], bool], timeout: float = 30, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


class SandboxDir:
    """A sandbox work directory of its own (own compose project and port offset), driven through the
    real sandbox CLI, as a user would."""

    def __init__(self, workdir: Path, project: str, offset: int) -> None:
        self.workdir, self.project, self.offset = workdir, project, offset
        self.inventory = workdir / "inventory.yml"

    def cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, str(SANDBOX), *args, "--workdir", str(self.workdir)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert proc.returncode == 0, f"sandbox.py {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
        return proc

    def up(self) -> subprocess.CompletedProcess[str]:
        return self.cli("up", "--project", self.project, "--port-offset", str(self.offset))

    def break_(self, scenario: str) -> subprocess.CompletedProcess[str]:
        return self.cli("break", scenario)

    def down(self) -> None:
        """`sandbox.py down`, then make sure: whatever it left of the project (a failed or killed `up`
        can leave containers it never wrote down) is removed by label, and the leak fails the test."""
        subprocess.run(
            [sys.executable, str(SANDBOX), "down", "--workdir", str(self.workdir), "--project", self.project],
            capture_output=True,
            timeout=300,
            check=False,
        )
        left = project_objects(self.project)
        if any(left.values()):
            remove_project_objects(left)
            raise AssertionError(f"sandbox.py down left {left} of project {self.project} (now removed)")

    def remediate(self, *args: str, inventory: Path | None = None) -> subprocess.CompletedProcess[str]:
        return remediate(*args, "--inventory", str(inventory or self.inventory), timeout=900)

    def files(self) -> dict[str, str]:
        """Every file of the work directory (remediator's own state dir aside), by content hash."""
        out = {}
        for p in sorted(self.workdir.rglob("*")):
            if p.is_file() and ".remediate" not in p.parts:
                out[str(p.relative_to(self.workdir))] = hashlib.sha256(p.read_bytes()).hexdigest()
        return out

    def containers(self) -> dict[str, tuple[str, str, str]]:
        """The project's containers by name: id, status, start time."""
        client = require_engine()
        found = client.containers.list(all=True, filters={"label": f"com.docker.compose.project={self.project}"})
        return {c.name: (c.id, c.status, c.attrs["State"].get("StartedAt", "")) for c in found}

    def secret_values(self) -> list[str]:
        """The secrets a run may see: the secret files and every key-, token- or password-like .env value."""
        values = [(self.workdir / "secrets" / n).read_text().strip() for n in ("api_key", "airtable_token")]
        for line in (self.workdir / ".env").read_text().splitlines():
            key, _, value = line.partition("=")
            if any(w in key for w in ("KEY", "TOKEN", "SECRET", "PASSWORD")) and len(value) >= 8:
                values.append(value.strip().strip("'\""))
        return values


def project_objects(project: str) -> dict[str, list[str]]:
    """The ids of a compose project's containers, networks and volumes, found by its label."""
    label = f"label=com.docker.compose.project={project}"
    out = {}
    for kind, cmd in (
        ("containers", ["docker", "ps", "-aq", "--filter", label]),
        ("networks", ["docker", "network", "ls", "-q", "--filter", label]),
        ("volumes", ["docker", "volume", "ls", "-q", "--filter", label]),
    ):
        out[kind] = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()
    return out


def remove_project_objects(objects: dict[str, list[str]]) -> None:
    """Force-remove what project_objects found (containers first: they hold the networks and volumes)."""
    for kind, cmd in (("containers", ["rm", "-f"]), ("networks", ["network", "rm"]), ("volumes", ["volume", "rm"])):
        if objects.get(kind):
            subprocess.run(["docker", *cmd, *objects[kind]], capture_output=True, check=False)


@contextmanager
def sandbox_dir(tmp_path_factory: pytest.TempPathFactory, name: str, offset: int) -> Iterator[SandboxDir]:
    """A sandbox that is up for the duration, on a real engine, torn down after (also on failure)."""
    require_engine()
    box = SandboxDir(tmp_path_factory.mktemp(name) / "stack", f"remediate-{name}-{secrets.token_hex(3)}", offset)
    try:
        box.up()  # inside the try: a half-started project is torn down too
        yield box
    finally:
        box.down()
