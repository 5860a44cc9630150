"""The watch's metrics in Prometheus exposition: what a dashboard or an alert needs of a healer.

prometheus-client rather than hand-written exposition: its text format, escaping and counter
semantics (``_total``, ``_created``) are what scrapers expect, and it is small and pure Python. One
registry per watch (not the process-global one), so tests and a second watcher never share counts.
``snapshot`` is the same figures as plain data, for ``remediate status`` and the guards' file.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

STATUSES = ("passed", "failed", "skipped")
OUTCOMES = ("ok", "changed", "failed", "rolled back", "needs confirmation")


class WatchMetrics:
    """Updated from each cycle's record (``observe``); read by the endpoint (``exposition``)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.rate = Gauge("remediate_rate", "Share of checks passing after the last cycle (0..1).", registry=r)
        self.target = Gauge("remediate_target_rate", "The rate below which the watch heals.", registry=r)
        self.checks = Gauge("remediate_checks", "Checks by status after the last cycle.", ["status"], registry=r)
        self.cycles = Counter("remediate_cycles", "Cycles run, by how they ended.", ["result"], registry=r)
        self.steps = Counter("remediate_steps", "Steps taken, by outcome.", ["outcome"], registry=r)
        self.breaker = Gauge(
            "remediate_breaker_open", "Findings no longer taken (breaker open or quarantined).", ["state"], registry=r
        )
        self.last_heal = Gauge(
            "remediate_last_heal_timestamp_seconds", "Unix time of the last cycle that took a step.", registry=r
        )
        self.duration = Gauge("remediate_cycle_duration_seconds", "How long the last cycle took.", registry=r)
        for status in STATUSES:
            self.checks.labels(status)
        for outcome in OUTCOMES:
            self.steps.labels(outcome)
        for result in ("met", "not met", "error"):
            self.cycles.labels(result)
        for state in ("open", "quarantined"):
            self.breaker.labels(state)
        self._snapshot: dict[str, Any] = {"cycles": 0, "steps": {}, "last_heal": None}

    def observe(self, record: dict[str, Any], breaker: dict[str, str], now: float) -> None:
        """Count one cycle's record; ``breaker`` is the guards' state (finding key -> open|quarantined)."""
        if record.get("kind") != "cycle":
            return
        result = "error" if "error" in record else ("met" if record.get("met") else "not met")
        self.cycles.labels(result).inc()
        for step in record.get("steps", ()):
            self.steps.labels(step["status"]).inc()
        if record.get("steps"):
            self.last_heal.set(now)
        if "rate_after" in record:
            self.rate.set(record["rate_after"])
            for status in STATUSES:
                self.checks.labels(status).set(record.get("checks", {}).get(status, 0))
        self.target.set(record.get("target", 0))
        self.duration.set(record.get("duration_s", 0))
        for state in ("open", "quarantined"):
            self.breaker.labels(state).set(sum(1 for s in breaker.values() if s == state))
        self._snapshot = self.snapshot(breaker)

    def snapshot(self, breaker: dict[str, str] | None = None) -> dict[str, Any]:
        """The figures as plain data (what ``remediate status`` prints)."""
        value = self.registry.get_sample_value
        return {
            "rate": value("remediate_rate"),
            "target": value("remediate_target_rate"),
            "checks": {s: int(value("remediate_checks", {"status": s}) or 0) for s in STATUSES},
            "cycles": {
                r: int(value("remediate_cycles_total", {"result": r}) or 0) for r in ("met", "not met", "error")
            },
            "steps": {o: int(value("remediate_steps_total", {"outcome": o}) or 0) for o in OUTCOMES},
            "breaker": dict(breaker if breaker is not None else self._snapshot.get("breaker", {})),
            "last_heal": value("remediate_last_heal_timestamp_seconds") or None,
            "last_cycle_duration_s": value("remediate_cycle_duration_seconds"),
        }

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
