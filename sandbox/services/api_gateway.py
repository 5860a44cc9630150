"""api-gateway (port 8000): the single entry point of the stack.

Routes /api/auth/* to platform-services and /api/airtable/* to airtable-gateway. Airtable routes
need the header X-API-Key equal to this gateway's API_KEY; the gateway itself answers 401
{"detail": "Invalid API key"} otherwise, and forwards with X-API-Key: <its API_KEY>.

Concurrency: at most GATEWAY_MAX_CONCURRENCY requests are in flight; a request beyond that waits up
to GATEWAY_QUEUE_TIMEOUT_MS for a slot, then gets 503.
/api/health aggregates the downstream checks (about 100 ms, like the real gateway's aggregate);
/health is the cheap liveness probe the container healthcheck uses.
"""

from __future__ import annotations

import threading
import time

from common import App, Response, check_http, env, error, health_response, http_call, json_response, log

app = App("api-gateway")

API_KEY = env("API_KEY", "")
PLATFORM_URL = env("PLATFORM_SERVICES_URL", "http://platform-services:8007")
AIRTABLE_GATEWAY_URL = env("AIRTABLE_GATEWAY_URL", "http://airtable-gateway:8002")
MAX_CONCURRENCY = int(env("GATEWAY_MAX_CONCURRENCY", "64"))
QUEUE_TIMEOUT_MS = int(env("GATEWAY_QUEUE_TIMEOUT_MS", "20"))
UPSTREAM_TIMEOUT = float(env("GATEWAY_UPSTREAM_TIMEOUT", "30"))
HEALTH_BUDGET_S = 0.1  # the aggregate health check of the real gateway took ~100 ms

_slots = threading.BoundedSemaphore(MAX_CONCURRENCY)


def limit(req, call):
    if not _slots.acquire(timeout=QUEUE_TIMEOUT_MS / 1000):
        log(
            f"WARN concurrency limit {MAX_CONCURRENCY} reached; rejected {req.method} {req.path} "
            f"after {QUEUE_TIMEOUT_MS} ms in queue"
        )
        return error(503, "Service Unavailable: too many concurrent requests")
    try:
        return call()
    finally:
        _slots.release()


app.around = limit


def proxy(req, url: str, extra_headers: dict[str, str] | None = None) -> Response:
    headers = {}
    for name in ("Content-Type", "Authorization", "Accept", "X-User-ID"):
        if req.headers.get(name):
            headers[name] = req.headers[name]
    headers.update(extra_headers or {})
    if req.query:
        url = f"{url}?{req.query}"
    try:
        status, resp_headers, body = http_call(req.method, url, req.body or None, headers, timeout=UPSTREAM_TIMEOUT)
    except Exception as exc:
        log(f"ERROR upstream {url} unreachable: {exc}")
        return error(502, "Bad Gateway")
    lower = {k.lower(): v for k, v in resp_headers.items()}
    passthrough = {}
    if "x-service" in lower:  # show who produced the answer
        passthrough["X-Service"] = lower["x-service"]
    return Response(status, body, lower.get("content-type", "application/json"), passthrough)


@app.route("GET", "/health")
def liveness(req):
    return json_response(200, {"status": "healthy", "service": "api-gateway"})


@app.route("GET", "/api/health")
def health(req):
    started = time.monotonic()
    checks = {
        "platform-services": check_http(f"{PLATFORM_URL}/health"),
        "airtable-gateway": check_http(f"{AIRTABLE_GATEWAY_URL}/health"),
    }
    remaining = HEALTH_BUDGET_S - (time.monotonic() - started)
    if remaining > 0:
        time.sleep(remaining)
    return health_response(checks)


@app.prefix("*", "/api/auth")
def auth(req):
    return proxy(req, f"{PLATFORM_URL}/auth{req.params.get('rest', '')}")


@app.prefix("*", "/api/airtable")
def airtable(req):
    if req.headers.get("X-API-Key") != API_KEY or not API_KEY:
        return error(401, "Invalid API key")
    return proxy(req, f"{AIRTABLE_GATEWAY_URL}{req.params.get('rest', '')}", {"X-API-Key": API_KEY})


if __name__ == "__main__":
    log(f"settings: GATEWAY_MAX_CONCURRENCY={MAX_CONCURRENCY} GATEWAY_QUEUE_TIMEOUT_MS={QUEUE_TIMEOUT_MS}")
    app.serve(int(env("PORT", "8000")))
