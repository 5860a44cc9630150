"""Analyzers of one service refusing another: wrong credentials, 401/403 between services, health JSON.

The words a backing service uses to refuse a client are stable and distinctive (Redis NOAUTH and
WRONGPASS, PostgreSQL "password authentication failed", MySQL "Access denied", RabbitMQ
ACCESS_REFUSED); they are looked for in the dependent's logs and in what its health endpoint says.
The credential to fix lives in the dependent's environment, so the dependent is the subject.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .base import Diagnosis, classify, environment, explained, failing, shown
from .dependencies import dependencies

if TYPE_CHECKING:
    from ..facts import Facts

# (backing kind, URL schemes that reach it, the refusal it sends)
SIGNATURES: tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...] = (
    ("redis", ("redis", "rediss"), re.compile(
        r"NOAUTH|WRONGPASS|invalid username-password pair|Authentication required|ERR invalid password"
        r"|AUTH <password> called without any password configured", re.I)),
    ("postgres", ("postgres", "postgresql"), re.compile(
        r"password authentication failed for user|no pg_hba\.conf entry for host", re.I)),
    ("mysql", ("mysql", "mariadb"), re.compile(r"Access denied for user '[^']*'", re.I)),
    ("rabbitmq", ("amqp", "amqps"), re.compile(r"ACCESS_REFUSED", re.I)),
)  # fmt: skip

_BAD_STATUS = re.compile(r"^(down|error|fail(ed|ing)?|unhealthy|unavailable|unreachable|critical|ko)\b", re.I)


def _refusal(text: str) -> tuple[str, tuple[str, ...], str] | None:
    for kind, schemes, pattern in SIGNATURES:
        m = pattern.search(text)
        if m:
            return kind, schemes, m.group(0)
    return None


def _is_kind(facts: Facts, service: str, kind: str) -> bool:
    """Whether ``service`` is itself a ``kind`` server, by its name or its image."""
    image = str((facts.services.get(service) or {}).get("image", ""))
    return kind in service.lower() or kind in image.lower()


def _backing(facts: Facts, dependent: str, kind: str, schemes: tuple[str, ...]) -> tuple[str | None, list[str]]:
    """The service of ``kind`` that ``dependent`` uses (None: it uses none), and the variables reaching it."""
    env = environment(facts.services.get(dependent) or {})
    variables = [k for k, v in env.items() if "://" in v and urlsplit(v).scheme.lower() in schemes]
    hosts = {urlsplit(env[k]).hostname for k in variables}
    for dep in dependencies(facts, dependent):
        if dep in hosts or _is_kind(facts, dep, kind):
            return dep, variables
    return None, variables


def _json_entries(data: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(name, value) of every string or boolean leaf of a health document, named by its innermost key."""
    if isinstance(data, dict):
        for k, v in data.items():
            if isinstance(v, dict | list):
                yield from _json_entries(v, str(k))
            elif isinstance(v, str | bool):
                name = path if str(k).lower() in ("status", "state", "healthy", "ok", "error", "message") else str(k)
                yield name, str(v)


def _failing_bodies(facts: Facts) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(check id, the service it reaches, its parsed JSON body) of failing HTTP checks that had one."""
    by_id = facts.run.by_id()
    for cid in sorted(failing(facts)):
        ev = by_id[cid].evidence
        body = str(ev.get("body", "")).strip()
        if not body.startswith("{"):
            continue
        try:
            data = json.loads(body)
        except ValueError:
            continue
        service = str((ev.get("headers") or {}).get("x-service") or facts.service_of(cid) or "")
        if service in facts.services and isinstance(data, dict):
            yield cid, service, data


def credentials_refused(facts: Facts) -> list[Diagnosis]:
    """A dependent whose backing service refuses its credentials: in its logs or its health JSON."""
    seen: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}  # (dependent, kind) -> (signature, evidence)
    for service in facts.services:
        if service not in facts.containers:
            continue
        for line in reversed(facts.logs_of(service, 50)):
            found = _refusal(line)
            if found and (service, found[0]) not in seen:
                seen[(service, found[0])] = (found[2], {"service": service, "log": line.strip()[-300:]})
    for cid, service, data in _failing_bodies(facts):
        for name, value in _json_entries(data):
            found = _refusal(value)
            if found and (service, found[0]) not in seen:
                seen[(service, found[0])] = (found[2], {"check": cid, "reported_by": service, name: value[:200]})
    out = []
    for (service, kind), (said, ev) in seen.items():
        schemes = next(s for k, s, _ in SIGNATURES if k == kind)
        backing, variables = _backing(facts, service, kind, schemes)
        if backing is None and not _is_kind(facts, service, kind):
            continue  # the words without a server of that kind behind them (an API's own 401 message)
        if backing is None:  # the server logging a refused client: the client is not known here
            title = f"{service} refuses a client's credentials"
            cause = f"{service} logs {said!r}: some service connects with a wrong password"
            fix = f"find the dependents of {service} whose URL or password variable differs from {service}'s own"
            confidence = "medium"
        else:
            carried = ", ".join(variables) or "its connection settings"
            title = f"{backing} refuses {service}'s credentials"
            cause = f"{service} connects to {backing} and is refused ({said!r})"
            fix = f"make the credentials in {service}'s {carried} match what {backing} expects"
            confidence = "high"
        url_ev = {k: shown(k, environment(facts.services.get(service) or {})[k]) for k in variables}
        out.append(
            Diagnosis(
                analyzer="credentials-refused",
                subject=service,
                subject_kind="service",
                title=title,
                cause=cause,
                fix=fix,
                confidence=confidence,
                evidence=(ev, *([{"variables": url_ev}] if url_ev else [])),
                explains=explained(facts, [service]),
                signature=f"{kind}-auth",
            )
        )
    return out


def http_refused_between_services(facts: Facts) -> list[Diagnosis]:
    """A 401/403 produced by a service behind the one the check called: the caller's credential is wrong."""
    by_id = facts.run.by_id()
    hits: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for cid in sorted(failing(facts)):
        ev = by_id[cid].evidence
        producer = str((ev.get("headers") or {}).get("x-service") or "")
        caller = facts.service_of(cid)
        if ev.get("status") not in (401, 403) or not caller or producer not in facts.services or producer == caller:
            continue
        hits.setdefault((caller, producer), []).append(
            {"check": cid, "status": ev["status"], "producer": producer, "body": str(ev.get("body", ""))[:200]}
        )
    out = []
    for (caller, producer), evs in hits.items():
        out.append(
            Diagnosis(
                analyzer="http-refused-between-services",
                subject=caller,
                subject_kind="service",
                title=f"{producer} refuses what {caller} forwards (HTTP {evs[0]['status']})",
                cause=f"the check called {caller}, and the {evs[0]['status']} came from {producer}: "
                f"the credential {caller} sends to {producer} is not one {producer} accepts",
                fix=f"make the key or token {caller} forwards equal to what {producer} expects (compare their env)",
                confidence="medium",
                evidence=tuple(evs[:3]),
                explains=frozenset(e["check"] for e in evs) | explained(facts, [caller]),
                signature="http-auth-between-services",
            )
        )
    return out


def health_names_dependency(facts: Facts) -> list[Diagnosis]:
    """A health endpoint whose JSON names a failing dependency (a refused login is credentials_refused's)."""
    out = []
    done: set[tuple[str, str]] = set()
    for cid, service, data in _failing_bodies(facts):
        for name, value in _json_entries(data):
            if not _BAD_STATUS.match(value) or _refusal(value) or name.lower() in (service.lower(), ""):
                continue
            if (service, name) in done:
                continue
            done.add((service, name))
            err = classify(value)
            if err and err.kind == "timeout":
                continue  # a slow answer under load is not a named failure
            target = next(
                (d for d, how in dependencies(facts, service).items() if _names(name, d, how)),
                name,
            )
            out.append(
                Diagnosis(
                    analyzer="health-names-dependency",
                    subject=target,
                    subject_kind="service" if target in facts.services else "variable",
                    title=f"{service}'s health reports {name} failing",
                    cause=f"{service} says {name}: {value[:200]}",
                    fix=f"fix {target} or {service}'s settings for it; the error says "
                    + (err.kind.replace("-", " ") if err else "what failed"),
                    confidence="medium",
                    evidence=({"check": cid, "reported_by": service, name: value[:200]},),
                    explains=explained(facts, [service]),
                    signature=f"health-{err.kind}" if err else "health-dependency-failing",
                )
            )
    return out


def _names(name: str, dependency: str, how: str) -> bool:
    """Whether a health document's entry name means ``dependency``: by its name, or by the variable
    that reaches it (``database`` is the service behind ``DATABASE_URL``)."""
    word = name.lower().replace("-", "_")
    return word in dependency.lower().replace("-", "_") or word in how.lower()
