"""Condition leaves of a playbook's ``when``: a registry of functions, one per kind of fact.

Each leaf looks at one kind of fact (a check result, a container, its health log, log lines, the
compose config, the env files, a discriminating probe) and yields *matches*: variable bindings with the
evidence that produced them. A leaf is called with the evaluator (facts, probe seam), the entry being
diagnosed, its rendered arguments and the match so far; it reads nothing else.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from . import templating
from .facts import Facts
from .findings import Match
from .model import Entry
from .results import FAILED, PASSED
from .secrets import MASKER, fingerprint, is_secret_name

if TYPE_CHECKING:
    from .diagnosis import Evaluator

Leaf = Callable[["Evaluator", Entry, dict[str, Any], Match], Iterator[Match | None]]
_URL = re.compile(r"https?://[^\s'\"]+")


def _listify(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _matches_any(value: Any, patterns: Any) -> bool:
    pats = _listify(patterns)
    return not pats or any(fnmatch.fnmatchcase(str(value), str(p)) for p in pats)


def _check(ctx: Evaluator, entry: Entry, a: dict[str, Any], match: Match) -> Iterator[Match | None]:
    want = a.get("status", FAILED)
    for r in ctx.facts.run.results:
        check = ctx.facts.checks.get(r.id)
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
        service = ctx.facts.service_of(r.id)
        if service:  # a container or logs check is about its service; an http check only aims at one
            about = check is not None and check.kind in ("container", "logs")
            new["service" if about else "aimed_service"] = service
        shown = {k: ev[k] for k in ("status", "error", "state", "health", "statuses", "url") if k in ev}
        if producer:
            shown["producer"] = producer
        if "body" in ev:
            shown["body"] = str(ev["body"])[:160]
        yield match.extend(new, {r.id}, {"check": r.id, "result": r.status, "reason": r.reason, **shown})


def _containers(facts: Facts, service_pattern: Any) -> Iterator[tuple[str, Any]]:
    names = sorted(set(facts.services) | set(facts.containers))
    for name in names:
        if _matches_any(name, service_pattern):
            yield name, facts.containers.get(name)


def _container(ctx: Evaluator, entry: Entry, a: dict[str, Any], match: Match) -> Iterator[Match | None]:
    for name, st in _containers(ctx.facts, a.get("service")):
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
        if "exit_code" in a and (st is None or st.state == "running" or st.exit_code not in _listify(a["exit_code"])):
            continue
        ev: dict[str, Any] = {"service": name, "state": state, "health": health}
        if st:
            ev.update(exit_code=st.exit_code, restart_count=st.restart_count)
            if st.state != "running" or st.restart_count:
                ev["last_log_lines"] = ctx.facts.logs_of(name, 5)
        yield match.extend({"service": name}, set(), ev)


def _healthcheck(ctx: Evaluator, entry: Entry, a: dict[str, Any], match: Match) -> Iterator[Match | None]:
    for name, st in _containers(ctx.facts, a.get("service")):
        if st is None or not st.health_log:
            continue
        last = st.health_log[-1]
        output, code = str(last.get("Output", "")), last.get("ExitCode")
        if "output" in a and not re.search(a["output"], output):
            continue
        if "exit_code" in a and code not in _listify(a["exit_code"]):
            continue
        test = (ctx.facts.services.get(name, {}).get("healthcheck") or {}).get("test") or []
        new: dict[str, Any] = {"service": name, "health_test": list(test)}
        url = _URL.search(" ".join(map(str, test)))
        if url:
            new["health_url"] = url.group(0)
            host_url = _host_url(ctx.facts, name, url.group(0))
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


def _host_url(facts: Facts, service: str, url: str) -> str | None:
    """The URL a container calls on itself, as reachable from this host through its published port."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    for host_port, (svc, target_port) in facts.host_ports().items():
        if svc == service and target_port == (parts.port or 80):
            return parts._replace(netloc=f"127.0.0.1:{host_port}").geturl()
    return None


def _logs(ctx: Evaluator, entry: Entry, a: dict[str, Any], match: Match) -> Iterator[Match | None]:
    service = a.get("service") or match.vars.get("service")
    if not service:
        return
    rx = re.compile(a["matches"])
    for line in reversed(ctx.facts.logs_of(service, int(a.get("tail", 200)))):
        m = rx.search(line)
        if m:  # a service the entry names is where to look, not a binding that must agree
            yield match.extend(m.groupdict(), set(), {"service": service, "log_line": line[-300:]})
            return


def _compose_env(ctx: Evaluator, entry: Entry, a: dict[str, Any], match: Match) -> Iterator[Match | None]:
    svc = ctx.facts.services.get(a["service"])
    if svc is None:
        return
    environment = svc.get("environment") or {}
    present = a["key"] in environment
    if present == bool(a.get("present", False)):  # equivalent mutant: a default of None (or none) is as false
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


def _env(ctx: Evaluator, entry: Entry, a: dict[str, Any], match: Match) -> Iterator[Match | None]:
    key = a["key"]
    value = ctx.facts.env.get(key)
    shown = fingerprint(value) if (value and is_secret_name(key)) else value
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
                if not cmp(float(value or ""), a[bound]):  # equivalent mutant: another default is no number either
                    return
            except ValueError:
                return
    if "differs_from_secret" in a:
        secret = ctx.facts.secrets[a["differs_from_secret"]]
        if value == secret:
            return
        ev["differs_from_secret"] = a["differs_from_secret"]
    yield match.extend({"key": key}, set(), ev)


def _unset_variable(ctx: Evaluator, entry: Entry, a: dict[str, Any], match: Match) -> Iterator[Match | None]:

    seen = set()
    for m in re.finditer(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?+][^}]*)?\}", ctx.facts.compose_text):
        # equivalent mutant: another default ("XXXX") fails both prefix tests below as "" does
        name, modifier = m.group(1), m.group(2) or ""
        if name in seen or modifier[:2] in (":-", ":+") or modifier[:1] in ("-", "+"):
            continue
        seen.add(name)
        value = ctx.facts.env.get(name, ctx.facts.environ.get(name))
        if not value:
            yield match.extend(
                {"variable": name}, set(), {"variable": name, "state": "unset" if value is None else "empty"}
            )


def _unpublished_port(ctx: Evaluator, entry: Entry, a: dict[str, Any], match: Match) -> Iterator[Match | None]:
    published = ctx.facts.host_ports()
    for r in ctx.facts.run.results:
        if r.status != FAILED:
            continue
        aim = ctx.facts.url_of(r.id)
        if not aim or aim[0] not in ("127.0.0.1", "localhost", "::1") or aim[1] in published:
            continue
        # equivalent mutant: another default (None, "XXXX") holds no "refused" either
        if "refused" not in str(r.evidence.get("error", "")):
            continue
        new: dict[str, Any] = {"check": r.id, "port": aim[1]}
        owner = None
        check = ctx.facts.checks[r.id]
        for req in check.requires:
            owner = ctx.facts.service_of(req)
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


def _probe(ctx: Evaluator, entry: Entry, a: dict[str, Any], match: Match) -> Iterator[Match | None]:
    spec = next((p for p in entry.probes if p.name == a["name"]), None)
    if spec is None:
        return
    scope = ctx.scope(match)
    outcome = ctx.probe(templating.render(spec.probe, scope), templating.render(spec.expect, scope))
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


def _analysis(ctx: Evaluator, entry: Entry, a: dict[str, Any], match: Match) -> Iterator[Match | None]:
    """A built-in analyzer's diagnosis (``analysis: {analyzer: exit-code, signature: missing-binary}``):
    binds its subject by kind (``service``, ``variable``, ...), so a playbook entry can build on what
    the analyzers found and stay short. Analyzers run only in a deep look (plan, an apply's first and
    last rounds): elsewhere this leaf matches nothing."""
    for d in ctx.analysis():
        if not (
            _matches_any(d.analyzer, a.get("analyzer"))
            and _matches_any(d.signature, a.get("signature"))
            and _matches_any(d.subject, a.get("subject"))
            and _matches_any(d.confidence, a.get("confidence"))
        ):
            continue
        evidence = {"analyzer": d.analyzer, "title": d.title, "confidence": d.confidence, "signature": d.signature}
        yield match.extend({d.subject_kind: d.subject}, set(d.explains), evidence)


# The registry: each leaf under the key it has in a playbook's ``when``. A table rather than a
# registering decorator, because mutmut does not mutate decorated functions (``make mutate``).
LEAVES: dict[str, Leaf] = {
    "check": _check,
    "container": _container,
    "healthcheck": _healthcheck,
    "logs": _logs,
    "compose_env": _compose_env,
    "env": _env,
    "unset_variable": _unset_variable,
    "unpublished_port": _unpublished_port,
    "probe": _probe,
    "analysis": _analysis,
}
