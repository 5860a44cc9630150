"""The Docker Engine: containers of a compose project, state, health, logs.

Containers are mapped to services by the compose labels, never by name; one-off ``run`` containers
are skipped. Every engine error becomes ``Unreachable`` with one line that says how to start an engine.
What is only read (containers, health, logs, volumes, images) is asked of the default local engine on
its socket (``engine_api``), without the docker SDK; the SDK does the rest, and answers those too for any
other engine, or when the socket does not answer (then it says why in its own words).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ..errors import Unreachable
from ..model import DockerEndpoint

PROJECT = "com.docker.compose.project"
SERVICE = "com.docker.compose.service"
ONEOFF = "com.docker.compose.oneoff"


def start_hint() -> str:
    """How to get an engine that answers. A remote one (DOCKER_HOST) is named, not started; this
    repository's own script is offered only where it exists, by its absolute path."""
    if os.environ.get("DOCKER_HOST"):
        return "check that the engine named by DOCKER_HOST runs and is reachable, or unset DOCKER_HOST"
    hint = "start one with 'sudo systemctl start docker' (or 'sudo dockerd &')"
    script = Path(__file__).resolve().parents[2] / "scripts" / "engine.sh"
    return hint + (f" or 'bash {script}' (root)" if script.is_file() else "")


def where(endpoint: DockerEndpoint) -> str:
    """The engine an endpoint means, as a user would recognise it."""
    if endpoint.host:
        return endpoint.host
    if endpoint.context:
        return f"context {endpoint.context}"
    host = os.environ.get("DOCKER_HOST")
    return f"{host} (DOCKER_HOST)" if host else "the default socket"


START_HINT = start_hint()


@dataclass(frozen=True)
class ContainerState:
    """What the engine says of one service's container at one moment."""

    service: str
    name: str
    id: str
    state: str  # running | exited | restarting | paused | created | dead
    health: str  # healthy | unhealthy | starting | none
    exit_code: int
    restart_count: int
    health_log: tuple[dict[str, Any], ...] = field(default=())
    labels: dict[str, str] = field(default_factory=dict)
    # Why it last stopped or failed to start: the analyzers tell a missing binary (127 with
    # ``error``) from an OOM kill (137 with ``oom_killed``) from a crash, which the state alone cannot.
    error: str = ""  # State.Error: the runtime's reason a start failed ("exec: ...: not found")
    oom_killed: bool = False
    created: str = ""  # RFC 3339 times as the engine writes them; "" (or year 0001) when never
    started_at: str = ""
    finished_at: str = ""
    image: str = ""  # the image reference the container was created from (Config.Image)
    env: dict[str, str] = field(default_factory=dict)  # Config.Env: what the process really got
    ports: dict[int, int] = field(default_factory=dict)  # published host port -> container port
    mounts: tuple[dict[str, str], ...] = field(default=())  # type, name (volumes), source, destination


def is_oneoff(labels: Mapping[str, str]) -> bool:
    """A ``compose run`` container, never a service's own."""
    return labels.get(ONEOFF, "False") == "True"


def services_listed(summaries: list[dict[str, Any]]) -> list[str]:
    """The services of an engine container listing (``/containers/json``), one-off containers skipped."""
    labels = [c.get("Labels") or {} for c in summaries]
    return sorted({lb.get(SERVICE, "") for lb in labels if not is_oneoff(lb)} - {""})


def by_service(states: list[ContainerState]) -> dict[str, ContainerState]:
    """One container per service: a running one where a service has several (a one-off leftover, a
    container being replaced), else the newest. The one rule for which container speaks for a service."""
    out: dict[str, ContainerState] = {}
    for st in states:
        if st.service not in out or (st.state == "running" and out[st.service].state != "running"):
            out[st.service] = st
    return out


T = TypeVar("T")


class Engine:
    """One connection to one engine, opened lazily and reused.

    ``direct=False`` reads through the SDK only: the tests hold the socket's answers to the SDK's."""

    def __init__(self, endpoint: DockerEndpoint | None = None, direct: bool = True) -> None:
        self.endpoint = endpoint or DockerEndpoint()
        self._client: Any = None
        self._lock = threading.Lock()
        self._direct = direct

    def _from_socket(self, ask: Callable[[str], Coroutine[Any, Any, T | None]]) -> T | None:
        """``ask``'s answer from the local engine's socket; None to go the SDK's way: another engine, no
        answer, or an event loop already running in this thread (``asyncio.run`` cannot nest)."""
        from . import engine_api

        socket = engine_api.local_socket(self.endpoint) if self._direct else None
        if socket is None:
            return None
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(ask(socket))
        return None

    @property
    def client(self) -> Any:
        """The SDK client, connected once even when probes in several threads ask at the same moment."""
        with self._lock:
            if self._client is None:
                self._client = _connect(self.endpoint)
        return self._client

    def containers(self, project: str, service: str | None = None, all: bool = True) -> list[ContainerState]:
        """The project's service containers (one-off containers skipped), newest first."""
        from . import engine_api

        direct = self._from_socket(lambda s: engine_api.containers(s, project, service, all))
        if direct is not None:
            return direct
        import docker.errors

        filters = {"label": [f"{PROJECT}={project}"]}
        if service:
            filters["label"].append(f"{SERVICE}={service}")
        try:
            found = self.client.containers.list(all=all, filters=filters)
        except docker.errors.DockerException as exc:
            raise Unreachable(f"Docker engine: {_reason(exc)}; {START_HINT}") from None
        return [_state(c) for c in found if not is_oneoff(c.labels)]

    def services_with_health(self, project: str, health: str) -> list[str]:
        """The services whose running container's health is ``health`` (``starting``, ``healthy``...):
        one listing the engine filters, where ``containers`` inspects every container (13 calls on the
        sandbox) to answer the same question."""
        from . import engine_api

        direct = self._from_socket(lambda s: engine_api.services_with_health(s, project, health))
        if direct is not None:
            return direct
        import docker.errors

        filters = {"label": [f"{PROJECT}={project}"], "health": health}
        try:
            found = self.client.api.containers(filters=filters)
        except docker.errors.DockerException as exc:
            raise Unreachable(f"Docker engine: {_reason(exc)}; {START_HINT}") from None
        return services_listed(found)

    def container(self, project: str, service: str) -> ContainerState | None:
        """The service's container, preferring a running one; None when there is none."""
        return by_service(self.containers(project, service)).get(service)

    def volumes(self, project: str) -> dict[str, str]:
        """The project's named volumes (engine name -> creation time), found by their compose labels.

        The creation time tells a volume that was removed and made again (empty) from one that has
        lived as long as the stack.
        """
        from . import engine_api

        direct = self._from_socket(lambda s: engine_api.volumes(s, project))
        if direct is not None:
            return direct
        import docker.errors

        try:
            found = self.client.volumes.list(filters={"label": f"{PROJECT}={project}"})
        except docker.errors.DockerException as exc:
            raise Unreachable(f"Docker engine: {_reason(exc)}; {START_HINT}") from None
        return {v.name: v.attrs.get("CreatedAt", "") for v in found}

    def has_image(self, reference: str) -> bool:
        """Whether the engine holds ``reference`` locally (no pull is tried)."""
        from . import engine_api

        direct = self._from_socket(lambda s: engine_api.has_image(s, reference))
        if direct is not None:
            return direct
        import docker.errors

        try:
            self.client.images.get(reference)
        except docker.errors.ImageNotFound:
            return False
        except docker.errors.DockerException as exc:
            raise Unreachable(f"Docker engine: {_reason(exc)}; {START_HINT}") from None
        return True

    def logs(self, container_id: str, tail: int = 200, since_s: float | None = None) -> list[str]:
        """The container's recent log lines (stdout and stderr), oldest first."""
        import time

        from . import engine_api

        since = int(time.time() - since_s) if since_s else None
        direct = self._from_socket(lambda s: engine_api.logs(s, container_id, tail, since))
        if direct is not None:
            return direct
        import docker.errors

        kwargs: dict[str, Any] = {"tail": tail, "stdout": True, "stderr": True}
        if since:
            kwargs["since"] = since
        try:
            raw = self.client.api.logs(container_id, **kwargs)  # not containers.get(): an inspect more
        except docker.errors.NotFound:
            return []
        except docker.errors.DockerException as exc:
            raise Unreachable(f"Docker engine: {_reason(exc)}; {START_HINT}") from None
        return raw.decode("utf-8", "replace").splitlines()

    def logs_of_each(self, container_ids: list[str], tail: int) -> dict[str, list[str]]:
        """``logs`` of several containers, read at once from the local engine's socket (a diagnosis reads
        every service's tail: 13 reads one after another take 40 ms of requests, at once about 10)."""
        from . import engine_api

        async def each(socket: str) -> dict[str, list[str]] | None:
            found = await asyncio.gather(*(engine_api.logs(socket, i, tail) for i in container_ids))
            return None if any(f is None for f in found) else dict(zip(container_ids, found, strict=True))

        direct = self._from_socket(each) if container_ids else {}
        return direct if direct is not None else {i: self.logs(i, tail) for i in container_ids}

    def events(self, project: str, actions: tuple[str, ...]) -> Any:
        """The project's container events as they happen: a blocking iterator of decoded events.

        Only ``actions`` are sent (the engine filters; ``health_status`` matches every health
        change). The returned stream has ``close()``, which ends the iteration from another thread.
        """
        import docker.errors

        filters = {"type": ["container"], "label": [f"{PROJECT}={project}"], "event": list(actions)}
        try:
            return self.client.events(decode=True, filters=filters)
        except docker.errors.DockerException as exc:
            raise Unreachable(f"Docker engine: {_reason(exc)}; {START_HINT}") from None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _state(container: Any) -> ContainerState:
    attrs = container.attrs
    st = attrs.get("State", {})
    health = st.get("Health") or {}
    return ContainerState(
        service=container.labels.get(SERVICE, ""),
        name=container.name,
        id=container.id,
        state=st.get("Status", "unknown"),
        health=health.get("Status", "none") or "none",
        exit_code=int(st.get("ExitCode", 0) or 0),
        restart_count=int(attrs.get("RestartCount", 0) or 0),
        health_log=tuple(health.get("Log") or ()),
        labels=dict(container.labels),
        error=st.get("Error", "") or "",
        oom_killed=bool(st.get("OOMKilled")),
        created=attrs.get("Created", "") or "",
        started_at=st.get("StartedAt", "") or "",
        finished_at=st.get("FinishedAt", "") or "",
        image=(attrs.get("Config") or {}).get("Image", "") or "",
        env=dict(kv.partition("=")[::2] for kv in (attrs.get("Config") or {}).get("Env") or ()),
        ports=_published(attrs),
        mounts=tuple({k: str(m.get(src, "")) for k, src in _MOUNT_KEYS.items()} for m in attrs.get("Mounts") or ()),
    )


_MOUNT_KEYS = {"type": "Type", "name": "Name", "source": "Source", "destination": "Destination"}


def _published(attrs: dict[str, Any]) -> dict[int, int]:
    """Host port -> container port as configured (HostConfig), so a stopped container has them too."""
    out: dict[int, int] = {}
    for spec, binds in ((attrs.get("HostConfig") or {}).get("PortBindings") or {}).items():
        for b in binds or ():
            if str(b.get("HostPort", "")).isdigit():
                port = spec.split("/")[0]
                out[int(b["HostPort"])] = int(port) if port.isdigit() else 0
    return out


def _reason(exc: BaseException) -> str:
    text = str(exc)
    if "Permission denied" in text or "PermissionError" in text:
        return "permission denied on the engine's socket (add yourself to the 'docker' group or run as root)"
    if "No such file" in text or "Connection refused" in text or "fetching server API version" in text:
        return "no Docker engine answers"
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _connect(endpoint: DockerEndpoint) -> Any:
    import docker
    import docker.errors

    try:
        if endpoint.context:
            from docker.context import ContextAPI

            ctx = ContextAPI.get_context(endpoint.context)
            if ctx is None:
                raise Unreachable(f"Docker context {endpoint.context!r} does not exist")
            client = docker.DockerClient(base_url=ctx.Host, tls=ctx.TLSConfig, use_ssh_client=False)
        elif endpoint.host:
            client = docker.DockerClient(base_url=endpoint.host, use_ssh_client=endpoint.host.startswith("ssh://"))
        else:
            client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        raise Unreachable(f"Docker engine at {where(endpoint)}: {_reason(exc)}; {START_HINT}") from None
    return client
