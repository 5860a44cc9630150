"""Scheduling on recorded results: cost, order, predicted rates, restart vs recreate.

``remediator.schedule`` over a small hand-made suite, hand-made entries and recorded runs: pure
functions, so nothing here needs an engine, a compose project or a network.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remediator import schedule
from remediator.diagnosis import Finding
from remediator.errors import Location
from remediator.model import Check, Entry, Suite
from remediator.results import FAILED, PASSED, SKIPPED, CheckResult, Run
from remediator.schedule import COST


def check(cid: str, requires: tuple[str, ...] = (), kind: str = "http", service: str | None = None) -> Check:
    probe: dict[str, Any] = {"kind": kind}
    if kind == "container":
        probe["service"] = service or cid.split(".", 1)[1]
    else:
        probe["url"] = f"http://127.0.0.1:9000/{cid}"
    return Check(cid, cid.split(".")[0], cid, probe, {"status": 200}, requires=requires)


# db.health <- api.health <- api.one, api.two <- api.deep ; ui.*, perf.* stand alone
SUITE = Suite(
    checks=(
        check("db.health", kind="container", service="db"),
        check("api.health", ("db.health",), kind="container", service="api"),
        check("api.one", ("api.health",)),
        check("api.two", ("api.health",)),
        check("api.deep", ("api.one",)),
        check("ui.a"),
        check("ui.b"),
        check("ui.c"),
        check("perf.load"),
        check("perf.burst"),
    )
)

EDIT_UP_WAIT = (
    {"env_set": {"file": ".env", "key": "K", "value": "v"}},
    {"compose_up": {"services": ["api"]}},
    {"wait_healthy": {"services": ["api"]}},
)  # cost 1 + 4 + 1 = 6
EXEC = ({"exec": {"service": "api", "command": ["migrate"]}},)  # cost 2
UP_WAIT = ({"compose_up": {"services": ["db"]}}, {"wait_healthy": {"services": ["db"]}})  # cost 5


def entry(eid: str, actions: tuple[Mapping[str, Any], ...], line: int = 1, after: tuple[str, ...] = ()) -> Entry:
    return Entry(id=eid, name=eid, when={}, actions=actions, after=after, where=Location("playbooks/test.yml", line, 5))


def finding(e: Entry, checks: set[str], explains: set[str] | None = None, **vars: Any) -> Finding:
    return Finding(
        entry=e,
        vars=dict(vars),
        checks=frozenset(checks),
        explains=frozenset(checks if explains is None else explains),
        evidence=[],
    )


def recorded(statuses: Mapping[str, str]) -> Run:
    """The suite with these statuses (every other check passed)."""
    return Run(
        [CheckResult(c.id, c.category, c.name, statuses.get(c.id, PASSED)) for c in SUITE.checks],
        duration_s=0.5,
    )


def order(found: list[Finding]) -> list[str]:
    return keys(schedule.order(found, SUITE.by_id()))


def keys(findings: list[Finding]) -> list[str]:
    return [f.key for f in findings]


# -- cost and gain ------------------------------------------------------------------------------------


def test_cost_is_the_sum_of_the_actions_costs_and_never_zero():
    assert schedule.cost(finding(entry("e", EDIT_UP_WAIT), set())) == 6
    assert schedule.cost(finding(entry("x", EXEC), set())) == 2
    assert schedule.cost(finding(entry("u", UP_WAIT), set())) == COST["compose_up"] + COST["wait_healthy"] == 5
    assert schedule.cost(finding(entry("none", ()), set())) == 1


def test_most_checks_turned_per_unit_of_cost_comes_first():
    big = entry("big", EDIT_UP_WAIT)  # 4 checks / 6 = 0.67
    cheap = entry("cheap", EXEC)  # 2 / 2 = 1.0
    small = entry("small", EDIT_UP_WAIT)  # 1 / 6 = 0.17
    found = [
        finding(small, {"perf.load"}),
        finding(big, {"ui.a", "ui.b", "ui.c", "perf.burst"}),
        finding(cheap, {"ui.a", "ui.b"}),
    ]
    assert order(found) == ["cheap", "big", "small"]


def test_equal_scores_keep_the_playbooks_order():
    first, second = entry("first", EXEC, line=10), entry("second", EXEC, line=30)
    found = [finding(second, {"ui.a"}), finding(first, {"ui.b"})]
    assert order(found) == ["first", "second"]


def test_group_by_findings_of_one_entry_are_ordered_by_their_own_gain():
    e = Entry(id="svc", name="svc", when={}, group_by=("service",), actions=UP_WAIT)
    few = finding(e, set(), {"ui.a"}, service="ui")
    many = finding(e, set(), {"api.one", "api.two", "api.deep"}, service="api")
    assert order([few, many]) == ["svc[service=api]", "svc[service=ui]"]


# -- what must come first -------------------------------------------------------------------------------


def test_after_delays_an_entry_until_the_named_one_is_placed():
    best = entry("best", EXEC, after=("worst",))  # 3 / 2, but must wait for "worst"
    mid = entry("mid", EXEC)  # 2 / 2
    worst = entry("worst", EDIT_UP_WAIT)  # 1 / 6
    found = [finding(best, {"ui.a", "ui.b", "ui.c"}), finding(mid, {"perf.load", "perf.burst"}), finding(worst, {"x"})]
    assert order(found) == ["mid", "worst", "best"]


def test_the_finding_whose_checks_others_require_comes_first_even_when_it_scores_lower():
    db = entry("db-down", UP_WAIT)  # 1 / 5 = 0.2
    api = entry("api-broken", EXEC)  # 2 / 2 = 1.0: but api.one and api.deep need db.health, through api.health
    found = [finding(api, {"api.one", "api.deep"}), finding(db, {"db.health"})]
    assert order(found) == ["db-down", "api-broken"]


def test_requires_is_followed_transitively():
    gate = entry("gate", UP_WAIT)  # about db.health
    leaf = entry("leaf", EXEC)  # about api.deep <- api.one <- api.health <- db.health
    ui = entry("ui", EXEC)
    found = [finding(leaf, {"api.deep"}), finding(ui, {"ui.a"}), finding(gate, {"db.health"})]
    # ui and leaf score 0.5; leaf waits for gate (0.2), ui does not
    assert order(found) == ["ui", "gate", "leaf"]


def test_unrelated_checks_do_not_constrain_the_order():
    # "ui" is unrelated to the others and goes first on its score; "leaf" must wait for "gate". Were every
    # finding to constrain every other, all would form one cycle, placed best first: ui, leaf, gate.
    ui = entry("ui", EXEC)  # 2 / 2 = 1.0
    gate = entry("gate", UP_WAIT)  # 1 / 5 = 0.2, about db.health
    leaf = entry("leaf", EXEC)  # 1 / 2 = 0.5, about api.deep, which needs db.health
    found = [finding(leaf, {"api.deep"}), finding(gate, {"db.health"}), finding(ui, {"ui.a", "ui.b"})]
    assert order(found) == ["ui", "gate", "leaf"]


def test_a_cycle_of_after_still_places_every_finding_best_first():
    a = entry("a", EXEC, after=("b",))
    b = entry("b", EDIT_UP_WAIT, after=("a",))
    found = [finding(b, {"ui.a"}), finding(a, {"ui.b"})]
    assert order(found) == ["a", "b"]


def test_a_container_finding_comes_before_a_finding_on_a_check_behind_that_container():
    down = Entry(id="down", name="down", when={}, group_by=("service",), actions=UP_WAIT)
    behind = entry("behind", EXEC)
    found = [
        finding(behind, {"api.one", "ui.a", "ui.b"}),  # 3 / 2 = 1.5; api.one requires api.health
        finding(down, set(), {"api.health", "api.one", "api.two", "api.deep"}, service="api"),  # 4 / 5 = 0.8
    ]
    assert order(found) == ["down[service=api]", "behind"]


# -- predicted rates ------------------------------------------------------------------------------------


def test_predicted_rates_are_cumulative_and_count_each_check_once():
    run = recorded(
        {"api.one": FAILED, "api.two": FAILED, "api.deep": SKIPPED, "ui.a": FAILED, "perf.load": FAILED}
    )  # 5 of 10 passed
    e1, e2, e3 = entry("e1", EXEC), entry("e2", EXEC), entry("e3", EXEC)
    ordered = [
        finding(e1, {"api.one"}, {"api.one", "api.deep"}),  # +2 -> 7/10
        finding(e2, {"api.one", "api.two"}),  # api.one already counted: +1 -> 8/10
        finding(e3, {"ui.b", "ui.a"}),  # ui.b passed already: +1 -> 9/10
    ]
    assert schedule.predict(run, ordered) == [0.7, 0.8, 0.9]
    assert schedule.predict(run, list(reversed(ordered))) == [0.6, 0.8, 0.9]  # the same end, another path


def test_checks_that_already_pass_add_nothing_to_the_prediction():
    run = recorded({"perf.load": FAILED})  # 9 of 10
    e = entry("all", EXEC)
    assert schedule.predict(run, [finding(e, {c.id for c in SUITE.checks})]) == [1.0]
    assert schedule.predict(run, [finding(e, {"ui.a", "ui.b"})]) == [0.9]


# -- restart vs recreate ---------------------------------------------------------------------------------


def names(specs: list[Mapping[str, Any]]) -> list[str]:
    return [next(iter(s)) for s in specs]


def test_a_restart_after_an_env_edit_becomes_compose_up_with_the_same_arguments():
    e = entry(
        "edit-then-restart",
        (
            {"env_set": {"file": ".env", "key": "K", "value": "v"}},
            {"compose_restart": {"services": ["api"]}},
            {"wait_healthy": {"services": ["api"]}},
        ),
    )
    specs = schedule.specs(finding(e, set()))
    assert names(specs) == ["env_set", "compose_up", "wait_healthy"]
    assert specs[1] == {"compose_up": {"services": ["api"]}}


def test_a_compose_file_edit_also_turns_a_later_restart_into_an_up():
    e = entry(
        "compose-edit",
        ({"compose_set": {"path": "services.api.environment.X", "value": "1"}}, {"compose_restart": {}}),
    )
    assert names(schedule.specs(finding(e, set()))) == ["compose_set", "compose_up"]


def test_a_restart_before_any_edit_or_after_a_command_stays_a_restart():
    e = entry(
        "restart-first",
        (
            {"compose_restart": {"services": ["api"]}},
            {"exec": {"service": "api", "command": ["warm"]}},
            {"compose_restart": {"services": ["api"]}},
            {"env_set": {"file": ".env", "key": "K", "value": "v"}},
        ),
    )
    assert names(schedule.specs(finding(e, set()))) == ["compose_restart", "exec", "compose_restart", "env_set"]
