"""Shared pytest fixtures; each section is marked with the work that owns it."""

# ==== engine / compose_project fixtures (owned by the actions and backends work) =====================
# A real engine and a real compose project of two services from remediate-base:local, in tmp_path,
# named remediate-act-<random>, published on 127.0.0.1 only, torn down after the test.

import contextlib as _contextlib
import secrets as _secrets
import socket as _socket
from pathlib import Path as _Path

import pytest as _pytest

COMPOSE_YML = """\
# test project for remediator's actions: a web service with a healthcheck and a worker
services:
  web:   # answers HTTP on 8080
    image: remediate-base:local
    command: ["python3", "-m", "http.server", "8080"]
    stop_signal: SIGKILL
    env_file: [app.env]
    environment:
      API_KEY: ${{API_KEY:-dev-key}}   # shared with the gateway
      # the log level
      LOG_LEVEL: info
    ports: ["127.0.0.1:{port}:8080"]
    healthcheck:
      # python3 -I -S and a socket: half the start-up of urllib's, which overran 10 s at load ~100
      test: ["CMD", "python3", "-I", "-S", "-c", "import socket; socket.create_connection(('127.0.0.1', 8080), 5)"]
      interval: 1s
      timeout: 10s   # a python3 start on a loaded machine can take seconds: slow is not failed
      retries: 5
      start_period: 10s

  worker:
    image: remediate-base:local
    command: ["sleep", "infinity"]
    stop_signal: SIGKILL
    environment:
      - MODE=dev   # list style
"""

APP_ENV = """\
# app settings
MODE=dev
export GREETING="hello world"  # quoted
TOKEN='old-token'
"""


def _free_port() -> int:
    with _socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@_pytest.fixture
def engine():
    """The Engine for the default endpoint; no engine fails under CI=true and skips elsewhere."""
    from remediator.backends.engine import Engine

    from .support import require_engine

    require_engine()
    eng = Engine()
    yield eng
    eng.close()


@_pytest.fixture
def compose_project(tmp_path: _Path):
    """A fresh ComposeProject (compose.yml + app.env in tmp_path); ``down`` afterwards if it ran."""
    from remediator.backends.compose import Compose
    from remediator.model import ComposeProject

    directory = tmp_path / "stack"
    directory.mkdir()
    (directory / "compose.yml").write_text(COMPOSE_YML.format(port=_free_port()))
    (directory / "app.env").write_text(APP_ENV)
    project = ComposeProject(
        project=f"remediate-act-{_secrets.token_hex(4)}", directory=directory, files=(directory / "compose.yml",)
    )
    yield project
    with _contextlib.suppress(Exception):  # no engine: nothing was started
        Compose(project).down()


# ==== end of engine / compose_project fixtures ======================================================
