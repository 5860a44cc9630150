"""Container probe: a compose service's container is in the expected state and health.

Found by the compose labels of the target's project; the last health-check outputs are evidence,
because "unhealthy" alone does not say whether the app or the health check is broken.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import Outcome, ProbeContext


async def run(probe: Mapping[str, Any], expect: Mapping[str, Any], ctx: ProbeContext) -> Outcome:
    service = probe["service"]
    state = await ctx.container(service)
    want_state = expect.get("state", "running")
    want_health = expect.get("health")
    if state is None:
        evidence: dict[str, Any] = {"service": service, "state": "absent"}
        passed = want_state == "absent"
        return Outcome(
            passed=passed, reason="" if passed else f"no container for service {service!r}", evidence=evidence
        )
    evidence = {
        "service": service,
        "container": state.name,
        "state": state.state,
        "health": state.health,
        "exit_code": state.exit_code,
        "restart_count": state.restart_count,
    }
    if state.health_log:
        last = state.health_log[-1]
        evidence["health_log"] = {"exit_code": last.get("ExitCode"), "output": str(last.get("Output", ""))[-300:]}
    if state.state != want_state:
        return Outcome(False, f"container {state.name} is {state.state}, expected {want_state}", evidence)
    if want_health and state.health != want_health:
        return Outcome(False, f"container {state.name} is {state.health}, expected {want_health}", evidence)
    return Outcome(True, "", evidence)
