"""Fixes taken together (``Transaction.take_together``) on a recorded stack: one compose call for
several stopped services, then each finding judged on its own. What a failed batch leaves, which run
the batch's re-test is, and what each step records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from remediator.model import Target
from remediator.planner import Planner

from .recorded import RecordedStack, World, check, entry

DOWN = (
    {"container": {"state": "exited"}},
    {"compose_up": {"services": ["{{ service }}"]}},
)


def two_down(*extra: tuple[Any, ...]) -> RecordedStack:
    """a and b stopped, c running; a.up and b.up judge them, plus any ``extra`` checks."""
    stack = RecordedStack(
        World(services=("a", "b", "c")),
        [
            check("a.up", lambda w: "a" in w.running, service="a"),
            check("b.up", lambda w: "b" in w.running, service="b"),
            *extra,
        ],
    )
    stack.world.running.add("c")
    return stack


def heal(stack: RecordedStack, tmp_path: Path, until: float = 1.0) -> Any:
    down = entry("down", *DOWN, group_by=("service",), max_attempts=1)
    target = Target(name="recorded", inventory=tmp_path / "inventory.yml", compose=None)
    return Planner(target, stack.suite, [down], stack=stack).apply(until=until)


def test_a_batch_whose_compose_call_fails_fails_every_step_with_the_reason_and_the_blocker(tmp_path: Path) -> None:
    stack = two_down()
    stack.fail_actions["compose_up"] = "dependency failed to start: container db is unhealthy"
    result = heal(stack, tmp_path)
    assert [(s.finding.key, s.status, s.reason, s.blocked_by) for s in result.steps] == [
        (key, "failed", "compose_up: dependency failed to start: container db is unhealthy", "db")
        for key in ("down[service=a]", "down[service=b]")
    ]
    failed = {"action": "compose_up", "result": "failed", "message": stack.fail_actions["compose_up"], "diff": ""}
    assert [s.actions for s in result.steps] == [[failed], [failed]]
    assert result.final_rate == 0.0 and not result.met


def test_a_batch_that_refuses_one_service_names_it_and_blocks_on_no_dependency(tmp_path: Path) -> None:
    stack = two_down()
    stack.world.unstartable.add("b")
    result = heal(stack, tmp_path)
    assert {(s.status, s.reason, s.blocked_by) for s in result.steps} == {("failed", "compose_up: b did not start", "")}
    assert [e[:2] for e in stack.log if e[0] == "apply"] == [("apply", "compose_up")]  # one call, not retried


def test_a_batch_records_each_action_with_its_message_in_every_step(tmp_path: Path) -> None:
    stack = two_down()
    result = heal(stack, tmp_path)
    assert [s.status for s in result.steps] == ["changed", "changed"]
    (first,), (second,) = (s.actions for s in result.steps)
    assert first == second and first["action"] == "compose_up" and first["result"] == "changed"
    assert first["message"]  # what compose did, shown under each finding


def test_a_batch_acts_under_its_own_step_run_id(tmp_path: Path) -> None:
    stack = two_down()
    result = heal(stack, tmp_path)
    (call,) = [e for e in stack.log if e[:2] == ("apply", "compose_up")]
    assert call[3] == f"{result.run_id}-step1"


@pytest.mark.parametrize(
    ("until", "whole"),
    [(1.0, True), (0.5, True), (1.0, False)],  # the last: a third check that always fails, so 1.0 is never predicted
)
def test_a_batch_predicted_to_reach_the_target_retests_everything(tmp_path: Path, until: float, whole: bool) -> None:
    extra = () if whole else (check("ext.broken", lambda w: False),)
    stack = two_down(*extra)
    heal(stack, tmp_path, until=until)
    after_first = stack.tested[1]  # tested[0] is the run that found the cause
    assert (after_first is None) == whole, stack.tested


def test_a_batch_is_announced_as_one_step_and_journalled_under_every_key(tmp_path: Path) -> None:
    stack = two_down()
    said: list[str] = []
    down = entry("down", *DOWN, group_by=("service",), max_attempts=1)
    target = Target(name="recorded", inventory=tmp_path / "inventory.yml", compose=None)
    Planner(target, stack.suite, [down], stack=stack, notify=said.append).apply(until=1.0)
    assert "step 1: down [down[service=a]] (and 1 more of the same kind, together)" in said
    lines = (tmp_path / ".remediate" / "journal.jsonl").read_text().splitlines()
    started = [json.loads(line) for line in lines if '"started"' in line]
    assert [s["key"] for s in started] == ["down[service=a], down[service=b]"]


def test_a_batch_never_takes_more_findings_than_the_steps_left(tmp_path: Path) -> None:
    stack = RecordedStack(
        World(services=("a", "b", "c")), [check(f"{s}.up", lambda w, s=s: s in w.running, service=s) for s in "abc"]
    )
    down = entry("down", *DOWN, group_by=("service",), max_attempts=1)
    target = Target(name="recorded", inventory=tmp_path / "inventory.yml", compose=None)
    result = Planner(target, stack.suite, [down], stack=stack).apply(until=1.0, max_steps=2)
    assert len(result.steps) == 2
    (call,) = [e for e in stack.log if e[:2] == ("apply", "compose_up")]
    assert call[2]["services"] == ["a", "b"]


def test_the_final_measurement_is_a_whole_run_after_a_partial_retest(tmp_path: Path) -> None:
    stack = two_down(check("ext.broken", lambda w: False))
    result = heal(stack, tmp_path)
    assert stack.tested[1] is not None and stack.tested[-1] is None
    assert result.final_rate == pytest.approx(2 / 3)


def test_a_stack_already_at_the_target_is_met_with_no_step(tmp_path: Path) -> None:
    stack = two_down()
    stack.world.running |= {"a", "b"}
    result = heal(stack, tmp_path, until=1.0)
    assert result.met and result.steps == [] and result.initial_rate == result.final_rate == 1.0


def test_in_a_batch_a_service_that_exits_again_fails_its_own_step_only(tmp_path: Path) -> None:
    stack = two_down()

    def act(action: Any, ctx: Any, how: str = "apply") -> Any:  # b starts, then crashes at once
        result = RecordedStack.act(stack, action, ctx, how)
        stack.world.running.discard("b")
        return result

    stack.act = act  # type: ignore[method-assign]
    result = heal(stack, tmp_path)
    assert [(s.finding.key, s.status, s.verified, s.reason) for s in result.steps] == [
        ("down[service=a]", "changed", True, ""),
        ("down[service=b]", "failed", False, "the step did not take effect: the finding still matches"),
    ]
    assert result.final_rate == 0.5
