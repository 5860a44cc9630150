"""The tcp probe on real sockets: a server that waits for a request is open; one that accepts and closes
at once (what Docker's proxy does when nothing listens in the container) is not; a closed port is not."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from remediator.model import Target
from remediator.probes import ProbeContext
from remediator.probes.tcp import run


@contextmanager
def server(close_at_once: bool) -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    stop = threading.Event()

    def serve() -> None:
        sock.settimeout(0.1)
        held = []
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            if close_at_once:
                conn.close()
            else:
                held.append(conn)
        for c in held:
            c.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        sock.close()


def probe(port: int) -> bool:
    async def main() -> bool:
        ctx = ProbeContext(Target(name="t", inventory=Path("inventory.yml"), compose=None))
        try:
            return (await run({"port": port}, {"open": True}, ctx)).passed
        finally:
            await ctx.close()

    return asyncio.run(main())


def test_a_listening_server_is_open() -> None:
    with server(close_at_once=False) as port:
        assert probe(port)


def test_a_port_that_accepts_and_closes_at_once_is_nobody_listening() -> None:
    with server(close_at_once=True) as port:
        assert not probe(port)


def test_a_closed_port_is_closed() -> None:
    with server(close_at_once=False) as port:
        pass
    assert not probe(port)
