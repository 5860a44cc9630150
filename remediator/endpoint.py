"""The watch's one listening port, on 127.0.0.1 by default: metrics, health, and triggers from outside.

- ``GET /metrics``: Prometheus exposition (``metrics.WatchMetrics``);
- ``GET /healthz``: 200 while the watch loop is alive (the compose service's healthcheck);
- ``POST /trigger``: a plain JSON trigger, ``{"reason": "..."}``, starts a cycle;
- ``POST /alertmanager``: an Alertmanager webhook (version 4); its firing alerts start one cycle.

Triggers change the environment (a cycle may heal), so they need ``Authorization: Bearer <token>``,
the token read from one of the inventory's secret sources; without one the trigger routes answer
403. Metrics and health are read-only and open, as Prometheus scrapes them. The standard library's
threading server is enough: a handful of requests a minute, and nothing to add to the image.
"""

from __future__ import annotations

import hmac
import json
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_BODY = 1 << 20  # an Alertmanager group of many alerts fits; anything larger is refused

Trigger = Callable[[str], None]


def alert_reason(payload: Mapping[str, Any]) -> str | None:
    """What an Alertmanager webhook asks for in words: its firing alerts (None when all resolved)."""
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise ValueError("expected an Alertmanager webhook: an object with an 'alerts' list")
    names = []
    for alert in alerts:
        if not isinstance(alert, Mapping) or alert.get("status", "firing") != "firing":
            continue
        labels = alert.get("labels") if isinstance(alert.get("labels"), Mapping) else {}
        name = str(labels.get("alertname", "alert"))
        where = labels.get("service") or labels.get("job") or labels.get("instance")
        text = f"{name} ({where})" if where else name
        if text not in names:
            names.append(text)
    return f"alertmanager: {', '.join(names)}" if names else None


def plain_reason(payload: Any) -> str:
    """A plain trigger's reason: ``{"reason": "..."}`` (optional, at most 200 characters)."""
    if not isinstance(payload, Mapping):
        raise ValueError('expected a JSON object such as {"reason": "deploy finished"}')
    reason = payload.get("reason", "")
    if not isinstance(reason, str):
        raise ValueError("'reason' must be a string")
    return "trigger" + (f": {reason.strip()[:200]}" if reason.strip() else "")


class Endpoint:
    """A threaded HTTP server on ``host:port`` (port 0: any free one, see ``url``); ``close`` stops it."""

    def __init__(
        self,
        trigger: Trigger,
        token: str | None,
        metrics: Callable[[], bytes],
        alive: Callable[[], bool],
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        endpoint = self
        self.trigger, self.token, self.metrics, self.alive = trigger, token, metrics, alive

        class Handler(BaseHTTPRequestHandler):
            server_version = "remediate-watch"

            def do_GET(self) -> None:
                if self.path == "/metrics":
                    self._answer(200, endpoint.metrics(), "text/plain; version=0.0.4; charset=utf-8")
                elif self.path == "/healthz":
                    ok = endpoint.alive()
                    self._answer(200 if ok else 503, b"ok\n" if ok else b"stopping\n")
                else:
                    self._answer(404, b"not found\n")

            def do_POST(self) -> None:
                status, message = endpoint.handle_post(self.path, dict(self.headers.items()), self._body())
                self._answer(status, (json.dumps(message) + "\n").encode(), "application/json")

            def _body(self) -> bytes | None:
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    return None
                return self.rfile.read(length) if 0 <= length <= MAX_BODY else None

            def _answer(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:  # the watch's own output says what happened
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

        self.server = Server((host, port), Handler)
        self._thread = threading.Thread(target=self.server.serve_forever, name="remediate-endpoint", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Endpoint:
        self._thread.start()
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle_post(self, path: str, headers: Mapping[str, str], body: bytes | None) -> tuple[int, dict[str, Any]]:
        """(status, JSON answer) for a trigger request; starts a cycle when it is a valid, allowed one."""
        if path not in ("/trigger", "/alertmanager"):
            return 404, {"error": "not found"}
        if not self.token:
            return 403, {"error": "triggers are off: the watch has no --trigger-token-secret"}
        auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        given = auth[len("Bearer ") :] if auth.startswith("Bearer ") else ""
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            return 401, {"error": "missing or wrong bearer token"}
        if body is None:
            return 413, {"error": f"a body of at most {MAX_BODY} bytes with a Content-Length is expected"}
        try:
            payload = json.loads(body or b"{}")
            reason = alert_reason(payload) if path == "/alertmanager" else plain_reason(payload)
        except (ValueError, UnicodeDecodeError) as exc:
            return 400, {"error": str(exc).splitlines()[0][:200]}
        if reason is None:
            return 200, {"cycle": False, "why": "no firing alert"}
        self.trigger(reason)
        return 202, {"cycle": True, "reason": reason}
