"""The watch's guards: timing on a fake clock (milliseconds), persistence in real SQLite files.

A restart is a new ``StoredGuards`` on the same file, its monotonic clock starting over while the
wall clock goes on: what was attempted and excluded before must still hold after it.
"""

from __future__ import annotations

from pathlib import Path

from remediator.guardstore import GuardStore, StoredGuards, service_of, store_path

from .recorded import FakeClock

API = "service-not-running[service=api]"
API_ENV = "env-var-missing[service=api,var=TOKEN]"
WORKER = "service-not-running[service=worker]"


class Wall:
    """Wall-clock seconds that go on across restarts of the (fake) monotonic clock."""

    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


def guards(path: Path | None, clock: FakeClock, wall: Wall, **kw: float) -> StoredGuards:
    store = GuardStore(path) if path is not None else None
    return StoredGuards(window_s=600, clock=clock, wall=wall, store=store, **kw)  # type: ignore[arg-type]


def advance(clock: FakeClock, wall: Wall, seconds: float) -> None:
    clock.advance(seconds)
    wall.t += seconds


def test_attempts_succeeded_and_exclusions_survive_a_restart(tmp_path: Path) -> None:
    path = store_path(tmp_path)
    clock, wall = FakeClock(), Wall()
    g = guards(path, clock, wall)
    assert g.record(API) == 1
    g.succeeded.add(API)  # the planner writes these directly
    advance(clock, wall, 10)
    assert g.record(API) == 2
    g.outcome(API, "changed", "api runs again")
    assert g.trip(API, 2) and "breaker" in g.excluded[API]

    clock2 = FakeClock()
    clock2.now = 5.0  # a new process: its monotonic clock has nothing to do with the old one
    advance(clock2, wall, 30)
    again = guards(path, clock2, wall)
    assert again.attempts(API) == 2 and API in again.succeeded
    assert "breaker" in again.excluded[API] and again.breaker_state() == {API: "open"}
    assert again.trip(API, 2)  # still excluded, nothing taken
    rows = {r["key"]: r for r in GuardStore(path).findings()}
    assert rows[API]["attempts_total"] == 2 and rows[API]["last_outcome"] == "changed"
    # The window still counts from the old attempts' wall-clock times.
    advance(clock2, wall, 600)
    assert again.attempts(API) == 0


def test_an_exclusion_re_arms_after_a_quiet_period_with_a_fresh_budget() -> None:
    clock, wall = FakeClock(), Wall()
    g = guards(None, clock, wall, rearm_s=100)
    g.record(API)
    g.succeeded.add(API)
    g.record(API)
    assert g.trip(API, 2)
    advance(clock, wall, 99.9)
    assert g.rearm() == [] and API in g.excluded
    advance(clock, wall, 0.1)
    assert g.rearm() == [API] and API not in g.excluded
    assert g.attempts(API) == 0 and not g.trip(API, 2)  # the budget is whole again


def test_a_finding_that_keeps_coming_back_is_quarantined_and_stays_so_until_released(tmp_path: Path) -> None:
    path = store_path(tmp_path)
    clock, wall = FakeClock(), Wall()
    g = guards(path, clock, wall, rearm_s=10, quarantine_after=3)
    g.succeeded.add(API)
    for n in (1, 2, 3):
        g.record(API)
        g.record(API)
        assert g.trip(API, 2)
        advance(clock, wall, 11)
        lifted = g.rearm()
        assert lifted == ([API] if n < 3 else []), n
    assert g.excluded[API].startswith("quarantined after 3 exclusions")
    assert g.breaker_state() == {API: "quarantined"}
    advance(clock, wall, 10_000)
    assert g.rearm() == []

    restarted = guards(path, FakeClock(), wall, rearm_s=10, quarantine_after=3)
    assert restarted.breaker_state() == {API: "quarantined"} and restarted.rearm() == []
    assert GuardStore(path).release(API)
    assert API not in guards(path, FakeClock(), wall).excluded


def test_a_cooldown_per_service_spans_findings_and_restarts(tmp_path: Path) -> None:
    path = store_path(tmp_path)
    clock, wall = FakeClock(), Wall()
    g = guards(path, clock, wall, service_cooldown_s=30)
    assert g.cooldown_left(API_ENV, 0) == 0
    g.record(API)
    advance(clock, wall, 12)
    assert g.cooldown_left(API_ENV, 0) == 18  # another finding, the same service
    assert g.cooldown_left(API, 40) == 28  # the finding's own cooldown, when longer, wins
    assert g.cooldown_left(WORKER, 0) == 0  # another service
    restarted = guards(path, FakeClock(), wall, service_cooldown_s=30)
    assert restarted.cooldown_left(API_ENV, 0) == 18
    assert service_of(API_ENV) == "api" and service_of("stale-suite") is None


def test_the_state_table_keeps_what_status_prints(tmp_path: Path) -> None:
    store = GuardStore(store_path(tmp_path))
    store.put_state("metrics", {"rate": 0.5})
    assert GuardStore(store_path(tmp_path)).get_state("metrics") == {"rate": 0.5}
    assert store.get_state("missing") is None
