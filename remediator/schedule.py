"""Scheduling: what a step costs, in what order findings are taken, what rate each step should reach,
which checks a step can have affected, which services it touches. Pure: recorded results and findings
in, decisions out; nothing here observes or changes anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from . import templating
from .diagnosis import Finding
from .facts import Facts
from .model import Check
from .results import ERROR, PASSED, Run

# What a step costs, roughly in seconds of disruption: edits are cheap, recreating containers is not.
COST = {
    "env_set": 1,
    "env_unset": 1,
    "env_rename": 1,
    "compose_set": 1,
    "compose_unset": 1,
    "yaml_set": 1,
    "yaml_unset": 1,
    "http": 1,
    "wait_healthy": 1,
    "exec": 2,
    "compose_restart": 3,
    "compose_up": 4,
    "compose_recreate": 4,
    "run": 5,
}
EDITS = frozenset({"env_set", "env_unset", "env_rename", "compose_set", "compose_unset", "yaml_set", "yaml_unset"})
COMPOSE = frozenset({"compose_up", "compose_restart", "compose_recreate"})
BLIND = frozenset({"exec", "run", "http"})  # their effect is known only once they ran: a plan cannot simulate them


def action_name(spec: Mapping[str, Any]) -> str:
    return next(iter(spec))


def cost(finding: Finding) -> int:
    """The sum of the actions' costs, never below 1."""
    return max(1, sum(COST.get(action_name(spec), 1) for spec in finding.entry.actions))


def _requires_all(by_id: Mapping[str, Check], cid: str, seen: set[str]) -> set[str]:
    for r in by_id[cid].requires if cid in by_id else ():
        if r not in seen:
            seen.add(r)
            _requires_all(by_id, r, seen)
    return seen


def order(findings: list[Finding], checks: Mapping[str, Check]) -> list[Finding]:
    """Most checks turned per unit of cost first; ``after`` and dependencies between checks respected.

    When one finding's checks are what another's checks require, the first must come first: the
    others may only be symptoms of it, and are diagnosed again after its verify.
    """
    before: dict[str, set[str]] = {f.key: set() for f in findings}
    for b in findings:
        needed: set[str] = set()
        for c in b.checks:
            _requires_all(checks, c, needed)
        for a in findings:
            if a is b:
                continue
            # a container finding rests on no check: what it explains stands for its checks
            if a.entry.id in b.entry.after or (a.checks or a.explains) & needed:
                before[b.key].add(a.key)
    score = {f.key: len(f.explains) / cost(f) for f in findings}
    remaining = sorted(findings, key=lambda f: (-score[f.key], f.entry.where.line if f.entry.where else 0))
    ordered: list[Finding] = []
    placed: set[str] = set()
    while remaining:
        ready = next((f for f in remaining if before[f.key] <= placed), remaining[0])  # a cycle: best first
        ordered.append(ready)
        placed.add(ready.key)
        remaining.remove(ready)
    return ordered


def predict(run: Run, ordered: Iterable[Finding]) -> list[float]:
    """The rate expected after each step, if each turns the checks it explains (and no others)."""
    status = {r.id: r.status for r in run.results}
    counted = max(1, run.total - run.count(ERROR))  # suite errors measure nothing: out of the rate
    turned: set[str] = set()
    out = []
    for f in ordered:
        turned |= {c for c in f.explains if status.get(c) not in (PASSED, ERROR)}
        out.append((run.passed + len(turned)) / counted)
    return out


def specs(finding: Finding) -> list[Mapping[str, Any]]:
    """The entry's actions, with one rule from evidence: after an edit, a restart becomes an up.

    ``compose restart`` never picks up env or compose changes; ``compose up`` recreates exactly the
    containers whose resolved configuration the edit changed.
    """
    out: list[Mapping[str, Any]] = []
    edited = False  # equivalent mutant: None is as false
    for spec in finding.entry.actions:
        ((name, args),) = spec.items()
        if name == "compose_restart" and edited:
            spec = {"compose_up": dict(args or {})}
        edited = edited or name in EDITS
        out.append(spec)
    return out


def services_touched(specs_: Iterable[Mapping[str, Any]], facts: Facts, bound: Mapping[str, Any]) -> set[str]:
    """Services an action list touches: named ones, or every service of a bare ``compose up``."""
    out: set[str] = set()
    for spec in specs_:
        ((name, args),) = spec.items()
        args = args or {}
        if name in COMPOSE or name == "wait_healthy":
            out |= set(args.get("services") or facts.services)
        if name in ("exec", "run"):
            out.add(str(args.get("service")))
    scope = {**facts.context, **bound}
    return {templating.render_str(s, scope) for s in out}


def affected(checks: Iterable[Check], step_checks: set[str], services: set[str], facts: Facts) -> set[str]:
    """What a re-test must repeat: the step's checks, the touched services' checks and those of the
    services that depend on them, everything that requires those, widened to whole categories (a
    flow such as register -> login re-runs together, with one fresh identity). Load probes
    (``exclusive``) run alone and slowly: they are repeated only when the step is about them."""
    checks = list(checks)
    touched = set(services)
    for name, svc in facts.services.items():
        if set(svc.get("depends_on") or {}) & services:
            touched.add(name)
    roots = set(step_checks) | {c.id for c in checks if facts.service_of(c.id) in touched}
    ids = facts.dependents(roots)
    categories = {c.category for c in checks if c.id in ids}
    wide = facts.dependents({c.id for c in checks if c.category in categories})
    direct = facts.dependents(set(step_checks))
    return {c.id for c in checks if c.id in wide and (not c.exclusive or c.id in direct)}


def batchable(finding: Finding) -> bool:
    """A finding whose fix only starts or recreates containers of its own service, with no edit, no
    command, no verify, no cooldown and no confirmation: such fixes on disjoint services cannot
    disturb each other, so they may be taken in one compose call."""
    e = finding.entry
    names = {action_name(spec) for spec in e.actions}
    return (
        bool(names)
        and names <= COMPOSE | {"wait_healthy"}
        and not (e.verify or e.cooldown or e.confirm or e.suite)
        and bool(finding.vars.get("service"))
    )


def companions(first: Finding, ordered: list[Finding], room: int) -> list[Finding]:
    """Findings to take together with ``first``: of the same entry, batchable, each about a service of
    its own (at most ``room`` of them). A person starts two stopped services with one ``up -d``."""
    if room <= 0 or not batchable(first):
        return []
    services = {first.vars.get("service")}
    out = []
    for f in ordered:
        if len(out) >= room:
            break
        if f is first or f.entry is not first.entry or not batchable(f) or f.vars.get("service") in services:
            continue
        services.add(f.vars.get("service"))
        out.append(f)
    return out


def merged_specs(findings: list[Finding], scope: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The actions of several findings of one entry as one list: each action once, its ``services``
    the union of theirs (rendered with each finding's variables), its timeout the longest."""
    rendered = [[templating.render(dict(spec), {**scope, **f.vars}) for spec in specs(f)] for f in findings]
    out: list[Mapping[str, Any]] = []
    for column in zip(*rendered, strict=True):
        ((name, args),) = column[0].items()
        merged = dict(args or {})
        services: list[str] = []
        for spec in column:
            for s in (spec[name] or {}).get("services") or []:
                if s not in services:
                    services.append(s)
        if services:
            merged["services"] = services
        timeouts = [(spec[name] or {}).get("timeout") for spec in column if (spec[name] or {}).get("timeout")]
        if timeouts:
            merged["timeout"] = max(timeouts)
        out.append({name: merged})
    return out
