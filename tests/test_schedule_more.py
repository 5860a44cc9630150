"""Scheduling decisions that ``tests/test_planner_order.py`` leaves open: what an unknown action costs,
which services a step touches, which checks its re-test repeats, and a prediction on a tiny suite.

Pure functions over hand-made checks and facts, like the order tests; each test names the decision it
pins (found by mutation testing: ``make mutate``).
"""

from __future__ import annotations

from typing import Any

from remediator import schedule
from remediator.facts import Facts
from remediator.model import Check, Entry, Suite
from remediator.results import FAILED, PASSED, CheckResult, Run

from .test_planner_order import EXEC, UP_WAIT, entry, finding, order


def container(cid: str, service: str) -> Check:
    return Check(cid, cid.split(".")[0], cid, {"kind": "container", "service": service}, {})


def http(cid: str, requires: tuple[str, ...] = (), exclusive: bool = False) -> Check:
    probe = {"kind": "http", "url": f"http://127.0.0.1:9000/{cid}"}
    return Check(cid, cid.split(".")[0], cid, probe, {}, requires=requires, exclusive=exclusive)


# web depends on api, api on db; perf.load is a load probe behind api; misc.x stands alone
CHECKS = [
    container("db.up", "db"),
    container("api.up", "api"),
    http("api.call", ("api.up",)),
    container("web.page", "web"),
    http("perf.load", ("api.up",), exclusive=True),
    http("misc.x"),
]
SERVICES = {
    "db": {},
    "api": {"depends_on": {"db": {"condition": "service_healthy"}}},
    "web": {"depends_on": {"api": {}}},
    "worker": {},
    "cache": {},
}


def facts(context: dict[str, Any] | None = None) -> Facts:
    run = Run([CheckResult(c.id, c.category, c.name, PASSED) for c in CHECKS])
    by_id = {c.id: c for c in CHECKS}
    return Facts(
        run=run, checks=by_id, rendered={c.id: c.probe for c in CHECKS}, services=SERVICES, context=context or {}
    )


# -- cost -------------------------------------------------------------------------------------------------


def test_an_action_without_a_listed_cost_costs_one():
    unknown = entry("new", ({"some_future_action": {}}, *EXEC))
    assert schedule.cost(finding(unknown, set())) == 1 + schedule.COST["exec"]


# -- order ------------------------------------------------------------------------------------------------


def test_a_finding_waits_only_until_what_it_needs_is_placed_then_takes_its_turn_by_score():
    gate = entry("gate", EXEC)  # 2 / 2 = 1.0, about db.health
    leaf = entry("leaf", EXEC)  # 1 / 2 = 0.5, about api.deep, which needs db.health
    low = entry("low", UP_WAIT)  # 1 / 5 = 0.2, unrelated
    found = [finding(low, {"ui.a"}), finding(leaf, {"api.deep"}), finding(gate, {"db.health", "ui.b"})]
    # once gate is placed, leaf is free and outscores low
    assert order(found) == ["gate", "leaf", "low"]


def test_on_equal_scores_an_entry_without_a_location_goes_before_the_playbooks_entries():
    built = Entry(id="built", name="built", when={}, actions=EXEC)  # made in code: no file, no line
    listed = entry("listed", EXEC, line=1)
    assert order([finding(listed, {"ui.a"}), finding(built, {"ui.b"})]) == ["built", "listed"]


# -- predict ----------------------------------------------------------------------------------------------


def test_a_prediction_divides_by_the_suite_s_size_even_for_a_single_check():
    run = Run([CheckResult("ui.a", "ui", "ui.a", FAILED)])
    assert schedule.predict(run, [finding(entry("e", EXEC), {"ui.a"})]) == [1.0]


# -- services touched -------------------------------------------------------------------------------------


def test_a_step_touches_the_services_its_compose_wait_exec_and_run_actions_name_rendered():
    specs = [
        {"env_set": {"file": ".env", "key": "K", "value": "v"}},  # an edit touches no service by itself
        {"compose_up": {"services": ["api"]}},
        {"wait_healthy": {"services": ["db"]}},
        {"exec": {"service": "{{ worker }}", "command": ["migrate"]}},
        {"run": {"service": "web", "command": ["seed"]}},
    ]
    touched = schedule.services_touched(specs, facts(), {"worker": "worker"})
    assert touched == {"api", "db", "worker", "web"}


def test_a_bare_compose_action_touches_every_service():
    assert schedule.services_touched([{"compose_restart": None}], facts(), {}) == set(SERVICES)


def test_service_names_are_rendered_with_the_target_s_variables_too():
    touched = schedule.services_touched([{"exec": {"service": "{{ main }}"}}], facts({"main": "api"}), {})
    assert touched == {"api"}


# -- affected checks --------------------------------------------------------------------------------------


def test_touching_a_service_repeats_its_checks_and_those_of_the_services_that_depend_on_it_directly():
    ids = schedule.affected(CHECKS, set(), {"db"}, facts())
    # db's check, api's (api depends on db) and what requires them; web depends on api only; the load
    # probe is behind api but exclusive, and the step is not about it
    assert ids == {"db.up", "api.up", "api.call"}


def test_a_step_check_repeats_its_whole_category_but_not_an_exclusive_check_behind_it():
    assert schedule.affected(CHECKS, {"api.call"}, set(), facts()) == {"api.up", "api.call"}


def test_an_exclusive_check_repeats_when_the_step_is_about_it():
    assert "perf.load" in schedule.affected(CHECKS, {"perf.load"}, set(), facts())


def test_a_step_about_nothing_repeats_nothing():
    assert schedule.affected(CHECKS, set(), set(), facts()) == set()


def test_affected_reads_the_checks_once_so_any_iterable_will_do():
    suite = Suite(checks=tuple(CHECKS))
    assert schedule.affected(iter(suite.checks), {"misc.x"}, set(), facts()) == {"misc.x"}
