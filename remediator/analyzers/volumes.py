"""Analyzer of state that was lost: a volume made again under a stack that already had data.

The signs: the service that mounts the volume says it initialised it ("initialized", "initdb"), or
the volume is much younger than the stack's oldest container (compose creates volumes lazily, so
on a busy machine a first ``up`` already spreads them over seconds: only a gap of minutes counts).
Either alone is what a first start looks like too; it becomes a finding only when something misses
the data now: a dependent's latest log lines say a table or database is not there, or checks on
those services fail.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .base import Diagnosis, explained, parse_time

if TYPE_CHECKING:
    from ..facts import Facts

_LATE = timedelta(seconds=60)  # volumes of one ``up`` are created within seconds of its containers
_INIT = re.compile(r"\binitiali[sz](?:ed|ing)\b|\binitdb\b|init process complete|creating (?:default )?database", re.I)
_SCHEMA_GONE = re.compile(
    r'relation "[^"]+" does not exist|no such table|Table \S+ doesn\'t exist|Unknown database'
    r'|database "[^"]+" does not exist',
    re.I,
)


def fresh_volume(facts: Facts) -> list[Diagnosis]:
    """A named volume initialised anew while something still expects its data: a data-loss warning."""
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
        users = sorted(s for s, st in facts.containers.items() if any(m.get("name") == volume for m in st.mounts))
        init = [(s, line) for s in users for line in facts.logs_of(s, 50) if _INIT.search(line)][-1:]
        late = born is not None and born > oldest + _LATE
        if not users or not (init or late):
            continue
        gone = _schema_gone(facts, users)
        explains = explained(facts, [*users, *(g["service"] for g in gone)])
        if not explains and not gone:
            continue  # a first start, or lost data nothing misses any more (rebuilt by a heal)
        ev: list[dict[str, Any]] = [
            {"volume": volume, "created": when, "oldest_container_created": oldest.isoformat()},
            *({"service": s, "log": line[-200:]} for s, line in init),
            *gone[:2],
        ]
        said = f"; {init[0][0]} initialised it from scratch" if init else ""
        out.append(
            Diagnosis(
                analyzer="fresh-volume",
                subject=volume,
                subject_kind="volume",
                title=f"volume {volume} was initialised anew: the data it held is gone",
                cause=f"{volume} was created at {when[:19]} (the stack's oldest container: "
                f"{oldest.isoformat()[:19]}){said}"
                + (f", and {gone[0]['service']} misses what was in it" if gone else ""),
                fix="restore its data from a backup, or re-run the project's migrations/seeds to rebuild the schema",
                confidence="high" if gone else "medium",
                evidence=tuple(ev),
                explains=explains,
                signature="data-loss",
            )
        )
    return out


def _schema_gone(facts: Facts, exclude: list[str]) -> list[dict[str, Any]]:
    """Services whose latest log lines say a table or database they expect is not there (now, not once)."""
    out = []
    for service in facts.containers:
        if service in exclude:
            continue
        hit = next((line for line in reversed(facts.logs_of(service, 50)[-5:]) if _SCHEMA_GONE.search(line)), None)
        if hit:
            out.append({"service": service, "log": hit.strip()[-200:]})
    return out
