"""What the engine says, read from its API directly through ``backends.http``: a compose project's
containers, their health, logs, volumes, whether an image is there.

The check's critical path starts with the container listing (most checks require a container check).
Through the docker SDK it costs the SDK's import (requests, urllib3: about 0.25 s of CPU, holding the GIL
while the main thread sets the run up), a ping, then one inspect per container, one after another. Here
it is one list and the inspects at once, over the engine's Unix socket, with the client the probes
already use. A diagnosis reads every service's log tail (the credentials analyzer): 14 ms a container
through the SDK (an inspect for the TTY flag, then the logs, through requests), 1-2 ms here.
Only for the default engine on a local socket; ``None`` for anything else or on any error, and the caller
goes through ``backends.engine`` (the SDK), which says what is wrong in its own words.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import quote

from ..model import DockerEndpoint
from .engine import PROJECT, SERVICE, ContainerState, _state, is_oneoff, services_listed
from .http import HttpError, Request, StreamTransport

DEFAULT_SOCKET = "/var/run/docker.sock"
T = TypeVar("T")


def local_socket(endpoint: DockerEndpoint) -> str | None:
    """The Unix socket of the engine ``docker.from_env()`` would reach, when that is all it takes."""
    if endpoint.host or endpoint.context:
        return None
    host = os.environ.get("DOCKER_HOST", "")
    if not host:
        return DEFAULT_SOCKET
    return host.removeprefix("unix://") if host.startswith("unix:///") else None


class _Container:
    """The inspect document in the shape ``engine._state`` reads (the SDK's Container: attrs, labels...)."""

    def __init__(self, attrs: dict[str, Any]) -> None:
        self.attrs = attrs
        self.id = attrs["Id"]
        self.name = str(attrs.get("Name") or "").lstrip("/")
        self.labels = (attrs.get("Config") or {}).get("Labels") or {}


async def _listing(http: StreamTransport, filters: dict[str, list[str]], timeout: float, all: bool = False) -> Any:
    """``/containers/json`` with ``filters``, decoded; None when the engine does not answer 200."""
    query = ("all=1&" if all else "") + f"filters={quote(json.dumps(filters))}"
    listed = await http.send(Request("GET", f"http://docker/containers/json?{query}", timeout=timeout))
    return json.loads(listed.body) if listed.status == 200 else None


async def _asked(socket: str, limit: int, ask: Callable[[StreamTransport], Awaitable[T | None]]) -> T | None:
    """``ask``'s answer through a client of the socket, closed after; None when the socket does not
    answer as an engine (no answer, or one that is not what the engine says)."""
    http = StreamTransport(limit, unix_socket=socket)
    try:
        return await ask(http)
    except (HttpError, ValueError, KeyError, TypeError, AttributeError):
        return None
    finally:
        await http.close()


async def containers(
    socket: str, project: str, service: str | None = None, all: bool = True, timeout: float = 10.0
) -> list[ContainerState] | None:
    """The project's service containers (one-off ones skipped), in the engine's order (newest first), as
    ``Engine.containers`` lists them; None when the socket does not answer as an engine."""
    labels = [f"{PROJECT}={project}"] + ([f"{SERVICE}={service}"] if service else [])

    async def ask(http: StreamTransport) -> list[ContainerState] | None:
        listed = await _listing(http, {"label": labels}, timeout, all=all)
        if listed is None:
            return None
        ids = [c["Id"] for c in listed if not is_oneoff(c.get("Labels") or {})]
        inspected = await asyncio.gather(
            *(http.send(Request("GET", f"http://docker/containers/{i}/json", timeout=timeout)) for i in ids)
        )
        if any(r.status not in (200, 404) for r in inspected):
            return None
        return [_state(_Container(json.loads(r.body))) for r in inspected if r.status == 200]  # 404: removed meanwhile

    return await _asked(socket, 16, ask)


async def services_with_health(socket: str, project: str, health: str, timeout: float = 10.0) -> list[str] | None:
    """The services whose running container's health is ``health``, as ``Engine.services_with_health``
    says them, in one listing the engine filters; None when the socket does not answer as an engine. The
    settle wait before a heal's first run asks this: through the SDK it would import the SDK first (about
    0.25 s of CPU on the main thread), where the deep observation imports it beside the run anyway."""

    async def ask(http: StreamTransport) -> list[str] | None:
        listed = await _listing(http, {"label": [f"{PROJECT}={project}"], "health": [health]}, timeout)
        return None if listed is None else services_listed(listed)

    return await _asked(socket, 1, ask)


async def logs(
    socket: str, container_id: str, tail: int, since: int | None = None, timeout: float = 10.0
) -> list[str] | None:
    """The container's last ``tail`` log lines, stdout and stderr in the engine's order, as
    ``Engine.logs`` reads them: [] for a container that is gone; None when the socket does not answer.

    The engine frames each chunk (an 8-byte header: the stream, three zero bytes, the size) unless the
    container has a TTY, which only its inspect says, so that is asked first, as the SDK does."""
    base = f"http://docker/containers/{quote(container_id, safe='')}"
    query = f"stdout=1&stderr=1&tail={tail}" + (f"&since={since}" if since else "")

    async def ask(http: StreamTransport) -> list[str] | None:
        inspected = await http.send(Request("GET", f"{base}/json", timeout=timeout))
        if inspected.status == 404:
            return []
        got = await http.send(Request("GET", f"{base}/logs?{query}", timeout=timeout, raw=True))
        if inspected.status != 200 or got.status not in (200, 404):
            return None
        if got.status == 404:
            return []
        data = got.body.encode("latin-1")
        tty = bool((json.loads(inspected.body).get("Config") or {}).get("Tty"))
        return (data if tty else _unframed(data)).decode("utf-8", "replace").splitlines()

    return await _asked(socket, 1, ask)


def _unframed(data: bytes) -> bytes:
    """The payload of the engine's multiplexed stream: each frame's bytes after its 8-byte header."""
    out, at = [], 0
    while at + 8 <= len(data):
        size = int.from_bytes(data[at + 4 : at + 8], "big")
        out.append(data[at + 8 : at + 8 + size])
        at += 8 + size
    return b"".join(out)


async def volumes(socket: str, project: str, timeout: float = 10.0) -> dict[str, str] | None:
    """The project's named volumes (name -> creation time), as ``Engine.volumes`` lists them."""
    query = f"filters={quote(json.dumps({'label': [f'{PROJECT}={project}']}))}"

    async def ask(http: StreamTransport) -> dict[str, str] | None:
        got = await http.send(Request("GET", f"http://docker/volumes?{query}", timeout=timeout))
        if got.status != 200:
            return None
        return {v["Name"]: v.get("CreatedAt", "") for v in json.loads(got.body).get("Volumes") or ()}

    return await _asked(socket, 1, ask)


async def has_image(socket: str, reference: str, timeout: float = 10.0) -> bool | None:
    """Whether the engine holds ``reference`` locally, as ``Engine.has_image`` says it."""
    url = f"http://docker/images/{quote(reference, safe='/:')}/json"

    async def ask(http: StreamTransport) -> bool | None:
        return {200: True, 404: False}.get((await http.send(Request("GET", url, timeout=timeout))).status)

    return await _asked(socket, 1, ask)
