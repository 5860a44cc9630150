"""Built-in analyzers: generic diagnoses for any compose stack, with no configuration.

As k8sgpt does for Kubernetes, each analyzer is a small pure function that turns one kind of
observed state into ``Diagnosis`` objects with text evidence and a confidence. They are on by
default and must be precise: a healthy stack yields none. Call ``analyze(facts)``; ``facts.stack``
(from ``observe``) feeds the analyzers that need compose's own word (warnings, drift, volumes,
images) and they stay silent without it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from . import containers, credentials, dependencies, drift, ports, variables, volumes
from .base import CONFIDENCE_RANK, Diagnosis, SafeAction

if TYPE_CHECKING:
    from ..facts import Facts

__all__ = ["ANALYZERS", "Diagnosis", "SafeAction", "analyze"]

Analyzer = Callable[["Facts"], list[Diagnosis]]

# In the order a reader should meet their findings: config that stops compose, then each container,
# then what crosses services, then warnings.
ANALYZERS: dict[str, Analyzer] = {
    "env-file-unreadable": variables.env_file_unreadable,
    "unset-variable": variables.unset_variable,
    "missing-image": containers.missing_image,
    "start-failure": containers.start_failure,
    "exit-code": containers.exit_code,
    "restart-loop": containers.restart_loop,
    "unhealthy": containers.unhealthy,
    "not-running": containers.not_running,
    "dependency-down": dependencies.dependency_down,
    "credentials-refused": credentials.credentials_refused,
    "http-refused-between-services": credentials.http_refused_between_services,
    "health-names-dependency": credentials.health_names_dependency,
    "shared-secret-differs": variables.shared_secret_differs,
    "url-credentials": variables.url_lacks_credentials,
    "drift": drift.drift,
    "unpublished-port": ports.unpublished_port,
    "dependent-after-recovery": dependencies.dependent_after_recovery,
    "fresh-volume": volumes.fresh_volume,
}


def analyze(facts: Facts, only: Iterable[str] | None = None) -> list[Diagnosis]:
    """Every analyzer's diagnoses (or those of ``only``), dependencies before what depends on them."""
    chosen = list(only) if only is not None else list(ANALYZERS)
    found = [d for name in chosen for d in ANALYZERS[name](facts)]
    depth = _depths(facts)
    stage = {name: i for i, name in enumerate(ANALYZERS)}
    return sorted(
        found,
        key=lambda d: (depth.get(d.subject, -1), stage[d.analyzer], CONFIDENCE_RANK[d.confidence], d.subject),
    )


def _depths(facts: Facts) -> dict[str, int]:
    """Each service's distance from the bottom of the dependency graph (a service needing nothing is 0)."""
    deps = {s: set(dependencies.dependencies(facts, s)) for s in facts.services}
    depth: dict[str, int] = {}

    def of(service: str, seen: frozenset[str]) -> int:
        if service not in depth:
            below = [of(d, seen | {service}) for d in deps.get(service, ()) if d not in seen]
            depth[service] = 1 + max(below, default=-1)
        return depth[service]

    for s in deps:
        of(s, frozenset())
    return depth
