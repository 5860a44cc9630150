"""More decisions of the heal loop on a recorded stack, found open by mutation testing (``make mutate``):
what a step records, what a plan shows, suite fixes, the reported rate, settling, the guards' arithmetic.

Same style as ``tests/test_loop.py``: the planner, meter, schedule, diagnosis, step transaction and
guards run for real over ``tests/recorded.py``; each test names the decision it pins.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import pytest

from remediator.actions import Action, ActionResult, Inspection
from remediator.guards import Guards
from remediator.loader import load_suite
from remediator.measure import Meter
from remediator.model import DiagnosticProbe, Entry, Suite, Target
from remediator.planner import Planner
from remediator.stack import LiveStack

from .recorded import FakeClock, RecordedStack, World, check, entry
from .test_loop import SET_GOOD, TOKEN_BAD, planner, token_ok

UP_API = {"compose_up": {"services": ["api"]}}
WAIT_API = {"wait_healthy": {"services": ["api"]}}


class DiffStack(RecordedStack):
    """A recorded stack whose actions and rollbacks report a diff, and whose inspections tell the truth
    (an env value already set, or services already running, would change nothing)."""

    def act(self, action: Action, ctx: Any, how: str = "apply") -> ActionResult:
        result = super().act(action, ctx, how)
        return dataclasses.replace(result, diff=f"{how} {action.name}")

    def inspect(self, action: Action, ctx: Any) -> Inspection:
        seen = super().inspect(action, ctx)
        args = action.args
        if action.name == "env_set":
            change = self.world.env.get(args["key"]) != args["value"]
        elif action.name in ("compose_up", "compose_restart"):
            change = not set(args.get("services") or self.world.services) <= self.world.running
        else:
            change = True
        return Inspection(action.name, change, seen.summary, f"diff {action.name}" if change else "")


@pytest.fixture
def token_stack() -> RecordedStack:
    """As in ``tests/test_loop.py``: api.call needs TOKEN=good; ui.page passes; ext.broken always fails."""
    return RecordedStack(
        World(env={"TOKEN": "bad"}),
        [check("api.call", token_ok), check("api.deep", token_ok, requires=("api.call",)),
         check("ui.page", lambda w: True), check("ext.broken", lambda w: False)],
    )  # fmt: skip


def record(action: str, result: str, message: str, diff: str = "") -> dict[str, str]:
    return {"action": action, "result": result, "message": message, "diff": diff}


# -- what a step records ---------------------------------------------------------------------------------


def test_a_rolled_back_step_records_every_action_its_rollback_and_the_re_applied_compose_and_waits(
    tmp_path: Path,
) -> None:
    stack = DiffStack(
        World(env={"TOKEN": "bad"}, services=("api",), running={"api"}),
        [check("api.call", token_ok), check("api.legacy", lambda w: w.env["TOKEN"] == "bad"),
         check("api.old", lambda w: w.env["TOKEN"] == "bad"), check("ext.broken", lambda w: False)],
    )  # fmt: skip
    e = entry("token", TOKEN_BAD, SET_GOOD, UP_API, WAIT_API, max_attempts=1)
    step = planner(stack, [e], tmp_path).apply(until=1.0).steps[0]
    assert step.status == "rolled back" and step.reason == "checks that passed before fail now: api.legacy, api.old"
    assert step.actions == [
        record("env_set", "changed", "set TOKEN", "apply env_set"),
        record("compose_up", "ok", "up ['api']", "apply compose_up"),
        record("wait_healthy", "ok", "nothing to do", "apply wait_healthy"),
        record("rollback env_set", "changed", "restored TOKEN", "rollback env_set"),
        record("re-apply compose_up", "ok", "up ['api']"),
        record("re-apply wait_healthy", "ok", "nothing to do"),
    ]
    # api has no healthcheck: its effect is confirmed by two equal re-tests; the fall is measured once more
    # before blaming the step; after the rollback one re-test shows the passing ones back: no polling
    affected = {"api.call", "api.legacy", "api.old"}
    assert stack.tested == [None, affected, affected, affected, affected, None]


def test_a_failed_action_after_a_command_and_an_edit_still_puts_the_edit_back(tmp_path: Path) -> None:
    stack = RecordedStack(World(env={"TOKEN": "bad"}, services=("api",)), [check("api.call", token_ok)])
    stack.fail_actions["compose_up"] = "no space left"
    warm = {"exec": {"service": "api", "command": ["warm"]}}
    e = entry("token", TOKEN_BAD, warm, SET_GOOD, UP_API, max_attempts=1)
    step = planner(stack, [e], tmp_path).apply(until=1.0).steps[0]
    assert step.status == "rolled back" and step.reason == "compose_up: no space left"
    assert stack.world.env["TOKEN"] == "bad"


def test_a_step_whose_actions_changed_nothing_but_verified_is_ok_not_changed(tmp_path: Path) -> None:
    stack = RecordedStack(World(services=("api",), running={"api"}), [check("api.call", lambda w: True)])
    stack.flicker["api.call"] = 1  # failed once: the first run
    e = entry("kick", {"check": {"id": "api.call"}}, UP_API)
    result = planner(stack, [e], tmp_path).apply(until=1.0)
    assert [s.status for s in result.steps] == ["ok"] and result.steps[0].kept


def test_the_rollback_reasons_name_the_verify_checks_or_the_finding(token_stack: RecordedStack, tmp_path: Path):
    wrong = {"env_set": {"file": ".env", "key": "TOKEN", "value": "also-bad"}}
    plain = entry("token", {"check": {"id": "api.call"}}, wrong, max_attempts=1)
    assert planner(token_stack, [plain], tmp_path).apply(until=1.0).steps[0].reason == (
        "the step did not take effect: the finding still matches"
    )
    two = entry("token", TOKEN_BAD, SET_GOOD, verify=("ext.broken", "ui.page"), max_attempts=1)
    assert planner(token_stack, [two], tmp_path).apply(until=1.0).steps[0].reason == (
        "the step did not take effect: verify checks ext.broken, ui.page"
    )


def test_verify_checks_that_pass_keep_the_step(token_stack: RecordedStack, tmp_path: Path) -> None:
    e = entry("token", TOKEN_BAD, SET_GOOD, verify=("api.call", "ui.page"), max_attempts=1)
    step = planner(token_stack, [e], tmp_path).apply(until=1.0).steps[0]
    assert step.status == "changed" and step.verified is True


def test_a_step_verifies_when_the_checks_it_matched_on_pass_though_the_finding_still_matches_otherwise(
    tmp_path: Path,
) -> None:
    stack = RecordedStack(World(env={"TOKEN": "bad", "MODE": "x"}), [check("api.call", token_ok)])
    either = {"any": [{"check": {"id": "api.call"}}, {"env": {"key": "MODE", "equals": "x"}}]}
    step = planner(stack, [entry("token", either, SET_GOOD, max_attempts=1)], tmp_path).apply(until=1.0).steps[0]
    assert step.status == "changed" and step.verified is True


def test_the_journal_names_the_run_each_step_belongs_to(token_stack: RecordedStack, tmp_path: Path) -> None:
    planner(token_stack, [entry("token", TOKEN_BAD, SET_GOOD)], tmp_path).apply(until=1.0, run_id="r7")
    lines = (tmp_path / ".remediate" / "journal.jsonl").read_text().splitlines()
    assert [json.loads(line)["run_id"] for line in lines] == ["r7", "r7"]  # started, finished


def test_a_step_takes_as_long_as_its_actions_and_re_test(token_stack: RecordedStack, tmp_path: Path) -> None:
    step = planner(token_stack, [entry("token", TOKEN_BAD, SET_GOOD)], tmp_path).apply(until=1.0).steps[0]
    assert step.duration_s == pytest.approx(0.1)  # one partial re-test on the recorded clock


def test_an_invalid_action_names_the_entry_it_comes_from(token_stack: RecordedStack, tmp_path: Path) -> None:
    e = entry("token", TOKEN_BAD, {"env_set": {"file": ".env"}})
    with pytest.raises(Exception, match=r"^token: token: "):
        planner(token_stack, [e], tmp_path).apply(until=1.0)


# -- the reported rate ------------------------------------------------------------------------------------


def test_a_partial_re_test_reuses_the_rest_and_the_whole_re_run_that_reports_can_disagree(tmp_path: Path) -> None:
    # ui.legacy passes only while TOKEN is bad; the token step does not touch it, so its partial re-test
    # reuses ui.legacy's pass and reaches the target, and the whole run that reports finds it failing
    stack = RecordedStack(
        World(env={"TOKEN": "bad"}),
        [check("api.call", token_ok), check("api.deep", token_ok, requires=("api.call",)),
         check("api.other", token_ok), check("ui.legacy", lambda w: w.env["TOKEN"] == "bad"),
         check("ext.broken", lambda w: False)],
    )  # fmt: skip
    result = planner(stack, [entry("token", TOKEN_BAD, SET_GOOD)], tmp_path).apply(until=0.8)
    assert result.steps[0].predicted_rate == pytest.approx(0.6)  # api.other is not among what it explains
    assert result.steps[0].rate_after == pytest.approx(0.8)
    assert result.stop_reason == "target 80% met; the full re-run measured 60.0%"
    assert result.final_rate == pytest.approx(0.6) and not result.met and result.target == 0.8


def test_without_until_apply_is_met_when_everything_passes_and_nothing_is_left(tmp_path: Path):
    stack = RecordedStack(World(env={"TOKEN": "bad"}), [check("api.call", token_ok)])
    result = planner(stack, [entry("token", TOKEN_BAD, SET_GOOD)], tmp_path).apply()
    assert result.met and result.target == 1.0 and result.stop_reason == "nothing applicable is left"


def test_a_failed_step_that_changed_nothing_still_ends_with_a_whole_run(tmp_path: Path) -> None:
    stack = RecordedStack(World(services=("api",)), [check("api.up", lambda w: "api" in w.running, service="api")])
    stack.world.unstartable.add("api")
    down = entry("down", {"container": {"state": "exited"}}, UP_API, max_attempts=1)
    result = planner(stack, [down], tmp_path).apply(until=1.0)
    assert stack.tested == [None, None] and result.test_runs == 2


def test_a_run_just_measured_by_the_caller_is_the_start_and_the_end_when_nothing_is_to_do(
    token_stack: RecordedStack, tmp_path: Path
) -> None:
    p = planner(token_stack, [], tmp_path)
    run = p.meter.test()
    result = Planner(p.target, token_stack.suite, [], stack=token_stack).apply(until=0.1, initial_run=run)
    assert token_stack.tested == [None] and result.test_runs == 0 and result.final is run


def test_the_time_limit_holds_from_the_first_moment(token_stack: RecordedStack, tmp_path: Path) -> None:
    p = planner(token_stack, [entry("token", TOKEN_BAD, SET_GOOD)], tmp_path)
    run = p.meter.test()
    result = Planner(p.target, token_stack.suite, p.meter.entries, stack=token_stack).apply(
        until=1.0, timeout_s=0, initial_run=run
    )
    assert result.steps == [] and result.stop_reason == "stopped at the time limit (0 s)"


def test_a_cooldown_never_sleeps_past_the_time_limit(token_stack: RecordedStack, tmp_path: Path) -> None:
    wrong = {"env_set": {"file": ".env", "key": "TOKEN", "value": "also-bad"}}
    e = entry("token", {"check": {"id": "api.call"}}, wrong, cooldown=300.0)
    planner(token_stack, [e], tmp_path, settle_s=0).apply(until=1.0, timeout_s=20)
    assert max(token_stack.clock.sleeps) < 20


# -- diagnoses, suite findings, fix-suite -----------------------------------------------------------------


def test_a_diagnosis_without_actions_is_reported_and_never_acted_on(token_stack: RecordedStack, tmp_path: Path):
    known = entry("known-cause", {"check": {"id": "ext.broken"}})
    result = planner(token_stack, [known, entry("token", TOKEN_BAD, SET_GOOD)], tmp_path).apply(until=1.0)
    assert [f.key for f in result.diagnoses] == ["known-cause"]
    assert [s.finding.key for s in result.steps] == ["token"] and result.remaining == []
    plan = planner(token_stack, [known], tmp_path).plan()
    assert plan.steps == [] and [f.key for f in plan.diagnoses] == ["known-cause"]


CHECKS_YML = """\
checks:
  - id: api.call
    category: api
    name: the api answers
    probe: {kind: http, url: "http://127.0.0.1:8009/call"}
    expect: {status: 200}
  - id: api.deep
    category: api
    name: the api answers deeply
    requires: [api.call]
    probe: {kind: http, url: "http://127.0.0.1:8009/deep"}
    expect: {status: 200}
  - id: ui.page
    category: ui
    name: the page
    probe: {kind: http, url: "http://127.0.0.1:3000/"}
    expect: {status: 200}
"""
MOVED = {
    "all": [
        {"check": {"id": "api.call"}},
        {"logs": {"service": "api", "matches": r"moved from (?P<port>\d+) to (?P<suggested_port>\d+)"}},
    ]
}


class LoggingStack(RecordedStack):
    """A recorded stack whose api says in its log where it listens now."""

    def observe(self, run, checks, captures, deep=False):  # type: ignore[no-untyped-def]
        from remediator.facts import RecordedLogs

        return dataclasses.replace(super().observe(run, checks, captures, deep), logs=RecordedLogs(self.logs))

    logs: dict[str, list[str]] = {"api": ["moved from 8009 to 8001"]}


def suite_stack(tmp_path: Path) -> tuple[LoggingStack, Path]:
    path = tmp_path / "checks.yml"
    path.write_text(CHECKS_YML)
    suite = load_suite([path])
    aimed_right = lambda w: ":8001/" in path.read_text()  # noqa: E731
    stack = LoggingStack(World(), [(c, aimed_right if c.category == "api" else lambda w: True) for c in suite.checks])
    stack.suite = suite
    return stack, path


def test_a_suite_finding_is_reported_with_its_patch_and_applied_only_with_fix_suite(tmp_path: Path) -> None:
    stack, path = suite_stack(tmp_path)
    e = Entry(id="moved", name="moved", when=MOVED, suite=True)
    plan = planner(stack, [e], tmp_path).plan()
    assert plan.steps == [] and [f["key"] for f in plan.suite_findings] == ["moved"] and plan.diagnoses == []
    assert '+    probe: {kind: http, url: "http://127.0.0.1:8001/call"}' in plan.suite_findings[0]["patch"]

    held = planner(stack, [e], tmp_path).apply(until=1.0)
    assert held.steps == [] and held.remaining == [] and held.stop_reason == "nothing applicable is left"
    assert [f["key"] for f in held.suite_findings] == ["moved"] and ":8009/" in path.read_text()

    fixed = planner(stack, [e], tmp_path, fix_suite=True).apply(until=1.0, run_id="r1")
    step = fixed.steps[0]
    assert step.status == "changed" and step.verified is True and fixed.met
    assert [(a["action"], a["result"], a["message"]) for a in step.actions] == [
        ("suite_patch", "changed", "checks corrected")
    ]
    assert '+    probe: {kind: http, url: "http://127.0.0.1:8001/deep"}' in step.actions[0]["diff"]
    assert ":8009/" not in path.read_text() and ":3000/" in path.read_text()
    assert stack.tested[-2:] == [{"api.call", "api.deep"}, None]  # what the patch changed, then the verdict
    assert fixed.suite_findings == []
    assert (tmp_path / ".remediate" / "backups" / "checks.yml.r1-step1").read_text() == CHECKS_YML  # a way back


def test_a_suite_patch_that_does_not_make_its_checks_pass_stays_but_is_unverified(tmp_path: Path) -> None:
    stack, path = suite_stack(tmp_path)
    stack.logs = {"api": ["moved from 8009 to 8002"]}  # the log is wrong: 8002 does not answer either
    e = Entry(id="moved", name="moved", when=MOVED, suite=True, max_attempts=1)
    step = planner(stack, [e], tmp_path, fix_suite=True, settle_s=0).apply(until=1.0).steps[0]
    assert step.status == "changed" and step.verified is False and ":8002/" in path.read_text()


def test_a_suite_finding_without_a_known_port_fails_its_step_and_changes_nothing(tmp_path: Path) -> None:
    stack, path = suite_stack(tmp_path)
    stack.logs = {"api": ["moved from 8009 to nowhere"]}
    unknown = {"all": [{"check": {"id": "api.call"}}, {"logs": {"service": "api", "matches": r"from (?P<port>\d+)"}}]}
    e = Entry(id="moved", name="moved", when=unknown, suite=True, max_attempts=1)
    step = planner(stack, [e], tmp_path, fix_suite=True).apply(until=1.0).steps[0]
    assert step.status == "failed" and step.reason == "no patch: the right port is not known"
    assert path.read_text() == CHECKS_YML


# -- progress lines and wiring ----------------------------------------------------------------------------


def test_plan_and_apply_tell_what_they_do(token_stack: RecordedStack, tmp_path: Path) -> None:
    lines: list[str] = []
    token_stack.starting_for = [["db", "cache"], []]
    p = planner(token_stack, [entry("token", TOKEN_BAD, SET_GOOD)], tmp_path, notify=lines.append)
    p.plan()
    assert lines == ["waiting for db, cache to finish starting", "checked: 1/4 passed (25.0%)", "inspecting token"]
    lines.clear()
    p.apply(until=0.75)
    assert lines == [
        "checked: 1/4 passed (25.0%)",
        "step 1: token [token]",
        "  changed: rate 25.0% -> 75.0% (predicted 75.0%)",
    ]


def test_confirm_says_how_to_allow_the_step(token_stack: RecordedStack, tmp_path: Path) -> None:
    held = planner(token_stack, [entry("token", TOKEN_BAD, SET_GOOD, confirm=True)], tmp_path).apply(until=1.0)
    assert held.steps[0].reason == "confirm: true; run again with --yes to allow it"


def test_a_planner_without_a_stack_works_on_the_live_target(tmp_path: Path) -> None:
    target = Target(name="live", inventory=tmp_path / "inventory.yml", compose=None)
    p = Planner(target, Suite(checks=()), [])
    assert isinstance(p.stack, LiveStack) and p.stack.target is target and p.stack.concurrency == 64
    assert p.steps.settle_s == 60.0 and p.fix_suite is False


def test_apply_and_plan_report_the_target_s_name(token_stack: RecordedStack, tmp_path: Path) -> None:
    p = planner(token_stack, [entry("token", TOKEN_BAD, SET_GOOD)], tmp_path)
    assert p.plan().target_name == p.apply(until=1.0).target_name == "recorded"


# -- what a plan shows ------------------------------------------------------------------------------------


def test_a_plan_shows_per_action_what_would_change_and_flags_compose_after_an_edit(tmp_path: Path) -> None:
    stack = DiffStack(
        World(env={"TOKEN": "bad"}, services=("api",), running={"api"}),
        [check("api.call", token_ok), check("api.two", token_ok), check("ui.page", lambda w: False)],
    )
    warm = {"exec": {"service": "api", "command": ["warm"]}}
    edit_first = entry(
        "token", {"check": {"category": "api"}}, UP_API, SET_GOOD, {"compose_restart": {"services": ["api"]}}, warm
    )
    command_first = entry("ui", {"check": {"id": "ui.page"}}, warm, UP_API)
    steps = planner(stack, [command_first, edit_first], tmp_path).plan().steps
    assert [s.finding.key for s in steps] == ["token", "ui"]
    up = "would compose_up {'services': ['api']}"
    assert steps[0].actions == [
        {"action": "compose_up", "would_change": False, "summary": up, "diff": "", "simulated": True},
        {"action": "env_set", "would_change": True, "summary": "would env_set {'file': '.env', 'key': 'TOKEN', "
         "'value': 'good'}", "diff": "diff env_set", "simulated": True},
        {"action": "compose_up", "would_change": True, "diff": "", "simulated": True,
         "summary": up + " (the edits above change the config: compose recreates what they touch)"},
        {"action": "exec", "would_change": True, "summary": "would exec {'service': 'api', 'command': ['warm']}",
         "diff": "diff exec", "simulated": False},
    ]  # fmt: skip
    assert [a["would_change"] for a in steps[1].actions] == [True, False]  # a command is not an edit


# -- meter ------------------------------------------------------------------------------------------------


def test_nothing_is_measured_before_the_first_run(token_stack: RecordedStack) -> None:
    with pytest.raises(RuntimeError, match=r"^nothing measured yet$"):
        Meter(token_stack, token_stack.suite, []).measured()


def test_settling_waits_at_most_its_limit_for_a_container_that_never_finishes_starting(
    token_stack: RecordedStack,
) -> None:
    token_stack.starting_for = [["db"]] * 200
    Meter(token_stack, token_stack.suite, []).wait_settled(limit_s=5.0)
    assert token_stack.clock.sleeps == [1.0] * 5


def test_apply_waits_at_most_90_s_for_containers_still_starting(token_stack: RecordedStack, tmp_path: Path) -> None:
    token_stack.starting_for = [["db"]] * 200
    planner(token_stack, [], tmp_path).apply(until=0.1)
    assert token_stack.clock.sleeps == [1.0] * 90


class CapturingStack(RecordedStack):
    """A recorded stack whose runs capture a value (as a register check captures a token)."""

    def test(self, checks, only, prior, captures, deep=False):  # type: ignore[no-untyped-def]
        run, _ = super().test(checks, only, prior, captures, deep)
        return run, {"token": "t-1"}

    def observe(self, run, checks, captures, deep=False):  # type: ignore[no-untyped-def]
        self.log.append(("observe", dict(captures)))
        return super().observe(run, checks, captures, deep)


def test_facts_are_observed_with_the_captures_of_their_run(tmp_path: Path) -> None:
    stack = CapturingStack(World(env={"TOKEN": "bad"}), [check("api.call", token_ok)])
    planner(stack, [], tmp_path).apply(until=1.0)
    assert ("observe", {"token": "t-1"}) in stack.log


def test_a_discriminating_probe_goes_through_the_stack(token_stack: RecordedStack, tmp_path: Path) -> None:
    token_stack.probe_answers = {"http://auth/": False}
    probe = DiagnosticProbe("auth", {"kind": "http", "url": "http://auth/"})
    refused = {"all": [{"check": {"id": "api.call"}}, {"probe": {"name": "auth", "passed": False}}]}
    e = entry("token", refused, SET_GOOD, probes=(probe,))
    result = planner(token_stack, [e], tmp_path).apply(until=0.75)
    assert result.met and ("probe", {"kind": "http", "url": "http://auth/"}) in token_stack.log


def test_a_step_is_polled_every_quarter_second_while_it_settles(token_stack: RecordedStack, tmp_path: Path):
    wrong = {"env_set": {"file": ".env", "key": "TOKEN", "value": "also-bad"}}
    e = entry("token", {"check": {"id": "api.call"}}, wrong, max_attempts=1)
    planner(token_stack, [e], tmp_path, settle_s=1.0).apply(until=1.0)
    assert set(token_stack.clock.sleeps) == {0.25}


class CountingStack(RecordedStack):
    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.observed = 0

    def observe(self, run, checks, captures, deep=False):  # type: ignore[no-untyped-def]
        self.observed += 1
        return super().observe(run, checks, captures, deep)


def test_facts_are_gathered_once_per_run(tmp_path: Path) -> None:
    # fixing TOKEN reveals KEY: the token step's verify diagnoses its re-test, and the next round reads
    # that same diagnosis instead of observing the stack again
    stack = CountingStack(
        World(env={"TOKEN": "bad", "KEY": "bad"}),
        [check("api.call", lambda w: token_ok(w) and w.env["KEY"] == "good"), check("ui.page", lambda w: True)],
    )
    key = entry(
        "key", {"env": {"key": "KEY", "equals": "bad"}}, {"env_set": {"file": ".env", "key": "KEY", "value": "good"}}
    )
    result = planner(stack, [entry("token", TOKEN_BAD, SET_GOOD), key], tmp_path).apply(until=1.0)
    assert result.met and stack.observed == result.test_runs == 4


# -- guards -----------------------------------------------------------------------------------------------


def test_an_attempt_exactly_one_window_old_no_longer_counts() -> None:
    clock = FakeClock()
    guards = Guards(window_s=60, clock=clock)
    guards.record("k")
    clock.advance(59)
    assert guards.attempts("k") == 1
    clock.advance(1)
    assert guards.attempts("k") == 0


def test_the_breaker_counts_only_fixes_that_came_back_not_failed_attempts() -> None:
    guards = Guards(clock=FakeClock())
    guards.record("k")
    guards.record("k")
    assert guards.trip("k", 2) is False  # never succeeded: the attempts limit handles it, not the breaker
    guards.succeeded.add("k")
    assert guards.trip("k", 3) is False
    guards.excluded["k"] = "did not help"
    assert guards.trip("k", 3) is True  # excluded stays excluded


def test_a_cooldown_is_zero_without_one_and_once_it_has_passed() -> None:
    clock = FakeClock()
    guards = Guards(clock=clock)
    guards.record("k")
    assert guards.cooldown_left("k", 0) == 0.0
    assert guards.cooldown_left("k", 10) == 10.0
    clock.advance(25)
    assert guards.cooldown_left("k", 10) == 0.0


def test_a_watch_cycle_an_event_started_announces_its_deep_diagnosis_a_scheduled_one_does_not(
    tmp_path: Path,
) -> None:
    from remediator.watch import Watcher, WatchOptions

    stack = RecordedStack(World(), [check("ui.page", lambda w: True)])
    watcher = Watcher(planner(stack, [], tmp_path), WatchOptions(events=False), emit=lambda _r: None)
    assert watcher.cycle(1, "schedule")["met"] and watcher.cycle(2, "saga-orchestrator exited (0)")["met"]
    assert stack.deep_asked == [False, True]  # a scheduled cycle that finds all well reads nothing deep


class _Feed:
    """Engine events for ``Watcher._wait``: these, one per ``get``, then quiet."""

    def __init__(self, *services: str) -> None:
        self.events = [{"Action": "die", "Actor": {"Attributes": {"com.docker.compose.service": s}}} for s in services]

    def get(self, timeout: float) -> dict[str, Any] | None:
        if self.events:
            return self.events.pop(0)
        time.sleep(min(timeout, 0.05))
        return None

    def wake(self) -> None:
        """Nothing to wake: ``get`` sleeps 0.05 s at most."""


def test_a_cycle_s_run_is_taken_while_its_burst_is_gathered_and_used_when_no_more_events_came(
    tmp_path: Path,
) -> None:
    from remediator.watch import Watcher, WatchOptions

    stack = RecordedStack(World(), [check("ui.page", lambda w: True)])
    watcher = Watcher(planner(stack, [], tmp_path), WatchOptions(debounce_s=0.3), emit=lambda _r: None)
    trigger = watcher._wait(_Feed("saga"), time.monotonic() + 60, time.monotonic() + 60)  # type: ignore[arg-type]
    assert trigger == "saga exited (?)"
    premeasured, watcher._premeasured = watcher._premeasured, None
    assert premeasured is not None and stack.tested == [None] and stack.deep_asked == [True]
    record = watcher.cycle(1, trigger, premeasured)
    assert record["met"] and stack.tested == [None]  # measured once, during the window


def test_a_run_taken_during_a_burst_that_goes_on_is_not_used(tmp_path: Path) -> None:
    from remediator.watch import Watcher, WatchOptions

    stack = RecordedStack(World(), [check("ui.page", lambda w: True)])
    watcher = Watcher(planner(stack, [], tmp_path), WatchOptions(debounce_s=0.3), emit=lambda _r: None)
    trigger = watcher._wait(_Feed("saga", "api"), time.monotonic() + 60, time.monotonic() + 60)  # type: ignore[arg-type]
    assert trigger == "saga exited (?); api exited (?)"
    assert watcher._premeasured is None  # another event came while it ran: the cycle measures again
    watcher.cycle(1, trigger, watcher._premeasured)
    assert stack.tested == [None, None]


def test_without_a_debounce_nothing_is_measured_before_the_cycle(tmp_path: Path) -> None:
    from remediator.watch import Watcher, WatchOptions

    stack = RecordedStack(World(), [check("ui.page", lambda w: True)])
    watcher = Watcher(planner(stack, [], tmp_path), WatchOptions(debounce_s=0), emit=lambda _r: None)
    assert watcher._wait(_Feed("saga"), time.monotonic() + 60, time.monotonic() + 60)  # type: ignore[arg-type]
    assert watcher._premeasured is None and stack.tested == []
