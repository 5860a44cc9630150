"""Analyzer of checks aimed where nothing listens: a host port that no service publishes.

After a published port changes (a port variable edited, the service recreated), the suite still
aims at the old port. Compose's resolved config says what is published now; a published port that
no check aims at is the likely new home, and the check's own URL template says what to patch
(``{{ urls.gateway }}`` -> the inventory's ``urls.gateway``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .base import Diagnosis, failing

if TYPE_CHECKING:
    from ..facts import Facts

_LOOPBACK = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}
_TEMPLATE = re.compile(r"\{\{\s*([\w.]+)")


def unpublished_port(facts: Facts) -> list[Diagnosis]:
    """Failing checks that aim at a loopback port no service of the project publishes."""
    published = facts.host_ports()
    if not published:
        return []
    aimed: dict[int, list[str]] = {}
    all_aims: set[int] = set()
    for cid in facts.checks:
        aim = facts.url_of(cid)
        if aim and aim[0] in _LOOPBACK:
            all_aims.add(aim[1])
            if cid in failing(facts) and aim[1] not in published:
                aimed.setdefault(aim[1], []).append(cid)
    idle = sorted(p for p in published if p not in all_aims)
    out = []
    for port, cids in sorted(aimed.items()):
        sources = sorted({m.group(1) for cid in cids for m in _TEMPLATE.finditer(_aim_text(facts.checks[cid].probe))})
        ev: list[dict[str, Any]] = [{"port": port, "checks": sorted(cids)[:5], "url_from": sources}]
        candidate = ""
        if len(idle) == 1:
            service, target = published[idle[0]]
            candidate = f"; {service} publishes {idle[0]} (container port {target}) and no check aims there"
            ev.append({"likely": service, "published": idle[0], "target": target})
        elif idle:
            names = ", ".join(f"{published[p][0]}:{p}" for p in idle)
            candidate = f"; published ports no check aims at: {names}"
            ev.append({"published_not_aimed": [{"service": published[p][0], "port": p} for p in idle]})
        where = f" (from {', '.join(sources)})" if sources else ""
        out.append(
            Diagnosis(
                analyzer="unpublished-port",
                subject=str(port),
                subject_kind="port",
                title=f"{len(cids)} check(s) aim at port {port}, which no service publishes",
                cause=f"nothing in the project publishes host port {port}{candidate}",
                fix=(
                    f"point {', '.join(sources)} at port {idle[0]}"
                    if sources and len(idle) == 1
                    else f"fix the checks' URL{where} or the service's published port"
                ),
                confidence="high" if len(idle) == 1 else "medium",
                evidence=tuple(ev),
                explains=frozenset(facts.dependents(set(cids)) & failing(facts)),
                signature="port-not-published",
            )
        )
    return out


def _aim_text(probe: Any) -> str:
    """The templated parts of a probe that decide where it aims (its URL, or its host and port)."""
    return " ".join(str(probe.get(k, "")) for k in ("url", "host", "port"))
