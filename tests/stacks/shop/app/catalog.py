"""The catalog: /health and /items as JSON."""

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ITEMS = [{"id": 1, "name": "teapot"}, {"id": 2, "name": "kettle"}]


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        routes = {"/health": {"status": "ok"}, "/items": ITEMS}
        body = json.dumps(routes.get(self.path, {"error": "not found"})).encode()
        self.send_response(200 if self.path in routes else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8000"))), Handler).serve_forever()
