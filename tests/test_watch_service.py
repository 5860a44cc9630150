"""The watch's service parts without a stack: the endpoint and the webhook over real local HTTP, the
metrics' exposition, the outcomes worth a message, the cycle lines as a person reads them."""

from __future__ import annotations

import io
import json
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler
from typing import Any

from rich.console import Console

from remediator.endpoint import Endpoint, alert_reason
from remediator.metrics import WatchMetrics
from remediator.report import print_watch
from remediator.secrets import MASKER
from remediator.watch import Watcher, WatchOptions
from remediator.webhooks import HEALED, LOST, SUITE, TRIPPED, OutcomeTracker, Webhook

from .recorded import FakeClock
from .support import http_server, wait_for

SAGA = "service-not-running[service=saga-orchestrator]"


def cycle(n: int, **kw: Any) -> dict[str, Any]:
    record = {
        "kind": "cycle",
        "cycle": n,
        "time": "2026-11-25T10:00:00",
        "trigger": "saga-orchestrator exited (0)",
        "target": 1.0,
        "total": 4,
        "passed_before": 2,
        "rate_before": 0.5,
        "failing_before": ["saga-health", "api-saga"],
        "passed_after": 4,
        "rate_after": 1.0,
        "met": True,
        "healed": True,
        "steps": [],
        "acted_on": [SAGA],
        "remaining_failures": [],
        "checks": {"passed": 4, "failed": 0, "skipped": 0},
        "breaker": {},
        "duration_s": 3.5,
    }
    return {**record, **kw}


def post(url: str, doc: Any, token: str | None = None) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    req = urllib.request.Request(url, json.dumps(doc).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_endpoint_starts_cycles_for_an_authenticated_trigger_or_alert_only() -> None:
    asked: list[str] = []
    metrics = WatchMetrics()
    endpoint = Endpoint(asked.append, "s3cret-token", metrics.exposition, lambda: True).start()
    try:
        url = endpoint.url
        assert url.startswith("http://127.0.0.1:")
        assert post(f"{url}/trigger", {"reason": "deploy"})[0] == 401
        assert post(f"{url}/trigger", {"reason": "deploy"}, "wrong")[0] == 401
        assert post(f"{url}/trigger", {"reason": "deploy done"}, "s3cret-token") == (
            202,
            {"cycle": True, "reason": "trigger: deploy done"},
        )
        alert = {
            "version": "4",
            "status": "firing",
            "alerts": [
                {"status": "firing", "labels": {"alertname": "SagaDown", "service": "saga-orchestrator"}},
                {"status": "resolved", "labels": {"alertname": "ApiSlow"}},
            ],
        }
        assert post(f"{url}/alertmanager", alert, "s3cret-token")[0] == 202
        resolved = {"alerts": [{"status": "resolved", "labels": {"alertname": "SagaDown"}}]}
        assert post(f"{url}/alertmanager", resolved, "s3cret-token") == (
            200,
            {"cycle": False, "why": "no firing alert"},
        )
        code, answer = post(f"{url}/alertmanager", {"nope": 1}, "s3cret-token")
        assert code == 400 and "alerts" in answer["error"]
        assert post(f"{url}/trigger", ["x"], "s3cret-token")[0] == 400
        assert post(f"{url}/elsewhere", {}, "s3cret-token")[0] == 404
        assert asked == ["trigger: deploy done", "alertmanager: SagaDown (saga-orchestrator)"]
        with urllib.request.urlopen(f"{url}/healthz", timeout=10) as answer:
            assert answer.status == 200
        with urllib.request.urlopen(f"{url}/metrics", timeout=10) as answer:
            assert b"remediate_cycles_total" in answer.read()
    finally:
        endpoint.close()
    closed = Endpoint(asked.append, None, metrics.exposition, lambda: False).start()
    try:  # no token configured: triggers are refused, health says the loop is stopping
        assert post(f"{closed.url}/trigger", {}, "anything")[0] == 403
        try:
            urllib.request.urlopen(f"{closed.url}/healthz", timeout=10)
            raise AssertionError("healthz answered 200 while stopping")
        except urllib.error.HTTPError as exc:
            assert exc.code == 503
    finally:
        closed.close()
    assert alert_reason({"alerts": [{"labels": {"alertname": "X", "job": "api"}}]}) == "alertmanager: X (api)"


def test_metrics_count_cycles_steps_and_the_breaker() -> None:
    metrics = WatchMetrics()
    steps = [{"status": "changed"}, {"status": "rolled back"}]
    metrics.observe(cycle(1, steps=steps), {}, now=1_800_000_000.0)
    metrics.observe(
        cycle(2, met=False, healed=False, rate_after=0.75, checks={"passed": 3, "failed": 1}), {SAGA: "open"}, 5
    )
    metrics.observe({"kind": "summary"}, {}, 6)
    snap = metrics.snapshot()
    assert snap["rate"] == 0.75 and snap["checks"] == {"passed": 3, "failed": 1, "skipped": 0}
    assert snap["cycles"] == {"met": 1, "not met": 1, "error": 0}
    assert snap["steps"]["changed"] == 1 and snap["steps"]["rolled back"] == 1
    assert snap["breaker"] == {SAGA: "open"} and snap["last_heal"] == 1_800_000_000.0
    text = metrics.exposition().decode()
    assert 'remediate_breaker_open{state="open"} 1.0' in text
    assert 'remediate_steps_total{outcome="rolled back"} 1.0' in text
    assert "remediate_last_heal_timestamp_seconds 1.8e+09" in text


def test_outcomes_are_told_once_each() -> None:
    tracker = OutcomeTracker()
    assert [o.kind for o in tracker.outcomes_of(cycle(1, healed=False, acted_on=[]))] == []
    assert [o.kind for o in tracker.outcomes_of(cycle(2))] == [HEALED]
    lost = cycle(3, met=False, healed=False, rate_after=0.5, breaker={SAGA: "open"}, suite_findings=["stale-port"])
    told = tracker.outcomes_of(lost)
    assert [o.kind for o in told] == [LOST, TRIPPED, SUITE] and SAGA in told[1].text
    assert tracker.outcomes_of({**lost, "cycle": 4}) == []  # nothing new: nothing told


def test_the_webhook_retries_masks_and_holds_to_its_rate_limit() -> None:
    got: list[dict[str, Any]] = []
    answers = iter([500, 200])  # the first delivery fails once and is sent again

    def receiver(req: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        got.append(json.loads(req.rfile.read(int(req.headers["Content-Length"]))))
        return next(answers, 200), {}, b"ok"

    MASKER.add("tok-9f8e7d6c5b4a")
    clock = FakeClock()
    with http_server(receiver) as url:
        hook = Webhook(f"{url}/hooks/T0-secret-path", "sandbox", "slack", limit=2, per_s=600, clock=clock)
        hook(cycle(1, trigger="api exited with AIRTABLE_TOKEN=tok-9f8e7d6c5b4a"))
        hook(cycle(2, met=False, healed=False, rate_after=0.5, breaker={SAGA: "open"}))  # 2 outcomes: 1 held back
        assert wait_for(lambda: hook.delivered == 2, timeout=20), (got, hook.failed)
        clock.advance(600)
        hook(cycle(3))
        hook.close()
    assert hook.failed == 0 and len(got) == 4  # one retry
    assert got[0] == got[1] and got[0]["text"].startswith("remediate watch [sandbox] healed")
    assert "tok-9f8e7d6c5b4a" not in json.dumps(got) and "***" in got[0]["text"]
    assert "target lost" in got[2]["text"]
    assert "1 earlier message(s) held back" in got[3]["text"]
    assert clock.sleeps == [1.0]  # the back-off before the retry, on the injected clock


def test_the_webhook_gives_up_on_a_refusal_and_says_so_masked() -> None:
    said: list[str] = []
    with http_server(lambda _r: (400, {}, b"bad")) as url:
        hook = Webhook(f"{url}/generic", "sandbox", log=said.append, clock=FakeClock())
        assert not hook.send({"event": "healed"})
        hook.close()
    (line,) = said
    assert line.startswith("webhook ***") and line.endswith(": answered 400; healed not delivered")
    assert url not in line and "/generic" not in line  # the URL is a credential (Slack's are)


def test_cycle_lines_name_the_failing_checks_and_the_finding_acted_on() -> None:
    out = io.StringIO()
    console = Console(file=out, width=200, color_system=None)
    step = {
        "status": "changed",
        "finding": {"key": SAGA},
        "rate_before": 0.5,
        "rate_after": 1.0,
        "duration_s": 3.0,
        "reason": "",
    }
    print_watch(cycle(7, steps=[step]), console)
    stuck = cycle(8, met=False, healed=False, acted_on=[], rate_after=0.5, stop_reason="nothing applicable is left",
                  excluded={SAGA: "breaker: the finding came back after 2 fix(es)"})  # fmt: skip
    print_watch(stuck, console)
    text = out.getvalue()
    assert "failing: saga-health, api-saga" in text
    assert f"acted on: {SAGA}" in text and "acted on: nothing" in text
    assert f"not taken: {SAGA}: breaker" in text


class Burst:
    """A feed whose events never stop coming (a new service each time), or stop after ``count``."""

    def __init__(self, count: int | None) -> None:
        self.count, self.n = count, 0

    def get(self, timeout: float) -> dict[str, Any] | None:
        if self.count is not None and self.n >= self.count:
            time.sleep(timeout)
            return None
        self.n += 1
        time.sleep(0.01)
        return {"Action": "die", "Actor": {"Attributes": {"com.docker.compose.service": f"s{self.n}"}}}


def test_a_burst_of_events_makes_one_cycle_that_names_them_all_and_a_endless_one_is_cut_at_the_debounce() -> None:
    watcher = Watcher(None, WatchOptions(debounce_s=0.5), emit=lambda _r: None)  # type: ignore[arg-type]
    first = {"Action": "die", "Actor": {"Attributes": {"com.docker.compose.service": "s0", "exitCode": "0"}}}
    assert watcher._gather(Burst(3), first) == ["s0 exited (0)", *(f"s{n} exited (?)" for n in (1, 2, 3))]
    endless = watcher._gather(Burst(None), first)  # returns: the debounce bounds the burst
    assert 3 < len(endless) < 60
    watcher.trigger("trigger: deploy")
    watcher.trigger("trigger: deploy")
    watcher.trigger("alertmanager: X")
    assert watcher._asked() == "trigger: deploy; alertmanager: X" and watcher._asked() is None


def test_an_observer_that_fails_is_said_and_never_stops_the_watch() -> None:
    said: list[str] = []
    seen: list[dict[str, Any]] = []

    def broken(_record: dict[str, Any]) -> None:
        raise ValueError()

    watcher = Watcher(None, WatchOptions(), emit=seen.append, notify=said.append, observers=[broken, seen.append])  # type: ignore[arg-type]
    watcher._publish({"kind": "cycle"})
    assert seen == [{"kind": "cycle"}, {"kind": "cycle"}] and said == [
        "test_an_observer_that_fails_is_said_and_never_stops_the_watch.<locals>.broken: ValueError"
    ]
