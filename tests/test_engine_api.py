"""The project's containers read from the engine's socket directly (backends.engine_api) are the ones the
SDK lists (backends.engine), field for field: on a real engine, with a running, an exited and a one-off
container of one project and a container of another; and it declines (None) rather than guess. So are
the logs (framed and TTY), the volumes and whether an image is there; and an ``Engine`` for the local
engine answers all of these without ever connecting the SDK."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from remediator.backends import engine_api
from remediator.backends.engine import ONEOFF, PROJECT, SERVICE, Engine, by_service
from remediator.facts import EngineLogs
from remediator.model import ComposeProject, DockerEndpoint, Target
from remediator.probes import ProbeContext

from .support import require_engine

IMAGE = "remediate-base:local"


@pytest.fixture
def project() -> Iterator[str]:
    client = require_engine()
    name = f"remediate-api-{secrets.token_hex(3)}"
    made = []

    def run(service: str, command: list[str], oneoff: bool = False, project: str = name, tty: bool = False) -> None:
        labels = {PROJECT: project, SERVICE: service, ONEOFF: "True" if oneoff else "False"}
        name = f"{project}-{service}"
        made.append(client.containers.run(IMAGE, command, labels=labels, detach=True, name=name, tty=tty))

    volume = None
    try:
        run("web", ["sleep", "300"])
        run("job", ["sh", "-c", "exit 3"])
        run("once", ["sleep", "300"], oneoff=True)
        run("web", ["sleep", "300"], project=name + "-other")
        run("talk", ["sh", "-c", TALK])
        run("tty", ["sh", "-c", TALK], tty=True)
        volume = client.volumes.create(f"{name}_data", labels={PROJECT: name})
        for c in made[1:2] + made[4:]:
            c.wait(timeout=60)
        yield name
    finally:
        for c in made:
            c.remove(force=True)
        if volume is not None:
            volume.remove(force=True)


# Lines on both streams, one longer than a frame's size fits in one byte, and one not UTF-8.
TALK = "echo out1; echo err1 >&2; printf 'x%.0s' $(seq 300); echo; printf 'caf\\351\\n'; echo out2"


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
    states = {c.service: (c.state, c.exit_code) for c in direct}
    assert states == {"web": ("running", 0), "job": ("exited", 3), "talk": ("exited", 0), "tty": ("exited", 0)}
    sdk = Engine(direct=False)
    try:
        for service, all in (("web", True), ("job", True), ("job", False), ("nothing", True)):
            one = asyncio.run(engine_api.containers(socket, project, service, all))
            assert one == sdk.containers(project, service, all), (service, all)
        assert asyncio.run(engine_api.containers(socket, project, "job", all=False)) == []
    finally:
        sdk.close()


def test_the_probe_context_answers_from_the_socket_without_an_sdk_client(project: str, tmp_path: Path) -> None:
    target = Target(name="t", inventory=tmp_path / "i.yml", compose=ComposeProject(project, tmp_path))

    async def main() -> tuple[set[str], object]:
        ctx = ProbeContext(target)
        states = await ctx.list_containers()
        return set(states), ctx._engine

    assert asyncio.run(main()) == ({"web", "job", "talk", "tty"}, None)


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


def test_logs_volumes_and_images_from_the_socket_are_the_sdks(project: str) -> None:
    socket = engine_api.local_socket(DockerEndpoint())
    assert socket is not None
    sdk, eng = Engine(direct=False), Engine()
    try:
        ids = {c.service: c.id for c in sdk.containers(project)}
        for service in ("talk", "tty", "web"):
            for tail in (2, 200):
                direct = asyncio.run(engine_api.logs(socket, ids[service], tail))
                assert direct == sdk.logs(ids[service], tail), (service, tail)
                assert eng.logs(ids[service], tail) == direct
        talked = eng.logs(ids["talk"], 200)
        out = [line for line in talked if line != "err1"]  # stderr's line may come anywhere among stdout's
        assert out == ["out1", "x" * 300, "caf\ufffd", "out2"] and len(talked) == 5  # a byte not UTF-8: replaced
        assert asyncio.run(engine_api.logs(socket, "0" * 64, 10)) == [] == sdk.logs("0" * 64, 10)
        assert eng.volumes(project) == sdk.volumes(project) == {f"{project}_data": ANY_TIME}
        for reference, held in ((IMAGE, True), ("remediate-none:absent", False)):
            assert eng.has_image(reference) is held is sdk.has_image(reference)
        assert eng.services_with_health(project, "none") == sdk.services_with_health(project, "none") == ["web"]
        assert eng.containers(project) == sdk.containers(project)
        every = [ids["talk"], ids["tty"], "0" * 64]
        assert eng.logs_of_each(every, 3) == {i: sdk.logs(i, 3) for i in every} == sdk.logs_of_each(every, 3)
        round_logs = EngineLogs(eng, by_service(eng.containers(project)))
        assert round_logs.tail("talk", 2) == sdk.logs(ids["talk"], 2) and round_logs.tail("nothing", 5) == []
        assert round_logs.tail("tty", 1) == sdk.logs(ids["tty"], 1)  # read with talk's, at once
        assert eng._client is None  # all of it without the SDK's client
    finally:
        sdk.close()
        eng.close()
    assert asyncio.run(engine_api.logs("/nonexistent/docker.sock", "x", 10)) is None
    assert asyncio.run(engine_api.volumes("/nonexistent/docker.sock", project)) is None
    assert asyncio.run(engine_api.has_image("/nonexistent/docker.sock", IMAGE)) is None


class _AnyTime(str):
    """Equal to any RFC 3339 time the engine writes (a volume's creation)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and other[:2] == "20" and "T" in other

    __hash__ = str.__hash__


ANY_TIME = _AnyTime()
