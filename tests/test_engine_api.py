"""The project's containers read from the engine's socket directly (backends.engine_api) are the ones the
SDK lists (backends.engine), field for field: on a real engine, with a running, an exited and a one-off
container of one project and a container of another; and it declines (None) rather than guess."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from remediator.backends import engine_api
from remediator.backends.engine import ONEOFF, PROJECT, SERVICE, Engine
from remediator.model import ComposeProject, DockerEndpoint, Target
from remediator.probes import ProbeContext

from .support import require_engine

IMAGE = "remediate-base:local"


@pytest.fixture
def project() -> Iterator[str]:
    client = require_engine()
    name = f"remediate-api-{secrets.token_hex(3)}"
    made = []

    def run(service: str, command: list[str], oneoff: bool = False, project: str = name) -> None:
        labels = {PROJECT: project, SERVICE: service, ONEOFF: "True" if oneoff else "False"}
        made.append(client.containers.run(IMAGE, command, labels=labels, detach=True, name=f"{project}-{service}"))

    try:
        run("web", ["sleep", "300"])
        run("job", ["sh", "-c", "exit 3"])
        run("once", ["sleep", "300"], oneoff=True)
        run("web", ["sleep", "300"], project=name + "-other")
        made[1].wait(timeout=60)
        yield name
    finally:
        for c in made:
            c.remove(force=True)


def test_the_socket_lists_what_the_sdk_lists(project: str) -> None:
    socket = engine_api.local_socket(DockerEndpoint())
    assert socket is not None
    direct = asyncio.run(engine_api.containers(socket, project))
    eng = Engine()
    try:
        via_sdk = eng.containers(project)
    finally:
        eng.close()
    assert direct == via_sdk
    assert {c.service: (c.state, c.exit_code) for c in direct} == {"web": ("running", 0), "job": ("exited", 3)}


def test_the_probe_context_answers_from_the_socket_without_an_sdk_client(project: str, tmp_path: Path) -> None:
    target = Target(name="t", inventory=tmp_path / "i.yml", compose=ComposeProject(project, tmp_path))

    async def main() -> tuple[set[str], object]:
        ctx = ProbeContext(target)
        states = await ctx.list_containers()
        return set(states), ctx._engine

    assert asyncio.run(main()) == ({"web", "job"}, None)


def test_an_engine_that_is_not_the_local_default_is_left_to_the_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    assert engine_api.local_socket(DockerEndpoint()) == "/var/run/docker.sock"
    assert engine_api.local_socket(DockerEndpoint(host="tcp://10.0.0.1:2375")) is None
    assert engine_api.local_socket(DockerEndpoint(context="remote")) is None
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/user/1000/docker.sock")
    assert engine_api.local_socket(DockerEndpoint()) == "/run/user/1000/docker.sock"
    monkeypatch.setenv("DOCKER_HOST", "ssh://me@box")
    assert engine_api.local_socket(DockerEndpoint()) is None


def test_a_socket_that_does_not_answer_as_an_engine_is_declined(tmp_path: Path) -> None:
    assert asyncio.run(engine_api.containers(str(tmp_path / "no.sock"), "p")) is None


def test_the_socket_says_which_services_are_in_a_health_state_as_the_sdk_does(project: str) -> None:
    socket = engine_api.local_socket(DockerEndpoint())
    assert socket is not None
    eng = Engine()
    try:
        for health in ("none", "starting", "healthy"):
            direct = asyncio.run(engine_api.services_with_health(socket, project, health))
            assert direct == eng.services_with_health(project, health), health
    finally:
        eng.close()
    assert asyncio.run(engine_api.services_with_health(socket, project, "none")) == ["web"]  # running, no check
    assert asyncio.run(engine_api.services_with_health("/nonexistent/docker.sock", project, "none")) is None
