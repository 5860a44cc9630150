"""The heal loop on a recorded stack: every decision of plan and apply, with no engine.

The planner, meter, schedule, diagnosis, step transaction and guards run for real; only the stack
beneath the seam is in memory (``tests/recorded.py``) and the clock moves only when slept. Each test
names the decision it pins, so breaking that decision in the code turns it red.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from remediator.errors import TemplateError
from remediator.guards import Guards
from remediator.model import Target
from remediator.planner import Planner

from .recorded import RecordedStack, World, check, entry

TOKEN_BAD = {"all": [{"check": {"id": "api.call"}}, {"env": {"key": "TOKEN", "equals": "bad"}}]}
SET_GOOD = {"env_set": {"file": ".env", "key": "TOKEN", "value": "good"}}


def token_ok(w: World) -> bool:
    return w.env.get("TOKEN") == "good"


def planner(stack: RecordedStack, entries: list[Any], tmp_path: Path, **kw: Any) -> Planner:
    target = Target(name="recorded", inventory=tmp_path / "inventory.yml", compose=None)
    return Planner(target, stack.suite, entries, stack=stack, **kw)


def applied(stack: RecordedStack) -> list[tuple[str, str]]:
    """(how, action) of every apply and rollback the loop made, in order."""
    return [(e[0], e[1]) for e in stack.log if e[0] in ("apply", "rollback")]


@pytest.fixture
def token_stack() -> RecordedStack:
    """api.call needs TOKEN=good; ui.page passes; ext.broken always fails (so 1.0 is never predicted)."""
    world = World(env={"TOKEN": "bad"})
    return RecordedStack(
        world,
        [
            check("api.call", token_ok),
            check("api.deep", token_ok, requires=("api.call",)),
            check("ui.page", lambda w: True),
            check("ext.broken", lambda w: False),
        ],
    )


# -- a step taken, verified, measured --------------------------------------------------------------------


def test_a_fix_is_taken_verified_kept_and_journalled(token_stack: RecordedStack, tmp_path: Path) -> None:
    result = planner(token_stack, [entry("token", TOKEN_BAD, SET_GOOD)], tmp_path).apply(until=0.75)
    assert [s.status for s in result.steps] == ["changed"]
    assert result.steps[0].verified is True
    assert result.initial_rate == 0.25 and result.final_rate == 0.75 and result.met
    assert result.stop_reason == "target 75% met"
    assert token_stack.world.env["TOKEN"] == "good"
    journal = [json.loads(line) for line in (tmp_path / ".remediate" / "journal.jsonl").read_text().splitlines()]
    step_id = f"{result.run_id}-step1"
    assert [(r["event"], r["step_run_id"]) for r in journal] == [("started", step_id), ("finished", step_id)]
    assert journal[0]["key"] == journal[1]["finding"]["key"] == "token"


def test_the_retest_repeats_only_the_affected_checks_and_reuses_the_rest(
    token_stack: RecordedStack, tmp_path: Path
) -> None:
    result = planner(token_stack, [entry("token", TOKEN_BAD, SET_GOOD)], tmp_path).apply(until=1.0)
    first, retest = token_stack.tested[0], token_stack.tested[1]
    assert first is None  # the first run is whole
    assert retest == {"api.call", "api.deep"}  # the step's check and what requires it; not ui or ext
    assert token_stack.tested[-1] is None  # the verdict is a whole run
    assert not result.met and result.final_rate == 0.75


def test_a_step_predicted_to_reach_the_target_retests_everything_once(tmp_path: Path) -> None:
    stack = RecordedStack(World(env={"TOKEN": "bad"}), [check("api.call", token_ok), check("ui.page", lambda w: True)])
    result = planner(stack, [entry("token", TOKEN_BAD, SET_GOOD)], tmp_path).apply(until=1.0)
    assert result.met and result.final_rate == 1.0
    assert stack.tested == [None, None]  # that whole re-test is the final measurement: no third run
    assert result.test_runs == 2


def test_the_runs_a_deep_diagnosis_follows_are_announced_and_partial_re_tests_are_not(
    token_stack: RecordedStack, tmp_path: Path
) -> None:
    # the first run (deep diagnosis), a partial re-test (a shallow one at most), the final whole run (deep)
    planner(token_stack, [entry("token", TOKEN_BAD, SET_GOOD)], tmp_path).apply(until=1.0)
    assert token_stack.tested[0] is None and token_stack.tested[-1] is None and len(token_stack.tested) == 3
    assert token_stack.deep_asked == [True, False, True]


def test_a_whole_re_test_predicted_to_end_the_heal_is_announced_deep(tmp_path: Path) -> None:
    stack = RecordedStack(World(env={"TOKEN": "bad"}), [check("api.call", token_ok), check("ui.page", lambda w: True)])
    planner(stack, [entry("token", TOKEN_BAD, SET_GOOD)], tmp_path).apply(until=1.0)
    assert stack.deep_asked == [True, True]


def test_a_first_run_not_to_be_diagnosed_deeply_is_not_announced(token_stack: RecordedStack, tmp_path: Path) -> None:
    meter = planner(token_stack, [], tmp_path).meter
    meter.start(deep=False)
    meter.start()
    assert token_stack.deep_asked == [False, True]


def test_without_until_apply_is_met_only_when_no_applicable_finding_is_left(tmp_path: Path) -> None:
    stack = RecordedStack(World(env={"TOKEN": "bad", "MODE": "x"}), [check("ui.page", lambda w: True)])
    stays = entry(
        "mode", {"env": {"key": "MODE", "equals": "x"}}, {"env_set": {"file": ".env", "key": "M", "value": "1"}}
    )
    result = planner(stack, [stays], tmp_path).apply()
    assert result.final_rate == 1.0 and not result.met
    assert [f.key for f in result.remaining] == ["mode"]


# -- rollback decisions ----------------------------------------------------------------------------------


def test_a_fix_that_does_not_take_effect_is_rolled_back_and_not_retried_past_its_attempts(
    token_stack: RecordedStack, tmp_path: Path
) -> None:
    wrong = {"env_set": {"file": ".env", "key": "TOKEN", "value": "also-bad"}}
    result = planner(token_stack, [entry("token", {"check": {"id": "api.call"}}, wrong)], tmp_path).apply(until=1.0)
    assert [s.status for s in result.steps] == ["rolled back", "rolled back"]  # max_attempts: 2
    assert "did not take effect" in result.steps[0].reason
    assert token_stack.world.env["TOKEN"] == "bad"  # put back
    assert applied(token_stack) == [("apply", "env_set"), ("rollback", "env_set")] * 2
    assert result.excluded["token"].startswith("did not help in 2 attempt(s)")
    assert result.stop_reason == "nothing applicable is left"


def test_a_fix_that_lowers_the_rate_is_rolled_back_even_though_it_verified(tmp_path: Path) -> None:
    stack = RecordedStack(
        World(env={"TOKEN": "bad"}),
        [
            check("api.call", token_ok),
            check("api.legacy1", lambda w: w.env["TOKEN"] == "bad"),
            check("api.legacy2", lambda w: w.env["TOKEN"] == "bad"),
        ],
    )
    result = planner(stack, [entry("token", TOKEN_BAD, SET_GOOD, max_attempts=1)], tmp_path).apply(until=1.0)
    assert [s.status for s in result.steps] == ["rolled back"]
    assert result.steps[0].verified is True
    assert result.steps[0].reason == "checks that passed before fail now: api.legacy1, api.legacy2"
    assert stack.world.env["TOKEN"] == "bad" and result.final_rate == pytest.approx(2 / 3)


def test_verify_checks_decide_over_the_finding_s_own_checks(token_stack: RecordedStack, tmp_path: Path) -> None:
    e = entry("token", TOKEN_BAD, SET_GOOD, verify=("ext.broken",), max_attempts=1)
    result = planner(token_stack, [e], tmp_path).apply(until=1.0)
    assert [s.status for s in result.steps] == ["rolled back"]
    assert result.steps[0].reason == "the step did not take effect: verify checks ext.broken"


def test_a_step_verifies_when_its_finding_is_gone_though_its_checks_still_fail(tmp_path: Path) -> None:
    # fixing TOKEN reveals the next cause (KEY); the token step is progress, not a failure
    stack = RecordedStack(
        World(env={"TOKEN": "bad", "KEY": "bad"}),
        [check("api.call", lambda w: token_ok(w) and w.env["KEY"] == "good"), check("ui.page", lambda w: True)],
    )
    key = entry(
        "key", {"env": {"key": "KEY", "equals": "bad"}}, {"env_set": {"file": ".env", "key": "KEY", "value": "good"}}
    )
    result = planner(stack, [entry("token", TOKEN_BAD, SET_GOOD), key], tmp_path).apply(until=1.0)
    assert [(s.finding.key, s.status) for s in result.steps] == [("token", "changed"), ("key", "changed")]
    assert result.met


def test_a_failed_first_action_changes_nothing_and_is_not_rolled_back(tmp_path: Path) -> None:
    stack = RecordedStack(World(services=("api",)), [check("api.up", lambda w: "api" in w.running, service="api")])
    stack.world.unstartable.add("api")
    down = entry("down", {"container": {"state": "exited"}}, {"compose_up": {"services": ["api"]}}, max_attempts=1)
    result = planner(stack, [down], tmp_path).apply(until=1.0)
    assert [s.status for s in result.steps] == ["failed"]
    assert result.steps[0].reason == "compose_up: api did not start"
    assert applied(stack) == [("apply", "compose_up")]


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        ("dependency failed to start", "compose_up: dependency failed to start"),
        (TemplateError("template '{{ 1/0 }}': division by zero"), "compose_up: template '{{ 1/0 }}': division by zero"),
        (KeyError("services"), "compose_up: internal error (KeyError): 'services'"),
    ],
)
def test_an_action_that_fails_or_raises_after_an_edit_puts_the_edit_back(
    token_stack: RecordedStack, tmp_path: Path, failure: str | Exception, reason: str
) -> None:
    """A failed result and a raised exception are undone alike; a raise does not abort the heal."""
    if isinstance(failure, str):
        token_stack.fail_actions["compose_up"] = failure
    else:
        token_stack.raise_actions["compose_up"] = failure
    e = entry("token", TOKEN_BAD, SET_GOOD, {"compose_up": {"services": ["api"]}}, max_attempts=1)
    result = planner(token_stack, [e], tmp_path).apply(until=1.0)
    assert [s.status for s in result.steps] == ["rolled back"]
    assert result.steps[0].reason == reason
    assert token_stack.world.env["TOKEN"] == "bad"
    assert applied(token_stack) == [
        ("apply", "env_set"),
        ("apply", "compose_up"),
        ("rollback", "env_set"),
        ("apply", "compose_up"),
    ]


def test_each_step_s_actions_carry_a_run_id_of_their_own(token_stack: RecordedStack, tmp_path: Path) -> None:
    result = planner(token_stack, [entry("token", TOKEN_BAD, SET_GOOD)], tmp_path).apply(until=1.0, run_id="r1")
    assert [e[3] for e in token_stack.log if e[0] == "apply"] == ["r1-step1"]
    assert result.run_id == "r1"


# -- guards: breaker, cooldown, confirm, limits ----------------------------------------------------------


def test_the_breaker_stops_a_fix_that_keeps_coming_back_across_applies(tmp_path: Path) -> None:
    stack = RecordedStack(World(services=("api",)), [check("api.up", lambda w: "api" in w.running, service="api")])
    down = entry("down", {"container": {"state": "exited"}}, {"compose_up": {"services": ["api"]}}, max_attempts=2)
    guards = Guards(clock=stack.clock)
    p = planner(stack, [down], tmp_path, guards=guards)
    assert p.apply(until=1.0).met
    stack.world.running.clear()
    assert p.apply(until=1.0).met  # came back once: fixed again (attempt 2)
    stack.world.running.clear()
    third = p.apply(until=1.0)
    assert third.steps == [] and not third.met
    assert third.excluded["down"].startswith("breaker: the finding came back after 2 fix(es)")


def test_the_breaker_window_forgets_old_attempts(tmp_path: Path) -> None:
    stack = RecordedStack(World(services=("api",)), [check("api.up", lambda w: "api" in w.running, service="api")])
    down = entry("down", {"container": {"state": "exited"}}, {"compose_up": {"services": ["api"]}}, max_attempts=2)
    p = planner(stack, [down], tmp_path, guards=Guards(window_s=60, clock=stack.clock))
    for _ in range(4):
        stack.world.running.clear()
        assert p.apply(until=1.0).met
        stack.clock.advance(61)


def test_a_cooldown_waits_between_attempts_of_one_finding(token_stack: RecordedStack, tmp_path: Path) -> None:
    wrong = {"env_set": {"file": ".env", "key": "TOKEN", "value": "also-bad"}}
    e = entry("token", {"check": {"id": "api.call"}}, wrong, cooldown=30.0)
    planner(token_stack, [e], tmp_path, settle_s=0).apply(until=1.0)
    assert any(29.0 < s <= 30.0 for s in token_stack.clock.sleeps), token_stack.clock.sleeps


def test_confirm_holds_a_step_until_yes(token_stack: RecordedStack, tmp_path: Path) -> None:
    e = entry("token", TOKEN_BAD, SET_GOOD, confirm=True)
    held = planner(token_stack, [e], tmp_path).apply(until=1.0)
    assert [s.status for s in held.steps] == ["needs confirmation"]
    assert applied(token_stack) == [] and token_stack.world.env["TOKEN"] == "bad"
    assert "--yes" in held.excluded["token"]
    allowed = planner(token_stack, [e], tmp_path, assume_yes=True).apply(until=0.75)
    assert [s.status for s in allowed.steps] == ["changed"] and allowed.met


def test_max_steps_stops_the_loop(tmp_path: Path) -> None:
    stack = RecordedStack(
        World(env={"A": "bad", "B": "bad"}),
        [check("a.one", lambda w: w.env["A"] == "ok"), check("b.one", lambda w: w.env["B"] == "ok")],
    )
    fixes = [
        entry(k, {"env": {"key": k, "equals": "bad"}}, {"env_set": {"file": ".env", "key": k, "value": "ok"}})
        for k in ("A", "B")
    ]
    result = planner(stack, fixes, tmp_path).apply(until=1.0, max_steps=1)
    assert len(result.steps) == 1 and result.stop_reason == "stopped after 1 steps (--max-steps)"


def test_the_time_limit_stops_before_any_step(token_stack: RecordedStack, tmp_path: Path) -> None:
    result = planner(token_stack, [entry("token", TOKEN_BAD, SET_GOOD)], tmp_path).apply(until=1.0, timeout_s=0.05)
    assert result.steps == [] and result.stop_reason == "stopped at the time limit (0.05 s)"


def test_settling_waits_while_a_container_is_still_starting(token_stack: RecordedStack, tmp_path: Path) -> None:
    token_stack.starting_for = [["db"], ["db"], []]
    planner(token_stack, [], tmp_path).apply(until=0.1)
    assert token_stack.clock.sleeps[:2] == [1.0, 1.0]
    assert token_stack.log[:3] == [("starting",)] * 3


def test_a_step_that_never_takes_effect_is_retested_until_the_settle_time_runs_out(
    token_stack: RecordedStack, tmp_path: Path
) -> None:
    wrong = {"env_set": {"file": ".env", "key": "TOKEN", "value": "also-bad"}}
    e = entry("token", {"check": {"id": "api.call"}}, wrong, max_attempts=1)
    planner(token_stack, [e], tmp_path, settle_s=1.0).apply(until=1.0)
    partial = [t for t in token_stack.tested if t is not None]
    assert len(partial) >= 3  # polled: a re-test every 0.25 s within the 1 s settle time, then the rollback's


# -- plan ------------------------------------------------------------------------------------------------


def test_plan_inspects_in_order_and_changes_nothing(tmp_path: Path) -> None:
    stack = RecordedStack(
        World(env={"A": "bad", "B": "bad"}),
        [check("a.one", lambda w: w.env["A"] == "ok"), check("a.two", lambda w: w.env["A"] == "ok"),
         check("b.one", lambda w: w.env["B"] == "ok"), check("c.one", lambda w: True)],
    )  # fmt: skip
    fixes = [
        entry(k, {"check": {"category": k.lower()}}, {"env_set": {"file": ".env", "key": k, "value": "ok"}})
        for k in ("B", "A")
    ]
    plan = planner(stack, fixes, tmp_path).plan()
    assert [s.finding.key for s in plan.steps] == ["A", "B"]  # two checks for one edit first
    assert [s.predicted_rate for s in plan.steps] == [0.75, 1.0]
    assert applied(stack) == [] and stack.world.env == {"A": "bad", "B": "bad"}
    assert [e[0] for e in stack.log if e[0] != "starting"] == ["inspect", "inspect"]
    doc = plan.to_json()
    assert doc["target_name"] == "recorded" and doc["initial_rate"] == 0.25


def test_plan_and_apply_take_the_same_first_step(tmp_path: Path) -> None:
    def build() -> RecordedStack:
        return RecordedStack(
            World(env={"A": "bad", "B": "bad"}),
            [check("a.one", lambda w: w.env["A"] == "ok"), check("b.one", lambda w: w.env["B"] == "ok"),
             check("b.two", lambda w: w.env["B"] == "ok")],
        )  # fmt: skip

    fixes = [
        entry(k, {"check": {"category": k.lower()}}, {"env_set": {"file": ".env", "key": k, "value": "ok"}})
        for k in ("A", "B")
    ]
    plan = planner(build(), fixes, tmp_path).plan()
    result = planner(build(), fixes, tmp_path).apply(until=1.0)
    assert [s.finding.key for s in plan.steps] == [s.finding.key for s in result.steps] == ["B", "A"]
    assert [s.predicted_rate for s in plan.steps] == [s.rate_after for s in result.steps]


def test_plan_shows_a_step_it_cannot_simulate_and_goes_on(tmp_path: Path) -> None:
    stack = RecordedStack(World(services=("api",)), [check("api.up", lambda w: "api" in w.running, service="api")])
    stack.cannot_simulate["compose_up"] = "dependency failed to start: container p-db-1 is unhealthy"
    down = entry(
        "down",
        {"container": {"state": "exited"}},
        {"compose_up": {"services": ["api"]}},
        {"wait_healthy": {"services": ["api"], "timeout": 30}},
    )
    plan = planner(stack, [down], tmp_path).plan()
    item, after = plan.steps[0].actions
    assert item == {
        "action": "compose_up",
        "would_change": True,
        "summary": "not simulated: dependency failed to start: container p-db-1 is unhealthy",
        "diff": "",
        "simulated": False,
    }
    assert after["action"] == "wait_healthy"  # the actions after it are still inspected
    assert plan.to_json()["steps"][0]["predicted_rate"] == 1.0


# -- never worse -----------------------------------------------------------------------------------------


def test_a_failed_step_starts_again_what_it_stopped(tmp_path: Path) -> None:
    stack = RecordedStack(
        World(env={"TOKEN": "bad"}, services=("api",), running={"api"}),
        [check("api.call", lambda w: token_ok(w) and "api" in w.running)],
    )

    def act(action: Any, ctx: Any, how: str = "apply") -> Any:  # compose stops api, then fails
        if action.name == "compose_up" and how == "apply":
            stack.world.running.discard("api")
            from remediator.actions import ActionResult

            return ActionResult(
                "compose_up", "failed", "compose up failed: dependency failed to start: container p-db-1 is unhealthy"
            )
        return RecordedStack.act(stack, action, ctx, how)

    stack.act = act  # type: ignore[method-assign]
    e = entry("token", TOKEN_BAD, SET_GOOD, {"compose_up": {"services": ["api"]}})
    result = planner(stack, [e], tmp_path).apply(until=1.0)
    step = result.steps[0]
    assert step.status == "rolled back" and step.blocked_by == "p-db-1"
    assert "api" in stack.world.running and stack.world.env["TOKEN"] == "bad"  # as it was found
    assert ("start_as_before", ["api"]) in stack.log
    assert {"action": "restore", "result": "changed", "message": "started api again", "diff": ""} in step.actions
    assert result.excluded["token"].startswith("waits for p-db-1")
    assert len(result.steps) == 1  # not retried blindly


def test_a_service_the_step_stopped_and_that_will_not_start_again_is_named_in_the_reason(tmp_path: Path) -> None:
    stack = RecordedStack(
        World(env={"TOKEN": "bad"}, services=("api", "web"), running={"api", "web"}),
        [check("api.call", lambda w: token_ok(w) and "api" in w.running)],
    )

    def act(action: Any, ctx: Any, how: str = "apply") -> Any:  # compose stops api and web, then fails
        if action.name == "compose_up" and how == "apply":
            stack.world.running -= {"api", "web"}
            stack.world.unstartable.add("web")
            from remediator.actions import ActionResult

            return ActionResult("compose_up", "failed", "compose up failed")
        return RecordedStack.act(stack, action, ctx, how)

    stack.act = act  # type: ignore[method-assign]
    e = entry("token", TOKEN_BAD, SET_GOOD, {"compose_up": {"services": ["api", "web"]}}, max_attempts=1)
    step = planner(stack, [e], tmp_path).apply(until=1.0).steps[0]
    assert step.reason == "compose_up: compose up failed; could not start api, web again: web did not start"
    assert {"action": "restore", "result": "failed", "message": "web did not start", "diff": ""} in step.actions


def test_apply_that_ends_lower_than_it_started_says_which_checks_fell(tmp_path: Path) -> None:
    stack = RecordedStack(
        World(env={"TOKEN": "bad"}, services=("api",), running={"api"}),
        [check("api.call", token_ok), check("api.alive", lambda w: "api" in w.running, service="api")],
    )
    stack.world.unstartable.add("api")

    def act(action: Any, ctx: Any, how: str = "apply") -> Any:
        if action.name == "compose_up":
            stack.world.running.discard("api")
        return RecordedStack.act(stack, action, ctx, how)

    stack.act = act  # type: ignore[method-assign]
    e = entry("token", TOKEN_BAD, SET_GOOD, {"compose_up": {"services": ["api"]}}, max_attempts=1)
    result = planner(stack, [e], tmp_path).apply(until=1.0)
    assert result.final_rate < result.initial_rate and not result.met
    assert result.fell == ["api.alive"]
    assert result.stop_reason.index("; ended lower than it started: api.alive fell and could not be restored") > 0
    assert "could not start api again" in result.steps[0].reason
    assert 0.2 not in stack.clock.sleeps  # a stopped api will not become ready by waiting: no readiness wait


# -- one heal at a time, and a journal written ahead ----------------------------------------------------


def test_a_second_heal_of_the_same_target_is_refused_naming_the_holder(
    token_stack: RecordedStack, tmp_path: Path
) -> None:
    from remediator.backends.lock import heal_lock
    from remediator.errors import Busy

    with heal_lock(tmp_path, "recorded"), pytest.raises(Busy, match=r"being healed by pid \d+"):
        planner(token_stack, [entry("token", TOKEN_BAD, SET_GOOD)], tmp_path).apply(until=1.0)
    assert applied(token_stack) == []
    assert planner(token_stack, [entry("token", TOKEN_BAD, SET_GOOD)], tmp_path).apply(until=0.75).met  # free again


def test_an_interrupted_step_is_reported_and_put_back_with_yes(token_stack: RecordedStack, tmp_path: Path) -> None:
    from remediator.backends import files
    from remediator.journal import Journal

    env = tmp_path / ".env"
    env.write_text("TOKEN=bad\n")
    files.edit(env, lambda _old: b"TOKEN=half-done\n", "r0-step1")  # what a killed step left
    Journal(tmp_path / ".remediate" / "journal.jsonl", "r0").write(
        {"event": "started", "step_run_id": "r0-step1", "key": "token"}
    )
    seen = planner(token_stack, [], tmp_path).apply(until=0.1)
    assert seen.interrupted is not None and seen.interrupted["files"] == [str(env)]
    assert seen.interrupted["recovered"] == [] and env.read_text() == "TOKEN=half-done\n"
    fixed = planner(token_stack, [], tmp_path, assume_yes=True).apply(until=0.1)
    assert fixed.interrupted is not None and fixed.interrupted["recovered"] == [str(env)]
    assert env.read_text() == "TOKEN=bad\n"
    assert planner(token_stack, [], tmp_path).apply(until=0.1).interrupted is None  # recovered: not offered again


def test_a_torn_last_journal_line_is_skipped(tmp_path: Path) -> None:
    from remediator.journal import Journal

    journal = Journal(tmp_path / "journal.jsonl", "r1")
    journal.write({"event": "started", "step_run_id": "r1-step1", "key": "k"})
    with journal.path.open("a") as fh:
        fh.write('{"event": "finished", "step_ru')
    assert [r["event"] for r in journal.records()] == ["started"]
    assert journal.interrupted() is not None


# -- no failure left in silence --------------------------------------------------------------------------


def test_failing_checks_no_finding_explains_are_listed_as_unexplained(
    token_stack: RecordedStack, tmp_path: Path
) -> None:
    plan = planner(token_stack, [entry("token", TOKEN_BAD, SET_GOOD)], tmp_path).plan()
    assert [u["check"] for u in plan.unexplained] == ["ext.broken"]  # api.* are the token's; ui passes
    result = planner(token_stack, [entry("token", TOKEN_BAD, SET_GOOD)], tmp_path).apply(until=1.0)
    assert [u["check"] for u in result.unexplained] == ["ext.broken"]
    assert result.to_json()["unexplained"][0]["status"] == "failed"


def test_a_stopped_service_is_credited_with_the_checks_that_hit_its_port(tmp_path: Path) -> None:
    world = World(services=("web",), ports={"web": ({"published": "8080", "target": 80},)})
    stack = RecordedStack(world, [check("web.page", lambda w: "web" in w.running, url="http://127.0.0.1:8080/")])
    down = entry("down", {"container": {"state": "exited"}}, {"compose_up": {"services": ["{{ service }}"]}})
    plan = planner(stack, [down], tmp_path).plan()
    assert plan.steps[0].finding.explains == {"web.page"} and plan.steps[0].predicted_rate == 1.0
    assert plan.unexplained == []


# -- independent fixes together ---------------------------------------------------------------------------


def test_two_stopped_services_start_in_one_compose_call_and_are_measured_per_finding(tmp_path: Path) -> None:
    stack = RecordedStack(
        World(services=("a", "b", "c")),
        [
            check("a.up", lambda w: "a" in w.running, service="a"),
            check("b.up", lambda w: "b" in w.running, service="b"),
        ],
    )
    stack.world.running.add("c")
    down = entry(
        "down",
        {"container": {"state": "exited"}},
        {"compose_up": {"services": ["{{ service }}"]}},
        {"wait_healthy": {"services": ["{{ service }}"], "timeout": 30}},
        group_by=("service",),
    )
    result = planner(stack, [down], tmp_path).apply(until=1.0)
    assert [(s.finding.key, s.status, s.verified) for s in result.steps] == [
        ("down[service=a]", "changed", True),
        ("down[service=b]", "changed", True),
    ]
    ups = [e for e in stack.log if e[:2] == ("apply", "compose_up")]
    assert len(ups) == 1 and ups[0][2]["services"] == ["a", "b"]
    assert [s.predicted_rate for s in result.steps] == [0.5, 1.0] and result.met


def test_fixes_with_edits_are_never_taken_together(token_stack: RecordedStack, tmp_path: Path) -> None:
    from remediator import schedule
    from remediator.diagnosis import Finding

    def found(e: Any, service: str) -> Finding:
        return Finding(e, {"service": service}, frozenset(), frozenset(), [])

    up = entry("up", {}, {"compose_up": {"services": ["{{ service }}"]}})
    edit = entry("edit", {}, SET_GOOD, {"compose_up": {"services": ["{{ service }}"]}})
    ups = [found(up, "a"), found(up, "b"), found(up, "a")]
    assert schedule.companions(ups[0], ups, 5) == [ups[1]]  # one per service
    assert schedule.companions(ups[0], ups, 0) == []  # no room left under --max-steps
    edits = [found(edit, "a"), found(edit, "b")]
    assert schedule.companions(edits[0], edits, 5) == []
    other = entry("other", {}, {"compose_up": {"services": ["{{ service }}"]}})
    assert schedule.companions(ups[0], [ups[0], found(other, "b")], 5) == []  # another entry
