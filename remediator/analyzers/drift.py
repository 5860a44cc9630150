"""Analyzer of running config that no longer matches the compose files: compose would recreate it.

Compose alone decides (``up --dry-run``, gathered in ``facts.stack.drift``); the running container's
published ports and environment are compared only to say *what* changed, never whether.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .base import Diagnosis, SafeAction, environment, explained, shown
from .variables import service_lines

_VAR = re.compile(r"\$\{(\w+)")

if TYPE_CHECKING:
    from ..facts import Facts


def _what_changed(facts: Facts, service: str) -> list[dict[str, Any]]:
    st = facts.containers.get(service)
    config = facts.services.get(service) or {}
    if st is None:
        return []
    out: list[dict[str, Any]] = []
    wanted = {int(p["published"]): int(p.get("target", 0)) for p in config.get("ports") or [] if p.get("published")}
    if wanted and wanted != st.ports:
        targets = {f":{t}" for p, t in wanted.items() if st.ports.get(p) != t}
        lines = [x for x in service_lines(facts.compose_text, service) if any(t in x for t in targets)]
        variables = sorted({m for x in lines for m in _VAR.findall(x)})
        out.append(
            {"published_ports": {"running": sorted(st.ports), "compose": sorted(wanted)}, "from_variables": variables}
        )
    env = environment(config)
    changed = sorted(k for k, v in env.items() if k in st.env and st.env[k] != v)
    added = sorted(k for k in env if k not in st.env)
    if changed:
        out.append(
            {"env_changed": changed, "values": {k: shown(k, env[k]) for k in changed if shown(k, env[k]) != "***"}}
        )
    if added:
        out.append({"env_added": added})
    if config.get("image") and st.image and config["image"] != st.image:
        out.append({"image": {"running": st.image, "compose": config["image"]}})
    return out


def drift(facts: Facts) -> list[Diagnosis]:
    """A running service compose would recreate: its container predates a change to its config."""
    stack = facts.stack
    out = []
    for service, verb in sorted((stack.drift if stack else {}).items()):
        if verb != "recreate" or service not in facts.containers:
            continue
        changes = _what_changed(facts, service)
        said = "; ".join(_phrase(c) for c in changes) or "its resolved config differs from the one it was created with"
        out.append(
            Diagnosis(
                analyzer="drift",
                subject=service,
                subject_kind="service",
                title=f"{service} runs an outdated config (compose would recreate it)",
                cause=f"the compose files or env files changed after {service} was created: {said}",
                fix=f"recreate it (compose up -d {service}); a restart does not pick up the change",
                confidence="high",
                evidence=({"service": service, "compose_dry_run": verb}, *changes),
                explains=explained(facts, [service]),
                action=SafeAction("compose_recreate", service),
                signature="config-drift",
            )
        )
    return out


def _phrase(change: dict[str, Any]) -> str:
    if "published_ports" in change:
        p = change["published_ports"]
        via = f" (from {', '.join(change['from_variables'])})" if change["from_variables"] else ""
        return f"published port {p['running']} now {p['compose']}{via}"
    if "env_changed" in change:
        return f"{', '.join(change['env_changed'])} changed"
    if "env_added" in change:
        return f"{', '.join(change['env_added'])} added"
    return f"image {change['image']['running']} now {change['image']['compose']}"
