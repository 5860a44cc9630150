"""``Meter.wait_ready`` on a recorded stack whose clock moves only when slept: how long it waits for
what, what it says while waiting, and what it leaves for the checks to confirm."""

from __future__ import annotations

from typing import Any

import pytest

from remediator.measure import Meter

from .recorded import RecordedStack, World, check


class Starting(RecordedStack):
    """``readiness`` answers from a script: one {service: why} per call, the last one repeated."""

    def __init__(self, answers: list[dict[str, str]], healthchecked: set[str]) -> None:
        super().__init__(World(services=("a", "b")), [])
        self.answers, self.checked, self.calls = answers, healthchecked, 0

    def readiness(self, services: set[str]) -> tuple[dict[str, str], set[str]]:
        self.calls += 1
        return self.answers[min(self.calls, len(self.answers)) - 1], self.checked & services


def meter(stack: RecordedStack, said: list[str]) -> Meter:
    return Meter(stack, stack.suite, [], said.append)


def test_it_waits_while_a_service_starts_and_says_so_every_two_seconds() -> None:
    stack = Starting([{"a": "health: starting"}] * 15 + [{}], healthchecked={"a"})
    said: list[str] = []
    t0 = stack.clock.monotonic()
    unchecked = meter(stack, said).wait_ready({"a", "b"}, deadline=1e9, limit_s=60)
    assert unchecked == {"b"}  # a has a healthcheck that said ready; b's readiness is the checks' to confirm
    assert stack.calls == 16 and stack.clock.monotonic() - t0 == pytest.approx(3.0)  # 15 sleeps of 0.2 s
    assert said == ["  waiting 0 s for a: health: starting", "  waiting 2 s for a: health: starting"]


def test_it_names_every_service_it_still_waits_on() -> None:
    stack = Starting([{"a": "health: starting", "b": "not listening on 8080"}, {}], healthchecked=set())
    said: list[str] = []
    meter(stack, said).wait_ready({"a", "b"}, deadline=1e9, limit_s=60)
    assert said == ["  waiting 0 s for a: health: starting; b: not listening on 8080"]


@pytest.mark.parametrize(("deadline", "limit_s", "waited"), [(1e9, 1.0, 1.0), (0.6, 60.0, 0.6)])
def test_it_gives_up_at_its_limit_or_the_deadline_whichever_comes_first(
    deadline: float, limit_s: float, waited: float
) -> None:
    stack = Starting([{"a": "health: starting"}], healthchecked={"a"})
    t0 = stack.clock.monotonic()
    meter(stack, []).wait_ready({"a"}, deadline=t0 + deadline, limit_s=limit_s)
    assert stack.clock.monotonic() - t0 == pytest.approx(waited)


@pytest.mark.parametrize("why", ["exited (1)", "dead", "created", "no container"])
def test_a_service_that_is_not_running_is_not_waited_for(why: str) -> None:
    stack = Starting([{"a": why}], healthchecked=set())
    said: list[str] = []
    t0 = stack.clock.monotonic()
    assert meter(stack, said).wait_ready({"a"}, deadline=1e9, limit_s=60) == {"a"}
    assert stack.clock.monotonic() == t0 and said == []


def test_nothing_to_wait_for_asks_nothing() -> None:
    stack = Starting([{"a": "health: starting"}], healthchecked=set())
    assert meter(stack, []).wait_ready(set(), deadline=1e9, limit_s=60) == set() and stack.calls == 0


class Observed(RecordedStack):
    """Counts the observations the meter asks for, and how deep each was."""

    def __init__(self) -> None:
        super().__init__(World(services=("a",)), [check("a.up", lambda w: "a" in w.running, service="a")])
        self.observed: list[bool] = []

    def observe(self, run: Any, checks: Any, captures: Any, deep: bool = False) -> Any:
        self.observed.append(deep)
        return super().observe(run, checks, captures, deep)


@pytest.mark.parametrize(
    ("asks", "observed"),
    [
        ([False, False], [False]),  # one run, one observation
        ([True, False], [True]),  # a deep one serves a shallow ask
        ([False, True], [False, True]),  # a shallow one does not serve a deep ask
        ([True, True], [True]),
    ],
)
def test_a_run_is_observed_once_unless_a_deeper_look_is_asked_for(asks: list[bool], observed: list[bool]) -> None:
    stack = Observed()
    m = meter(stack, [])
    m.test()
    for deep in asks:
        m.diagnosis(deep=deep)
    assert stack.observed == observed


def test_a_new_run_is_observed_afresh_and_the_analysis_is_empty_before_a_deep_look() -> None:
    stack = Observed()
    m = meter(stack, [])
    m.test()
    m.diagnosis()
    assert m.analysis() == []
    m.test()
    facts, _ = m.diagnosis()
    assert stack.observed == [False, False] and facts.run is m.measured()
