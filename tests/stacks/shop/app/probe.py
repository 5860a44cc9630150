"""Healthcheck helper: exit 0 when the URL answers 2xx, 1 otherwise (the base image has no curl).

http.client rather than urllib.request: a third of the imports, and a healthcheck runs every second.
"""

import http.client
import sys
from urllib.parse import urlsplit

url = urlsplit(sys.argv[1])
try:
    conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=5)
    conn.request("GET", url.path or "/")
    status = conn.getresponse().status
except OSError as exc:
    print(exc)
    sys.exit(1)
print(status)
sys.exit(0 if 200 <= status < 300 else 1)
