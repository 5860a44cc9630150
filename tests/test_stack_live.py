"""The live stack's memory of what it observed, on a real engine (the shop stack).

A run announced as ``deep`` has the analyzers' observation read beside it, and a deep diagnosis of
that run then starts no compose process; a run's facts are gathered once for its shallow and its deep
diagnosis; any action forgets both. The dry run handed what its caller already read says what the
plain dry run says.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from remediator.actions import build_action
from remediator.backends.compose import Compose
from remediator.backends.engine import Engine, by_service
from remediator.loader import load_inventory, load_suite
from remediator.stack import LiveStack

from .stacks_support import ShopStack, shop_stack
from .support import remediate


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShopStack]:
    with shop_stack(tmp_path_factory, offset=50) as stack:
        init = remediate("init", str(stack.directory))
        assert init.returncode == 0, init.stderr
        yield stack


def _live(shop: ShopStack) -> tuple[LiveStack, Any]:
    target = load_inventory(shop.directory / "inventory.yml").select()[0]
    return LiveStack(target), load_suite(target.checks)


def _count_compose(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """Every compose process started: through ``run``, or the dry run read up to its start phase."""
    calls: list[tuple[str, ...]] = []
    real, real_dry = Compose.run, Compose.dry_run_create_phase

    def counted(self: Compose, *args: str, **kw: Any) -> Any:
        calls.append(args)
        return real(self, *args, **kw)

    def counted_dry(self: Compose, *args: Any, **kw: Any) -> Any:
        calls.append(("--dry-run", "up", "-d"))
        return real_dry(self, *args, **kw)

    monkeypatch.setattr(Compose, "run", counted)
    monkeypatch.setattr(Compose, "dry_run_create_phase", counted_dry)
    return calls


def test_a_deep_run_is_observed_deeply_beside_it_and_its_diagnosis_starts_no_compose_process(
    shop: ShopStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    live, suite = _live(shop)
    live.observe(live.test(suite.checks, None, None, {})[0], suite.by_id(), {})  # the config cache warm
    shop.compose("stop", "worker")
    try:
        calls = _count_compose(monkeypatch)
        run, captures = live.test(suite.checks, None, None, {}, deep=True)
        during = len(calls)
        assert during >= 2  # config and the dry run, while the checks ran
        facts = live.observe(run, suite.by_id(), captures, deep=True)
        assert len(calls) == during  # nothing more for the diagnosis
        assert facts.containers["worker"].state == "exited"
        # the create phase of up: nothing to create or recreate; the stopped worker is not in it
        running = {s for s, st in facts.containers.items() if st.state == "running"}
        assert facts.stack is not None and facts.stack.drift == dict.fromkeys(running, "running")
        # the same run's facts again, shallow or deep: the same snapshot
        assert live.observe(run, suite.by_id(), captures) is facts
    finally:
        shop.compose("start", "worker")


def test_an_action_forgets_what_was_observed(shop: ShopStack) -> None:
    live, suite = _live(shop)
    run, captures = live.test(suite.checks, None, None, {}, deep=True)
    facts = live.observe(run, suite.by_id(), captures, deep=True)
    action = build_action({"compose_up": {"services": ["worker"]}}, where="test")
    live.act(action, live.context(captures, "test-run"))
    again = live.observe(run, suite.by_id(), captures)
    assert again is not facts and again.stack is None  # gathered anew, and the deep part not kept
    assert live.observe(run, suite.by_id(), captures, deep=True).stack is not None  # read now, when asked


def test_a_run_not_announced_deep_reads_nothing_beside_it(shop: ShopStack, monkeypatch: pytest.MonkeyPatch) -> None:
    live, suite = _live(shop)
    calls = _count_compose(monkeypatch)
    live.test(suite.checks, None, None, {})
    assert not any("--dry-run" in c for c in calls)


def test_the_facts_list_the_containers_over_the_socket_and_say_what_the_sdk_says(shop: ShopStack) -> None:
    live, suite = _live(shop)
    run, captures = live.test(suite.checks, None, None, {})
    facts = live.observe(run, suite.by_id(), captures)
    assert live.engine._client is None  # a run and its facts, the SDK never connected
    sdk = Engine(direct=False)
    try:
        assert facts.containers == by_service(sdk.containers(shop.project)) and facts.containers
    finally:
        sdk.close()


def test_the_dry_run_handed_the_config_and_names_says_what_the_plain_one_says(shop: ShopStack) -> None:
    live, _ = _live(shop)
    assert live.target.compose is not None
    compose = Compose(live.target.compose, live.target.docker)
    shop.compose("stop", "worker")
    try:
        plain = compose.dry_run_up()
        known = compose.config()["services"]
        names = {st.name: st.service for st in live.engine.containers(shop.project)}
        assert compose.dry_run_up(known=known, names=names) == plain
        assert plain["worker"] == "start"
    finally:
        shop.compose("start", "worker")


def test_a_round_reads_each_container_s_logs_once_and_cuts_every_tail_from_them(
    shop: ShopStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    live, suite = _live(shop)
    run, captures = live.test(suite.checks, None, None, {})
    facts = live.observe(run, suite.by_id(), captures)
    reads: list[tuple[list[str], int]] = []
    real = type(live.engine).logs_of_each

    def counted(engine: Any, container_ids: list[str], tail: int) -> dict[str, list[str]]:
        reads.append((sorted(container_ids), tail))
        return real(engine, container_ids, tail)

    monkeypatch.setattr(type(live.engine), "logs_of_each", counted)
    fifty = facts.logs_of("catalog", 50)
    assert facts.logs_of("catalog", 5) == fifty[-5:] and facts.logs_of("catalog", 200)[-50:] == fifty
    every = sorted(st.id for st in facts.containers.values())
    assert reads == [(every, 200)]  # one read of every container's tail for the three tails
    facts.logs_of("catalog", 500)
    facts.logs_of("worker", 5)
    assert reads[1:] == [([facts.containers["catalog"].id], 500)]  # the worker's came with the first read
