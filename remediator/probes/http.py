"""HTTP probe: one request, or N identical requests at once, against status/body/JSON/latency.

Requests go out through ``backends.http`` (one transport per run), the same way as every other request.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from typing import Any

import jmespath

from ..backends.http import HttpError, Request
from . import Outcome, ProbeContext

EXCERPT = 300


def status_ok(expected: Any, status: int) -> bool:
    """``200``, ``[200, 201]`` or a class such as ``"2xx"``; no expectation means any 2xx."""
    if expected is None:
        return 200 <= status < 300
    if isinstance(expected, list):
        return status in expected
    if isinstance(expected, str):
        return str(status)[0] == expected[0]
    return status == expected


def _parse_json(body: str) -> Any:
    text = body.lstrip()
    if not text or text[0] not in "[{":
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def judge(expect: Mapping[str, Any], status: int, body: str, data: Any, latency_ms: float) -> str:
    """The first unmet expectation of one response, or '' when all are met."""
    if not status_ok(expect.get("status"), status):
        want = expect.get("status", "2xx")
        return f"status {status}, expected {want}"
    for path, want in (expect.get("json") or {}).items():
        got = jmespath.search(path, data) if data is not None else None
        if got != want:
            return f"json {path} is {got!r}, expected {want!r}"
    for path in expect.get("json_exists") or []:
        if data is None or jmespath.search(path, data) is None:
            return f"json {path} is missing"
    for text in _as_list(expect.get("body_contains")):
        if text not in body:
            return f"body does not contain {text!r}"
    for text in _as_list(expect.get("body_not_contains")):
        if text in body:
            return f"body contains {text!r}"
    limit = expect.get("latency_ms")
    if limit is not None and latency_ms > limit:
        return f"took {latency_ms:.0f} ms, expected under {limit} ms"
    return ""


async def _once(probe: Mapping[str, Any], ctx: ProbeContext) -> dict[str, Any]:
    req = Request(
        method=probe.get("method", "GET"),
        url=probe["url"],
        headers=dict(probe.get("headers") or {}),
        json=probe.get("json"),
        form=probe.get("form"),
        files=probe.get("files"),
        timeout=float(probe.get("timeout", 10)),
    )
    started = time.perf_counter()
    try:
        resp = await ctx.http().send(req)
    except HttpError as exc:
        return {"error": str(exc), "latency_ms": (time.perf_counter() - started) * 1000}
    latency = (time.perf_counter() - started) * 1000
    return {"status": resp.status, "body": resp.body, "headers": dict(resp.headers), "latency_ms": latency}


async def run(probe: Mapping[str, Any], expect: Mapping[str, Any], ctx: ProbeContext) -> Outcome:
    n = int(probe.get("concurrency", 1))
    # one request is awaited as it is: gather would wrap it in a task of its own
    answers = [await _once(probe, ctx)] if n == 1 else await asyncio.gather(*(_once(probe, ctx) for _ in range(n)))
    verdicts = []
    for a in answers:
        if "error" in a:
            verdicts.append(a["error"])
        else:
            a["data"] = _parse_json(a["body"])
            verdicts.append(judge(expect, a["status"], a["body"], a["data"], a["latency_ms"]))
    ok = sum(1 for v in verdicts if not v)
    first = answers[0]
    failing = next((a for a, v in zip(answers, verdicts, strict=True) if v), first)
    evidence: dict[str, Any] = {"method": probe.get("method", "GET"), "url": probe["url"]}
    shown = failing if ok < n else first
    if "error" in shown:
        evidence["error"] = shown["error"]
    else:
        evidence.update(status=shown["status"], body=shown["body"][:EXCERPT], headers=shown["headers"])
    latencies = [a["latency_ms"] for a in answers]
    evidence["latency_ms"] = round(max(latencies), 1)
    if n == 1:
        reason = verdicts[0]
        return Outcome(passed=not reason, reason=reason, evidence=evidence, data=first.get("data"))
    share = float(expect.get("share", 1.0))
    statuses: dict[str, int] = {}
    for a in answers:
        key = str(a.get("status", a.get("error")))
        statuses[key] = statuses.get(key, 0) + 1
    evidence.update(requests=n, met=ok, statuses=statuses, avg_latency_ms=round(sum(latencies) / n, 1))
    passed = ok >= share * n
    reason = "" if passed else f"{ok} of {n} requests met the expectation, expected at least {share:.0%}"
    if not passed and verdicts:
        reason += f" (e.g. {next(v for v in verdicts if v)})"
    return Outcome(passed=passed, reason=reason, evidence=evidence, data=first.get("data"))
