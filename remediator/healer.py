"""The watch as a service: the ``Watcher`` with what a long-running healer needs around it.

Put together here, taken apart in reverse when the watch stops: the guards' SQLite file (so a
restart remembers what failed), the metrics, the local endpoint (metrics, health, triggers), the
webhook, and the status the guards' file keeps for ``remediate status``. ``watch.py`` stays the
loop; this module is its wiring, so the CLI only passes options.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from .endpoint import Endpoint
from .errors import UserError
from .guardstore import GuardStore, StoredGuards, store_path
from .journal import target_base
from .metrics import WatchMetrics
from .planner import Planner
from .secrets import read
from .watch import Emit, Notify, Watcher, WatchOptions, stop_on_signals
from .webhooks import Format, Webhook


@dataclass
class ServiceOptions:
    """The guards' memory, the endpoint and the webhook of a watch."""

    window_s: float = 600.0
    rearm_s: float = 3600.0
    quarantine_after: int = 3
    service_cooldown_s: float = 0.0
    listen: str | None = None  # "HOST:PORT", e.g. "127.0.0.1:9464"
    trigger_token_secret: str | None = None  # the name of a secret of the target
    notify_url: str | None = None
    notify_format: Format = "generic"
    notify_limit: int = 10  # messages per 10 minutes


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``PORT`` (on 127.0.0.1); a one-line error otherwise."""
    host, _, port = value.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not 0 <= number <= 65535:
        raise UserError(f"--listen {value!r}: expected HOST:PORT or PORT, e.g. 127.0.0.1:9464")
    return host or "127.0.0.1", number


def _token(planner: Planner, name: str | None) -> str | None:
    if name is None:
        return None
    sources = planner.target.secrets
    if name not in sources:
        known = ", ".join(sorted(sources)) or "none"
        raise UserError(f"--trigger-token-secret {name!r}: the target has no such secret (its secrets: {known})")
    token = read(sources[name])
    if not token:
        raise UserError(f"--trigger-token-secret {name!r}: the secret is empty")
    return token


def run(planner: Planner, options: WatchOptions, service: ServiceOptions, emit: Emit, notify: Notify) -> dict[str, Any]:
    """Watch until stopped (signals included); return the summary record."""
    listen = parse_listen(service.listen) if service.listen else None
    token = _token(planner, service.trigger_token_secret)
    store = GuardStore(store_path(target_base(planner.target)))
    guards = StoredGuards(
        window_s=service.window_s,
        clock=planner.stack.clock,
        store=store,
        rearm_s=service.rearm_s,
        quarantine_after=service.quarantine_after,
        service_cooldown_s=service.service_cooldown_s,
    )
    planner.guards = guards
    metrics = WatchMetrics()

    def keep_status(record: dict[str, Any]) -> None:
        if record.get("kind") == "cycle":
            metrics.observe(record, guards.breaker_state(), time.time())
            store.put_state("metrics", metrics.snapshot())
            store.put_state("last_cycle", {k: v for k, v in record.items() if k != "steps"})

    observers: list[Any] = [keep_status]
    webhook = None
    if service.notify_url:
        webhook = Webhook(
            service.notify_url, planner.target.name, service.notify_format, limit=service.notify_limit, log=notify
        )
        observers.append(webhook)
    watcher = Watcher(planner, options, emit, notify, observers)
    endpoint = None
    if listen is not None:
        endpoint = Endpoint(watcher.trigger, token, metrics.exposition, lambda: not watcher.stopping, *listen)
        endpoint.start()
        notify(f"listening on {endpoint.url} (/metrics, /healthz{', /trigger, /alertmanager' if token else ''})")
    store.put_state("watch", {"pid": os.getpid(), "since": time.time(), "url": endpoint.url if endpoint else None})
    try:
        with stop_on_signals(watcher, notify):
            return watcher.run()
    finally:
        if endpoint is not None:
            endpoint.close()
        if webhook is not None:
            webhook.close()
        store.put_state("watch", {"pid": None, "since": None, "url": None, "stopped": time.time()})
        store.close()
