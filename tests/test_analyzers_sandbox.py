"""The analyzers on the real sandbox: silent when it is healthy, and naming the true cause of faults
no playbook names, made by hand as a user would (an edit of compose.yml or .env, then compose).

One sandbox for the module (own work directory, project remediate-analyzers-<random>, port offset
23000 + REMEDIATE_TEST_PORT_SHIFT), torn down after."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from remediator import templating
from remediator.analyzers import Diagnosis, analyze
from remediator.analyzers.observe import observe
from remediator.backends.compose import Compose
from remediator.backends.engine import Engine
from remediator.context import base_context
from remediator.facts import Facts, gather
from remediator.loader import load_inventory, load_suite
from remediator.runner import run_suite

from .support import PORT_SHIFT, SandboxDir, require_engine, wait_for

pytestmark = [pytest.mark.engine, pytest.mark.sandbox]

OFFSET = 23000 + PORT_SHIFT


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxDir]:
    require_engine()
    b = SandboxDir(
        tmp_path_factory.mktemp("analyzers") / "stack", f"remediate-analyzers-{secrets.token_hex(3)}", OFFSET
    )
    try:
        b.up()  # sandbox.py asks ``up --wait`` again when a slow first initdb made it give up
        yield b
    finally:
        b.down()


def diagnose(box: SandboxDir) -> tuple[Facts, list[Diagnosis]]:
    """What the planner will do each round: run the suite, gather the facts, observe, analyze."""
    (target,) = load_inventory(box.inventory).targets.values()
    suite = load_suite(target.checks)
    run = run_suite(target, suite, suite.checks)
    context = base_context(target)
    rendered = {c.id: _render(c.probe, context) for c in suite.checks}
    engine = Engine(target.docker)
    try:
        stack = observe(Compose(target.compose, target.docker), engine)
        facts = gather(target, run, suite.by_id(), rendered, context, engine=engine) if stack.services else None
        facts = facts or Facts(run=run, checks=suite.by_id(), rendered=rendered)
        facts.stack = stack
        return facts, analyze(facts)
    finally:
        engine.close()


def _render(probe: Any, context: Any) -> Any:
    try:
        return templating.render(probe, context)
    except Exception:  # a capture of another check (a token): this probe's aim is unknown, as in the planner
        return {}


def _settled(box: SandboxDir) -> bool:
    """Every container running and none still in its health start period."""
    engine = Engine()
    try:
        states = engine.containers(box.project)
    finally:
        engine.close()
    return all(s.state == "running" and s.health != "starting" for s in states)


def _edit(box: SandboxDir, name: str, old: str, new: str) -> str:
    path = box.workdir / name
    text = path.read_text()
    assert old in text, f"{old!r} not in {name}"
    path.write_text(text.replace(old, new))
    return text


def test_healthy_sandbox_has_no_finding(box: SandboxDir) -> None:
    wait_for(lambda: _settled(box), 60)
    facts, found = diagnose(box)
    # a busy machine times health probes out: those are shown at low confidence and are the only
    # readings allowed here; anything else on a healthy sandbox is a false positive
    slow = [d for d in found if d.analyzer == "unhealthy" and d.confidence == "low"]
    assert [d.to_json() for d in found if d not in slow] == [], f"rate {facts.run.rate:.2f}"


def test_redis_url_without_its_password(box: SandboxDir) -> None:
    original = _edit(
        box, "compose.yml", "REDIS_URL: redis://:${REDIS_PASSWORD}@redis:6379/1", "REDIS_URL: redis://redis:6379/1"
    )
    compose = Compose(load_inventory(box.inventory).targets["sandbox"].compose)
    try:
        assert compose.up(["llm-orchestrator"]).ok
        _, found = diagnose(box)
        (d,) = [d for d in found if d.analyzer == "url-credentials"]
        assert d.subject == "llm-orchestrator.REDIS_URL" and d.confidence == "high"
        assert all(s not in json.dumps(d.to_json()) for s in box.secret_values())
    finally:
        (box.workdir / "compose.yml").write_text(original)
        compose.up(["llm-orchestrator"])


def test_command_naming_a_missing_binary(box: SandboxDir) -> None:
    original = _edit(
        box, "compose.yml", 'command: ["python3", "/app/saga_orchestrator.py"]', 'command: ["uvicorn", "main:app"]'
    )
    compose = Compose(load_inventory(box.inventory).targets["sandbox"].compose)
    try:
        assert not compose.up(["saga-orchestrator"]).ok
        _, found = diagnose(box)
        by: dict[str, Any] = {(d.analyzer, d.subject): d for d in found}
        d = by[("exit-code", "saga-orchestrator")]
        assert d.signature == "missing-binary" and "'uvicorn'" in d.cause and d.explains
    finally:
        (box.workdir / "compose.yml").write_text(original)
        compose.up(["saga-orchestrator"])


def test_env_file_with_an_unterminated_quote(box: SandboxDir) -> None:
    env = box.workdir / ".env"
    lines = env.read_text().splitlines()
    n = next(i for i, line in enumerate(lines) if line.startswith("CORS_ORIGINS="))
    original = _edit(box, ".env", lines[n], lines[n].replace("=", '="', 1))
    try:
        _, found = diagnose(box)
    finally:
        env.write_text(original)
    (d,) = found
    assert (
        d.analyzer == "env-file-unreadable" and d.subject == f"{env}:{n + 1}" and d.evidence[0]["key"] == "CORS_ORIGINS"
    )
    assert all(s not in json.dumps(d.to_json()) for s in box.secret_values())
