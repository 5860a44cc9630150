"""The compose backend against the real Compose v2 CLI and the real engine."""

from __future__ import annotations

from dataclasses import replace

import pytest

from remediator.backends.compose import Compose
from remediator.backends.engine import Engine
from remediator.errors import Unreachable, UserError
from remediator.model import DockerEndpoint

NOWHERE = DockerEndpoint(host="unix:///nonexistent/remediate-test.sock")


def test_config_reads_services_environment_ports_and_healthcheck(compose_project):
    config = Compose(compose_project).config()
    web = config["services"]["web"]
    assert web["environment"]["GREETING"] == "hello world"  # from app.env
    assert web["environment"]["API_KEY"] == "dev-key"
    assert web["ports"][0]["host_ip"] == "127.0.0.1"
    assert web["healthcheck"]["test"][0] == "CMD"
    assert config["services"]["worker"]["environment"] == {"MODE": "dev"}


def test_a_compose_file_that_does_not_parse_is_one_line_user_error(compose_project):
    (compose_project.directory / "compose.yml").write_text("services:\n  web: [\n")
    with pytest.raises(UserError) as err:
        Compose(compose_project).config()
    message = str(err.value)
    assert "\n" not in message and "yaml" in message and err.value.exit_code == 2


def test_a_missing_compose_binary_is_unreachable(compose_project):
    project = replace(compose_project, command=("/nonexistent/docker-compose",))
    with pytest.raises(Unreachable) as err:
        Compose(project).ps()
    assert "not found" in str(err.value) and err.value.exit_code == 3


def test_an_unreachable_engine_is_one_clear_line(compose_project):
    with pytest.raises(Unreachable) as err:
        Compose(compose_project, NOWHERE).ps()
    assert "\n" not in str(err.value) and "no Docker engine answers" in str(err.value)
    with pytest.raises(Unreachable) as err:
        Engine(NOWHERE).containers(compose_project.project)
    assert "\n" not in str(err.value) and err.value.exit_code == 3


def test_dry_run_says_what_up_would_do_and_changes_nothing(engine, compose_project):
    compose = Compose(compose_project)
    assert compose.dry_run_up() == {"web": "create", "worker": "create"}
    assert compose.ps() == []  # the dry run created nothing
    assert compose.up(["worker"]).ok
    assert compose.dry_run_up() == {"web": "create", "worker": "running"}
    assert compose.stop(["worker"]).ok
    assert compose.dry_run_up(["worker"]) == {"worker": "start"}
    assert compose.dry_run_up(["worker"], recreate="force") == {"worker": "recreate"}
    [row] = compose.ps(["worker"])
    assert row["Service"] == "worker" and row["State"] == "exited"


def test_exec_and_run_rm_take_argv_without_a_shell(engine, compose_project):
    compose = Compose(compose_project)
    assert compose.up(["worker"]).ok
    proc = compose.exec("worker", ["echo", "$HOME; rm -rf /"])
    assert proc.ok and proc.stdout.strip() == "$HOME; rm -rf /"
    proc = compose.run_rm("worker", ["python3", "-c", "import os; print(os.environ['X'])"], env={"X": "1"})
    assert proc.ok and proc.stdout.strip() == "1"
    assert [r["Service"] for r in compose.ps()] == ["worker"]  # the one-off container is gone


def test_an_action_on_an_unreachable_engine_raises_one_unreachable_line(compose_project):
    from remediator.actions import ActionContext, build_action
    from remediator.model import Target

    target = Target(name="t", inventory=compose_project.directory / "i.yml", compose=compose_project, docker=NOWHERE)
    ctx = ActionContext.for_target(target)
    for spec in ({"compose_up": {}}, {"wait_healthy": {"services": ["web"]}}):
        with pytest.raises(Unreachable) as err:
            build_action(spec).inspect(ctx)
        assert "\n" not in str(err.value) and "no Docker engine answers" in str(err.value)


SLOW_DEPENDENCY = """\
services:
  slow:   # never healthy within the test: a full dry run of up would wait for it
    image: remediate-base:local
    command: ["sleep", "infinity"]
    stop_signal: SIGKILL
    environment: {{MODE: {mode}}}
    healthcheck: {{test: ["CMD", "false"], interval: 1s, retries: 1000, start_period: 600s}}
  waiter:
    image: remediate-base:local
    command: ["sleep", "infinity"]
    depends_on: {{slow: {{condition: service_healthy}}}}
"""


def test_the_create_phase_of_a_dry_run_is_read_without_waiting_on_health(engine, compose_project):
    """What drift needs (create, recreate) is said before up waits on any dependency: the read stops there,
    where a whole dry run would wait on ``slow``'s health for its 600 s start period (past the timeout)."""
    compose_file = compose_project.directory / "compose.yml"
    compose_file.write_text(SLOW_DEPENDENCY.format(mode="dev"))
    compose = Compose(compose_project)
    assert compose.up(["slow"]).ok
    assert engine.services_with_health(compose_project.project, "starting") == ["slow"]  # in its start period
    assert engine.services_with_health(compose_project.project, "healthy") == []
    proc = compose.dry_run_create_phase(timeout=60)
    assert proc.ok, proc.stderr
    assert compose.plan_of(proc) == {"slow": "running", "waiter": "create"}
    compose_file.write_text(SLOW_DEPENDENCY.format(mode="prod"))  # slow's config drifts
    assert compose.plan_of(compose.dry_run_create_phase(timeout=60)) == {"slow": "recreate", "waiter": "create"}
    assert [r["Service"] for r in compose.ps()] == ["slow"]  # nothing was created or recreated
    assert not compose.run("--dry-run", "up", "-d", timeout=8).ok  # the whole dry run waits: timed out
