"""Shared plumbing for the sandbox services: routing, JSON responses, one log line per request.

Every service is a small stdlib ``http.server`` program. Each response carries ``X-Service: <name>``
so the producer of an error is visible from the outside (the api-gateway passes a downstream's
``X-Service`` through on proxied responses).
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SERVICE = os.environ.get("SERVICE_NAME", "unknown")


def log(message: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    sys.stdout.write(f"{stamp} {SERVICE} {message}\n")
    sys.stdout.flush()


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


class Response:
    def __init__(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = dict(headers or {})


def json_response(status: int, payload, headers: dict[str, str] | None = None) -> Response:
    return Response(status, json.dumps(payload).encode(), "application/json", headers)


def html_response(status: int, html: str) -> Response:
    return Response(status, html.encode(), "text/html; charset=utf-8")


def error(status: int, detail) -> Response:
    """FastAPI's error shape: {"detail": ...}."""
    return json_response(status, {"detail": detail})


class Request:
    def __init__(self, handler: BaseHTTPRequestHandler, method: str, path: str, query: str, params: dict[str, str]):
        self.handler = handler
        self.method = method
        self.path = path
        self.query = query
        self.params = params
        self.headers = handler.headers
        length = int(handler.headers.get("Content-Length") or 0)
        self.body = handler.rfile.read(length) if length else b""

    def json(self):
        if not self.body:
            return {}
        return json.loads(self.body)

    def bearer(self) -> str | None:
        auth = self.headers.get("Authorization") or ""
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        return None


Handler = Callable[[Request], Response]


class App:
    """A tiny router: ``@app.route("GET", "/items/{id}")``."""

    def __init__(self, name: str):
        self.name = name
        self.routes: list[tuple[str, re.Pattern, Handler]] = []
        # Hook around every request (the api-gateway's concurrency limiter uses it).
        self.around: Callable[[Request, Callable[[], Response]], Response] | None = None

    def route(self, method: str, pattern: str):
        regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$")

        def register(func: Handler) -> Handler:
            self.routes.append((method, regex, func))
            return func

        return register

    def prefix(self, method: str, prefix: str):
        """Route every path under ``prefix`` (the rest goes to params['rest'])."""
        regex = re.compile("^" + re.escape(prefix) + r"(?P<rest>/.*)?$")

        def register(func: Handler) -> Handler:
            self.routes.append((method, regex, func))
            return func

        return register

    def dispatch(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        started = time.monotonic()
        path, _, query = handler.path.partition("?")
        response: Response
        request = None
        try:
            allowed = False
            for route_method, regex, func in self.routes:
                match = regex.match(path)
                if not match:
                    continue
                allowed = True
                if route_method not in (method, "*"):
                    continue
                params = {k: v for k, v in match.groupdict().items() if v is not None}
                request = Request(handler, method, path, query, params)

                def call(f=func, r=request):
                    return f(r)

                response = self.around(request, call) if self.around else call()
                break
            else:
                response = error(405, "Method Not Allowed") if allowed else error(404, "Not Found")
        except Exception as exc:  # the service answers like FastAPI on an unhandled error
            log(f"ERROR unhandled {type(exc).__name__}: {str(exc).strip()}")
            response = error(500, "Internal Server Error")
        elapsed_ms = (time.monotonic() - started) * 1000
        try:
            handler.send_response(response.status)
            handler.send_header("Content-Type", response.content_type)
            handler.send_header("Content-Length", str(len(response.body)))
            headers = {"X-Service": self.name, **response.headers}
            for key, value in headers.items():
                handler.send_header(key, value)
            handler.end_headers()
            if method != "HEAD":
                handler.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout); the work is done anyway
        log(f'{handler.client_address[0]} "{method} {path}" {response.status} {elapsed_ms:.1f}ms')

    def serve(self, port: int) -> None:
        app = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # our own access log is in dispatch()
                pass

            def do_GET(self):
                app.dispatch(self, "GET")

            def do_POST(self):
                app.dispatch(self, "POST")

            def do_PUT(self):
                app.dispatch(self, "PUT")

            def do_PATCH(self):
                app.dispatch(self, "PATCH")

            def do_DELETE(self):
                app.dispatch(self, "DELETE")

            def do_HEAD(self):
                app.dispatch(self, "HEAD")

        class _Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 128

        server = _Server(("0.0.0.0", port), _Handler)
        # PID 1 in a container: exit on SIGTERM so `compose stop/down` is quick.
        signal.signal(signal.SIGTERM, lambda *_: (log("stopping on SIGTERM"), os._exit(0)))
        log(f"listening on :{port}")
        server.serve_forever()


# --- dependency checks and downstream calls ---------------------------------------------------


def http_call(
    method: str, url: str, body: bytes | None = None, headers: dict | None = None, timeout: float = 5.0
) -> tuple[int, dict[str, str], bytes]:
    """Call another service; HTTP errors come back as (status, headers, body), not exceptions."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def check_http(url: str, timeout: float = 4.0) -> str:
    # 4 s: a loaded machine answers slowly, not wrongly; still below the suite's 5 s client timeout,
    # so a caller sees this service's verdict rather than its own timeout.
    try:
        status, _, _ = http_call("GET", url, timeout=timeout)
    except Exception as exc:
        return f"unreachable: {exc}"
    return "ok" if status == 200 else f"status {status}"


def db_connect():
    import psycopg2

    # 10 s: a new connection is a PostgreSQL backend and a SCRAM exchange, which took over 3 s on a
    # loaded machine (register answered 500 "timeout expired"); no fault of the sandbox is a slow database.
    return psycopg2.connect(os.environ["DATABASE_URL"], connect_timeout=10)


# The health check keeps one connection: a new one for every call cost a PostgreSQL backend and a
# SCRAM exchange each, and 10 simultaneous health calls then took over 2 s on a loaded machine.
_db_lock = threading.Lock()
_db_health_conn = None


def _db_select_one() -> str:
    global _db_health_conn
    if _db_health_conn is None:
        _db_health_conn = db_connect()
        _db_health_conn.autocommit = True  # never idle in a transaction: a break's DROP TABLE is not blocked
    with _db_health_conn.cursor() as cur:
        cur.execute("SELECT 1")
    return "ok"


def _db_drop() -> None:
    global _db_health_conn
    if _db_health_conn is not None:
        _db_health_conn.close()
    _db_health_conn = None


def check_db() -> str:
    with _db_lock:
        try:
            return _db_select_one()
        except Exception:  # the kept connection broke (the database restarted): try a new one
            _db_drop()
        try:
            return _db_select_one()
        except Exception as exc:  # the database is down: it shows at once
            _db_drop()
            return f"error: {str(exc).strip()}"


_redis_lock = threading.Lock()
_redis_client = None


def redis_client():
    global _redis_client
    with _redis_lock:
        if _redis_client is None:
            import redis

            _redis_client = redis.Redis.from_url(
                os.environ["REDIS_URL"], socket_timeout=4, socket_connect_timeout=4
            )  # under the checks' 5 s
        return _redis_client


def check_redis() -> str:
    try:
        redis_client().ping()
        return "ok"
    except Exception as exc:
        return f"error: {str(exc).strip()}"


def health_response(checks: dict[str, str]) -> Response:
    healthy = all(v == "ok" for v in checks.values())
    payload = {"status": "healthy" if healthy else "unhealthy", "service": SERVICE, "checks": checks}
    return json_response(200 if healthy else 503, payload)
