"""A compose project's containers read from the engine's API directly, through ``backends.http``.

The check's critical path starts with this listing (most checks require a container check). Through the
docker SDK it costs the SDK's import (requests, urllib3: about 0.25 s of CPU, holding the GIL while the
main thread sets the run up), a ping, then one inspect per container, one after another. Here it is one
list and the inspects at once, over the engine's Unix socket, with the client the probes already use.
Only for the default engine on a local socket; ``None`` for anything else or on any error, and the caller
goes through ``backends.engine`` (the SDK), which says what is wrong in its own words.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any
from urllib.parse import quote

from ..model import DockerEndpoint
from .engine import PROJECT, ContainerState, _state, is_oneoff, services_listed
from .http import H11Transport, HttpError, Request

DEFAULT_SOCKET = "/var/run/docker.sock"


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


async def _listing(http: H11Transport, filters: dict[str, list[str]], timeout: float, all: bool = False) -> Any:
    """``/containers/json`` with ``filters``, decoded; None when the engine does not answer 200."""
    query = ("all=1&" if all else "") + f"filters={quote(json.dumps(filters))}"
    listed = await http.send(Request("GET", f"http://docker/containers/json?{query}", timeout=timeout))
    return json.loads(listed.body) if listed.status == 200 else None


async def containers(socket: str, project: str, timeout: float = 10.0) -> list[ContainerState] | None:
    """The project's service containers (one-off ones skipped), in the engine's order (newest first), as
    ``Engine.containers`` lists them; None when the socket does not answer as an engine."""
    http = H11Transport(16, unix_socket=socket)
    try:
        listed = await _listing(http, {"label": [f"{PROJECT}={project}"]}, timeout, all=True)
        if listed is None:
            return None
        ids = [c["Id"] for c in listed if not is_oneoff(c.get("Labels") or {})]
        inspected = await asyncio.gather(
            *(http.send(Request("GET", f"http://docker/containers/{i}/json", timeout=timeout)) for i in ids)
        )
        if any(r.status not in (200, 404) for r in inspected):
            return None
        return [_state(_Container(json.loads(r.body))) for r in inspected if r.status == 200]  # 404: removed meanwhile
    except (HttpError, ValueError, KeyError, TypeError):
        return None
    finally:
        await http.close()


async def services_with_health(socket: str, project: str, health: str, timeout: float = 10.0) -> list[str] | None:
    """The services whose running container's health is ``health``, as ``Engine.services_with_health``
    says them, in one listing the engine filters; None when the socket does not answer as an engine. The
    settle wait before a heal's first run asks this: through the SDK it would import the SDK first (about
    0.25 s of CPU on the main thread), where the deep observation imports it beside the run anyway."""
    http = H11Transport(1, unix_socket=socket)
    try:
        listed = await _listing(http, {"label": [f"{PROJECT}={project}"], "health": [health]}, timeout)
        return None if listed is None else services_listed(listed)
    except (HttpError, ValueError, KeyError, TypeError, AttributeError):
        return None
    finally:
        await http.close()
