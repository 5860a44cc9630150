"""HTTP, the one way out: probes, secret validation and the ``http`` action all send requests here.

HTTP/1.1 on asyncio's own streams with httptools (llhttp) parsing the responses (``StreamTransport``
says why not aiohttp, httpcore or h11); not httpx's AsyncClient either, which slows down as concurrency
grows (500 probes of a 20 ms endpoint: 7.6 s at 100 concurrent, DESIGN.md). Every request goes through a
``Transport``; tests replace it with ``MockTransport`` (httpx's idea: one seam, one way out).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import httptools  # llhttp (C): the response parser of Node.js, uvicorn and aiohttp

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


class StreamTransport:
    """HTTP/1.1 over asyncio's streams, httptools for the responses: a pool of kept-alive connections per
    origin, at most ``limit`` requests in flight.

    Neither aiohttp nor httpcore: measured on the sandbox's 35 checks (pyinstrument, whole process),
    ``import aiohttp`` costs 0.4-0.5 s of CPU inside the first request, blocking the event loop (most of
    it two SSL contexts its connector builds at import); httpcore costs about as much, its own import
    plus anyio's asyncio backend, and more per request (its pool re-scans every connection on each
    assignment). Not h11 (this transport's parser until 2026-11-26): pure Python, it took 2.6 s of CPU for
    10,000 requests of 20 ms at 64 concurrent where httptools takes 1.1 s (the same run, load 4), and a
    10,000-check suite is CPU-bound on it. httptools imports in 8 ms and only parses; the request line
    and headers are written here (``_head``, which refuses what could end a line early). An SSL context is
    built only for an https URL. The runner bounds the requests in flight, and so does ``limit`` here.
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
        head = _head(request.method, target, headers) + body  # refused here, before any connection
        try:
            async with asyncio.timeout(request.timeout), self._slots:  # a total, pool wait included
                while True:
                    conn = self._reuse(origin) or await self._open(origin)
                    try:
                        return await conn.exchange(request.method, head, self._idle[origin], request.raw)
                    except _Stale:  # a kept-alive connection the server had closed: once more, fresh
                        continue
        except TimeoutError:
            raise HttpError(f"timeout after {request.timeout:g} s") from None
        except ConnectionRefusedError:
            raise HttpError("connection refused") from None
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


class _Parsed:
    """httptools' callbacks for one response: what it says, as it is read. It holds its parser and the
    parser holds it: ``exchange`` cuts that cycle (``parser = None``) so each response is freed at once.
    Left to the collector, they piled up in a watch (17 kB a cycle), whose runs ``gc.freeze`` first."""

    __slots__ = ("chunks", "done", "framed", "headers_done", "keep_alive", "kept", "parser", "status")

    def __init__(self) -> None:
        self.kept: dict[str, str] = {}
        self.chunks: list[bytes] = []
        self.done = self.headers_done = self.keep_alive = False
        self.status = 0
        self.framed = False  # a Content-Length or chunked body: the server's close cannot end it
        self.parser: Any = httptools.HttpResponseParser(self)

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        if key in KEEP_HEADERS:
            self.kept[key] = value.decode("latin-1")
        elif key in ("content-length", "transfer-encoding"):
            self.framed = True

    def on_headers_complete(self) -> None:
        self.headers_done = True
        self.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()  # llhttp says it only inside its callbacks

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        self.done = True


class _Connection:
    """One TCP (or TLS) connection; back in the pool only after a whole response the server keeps alive."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, fresh: bool) -> None:
        self.reader, self.writer, self.fresh = reader, writer, fresh

    def usable(self) -> bool:
        return not self.reader.at_eof() and not self.writer.is_closing()

    def close(self) -> None:
        self.writer.close()

    async def exchange(self, method: str, request: bytes, idle: list[_Connection], raw: bool = False) -> Response:
        parsed, head_only = _Parsed(), method.upper() == "HEAD"
        got_any = False
        try:
            self.writer.write(request)  # one write: one segment
            await self.writer.drain()
            while not parsed.done:
                data = await self.reader.read(65536)
                if not data:
                    if not got_any and not self.fresh:
                        raise _Stale
                    if parsed.headers_done and not parsed.framed:  # a body that ends where the connection does
                        break
                    raise HttpError("the server closed the connection before the response ended")
                got_any = True
                parsed.parser.feed_data(data)
                if head_only and parsed.headers_done:  # no body follows, whatever Content-Length says
                    break
        except (ConnectionResetError, BrokenPipeError) as exc:
            self.close()
            if not got_any and not self.fresh:
                raise _Stale from None
            raise HttpError(f"connection reset ({exc.strerror or exc})") from None
        except httptools.HttpParserError as exc:
            self.close()
            raise HttpError(f"not an HTTP/1.1 response ({type(exc).__name__}: {exc})") from None
        except BaseException:  # a timeout or an error mid-exchange: this connection's state is unknown
            self.close()
            raise
        finally:
            parsed.parser = None
        if parsed.done and not head_only and parsed.keep_alive:
            self.fresh = False
            idle.append(self)
        else:
            self.close()
        charset = "latin-1" if raw else _charset(parsed.kept)
        return Response(parsed.status, b"".join(parsed.chunks).decode(charset, errors="replace"), parsed.kept)


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TARGET = re.compile(r"[\x21-\x7e]+")
_VALUE = re.compile(r"[^\x00-\x08\x0a-\x1f\x7f]*")


def _head(method: str, target: str, headers: list[tuple[str, str]]) -> bytes:
    """The request line and headers, each checked as HTTP/1.1 allows: a name, value or target that could
    end a line early (a CR or LF from a template) is refused, never sent."""
    if not _TOKEN.fullmatch(method) or not _TARGET.fullmatch(target):
        raise HttpError(f"not a valid request line: {method} {target!r}")
    lines = [f"{method} {target} HTTP/1.1"]
    for name, value in headers:
        value = value.strip(" \t")
        if not _TOKEN.fullmatch(name) or not _VALUE.fullmatch(value):
            raise HttpError(f"not a valid header: {name!r}")
        lines.append(f"{name}: {value}")
    try:
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    except UnicodeEncodeError:
        raise HttpError("a header value is not Latin-1 text; encode it (e.g. percent-encoding)") from None


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


_factory: Callable[[int], Transport] = StreamTransport


def transport(limit: int = 64) -> Transport:
    """A new transport of the kind in use (``StreamTransport``, or the one a test installed)."""
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
