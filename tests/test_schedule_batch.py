"""Which findings ``schedule.companions`` lets share a step, and the one list of actions
``schedule.merged_specs`` makes of them: pure functions, pinned on hand-made findings."""

from __future__ import annotations

from typing import Any

import pytest

from remediator import schedule

from .test_planner_order import entry, finding

UP = ({"compose_up": {"services": ["{{ service }}"]}}, {"wait_healthy": {"services": ["{{ service }}"], "timeout": 30}})
DOWN = entry("down", UP)


def downs(*services: str) -> list[Any]:
    return [finding(DOWN, {f"{s}.up"}, service=s) for s in services]


@pytest.mark.parametrize(("room", "taken"), [(0, []), (1, ["b"]), (2, ["b", "c"]), (5, ["b", "c"]), (-1, [])])
def test_companions_are_bounded_by_the_room_left(room: int, taken: list[str]) -> None:
    a, b, c = downs("a", "b", "c")
    assert [f.vars["service"] for f in schedule.companions(a, [a, b, c], room)] == taken


def test_companions_are_of_the_same_entry_and_each_of_a_service_of_its_own() -> None:
    a, b, a_again = downs("a", "b", "a")
    other = finding(entry("other", UP), {"c.up"}, service="c")
    assert schedule.companions(a, [a, other, a_again, b], 5) == [b]


def test_a_finding_that_is_not_batchable_has_no_companions() -> None:
    a, b = downs("a", "b")
    no_service = finding(DOWN, {"x"})
    assert schedule.companions(no_service, [no_service, a, b], 5) == []
    assert schedule.companions(a, [a, no_service, b], 5) == [b]  # and is never taken as one


def test_merged_specs_take_each_action_once_with_every_service_and_the_longest_timeout() -> None:
    a, b = downs("a", "b")
    slow = entry(
        "down",
        (
            {"compose_up": {"services": ["{{ service }}"]}},
            {"wait_healthy": {"services": ["{{ service }}"], "timeout": 90}},
        ),
    )
    c = finding(slow, {"c.up"}, service="c")
    assert schedule.merged_specs([a, b, c], {}) == [
        {"compose_up": {"services": ["a", "b", "c"]}},
        {"wait_healthy": {"services": ["a", "b", "c"], "timeout": 90}},
    ]


def test_merged_specs_keep_an_action_s_other_arguments_and_name_a_shared_service_once() -> None:
    e = entry("down", ({"compose_recreate": {"services": ["{{ service }}", "proxy"], "force": True}},))
    merged = schedule.merged_specs([finding(e, set(), service="a"), finding(e, set(), service="b")], {})
    assert merged == [{"compose_recreate": {"services": ["a", "proxy", "b"], "force": True}}]


def test_merged_specs_without_timeouts_add_none() -> None:
    e = entry("down", ({"compose_up": {"services": ["{{ service }}"]}},))
    assert schedule.merged_specs([finding(e, set(), service="a")], {}) == [{"compose_up": {"services": ["a"]}}]
