"""remediate watch end to end: the real CLI watches a real sandbox and heals what breaks under it.

One sandbox for the module (own work directory and project, port offset 22000), reset with
`sandbox.py up` before each test. The schedule is set far away (--interval 600) where a test is
about events, so a cycle that comes can only have come from the engine's event.
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from remediator.guards import Guards
from remediator.watch import EventFeed, trigger_of

from .support import PORT_SHIFT, ROOT, SandboxDir, remediate, require_engine, sandbox_dir

OFFSET = 22000 + PORT_SHIFT


class Watch:
    """`remediate watch --json` as a child process; its JSON lines are read as they come."""

    def __init__(self, box: SandboxDir, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "remediator", "watch", "--json", "-i", str(box.inventory), *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.stdout: list[str] = []
        self.errors: list[str] = []
        self.readers = [threading.Thread(target=self._read, daemon=True), threading.Thread(target=self._err)]
        for reader in self.readers:
            reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.stdout.append(line)
            self.lines.put(json.loads(line))

    def _err(self) -> None:
        assert self.proc.stderr is not None
        self.errors.extend(self.proc.stderr)

    @property
    def stderr(self) -> str:
        return "".join(self.errors)

    def next(self, timeout: float = 120) -> dict[str, Any]:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            self.stop()
            raise AssertionError(f"no watch record in {timeout} s; stderr:\n{self.stderr}") from None

    def quiet(self, seconds: float) -> bool:
        """True when no record comes for ``seconds``."""
        try:
            record = self.lines.get(timeout=seconds)
        except queue.Empty:
            return True
        raise AssertionError(f"unexpected record: {record}")

    def stop(self) -> int:
        """SIGTERM, then wait for the exit (the readers keep every line the watch still prints)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for reader in self.readers:
            reader.join(timeout=10)
        return self.proc.returncode


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxDir]:
    with sandbox_dir(tmp_path_factory, "watch", OFFSET) as box:
        yield box


def stop_service(box: SandboxDir, service: str) -> None:
    client = require_engine()
    (container,) = client.containers.list(
        filters={"label": [f"com.docker.compose.project={box.project}", f"com.docker.compose.service={service}"]}
    )
    container.stop(timeout=5)


def running(box: SandboxDir, service: str) -> bool:
    return any(
        name.endswith(f"-{service}-1") and status == "running" for name, (_, status, _) in box.containers().items()
    )


def keys(record: dict[str, Any]) -> list[str]:
    return [s["finding"]["key"] for s in record["steps"]]


def assert_clean(box: SandboxDir, watch: Watch) -> None:
    out = "".join(watch.stdout) + watch.stderr
    assert "Traceback" not in out
    for value in box.secret_values():
        assert value not in out, "a secret value leaked into watch output"


@pytest.mark.engine
@pytest.mark.sandbox
def test_watch_heals_on_events_and_its_breaker_holds_across_cycles(sandbox: SandboxDir) -> None:
    sandbox.up()
    saga = "service-not-running[service=saga-orchestrator]"
    watch = Watch(sandbox, "--interval", "600", "--debounce", "1", "--duration", "600")
    try:
        first = watch.next()
        assert (first["kind"], first["cycle"], first["trigger"]) == ("cycle", 1, "start")
        assert first["met"] and first["rate_before"] == 1.0 and first["steps"] == []

        for attempt in (1, 2):  # a container stopped under the watch: healed at once, not at the schedule
            stop_service(sandbox, "saga-orchestrator")
            healed = watch.next()
            assert "saga-orchestrator exited" in healed["trigger"], healed
            assert healed["rate_before"] < 1.0 and healed["met"] and healed["rate_after"] == 1.0
            assert keys(healed) == [saga] and healed["steps"][0]["attempt"] == attempt
            assert running(sandbox, "saga-orchestrator")

        # The third time within the breaker window (max_attempts 2): the fix keeps coming back, so the
        # watch stops taking it and says so, instead of restarting the service every cycle.
        stop_service(sandbox, "saga-orchestrator")
        tripped = watch.next()
        assert tripped["steps"] == [] and not tripped["met"] and tripped["rate_after"] < 1.0
        assert "breaker" in tripped["excluded"][saga]
        assert not running(sandbox, "saga-orchestrator")
    finally:
        code = watch.stop()
    summary = watch.next(timeout=5)
    assert summary["kind"] == "summary" and summary["stop_reason"] == "SIGTERM"
    assert (summary["cycles"], summary["healing_cycles"], summary["steps"]) == (4, 2, 2)
    assert code == 1 and not summary["met"]  # the last cycle left saga stopped, on purpose
    assert saga in summary["excluded"]
    assert_clean(sandbox, watch)


@pytest.mark.engine
@pytest.mark.sandbox
def test_watch_heals_a_recreated_service_and_ignores_the_events_of_its_own_fix(sandbox: SandboxDir) -> None:
    sandbox.up()
    env_before = (sandbox.workdir / ".env").read_bytes()
    watch = Watch(sandbox, "--interval", "600", "--debounce", "3", "--duration", "600")
    try:
        assert watch.next()["met"]
        sandbox.break_("bad-airtable-token")  # recreates airtable-gateway with a token Airtable rejects
        record = watch.next()
        assert "airtable-gateway" in record["trigger"], record
        assert "airtable-token-rejected" in keys(record) and record["met"], record
        assert (sandbox.workdir / ".env").read_bytes() == env_before  # the valid token is back, every byte
        # The fix recreated airtable-gateway (its old container exited and was removed): those events
        # are the watch's own and start no cycle.
        assert watch.quiet(8)
    finally:
        code = watch.stop()
    summary = watch.next(timeout=5)
    assert code == 0 and summary["met"] and summary["cycles"] == 2
    assert_clean(sandbox, watch)


@pytest.mark.engine
@pytest.mark.sandbox
def test_watch_on_a_schedule_alone(sandbox: SandboxDir) -> None:
    sandbox.up()
    watch = Watch(sandbox, "--no-events", "--interval", "1", "--max-cycles", "2")
    records = [watch.next(), watch.next(), watch.next()]
    code = watch.proc.wait(timeout=60)  # it stops by itself after --max-cycles
    assert [r.get("trigger") for r in records[:2]] == ["start", "schedule"]
    assert all(r["met"] and r["steps"] == [] for r in records[:2])
    assert records[2]["kind"] == "summary" and records[2]["stop_reason"] == "2 cycle(s) (--max-cycles)"
    assert code == 0


def test_watch_human_output_and_bad_input(tmp_path: Path) -> None:
    proc = remediate("watch", "-i", str(tmp_path / "missing.yml"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "missing.yml" in proc.stderr
    proc = remediate("watch", "--interval", "0")
    assert proc.returncode == 2 and "--interval" in proc.stderr
    proc = remediate("watch", "--help")
    assert proc.returncode == 0 and "Docker events" in proc.stdout and "--breaker-window" in proc.stdout


# --- pure logic ------------------------------------------------------------------------------------


def event(action: str, service: str = "api", **attrs: str) -> dict[str, Any]:
    labels = {"com.docker.compose.service": service, "com.docker.compose.oneoff": "False", **attrs}
    return {"Action": action, "Actor": {"Attributes": labels}, "timeNano": time.time_ns()}


def test_which_events_start_a_cycle() -> None:
    assert trigger_of(event("die", exitCode="137")) == "api exited (137)"
    assert trigger_of(event("oom")) == "api ran out of memory"
    assert trigger_of(event("destroy")) == "api was removed"
    assert trigger_of(event("health_status: unhealthy")) == "api turned unhealthy"
    assert trigger_of(event("health_status: healthy")) is None
    assert trigger_of(event("health_status: starting")) is None
    assert trigger_of(event("start")) is None
    assert trigger_of(event("die", **{"com.docker.compose.oneoff": "True"})) is None  # a compose run


def test_the_feed_drops_the_events_a_cycle_caused_and_keeps_later_ones() -> None:
    feed = EventFeed(engine=None, project="p", notify=lambda _m: None)  # type: ignore[arg-type]
    early, late = event("die"), event("die", service="later")
    late["timeNano"] = early["timeNano"] + 10**9
    feed.events.put(early)
    feed.events.put(late)
    feed.drop_until(early["timeNano"] + 1)
    assert feed.get(0) is late and feed.get(0) is None


def test_guards_count_attempts_within_their_window_only() -> None:
    guards = Guards(window_s=0.2)
    assert guards.record("k") == 1 and guards.record("k") == 2
    assert guards.attempts("k") == 2 and guards.last_try("k") is not None
    time.sleep(0.25)
    assert guards.attempts("k") == 0 and guards.record("k") == 1
    assert Guards().attempts("never") == 0 and Guards().last_try("never") is None
