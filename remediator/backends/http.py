"""HTTP, the one way out: probes, secret validation and the ``http`` action all send requests here.

aiohttp rather than httpx: measured here (DESIGN.md and benchmarks/check_suite.py), httpx's AsyncClient
slows down as concurrency grows (500 probes of a 20 ms endpoint: 7.6 s at 100 concurrent) while
aiohttp stays near the floor, and a suite must run concurrently to be fast. Every request goes through
a ``Transport``; tests replace it with ``MockTransport`` (httpx's idea: one seam, one way out).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

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


class AiohttpTransport:
    """One aiohttp session (created inside the running loop), at most ``limit`` connections."""

    def __init__(self, limit: int = 64) -> None:
        self.limit = limit
        self._session: Any = None

    async def send(self, request: Request) -> Response:
        import aiohttp

        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self.limit, limit_per_host=0, force_close=False)
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False)
        kwargs: dict[str, Any] = {"headers": dict(request.headers), "allow_redirects": False}
        if request.json is not None:
            kwargs["json"] = request.json
        elif request.form is not None:
            kwargs["data"] = dict(request.form)
        elif request.files is not None:
            form = aiohttp.FormData()
            for name, f in request.files.items():
                form.add_field(
                    name,
                    str(f["content"]).encode(),
                    filename=f["filename"],
                    content_type=f.get("content_type", "application/octet-stream"),
                )
            kwargs["data"] = form
        try:
            async with self._session.request(
                request.method, request.url, timeout=aiohttp.ClientTimeout(total=request.timeout), **kwargs
            ) as resp:
                body = await resp.text(errors="replace")
                headers = {k.lower(): v for k, v in resp.headers.items() if k.lower() in KEEP_HEADERS}
                return Response(resp.status, body, headers)
        except TimeoutError:
            raise HttpError(f"timeout after {request.timeout:g} s") from None
        except aiohttp.ClientConnectorError as exc:
            refused = isinstance(exc.os_error, ConnectionRefusedError)
            raise HttpError("connection refused" if refused else str(exc.os_error)) from None
        except aiohttp.ClientError as exc:
            raise HttpError(f"{type(exc).__name__}: {exc}") from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


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


_factory: Callable[[int], Transport] = AiohttpTransport


def transport(limit: int = 64) -> Transport:
    """A new transport of the kind in use (aiohttp, or the one a test installed)."""
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
