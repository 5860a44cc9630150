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

from .backends.engine import ContainerState

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
