"""The storefront: a slow start (START_DELAY_S before it listens), then / greets with the catalog's items.

It has no healthcheck, so only something that waits for its port knows when it is ready.
"""

import json
import os
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

time.sleep(float(os.environ.get("START_DELAY_S", "0.8")))
GREETING = os.environ.get("GREETING", "")
CATALOG = os.environ["CATALOG_URL"]


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        try:
            with urllib.request.urlopen(f"{CATALOG}/items", timeout=2) as resp:
                items, status = json.load(resp), 200
        except OSError as exc:
            items, status = str(exc), 502
        body = json.dumps({"greeting": GREETING, "items": items}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
