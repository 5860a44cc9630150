"""Analyzer of state that was lost: a volume made again under a stack that already had data.

Compose creates a project's volumes before its containers, so on a healthy stack every volume is
older than every container. A volume younger than some container was removed and made again while
the stack lived: whatever it held is gone. The service's own logs ("initialized", "initdb") or a
dependent's "relation ... does not exist" make it certain.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .base import Diagnosis, explained, parse_time

if TYPE_CHECKING:
    from ..facts import Facts

_SLACK = timedelta(seconds=5)  # compose creates volumes and containers within a second of each other
_INIT = re.compile(r"\binitiali[sz](?:ed|ing)\b|\binitdb\b|init process complete|creating (?:default )?database", re.I)
_SCHEMA_GONE = re.compile(
    r'relation "[^"]+" does not exist|no such table|Table \S+ doesn\'t exist|Unknown database'
    r'|database "[^"]+" does not exist',
    re.I,
)


def fresh_volume(facts: Facts) -> list[Diagnosis]:
    """A named volume created after the stack's containers existed: a data-loss warning."""
    stack = facts.stack
    if stack is None or not stack.volumes:
        return []
    created = [t for st in facts.containers.values() if (t := parse_time(st.created))]
    if not created:
        return []
    oldest = min(created)
    out = []
    for volume, when in stack.volumes.items():
        born = parse_time(when)
        if born is None or born <= oldest + _SLACK:
            continue
        users = sorted(s for s, st in facts.containers.items() if any(m.get("name") == volume for m in st.mounts))
        init = [line for s in users for line in facts.logs_of(s, 50) if _INIT.search(line)][-1:]
        gone = _schema_gone(facts, users)
        ev: list[dict[str, Any]] = [
            {"volume": volume, "created": when, "oldest_container_created": oldest.isoformat()},
            *({"service": s, "log": line[-200:]} for s, line in zip(users, init, strict=False)),
            *gone[:2],
        ]
        out.append(
            Diagnosis(
                analyzer="fresh-volume",
                subject=volume,
                subject_kind="volume",
                title=f"volume {volume} was created anew after the stack was set up: its data is gone",
                cause=f"{volume} was created at {when[:19]}, after containers of this project that date from "
                f"{oldest.isoformat()[:19]}" + (f"; {', '.join(users)} initialised it from scratch" if init else ""),
                fix="restore its data from a backup, or re-run the project's migrations/seeds to rebuild the schema",
                confidence="high" if init or gone else "medium",
                evidence=tuple(ev),
                explains=explained(facts, [*users, *(g["service"] for g in gone)]),
                signature="data-loss",
            )
        )
    return out


def _schema_gone(facts: Facts, exclude: list[str]) -> list[dict[str, Any]]:
    """Services whose logs say a table or database they expect is not there."""
    out = []
    for service in facts.containers:
        if service in exclude:
            continue
        hit = next((line for line in reversed(facts.logs_of(service, 50)) if _SCHEMA_GONE.search(line)), None)
        if hit:
            out.append({"service": service, "log": hit.strip()[-200:]})
    return out
