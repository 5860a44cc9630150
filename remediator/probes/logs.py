"""Logs probe: a service's recent log lines match (or do not match) a pattern."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from . import Outcome, ProbeContext


async def run(probe: Mapping[str, Any], expect: Mapping[str, Any], ctx: ProbeContext) -> Outcome:
    service = probe["service"]
    state = await ctx.container(service)
    if state is None:
        return Outcome(False, f"no container for service {service!r}", {"service": service, "state": "absent"})
    lines = await ctx.engine_call(ctx.engine.logs, state.id, int(probe.get("tail", 200)), probe.get("since_s"))
    evidence: dict[str, Any] = {"service": service, "container": state.name, "lines": len(lines)}
    if "matches" in expect:
        rx = re.compile(expect["matches"])
        hit = next((ln for ln in reversed(lines) if rx.search(ln)), None)
        if hit is None:
            evidence["last_lines"] = lines[-3:]
            return Outcome(False, f"no log line matches {expect['matches']!r}", evidence)
        evidence["line"] = hit[-300:]
    if "not_matches" in expect:
        rx = re.compile(expect["not_matches"])
        hit = next((ln for ln in reversed(lines) if rx.search(ln)), None)
        if hit is not None:
            evidence["line"] = hit[-300:]
            return Outcome(False, f"a log line matches {expect['not_matches']!r}", evidence)
    return Outcome(True, "", evidence)
