"""HTTP, the one way out: probes, secret validation and the ``http`` action all send requests here.

HTTP/1.1 on asyncio's own streams with h11 for the protocol (``H11Transport`` says why not aiohttp or
httpcore); not httpx's AsyncClient either, which slows down as concurrency grows (500 probes of a 20 ms
endpoint: 7.6 s at 100 concurrent, DESIGN.md). Every request goes through a ``Transport``; tests replace
it with ``MockTransport`` (httpx's idea: one seam, one way out).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import h11  # here, not in the first request: 20 ms, off the event loop (before the runner's clock)

KEEP_HEADERS = ("content-type", "server", "x-service", "x-request-id", "retry-after", "www-authenticate")


@dataclass(frozen=True)
class Request:
    """One request: ``json``, ``form`` (fields) or ``files`` (name -> {content, filename, content_type})."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    json: Any = None
    form: Mapping[str, str] | None = None
    files: Mapping[str, Mapping[str, str]] | None = None
    timeout: float = 10.0
    raw: bool = False  # the body's bytes one to one as characters (latin-1), for a binary framing (logs)


@dataclass(frozen=True)
class Response:
    status: int
    body: str
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names, only KEEP_HEADERS


class HttpError(Exception):
    """No answer: refused, timed out, reset. The message is one short line ("connection refused")."""


class Transport(Protocol):
    async def send(self, request: Request) -> Response: ...

    async def close(self) -> None: ...


class H11Transport:
    """HTTP/1.1 over asyncio's streams, h11 for the protocol: a pool of kept-alive connections per origin,
    at most ``limit`` requests in flight.

    Neither aiohttp nor httpcore: measured on the sandbox's 35 checks (pyinstrument, whole process),
    ``import aiohttp`` costs 0.4-0.5 s of CPU inside the first request, blocking the event loop (most of
    it two SSL contexts its connector builds at import); httpcore costs about as much, its own import
    plus anyio's asyncio backend, and more per request (its pool re-scans every connection on each
    assignment). h11 imports in about 20 ms and only parses; an SSL context is built only for an https
    URL. The runner bounds the requests in flight, and so does ``limit`` here.
    """

    def __init__(self, limit: int = 64, unix_socket: str | None = None) -> None:
        self.limit, self.unix_socket = limit, unix_socket  # a socket path: every request goes there
        self._slots: asyncio.Semaphore | None = None
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._ssl: Any = None

    async def send(self, request: Request) -> Response:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.limit)
        url = urlsplit(request.url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise HttpError(f"not an http(s) URL: {request.url}")
        origin = (url.scheme, url.hostname, url.port or (443 if url.scheme == "https" else 80))
        target = (url.path or "/") + (f"?{url.query}" if url.query else "")
        headers, body = _encode(request, url.netloc.rpartition("@")[2])
        if url.username is not None and not any(k.lower() == "authorization" for k in request.headers):
            import base64
            from urllib.parse import unquote

            pair = f"{unquote(url.username)}:{unquote(url.password or '')}".encode()
            headers.append(("Authorization", "Basic " + base64.b64encode(pair).decode()))  # as aiohttp did
        try:
            async with asyncio.timeout(request.timeout), self._slots:  # a total, pool wait included
                while True:
                    conn = self._reuse(origin) or await self._open(origin)
                    try:
                        return await conn.exchange(
                            request.method, target, headers, body, self._idle[origin], request.raw
                        )
                    except _Stale:  # a kept-alive connection the server had closed: once more, fresh
                        continue
        except TimeoutError:
            raise HttpError(f"timeout after {request.timeout:g} s") from None
        except ConnectionRefusedError:
            raise HttpError("connection refused") from None
        except h11.ProtocolError as exc:
            raise HttpError(f"{type(exc).__name__}: {exc}") from None
        except OSError as exc:
            raise HttpError(str(exc) or type(exc).__name__) from None

    def _reuse(self, origin: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.setdefault(origin, [])
        while idle:
            conn = idle.pop()
            if conn.usable():
                return conn
            conn.close()
        return None

    async def _open(self, origin: tuple[str, str, int]) -> _Connection:
        scheme, host, port = origin
        ssl_context = None
        if scheme == "https":
            if self._ssl is None:
                import ssl

                self._ssl = ssl.create_default_context()
            ssl_context = self._ssl
        if self.unix_socket is not None:
            reader, writer = await asyncio.open_unix_connection(self.unix_socket)
        else:
            reader, writer = await asyncio.open_connection(host, port, ssl=ssl_context)
        return _Connection(reader, writer, fresh=True)

    async def close(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()


class _Stale(Exception):
    """A reused connection closed before any of the response arrived (the server's keep-alive ended)."""


class _Connection:
    """One TCP (or TLS) connection and its h11 state machine; back in the pool only when both sides are done."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, fresh: bool) -> None:
        self.reader, self.writer, self.fresh = reader, writer, fresh
        self.h11 = h11.Connection(h11.CLIENT)

    def usable(self) -> bool:
        return not self.reader.at_eof() and not self.writer.is_closing()

    def close(self) -> None:
        self.writer.close()

    async def exchange(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes,
        idle: list[_Connection],
        raw: bool = False,
    ) -> Response:
        kept: dict[str, str] = {}
        chunks: list[bytes] = []
        status, got_any = 0, False
        try:
            out = self.h11.send(h11.Request(method=method, target=target, headers=headers)) or b""
            if body:
                out += self.h11.send(h11.Data(data=body)) or b""
            self.writer.write(out + (self.h11.send(h11.EndOfMessage()) or b""))  # one write: one segment
            await self.writer.drain()
            while True:
                event = self.h11.next_event()
                if event is h11.NEED_DATA:
                    data = await self.reader.read(65536)
                    if not data and not got_any and not self.fresh:
                        raise _Stale
                    got_any = True
                    self.h11.receive_data(data)
                elif isinstance(event, h11.Response):
                    status = event.status_code
                    for name, value in event.headers:
                        key = name.decode("latin-1")
                        if key in KEEP_HEADERS:
                            kept[key] = value.decode("latin-1")
                elif isinstance(event, h11.Data):
                    chunks.append(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage):
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    raise h11.RemoteProtocolError("server closed the connection before the response ended")
        except (ConnectionResetError, BrokenPipeError) as exc:
            self.close()
            if not got_any and not self.fresh:
                raise _Stale from None
            raise HttpError(f"connection reset ({exc.strerror or exc})") from None
        except BaseException:  # a timeout or an error mid-exchange: this connection's state is unknown
            self.close()
            raise
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
            self.fresh = False
            idle.append(self)
        else:
            self.close()
        charset = "latin-1" if raw else _charset(kept)
        return Response(status, b"".join(chunks).decode(charset, errors="replace"), kept)


def _charset(headers: Mapping[str, str]) -> str:
    """The charset a Content-Type names, if Python knows it; UTF-8 otherwise (aiohttp's default too)."""
    import codecs

    for param in headers.get("content-type", "").split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            name = value.strip().strip('"')
            try:
                return codecs.lookup(name).name
            except LookupError:
                break
    return "utf-8"


def _encode(request: Request, host: str) -> tuple[list[tuple[str, str]], bytes]:
    """The request's headers and body bytes: the caller's headers win over the ones the body implies."""
    body, kind = b"", None
    if request.json is not None:
        body, kind = json.dumps(request.json).encode(), "application/json"
    elif request.form is not None:
        from urllib.parse import urlencode

        body, kind = urlencode(dict(request.form), doseq=True).encode(), "application/x-www-form-urlencoded"
    elif request.files is not None:
        body, kind = _multipart(request.files)
    given = {k.lower() for k in request.headers}
    headers = [(k, str(v)) for k, v in request.headers.items()]
    if "host" not in given:
        headers.insert(0, ("Host", host))
    if "accept" not in given:
        headers.append(("Accept", "*/*"))
    if "user-agent" not in given:
        headers.append(("User-Agent", "remediator"))
    if kind is not None and "content-type" not in given:
        headers.append(("Content-Type", kind))
    if body or request.method.upper() in ("POST", "PUT", "PATCH"):
        headers.append(("Content-Length", str(len(body))))
    return headers, body


def _multipart(files: Mapping[str, Mapping[str, str]]) -> tuple[bytes, str]:
    """multipart/form-data of named file fields (RFC 7578), with a random boundary."""
    import secrets

    boundary = secrets.token_hex(16)
    parts = []
    for name, f in files.items():
        filename = str(f["filename"]).replace('"', "%22")
        head = (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="{name.replace(chr(34), "%22")}"; filename="{filename}"\r\n'
            f"Content-Type: {f.get('content_type', 'application/octet-stream')}\r\n\r\n"
        )
        parts.append(head.encode() + str(f["content"]).encode() + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


Handler = Callable[[Request], Response | Awaitable[Response]]


class MockTransport:
    """Answers every request with ``handler(request)``; raising ``HttpError`` stands for no answer."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[Request] = []

    async def send(self, request: Request) -> Response:
        self.requests.append(request)
        answer = self.handler(request)
        return await answer if asyncio.iscoroutine(answer) else answer  # type: ignore[return-value]

    async def close(self) -> None:
        return None


_factory: Callable[[int], Transport] = H11Transport


def transport(limit: int = 64) -> Transport:
    """A new transport of the kind in use (h11 over asyncio, or the one a test installed)."""
    return _factory(limit)


def use(factory: Callable[[int], Transport]) -> Callable[[int], Transport]:
    """Install a transport factory (tests); returns the previous one so it can be put back."""
    global _factory
    previous, _factory = _factory, factory
    return previous


def request(req: Request) -> Response:
    """One request from synchronous code (an action, a secret's validation), in a loop of its own."""

    async def main() -> Response:
        t = transport(1)
        try:
            return await t.send(req)
        finally:
            await t.close()

    return asyncio.run(main())
