"""Healthcheck helper: exit 0 when the URL answers 2xx, 1 otherwise (the base image has no curl).

A bare socket rather than urllib or http.client: a healthcheck runs every 2 s, and on a loaded machine
each import counts (run as ``python3 -I -S``: no site packages either).
"""

import socket
import sys

_, _, host, path = sys.argv[1].split("/", 3)
name, _, port = host.partition(":")
try:
    with socket.create_connection((name, int(port or 80)), timeout=5) as conn:
        conn.sendall(f"GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        status = conn.makefile("rb").readline().split()[1:2]
except OSError as exc:
    print(exc)
    sys.exit(1)
print(status)
sys.exit(0 if status and status[0].startswith(b"2") else 1)
