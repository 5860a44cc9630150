"""HTTP probe: one request, or N identical requests at once, against status/body/JSON/latency.

aiohttp rather than httpx for the probe engine: measured here (DESIGN.md and benchmarks/check_suite.py),
httpx's AsyncClient slows down as concurrency grows (500 probes of a 20 ms endpoint: 7.6 s at 100
concurrent) while aiohttp stays near the floor, and a suite must run concurrently to be fast.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
import jmespath

from . import Outcome, ProbeContext

EXCERPT = 300
_KEEP_HEADERS = ("content-type", "server", "x-service", "x-request-id", "retry-after", "www-authenticate")


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
    session = await ctx.session()
    kwargs: dict[str, Any] = {"headers": dict(probe.get("headers") or {}), "allow_redirects": False}
    if "json" in probe:
        kwargs["json"] = probe["json"]
    elif "form" in probe:
        kwargs["data"] = dict(probe["form"])
    elif "files" in probe:
        form = aiohttp.FormData()
        for field_name, f in probe["files"].items():
            form.add_field(
                field_name,
                f["content"].encode(),
                filename=f["filename"],
                content_type=f.get("content_type", "application/octet-stream"),
            )
        kwargs["data"] = form
    timeout = float(probe.get("timeout", 10))
    started = time.perf_counter()
    try:
        async with session.request(
            probe.get("method", "GET"), probe["url"], timeout=aiohttp.ClientTimeout(total=timeout), **kwargs
        ) as resp:
            body = await resp.text(errors="replace")
            headers = {k.lower(): v for k, v in resp.headers.items() if k.lower() in _KEEP_HEADERS}
            return {
                "status": resp.status,
                "body": body,
                "headers": headers,
                "latency_ms": (time.perf_counter() - started) * 1000,
            }
    except TimeoutError:
        return {"error": f"timeout after {timeout:g} s", "latency_ms": (time.perf_counter() - started) * 1000}
    except aiohttp.ClientConnectorError as exc:
        reason = "connection refused" if isinstance(exc.os_error, ConnectionRefusedError) else str(exc.os_error)
        return {"error": reason, "latency_ms": (time.perf_counter() - started) * 1000}
    except aiohttp.ClientError as exc:
        return {"error": f"{type(exc).__name__}: {exc}", "latency_ms": (time.perf_counter() - started) * 1000}


async def run(probe: Mapping[str, Any], expect: Mapping[str, Any], ctx: ProbeContext) -> Outcome:
    n = int(probe.get("concurrency", 1))
    answers = await asyncio.gather(*(_once(probe, ctx) for _ in range(n)))
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
