"""The built-in analyzers joined to the heal loop: their safe fixes as findings the planner can take.

An analyzer's ``SafeAction`` (start a service, recreate it after drift, restart a dependent once its
dependency recovered) becomes a finding of a synthetic entry, so it is ordered, taken, verified and
guarded like any playbook entry. A playbook finding that already fixes the same service wins: the
stack's own knowledge comes first, and the same service is never acted on twice for one fault.
"""

from __future__ import annotations

from .analyzers import Diagnosis
from .diagnosis import Finding
from .model import Entry

_WAIT = 90


def _entry(d: Diagnosis) -> Entry:
    assert d.action is not None
    service = d.action.service
    return Entry(
        id=f"analyzer:{d.analyzer}",
        name=d.title,
        description=f"{d.cause} Fix: {d.fix}",
        when={},
        group_by=("service",),
        actions=(
            {d.action.action: {"services": [service]}},
            {"wait_healthy": {"services": [service], "timeout": _WAIT}},
        ),
        max_attempts=2,
    )


def fixes(found: list[Diagnosis], findings: list[Finding]) -> list[Finding]:
    """Findings for the analyzers' safe actions, except where a playbook finding acts on that service."""
    acted = {f.vars.get("service") for f in findings if f.entry.actions}
    out = []
    for d in found:
        if d.action is None or d.action.service in acted:
            continue
        acted.add(d.action.service)
        out.append(
            Finding(
                entry=_entry(d),
                vars={"service": d.action.service},
                checks=frozenset(),
                explains=frozenset(d.explains),
                evidence=[dict(e) for e in d.evidence],
            )
        )
    return out
