"""Diagnosis: match playbook entries against the facts, producing findings that carry their evidence.

A ``when`` is a tree of conditions. Each leaf looks at one kind of fact (a check result, a
container, its health log, log lines, the compose config, the env files, a discriminating probe)
and yields *matches*: variable bindings (``service``, ``check``, ``key``...) with the evidence that
produced them. ``all`` joins matches whose bindings agree, ``any`` unions them, ``not`` keeps a
match only when its inner condition has none. Leaf arguments are templates, so a later leaf can
name what an earlier one bound (``logs: {service: "{{ service }}"}``).

Pure logic over ``Facts``: nothing here changes anything, and it can be tested on recorded facts.
"""

from __future__ import annotations

import asyncio
import fnmatch
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import templating
from .facts import Facts, is_secret_key
from .model import Entry
from .results import FAILED, PASSED, SKIPPED
from .secrets import MASK, MASKER

_URL = re.compile(r"https?://[^\s'\"]+")


@dataclass(frozen=True)
class Match:
    """One way a condition holds: bound variables, the checks it rests on, what was seen."""

    vars: Mapping[str, Any] = field(default_factory=dict)
    checks: frozenset[str] = frozenset()
    evidence: tuple[Mapping[str, Any], ...] = ()

    def extend(
        self,
        new_vars: Mapping[str, Any],
        checks: set[str] | frozenset[str] = frozenset(),
        evidence: Mapping[str, Any] | None = None,
    ) -> Match | None:
        """This match with more bindings; None when a binding disagrees with one already made."""
        for k, v in new_vars.items():
            if k in self.vars and self.vars[k] != v:
                return None
        return Match(
            {**self.vars, **new_vars},
            self.checks | frozenset(checks),
            (*self.evidence, evidence) if evidence else self.evidence,
        )


@dataclass
class Finding:
    """A diagnosis that matched, on which evidence, explaining which checks."""

    entry: Entry
    vars: dict[str, Any]
    checks: frozenset[str]  # the checks its conditions matched on
    explains: frozenset[str]  # those and every not-passed check behind them (requires, service)
    evidence: list[Mapping[str, Any]]

    @property
    def key(self) -> str:
        """Identity across rounds: the entry and the values of its group_by variables."""
        parts = [f"{k}={self.vars.get(k)}" for k in self.entry.group_by]
        return self.entry.id + (f"[{','.join(parts)}]" if parts else "")

    def to_json(self) -> dict[str, Any]:
        return MASKER.mask_data(
            {
                "id": self.entry.id,
                "key": self.key,
                "name": self.entry.name,
                "description": self.entry.description,
                "vars": {k: v for k, v in self.vars.items() if not k.startswith("_")},
                "checks": sorted(self.checks),
                "explains": sorted(self.explains),
                "evidence": self.evidence,
                "suite": self.entry.suite,
            }
        )


def _listify(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _matches_any(value: Any, patterns: Any) -> bool:
    pats = _listify(patterns)
    return not pats or any(fnmatch.fnmatchcase(str(value), str(p)) for p in pats)


class Evaluator:
    """Evaluates conditions over one round's facts; discriminating probes run at most once each."""

    def __init__(self, facts: Facts, probe_runner: Callable[[Mapping[str, Any], Mapping[str, Any]], Any]) -> None:
        self.facts = facts
        self._probe_runner = probe_runner
        self._probe_cache: dict[str, Any] = {}
        self.entry: Entry | None = None

    def _scope(self, match: Match) -> dict[str, Any]:
        return {**self.facts.context, "env_file": self.facts.env, **match.vars}

    def _render(self, args: Mapping[str, Any], match: Match) -> dict[str, Any]:
        return templating.render(args, self._scope(match)) if templating.has_template(args) else dict(args)

    def evaluate(self, cond: Mapping[str, Any], match: Match) -> list[Match]:
        ((op, args),) = cond.items()
        if op == "all":
            current = [match]
            for sub in args:
                current = [m2 for m in current for m2 in self.evaluate(sub, m)]
                if not current:
                    break
            return current
        if op == "any":
            return [m2 for sub in args for m2 in self.evaluate(sub, match)]
        if op == "not":
            return [] if self.evaluate(args, match) else [match]
        leaf: Callable[[dict[str, Any], Match], Iterator[Match | None]] = getattr(self, f"_leaf_{op}")
        return [m for m in leaf(self._render(args, match), match) if m is not None]

    # -- leaves -------------------------------------------------------------------------------

    def _leaf_check(self, a: dict[str, Any], match: Match) -> Iterator[Match | None]:
        want = a.get("status", FAILED)
        for r in self.facts.run.results:
            check = self.facts.checks.get(r.id)
            if want == "not_passed":
                if r.status == PASSED:
                    continue
            elif r.status != want:
                continue
            if not _matches_any(r.id, a.get("id")) or not _matches_any(r.category, a.get("category")):
                continue
            if "kind" in a and (check is None or not _matches_any(check.kind, a["kind"])):
                continue
            ev = r.evidence
            if "http_status" in a and ev.get("status") not in _listify(a["http_status"]):
                continue
            if "reason" in a and not re.search(a["reason"], r.reason or ""):
                continue
            if "body" in a and not re.search(a["body"], str(ev.get("body", ""))):
                continue
            if "error" in a and not re.search(a["error"], str(ev.get("error", ""))):
                continue
            producer = (ev.get("headers") or {}).get("x-service")
            if "producer" in a and not (producer and _matches_any(producer, a["producer"])):
                continue
            new: dict[str, Any] = {"check": r.id}
            service = self.facts.service_of(r.id)
            if service:  # a container or logs check is about its service; an http check only aims at one
                about = check is not None and check.kind in ("container", "logs")
                new["service" if about else "aimed_service"] = service
            shown = {k: ev[k] for k in ("status", "error", "state", "health", "statuses", "url") if k in ev}
            if producer:
                shown["producer"] = producer
            if "body" in ev:
                shown["body"] = str(ev["body"])[:160]
            yield match.extend(new, {r.id}, {"check": r.id, "result": r.status, "reason": r.reason, **shown})

    def _containers(self, service_pattern: Any) -> Iterator[tuple[str, Any]]:
        names = sorted(set(self.facts.services) | set(self.facts.containers))
        for name in names:
            if _matches_any(name, service_pattern):
                yield name, self.facts.containers.get(name)

    def _leaf_container(self, a: dict[str, Any], match: Match) -> Iterator[Match | None]:
        for name, st in self._containers(a.get("service")):
            state = st.state if st else "absent"
            health = st.health if st else "none"
            if "state" in a and not _matches_any(state, a["state"]):
                continue
            if "health" in a and not _matches_any(health, a["health"]):
                continue
            if "restarts" in a and (st is None or st.restart_count < a["restarts"]):
                continue
            if "exit_code_not" in a and (st is None or st.exit_code == a["exit_code_not"]):
                continue
            ev: dict[str, Any] = {"service": name, "state": state, "health": health}
            if st:
                ev.update(exit_code=st.exit_code, restart_count=st.restart_count)
                if st.state != "running" or st.restart_count:
                    ev["last_log_lines"] = self.facts.logs(name, 5)
            yield match.extend({"service": name}, set(), ev)

    def _leaf_healthcheck(self, a: dict[str, Any], match: Match) -> Iterator[Match | None]:
        for name, st in self._containers(a.get("service")):
            if st is None or not st.health_log:
                continue
            last = st.health_log[-1]
            output, code = str(last.get("Output", "")), last.get("ExitCode")
            if "output" in a and not re.search(a["output"], output):
                continue
            if "exit_code" in a and code not in _listify(a["exit_code"]):
                continue
            test = (self.facts.services.get(name, {}).get("healthcheck") or {}).get("test") or []
            new: dict[str, Any] = {"service": name, "health_test": list(test)}
            url = _URL.search(" ".join(map(str, test)))
            if url:
                new["health_url"] = url.group(0)
                host_url = self._host_url(name, url.group(0))
                if host_url:
                    new["health_url_host"] = host_url
            yield match.extend(
                new,
                set(),
                {
                    "service": name,
                    "health": st.health,
                    "health_log_exit_code": code,
                    "health_log_output": output.strip()[-200:],
                    "healthcheck": list(test),
                },
            )

    def _host_url(self, service: str, url: str) -> str | None:
        """The URL a container calls on itself, as reachable from this host through its published port."""
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        for host_port, (svc, target_port) in self.facts.host_ports().items():
            if svc == service and target_port == (parts.port or 80):
                return parts._replace(netloc=f"127.0.0.1:{host_port}").geturl()
        return None

    def _leaf_logs(self, a: dict[str, Any], match: Match) -> Iterator[Match | None]:
        service = a.get("service") or match.vars.get("service")
        if not service:
            return
        rx = re.compile(a["matches"])
        for line in reversed(self.facts.logs(service, int(a.get("tail", 200)))):
            m = rx.search(line)
            if m:  # a service the entry names is where to look, not a binding that must agree
                yield match.extend(m.groupdict(), set(), {"service": service, "log_line": line[-300:]})
                return

    def _leaf_compose_env(self, a: dict[str, Any], match: Match) -> Iterator[Match | None]:
        svc = self.facts.services.get(a["service"])
        if svc is None:
            return
        environment = svc.get("environment") or {}
        present = a["key"] in environment
        if present == bool(a.get("present", False)):
            yield match.extend(
                {"key": a["key"]},
                set(),
                {
                    "compose_service": a["service"],
                    "key": a["key"],
                    "present": present,
                    "environment_keys": sorted(environment),
                },
            )

    def _leaf_env(self, a: dict[str, Any], match: Match) -> Iterator[Match | None]:
        key = a["key"]
        value = self.facts.env.get(key)
        shown = MASK if (value and is_secret_key(key)) else value
        ev: dict[str, Any] = {"env": key, "value": shown}
        if a.get("missing") is not None and (value is None) != a["missing"]:
            return
        if a.get("empty") is not None and (not value) != a["empty"]:
            return
        if "equals" in a and value != a["equals"]:
            return
        if "not_equals" in a and value == a["not_equals"]:
            return
        if "lacks" in a and (value is None or a["lacks"] in [v.strip() for v in value.split(",")]):
            return
        for bound, cmp in (("above", lambda x, y: x > y), ("below", lambda x, y: x < y)):
            if bound in a:
                try:
                    if not cmp(float(value or ""), a[bound]):
                        return
                except ValueError:
                    return
        if "differs_from_secret" in a:
            secret = self.facts.secrets[a["differs_from_secret"]]
            if value == secret:
                return
            ev["differs_from_secret"] = a["differs_from_secret"]
        yield match.extend({"key": key}, set(), ev)

    def _leaf_unset_variable(self, a: dict[str, Any], match: Match) -> Iterator[Match | None]:
        import os

        seen = set()
        for m in re.finditer(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?+][^}]*)?\}", self.facts.compose_text):
            name, modifier = m.group(1), m.group(2) or ""
            if name in seen or modifier[:2] in (":-", ":+") or modifier[:1] in ("-", "+"):
                continue
            seen.add(name)
            value = self.facts.env.get(name, os.environ.get(name))
            if not value:
                yield match.extend(
                    {"variable": name}, set(), {"variable": name, "state": "unset" if value is None else "empty"}
                )

    def _leaf_unpublished_port(self, a: dict[str, Any], match: Match) -> Iterator[Match | None]:
        published = self.facts.host_ports()
        for r in self.facts.run.results:
            if r.status != FAILED:
                continue
            aim = self.facts.url_of(r.id)
            if not aim or aim[0] not in ("127.0.0.1", "localhost", "::1") or aim[1] in published:
                continue
            if "refused" not in str(r.evidence.get("error", "")):
                continue
            new: dict[str, Any] = {"check": r.id, "port": aim[1]}
            owner = None
            check = self.facts.checks[r.id]
            for req in check.requires:
                owner = self.facts.service_of(req)
                if owner:
                    break
            ports = [hp for hp, (svc, _) in published.items() if svc == owner]
            if owner and len(ports) == 1:
                new.update(service=owner, suggested_port=ports[0])
            yield match.extend(
                new,
                {r.id},
                {
                    "check": r.id,
                    "port": aim[1],
                    "published_by": None,
                    "published_ports": sorted(published),
                    "service": owner,
                    "suggested_port": new.get("suggested_port"),
                },
            )

    def _leaf_probe(self, a: dict[str, Any], match: Match) -> Iterator[Match | None]:
        entry = self.entry
        spec = next((p for p in entry.probes if p.name == a["name"]), None) if entry else None
        if spec is None:
            return
        scope = self._scope(match)
        probe, expect = templating.render(spec.probe, scope), templating.render(spec.expect, scope)
        key = repr((probe, expect))
        if key not in self._probe_cache:
            self._probe_cache[key] = self._probe_runner(probe, expect)
        outcome = self._probe_cache[key]
        if outcome.passed == a.get("passed", True):
            yield match.extend(
                {},
                set(),
                {
                    "probe": spec.name,
                    "passed": outcome.passed,
                    "reason": outcome.reason,
                    **MASKER.mask_data(outcome.evidence),
                },
            )


def run_probe(target: Any) -> Callable[[Mapping[str, Any], Mapping[str, Any]], Any]:
    """A synchronous runner of one discriminating probe against ``target``."""
    from .probes import ProbeContext, probe_for

    def run(probe: Mapping[str, Any], expect: Mapping[str, Any]) -> Any:
        async def main() -> Any:
            ctx = ProbeContext(target)
            try:
                return await probe_for(str(probe["kind"]))(probe, expect, ctx)
            finally:
                await ctx.close()

        return asyncio.run(main())

    return run


def diagnose(entries: list[Entry], facts: Facts, evaluator: Evaluator) -> list[Finding]:
    """Every entry that matches, its matches grouped by ``group_by`` into findings."""
    findings: list[Finding] = []
    for entry in entries:
        evaluator.entry = entry
        matches = evaluator.evaluate(entry.when, Match())
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
    """The checks a fix would turn: those matched, the service's own checks, and what requires them."""
    roots = set(checks)
    services = {m.vars.get("service") for m in members if m.vars.get("service")}
    if not checks and services:
        roots |= {
            cid
            for cid, c in facts.checks.items()
            if c.kind in ("container", "logs") and c.probe.get("service") in services
        }
    status = {r.id: r.status for r in facts.run.results}
    return {cid for cid in facts.dependents(roots) if status.get(cid) in (FAILED, SKIPPED)}
