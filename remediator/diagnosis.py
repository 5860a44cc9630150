"""Diagnosis: match playbook entries against the facts, producing findings that carry their evidence.

A ``when`` is a tree of conditions. ``all`` joins matches whose bindings agree, ``any`` unions them,
``not`` keeps a match only when its inner condition has none; the leaves are in ``conditions``. Leaf
arguments are templates, so a later leaf can name what an earlier one bound (``logs: {service:
"{{ service }}"}``).

Pure logic over ``Facts``, a snapshot: the only way out is the discriminating-probe runner the caller
hands in (the live stack's, or a recorded one), so diagnosis can be tested on recorded facts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from . import templating
from .conditions import LEAVES
from .errors import TemplateError
from .facts import Facts
from .findings import Finding, Match
from .model import Entry
from .results import FAILED, SKIPPED

__all__ = ["Evaluator", "Finding", "Match", "diagnose", "unexplained"]

ProbeRunner = Callable[[Mapping[str, Any], Mapping[str, Any]], Any]


class Evaluator:
    """Evaluates conditions over one round's facts; discriminating probes run at most once each."""

    def __init__(self, facts: Facts, probe_runner: ProbeRunner) -> None:
        self.facts = facts
        self._probe_runner = probe_runner
        self._probe_cache: dict[str, Any] = {}
        self._analysis: list[Any] | None = None
        # entry id -> why its ``when`` could not be evaluated on these facts (a template or a pattern that
        # only fails on the values of this round): that entry is left out, the others are still diagnosed
        self.errors: dict[str, str] = {}

    def analysis(self) -> list[Any]:
        """The built-in analyzers' diagnoses of these facts, computed once (``analysis`` leaves, output)."""
        if self._analysis is None:
            from .analyzers import analyze

            self._analysis = analyze(self.facts)
        return self._analysis

    def scope(self, match: Match) -> dict[str, Any]:
        """What a leaf's templates see: the target's variables, ``env_file``, and what the match bound."""
        return {**self.facts.context, "env_file": self.facts.env, **match.vars}

    def _render(self, args: Mapping[str, Any], match: Match) -> dict[str, Any]:
        # equivalent mutant: always rendering (a mapping without templates renders to itself; this is the shortcut)
        return templating.render(args, self.scope(match)) if templating.has_template(args) else dict(args)

    def probe(self, probe: Mapping[str, Any], expect: Mapping[str, Any]) -> Any:
        """A discriminating probe's outcome, through the caller's seam, at most once per round."""
        key = repr((probe, expect))
        if key not in self._probe_cache:
            self._probe_cache[key] = self._probe_runner(probe, expect)
        return self._probe_cache[key]

    def evaluate(self, entry: Entry, cond: Mapping[str, Any], match: Match) -> list[Match]:
        ((op, args),) = cond.items()
        if op == "all":
            current = [match]
            for sub in args:
                current = [m2 for m in current for m2 in self.evaluate(entry, sub, m)]
                if not current:
                    break
            return current
        if op == "any":
            return [m2 for sub in args for m2 in self.evaluate(entry, sub, match)]
        if op == "not":
            return [] if self.evaluate(entry, args, match) else [match]
        leaf = LEAVES[op]
        return [m for m in leaf(self, entry, self._render(args, match), match) if m is not None]


def diagnose(entries: list[Entry], facts: Facts, evaluator: Evaluator) -> list[Finding]:
    """Every entry that matches, its matches grouped by ``group_by`` into findings."""
    findings: list[Finding] = []
    for entry in entries:
        try:
            matches = evaluator.evaluate(entry, entry.when, Match())
        except (TemplateError, re.error) as exc:
            evaluator.errors[entry.id] = f"{entry.where or entry.id}: {exc}".splitlines()[0]
            continue
        groups: dict[tuple[Any, ...], list[Match]] = {}
        for m in matches:
            groups.setdefault(tuple(m.vars.get(k) for k in entry.group_by), []).append(m)
        for members in groups.values():
            checks = frozenset().union(*(m.checks for m in members))
            evidence: list[Mapping[str, Any]] = []
            for m in members:
                evidence.extend(e for e in m.evidence if e not in evidence)
            findings.append(
                Finding(
                    entry=entry,
                    vars=dict(members[0].vars),
                    checks=checks,
                    explains=frozenset(_explains(facts, checks, members)),
                    evidence=evidence,
                )
            )
    return findings


def _explains(facts: Facts, checks: frozenset[str], members: list[Match]) -> set[str]:
    """The checks a fix would turn: those matched, or for a finding about a service (a stopped one) every
    check that hits it (a container or logs probe of it, or a URL on a port it publishes), and what
    requires them."""
    roots = set(checks)
    services = {m.vars.get("service") for m in members if m.vars.get("service")}
    if not checks and services:
        roots |= {  # equivalent mutant: `=` (roots is empty here: no checks)
            cid for cid in facts.checks if facts.service_of(cid) in services
        }
    status = {r.id: r.status for r in facts.run.results}
    return {cid for cid in facts.dependents(roots) if status.get(cid) in (FAILED, SKIPPED)}


def unexplained(facts: Facts, findings: list[Finding], analysis: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """Every failing or skipped check that no finding (nor analyzer diagnosis) explains, with the
    evidence gathered for it: no failure is left in silence. A skipped check whose blocker is explained
    counts as explained."""
    covered = set().union(*(f.explains | f.checks for f in findings), *(d.explains for d in analysis))
    out = []
    for r in facts.run.results:
        if r.status not in (FAILED, SKIPPED) or r.id in covered:
            continue
        check = facts.checks.get(r.id)
        if r.status == SKIPPED and check is not None and any(req in covered for req in check.requires):
            continue
        ev = r.evidence
        item: dict[str, Any] = {"check": r.id, "status": r.status, "reason": r.reason}
        for key in ("status", "error", "state", "health"):
            if key in ev:
                item["http_status" if key == "status" else key] = ev[key]
        producer = (ev.get("headers") or {}).get("x-service")
        if producer:
            item["producer"] = producer
        if "body" in ev:
            item["body"] = str(ev["body"])[:160]
        service = facts.service_of(r.id)
        if service:
            item["service"] = service
            item["last_log_lines"] = facts.logs_of(service, 5)
        out.append(item)
    return out
