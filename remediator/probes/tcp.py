"""TCP probe: does something listen on a port (or, with ``open: false``, nothing)?

A published port answers a connect even when nothing listens in the container: Docker's proxy
accepts, tries the container, and closes. So, as in ``readiness.accepts``, the connection must also
stay open a moment or send something; one closed or reset at once is nobody listening.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from . import Outcome, ProbeContext


async def run(probe: Mapping[str, Any], expect: Mapping[str, Any], ctx: ProbeContext) -> Outcome:
    host, port = probe.get("host", "127.0.0.1"), int(probe["port"])
    timeout = float(probe.get("timeout", 3))
    want_open = bool(expect.get("open", True))
    evidence: dict[str, Any] = {"host": host, "port": port}
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        try:
            is_open = await asyncio.wait_for(reader.read(1), 0.15) != b""
        except TimeoutError:
            is_open = True  # a server waiting for our request
        except OSError:
            is_open = False  # reset at once
        finally:
            writer.close()
        if not is_open:
            evidence["error"] = "closed at once: nothing listens behind the port"
    except TimeoutError:
        is_open, evidence["error"] = False, f"timeout after {timeout:g} s"
    except OSError as exc:
        is_open, evidence["error"] = (
            False,
            "connection refused" if isinstance(exc, ConnectionRefusedError) else str(exc),
        )
    evidence["open"] = is_open
    passed = is_open == want_open
    reason = (
        ""
        if passed
        else f"port {host}:{port} is {'open' if is_open else 'closed'}, expected {'open' if want_open else 'closed'}"
    )
    return Outcome(passed=passed, reason=reason, evidence=evidence)
