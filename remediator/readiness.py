"""Readiness: when a service is ready for the checks, the one rule for every wait.

- With a healthcheck: when its health is ``healthy``. While the container is within its start period
  its health is ``starting``, and that is waited for; a failing check then counts as a failure.
- Without one: when it runs and something listens behind every port it publishes (``accepts``). "Running" alone is
  not ready: a process often listens a moment after its container starts, and a check run in that
  moment measures a failure that is not there (the loop then also asks that the affected checks give
  the same result twice in a row; see ``Meter.settle``).
"""

from __future__ import annotations

import socket
import threading
from typing import Any

from .backends.engine import SERVICE, ContainerState, Engine

_ANY = {"0.0.0.0", "::", ""}


def accepts(host: str, port: int, timeout: float = 0.25) -> bool:
    """Something listens behind ``host:port`` now.

    A published port answers a connect even when nothing listens in the container: Docker's proxy
    accepts, tries the container, and closes. So the connection must also stay open a moment (a
    server waiting for our request) or send something (a banner); closed or reset at once is no one.
    """
    try:
        with socket.create_connection(("127.0.0.1" if host in _ANY else host, port), timeout=timeout) as conn:
            conn.settimeout(0.15)
            try:
                return conn.recv(1) != b""
            except TimeoutError:
                return True
    except OSError:
        return False


def waiting_on(st: ContainerState | None) -> str:
    """What a service's container still lacks to be ready; "" when it is ready."""
    if st is None:
        return "no container"
    if st.state != "running":
        return f"{st.state} (exit {st.exit_code})" if st.state in ("exited", "dead") else st.state
    if st.health != "none":
        return "" if st.health == "healthy" else f"health {st.health}"
    closed = [port for port in sorted(st.ports) if not accepts("127.0.0.1", port)]
    return f"port {', '.join(map(str, closed))} not accepting connections" if closed else ""


def has_healthcheck(st: ContainerState | None) -> bool:
    return st is not None and st.health != "none"


class Changes:
    """Wakes a readiness wait the moment the engine reports that one of ``services``' containers changed
    health, started or exited (its events), instead of at the next poll: a container turns healthy
    when its check passes, and a poll every 0.25 s sees that 0.125 s late on average, plus the listing's
    own time. The wait still polls (a published port that starts accepting sends no event); the events
    only end a poll's sleep early. When the engine's events cannot be read, it is the poll alone.
    Used as a context manager: opened before the first look at the states, so no change is missed."""

    ACTIONS = ("health_status", "start", "die")

    def __init__(self, engine: Engine, project: str, services: list[str]) -> None:
        self.engine, self.project, self.services = engine, project, set(services)
        self._changed = threading.Event()
        self._stream: Any = None

    def __enter__(self) -> Changes:
        try:
            self._stream = self.engine.events(self.project, self.ACTIONS)
        except Exception:  # no events: the wait polls, as it always could
            return self
        threading.Thread(target=self._read, args=(self._stream,), name="remediate-ready", daemon=True).start()
        return self

    def _read(self, stream: Any) -> None:
        try:
            for event in stream:
                attrs = (event.get("Actor") or {}).get("Attributes") or {}
                if attrs.get(SERVICE) in self.services:
                    self._changed.set()
        except Exception:  # closed (``__exit__``) or the engine went away: the poll goes on alone
            return

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout``, less when a change came since the last call; True when one did."""
        changed = self._changed.wait(timeout)
        self._changed.clear()
        return changed

    def __exit__(self, *_exc: object) -> None:
        if self._stream is not None:
            self._stream.close()
