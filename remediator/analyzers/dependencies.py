"""Analyzers across services: a dependency that is down, and a dependent left broken after it recovered.

A service depends on another when its ``depends_on`` names it, or when its environment names the
other's host (``redis://:pw@redis:6379``, ``DB_HOST=postgres``): stacks often leave ``depends_on``
out, so the environment is read too. The dependency is the subject: it is what to fix first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .base import (
    Diagnosis,
    SafeAction,
    classify_lines,
    depends_on,
    environment,
    explained,
    health_only_timed_out,
    parse_time,
)

if TYPE_CHECKING:
    from ..backends.engine import ContainerState
    from ..facts import Facts

_HOST_PORT = re.compile(r"^([A-Za-z0-9][\w.-]*):\d+(?:/.*)?$")
_HOST_KEY = re.compile(r"(?:^|_)(?:HOST|HOSTNAME|SERVER|ADDR|ADDRESS)$", re.I)


def hosts_named(env: Mapping[str, str]) -> dict[str, str]:
    """Host names an environment points at, each with the first variable that names it."""
    out: dict[str, str] = {}
    for key, value in env.items():
        value = value.strip()
        host = None
        if "://" in value:
            try:
                host = urlsplit(value).hostname
            except ValueError:
                host = None
        elif m := _HOST_PORT.match(value):
            host = m.group(1)
        elif _HOST_KEY.search(key) and re.fullmatch(r"[A-Za-z0-9][\w.-]*", value):
            host = value
        if host:
            out.setdefault(host.lower(), key)
    return out


def dependencies(facts: Facts, service: str) -> dict[str, str]:
    """The services ``service`` depends on -> how we know (``depends_on`` or the variable naming its host)."""
    config = facts.services.get(service) or {}
    names = {svc.lower(): svc for svc in facts.services}
    names.update(
        {str(c["container_name"]).lower(): svc for svc, c in facts.services.items() if c.get("container_name")}
    )
    out = {dep: "depends_on" for dep in depends_on(config) if dep in facts.services}
    for host, key in hosts_named(environment(config)).items():
        dep = names.get(host)
        if dep and dep != service:
            out[dep] = f"{out[dep]}, environment {key}" if dep in out else f"environment {key}"
    return out


def _trouble(st: ContainerState | None) -> str:
    """What is wrong with a dependency's container, or '' when it can serve."""
    if st is None:
        return "has no container"
    if st.state == "restarting":
        return "is restarting in a loop"
    if st.state == "created":
        return "was never started"
    if st.state != "running":
        return f"is {st.state}" + (f" (exit {st.exit_code})" if st.state in ("exited", "dead") else "")
    if st.health == "unhealthy":
        return "is unhealthy"
    return ""


def dependency_down(facts: Facts) -> list[Diagnosis]:
    """A service others need that is down or unhealthy: named once, with every dependent it holds back."""
    held: dict[str, dict[str, str]] = {}  # dependency -> {dependent: how it is known}
    for service in facts.services:
        for dep, how in dependencies(facts, service).items():
            if _trouble(facts.containers.get(dep)) and not _completed(facts, service, dep):
                held.setdefault(dep, {})[service] = how
    out = []
    for dep, dependents in held.items():
        st = facts.containers.get(dep)
        if st and st.state == "running" and health_only_timed_out(st):
            continue  # slow (its health probes time out) is not down: ``unhealthy`` says it, at low confidence
        trouble = _trouble(facts.containers.get(dep))
        names = sorted(dependents)
        ev: list[dict[str, Any]] = [{"dependency": dep, "state": trouble}]
        ev += [{"dependent": d, "via": dependents[d]} for d in names]
        out.append(
            Diagnosis(
                analyzer="dependency-down",
                subject=dep,
                subject_kind="service",
                title=f"{dep} {trouble}, and {', '.join(names)} depend on it",
                cause=f"{', '.join(names)} need {dep}, which {trouble}: their failures follow from it",
                fix=f"fix {dep} first (see its own diagnosis); then its dependents can recover",
                confidence="high",
                evidence=tuple(ev),
                explains=explained(facts, [dep, *names]),
                signature="dependency-down",
            )
        )
    return out


def dependent_after_recovery(facts: Facts) -> list[Diagnosis]:
    """A dependent still broken although its dependency is back: it started before the dependency did.

    Many services connect once at start; when the dependency was restarted or recreated under them,
    they stay broken until restarted. Restarting the dependent is then safe and is the fix.
    """
    out = []
    for service in facts.services:
        st = facts.containers.get(service)
        if st is None or not ((st.state == "running" and st.health == "unhealthy") or _crashed(st)):
            continue
        if st.state == "running" and health_only_timed_out(st):
            continue  # slow, not broken: a restart would not help
        started = parse_time(st.started_at)
        for dep, how in dependencies(facts, service).items():
            dst = facts.containers.get(dep)
            dep_started = parse_time(dst.started_at) if dst else None
            if dst is None or _trouble(dst) or dst.health == "starting" or not started or not dep_started:
                continue
            if dep_started <= started:
                continue
            err = classify_lines(facts.logs_of(service, 50))
            connection = err is not None and err.kind in ("connection-refused", "name-resolution")
            out.append(
                Diagnosis(
                    analyzer="dependent-after-recovery",
                    subject=service,
                    subject_kind="service",
                    title=f"{service} is still broken after {dep} came back",
                    cause=f"{service} started at {st.started_at[:19]}, before {dep} last started "
                    f"({dst.started_at[:19]}); it likely lost its connection and did not recover",
                    fix=f"restart {service} now that {dep} is up",
                    confidence="high" if connection else "medium",
                    evidence=(
                        {"service": service, "state": st.state, "health": st.health, "started_at": st.started_at},
                        {"dependency": dep, "via": how, "started_at": dst.started_at, "health": dst.health},
                        *([{"log": err.line}] if err else []),
                    ),
                    explains=explained(facts, [service]),
                    action=SafeAction("compose_restart", service),
                    signature="dependency-recovered",
                )
            )
            break
    return out


def _crashed(st: ContainerState) -> bool:
    return st.state in ("exited", "dead") and st.exit_code not in (0, 137, 143) and not st.error


def _completed(facts: Facts, service: str, dep: str) -> bool:
    """A one-shot dependency (``condition: service_completed_successfully``) that did complete."""
    deps = (facts.services.get(service) or {}).get("depends_on") or {}
    cond = deps.get(dep, {}).get("condition") if isinstance(deps, Mapping) else None
    st = facts.containers.get(dep)
    return cond == "service_completed_successfully" and st is not None and st.state == "exited" and st.exit_code == 0
