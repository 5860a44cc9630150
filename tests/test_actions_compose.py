"""compose_up / compose_restart / compose_recreate / wait_healthy / exec / run / http on a real project."""

from __future__ import annotations

from pathlib import Path

from remediator.actions import ActionContext, build_action
from remediator.model import ComposeProject, Target

from .support import http_server


def _ctx(project: ComposeProject) -> ActionContext:
    return ActionContext.for_target(Target(name="t", inventory=project.directory / "inventory.yml", compose=project))


def test_compose_up_creates_missing_recreates_changed_and_is_a_no_op_otherwise(engine, compose_project):
    ctx = _ctx(compose_project)
    up = build_action({"compose_up": {"services": ["web", "worker"]}})
    healthy = build_action({"wait_healthy": {"services": ["web", "worker"], "timeout": 60, "start_period": 10}})

    # broken: nothing runs
    seen = up.inspect(ctx)
    assert seen.would_change and seen.evidence["plan"] == {"web": "create", "worker": "create"}
    assert healthy.inspect(ctx).would_change
    assert engine.containers(compose_project.project) == []  # inspect started nothing

    assert up.apply(ctx).status == "changed"
    assert healthy.apply(ctx).status in ("changed", "ok")

    # healthy: nothing to do, and a second apply says so
    assert not up.inspect(ctx).would_change
    assert not healthy.inspect(ctx).would_change
    assert up.apply(ctx).status == "ok"
    assert healthy.apply(ctx).status == "ok"

    # an env-file edit: compose sees it, only web is recreated
    web_before = engine.container(compose_project.project, "web").id
    worker_before = engine.container(compose_project.project, "worker").id
    env = build_action({"env_set": {"file": "app.env", "key": "MODE", "value": "debug"}})
    assert env.apply(ctx).status == "changed"
    seen = up.inspect(ctx)
    assert seen.would_change and seen.evidence["plan"] == {"web": "recreate", "worker": "running"}
    assert "~ service web: recreate" in seen.diff
    assert up.apply(ctx).status == "changed"
    assert engine.container(compose_project.project, "web").id != web_before
    assert engine.container(compose_project.project, "worker").id == worker_before
    assert up.apply(ctx).status == "ok"

    # a stopped worker is started again
    assert ctx.compose.stop(["worker"]).ok
    seen = up.inspect(ctx)
    assert seen.evidence["plan"]["worker"] == "start"
    assert up.apply(ctx).status == "changed"
    assert engine.container(compose_project.project, "worker").state == "running"


def test_restart_and_recreate_always_change(engine, compose_project):
    ctx = _ctx(compose_project)
    assert build_action({"compose_up": {"services": ["worker"]}}).apply(ctx).status == "changed"
    before = engine.container(compose_project.project, "worker")

    restart = build_action({"compose_restart": {"services": ["worker"]}})
    assert restart.inspect(ctx).would_change
    assert restart.apply(ctx).status == "changed"
    after = engine.container(compose_project.project, "worker")
    assert after.id == before.id and after.state == "running"

    recreate = build_action({"compose_recreate": {"services": ["worker"]}})
    assert recreate.inspect(ctx).would_change
    assert recreate.apply(ctx).status == "changed"
    assert engine.container(compose_project.project, "worker").id != before.id


def test_wait_healthy_fails_with_the_reason_when_a_service_is_not_running(engine, compose_project):
    ctx = _ctx(compose_project)
    result = build_action({"wait_healthy": {"services": ["web"], "timeout": 5}}).apply(ctx)
    assert result.status == "failed" and "web: no container" in result.message


def test_exec_and_run_with_unless_are_idempotent(engine, compose_project):
    ctx = _ctx(compose_project)
    build_action({"compose_up": {"services": ["worker"]}}).apply(ctx)
    marker = "/tmp/migrated"
    migrate = build_action(
        {"exec": {"service": "worker", "command": ["touch", marker], "unless": ["test", "-e", marker]}}
    )
    assert migrate.inspect(ctx).would_change
    assert migrate.apply(ctx).status == "changed"
    assert not migrate.inspect(ctx).would_change
    assert migrate.apply(ctx).status == "ok"

    failing = build_action({"exec": {"service": "worker", "command": ["python3", "-c", "raise SystemExit(3)"]}})
    result = failing.apply(ctx)
    assert result.status == "failed" and result.evidence["exit_code"] == 3

    run = build_action({"run": {"service": "worker", "command": ["python3", "-c", "print('migrated')"]}})
    assert run.inspect(ctx).would_change
    result = run.apply(ctx)
    assert result.status == "changed" and "migrated" in result.evidence["output"]


def test_http_expects_a_status():
    calls = []

    def handler(req):
        calls.append(req.path)
        return (204 if req.path == "/admin/reload" else 500), {}, b""

    with http_server(handler) as url:
        ctx = _ctx(ComposeProject(project="remediate-http", directory=Path.cwd()))
        reload = build_action({"http": {"method": "POST", "url": f"{url}/admin/reload", "expect_status": [200, 204]}})
        assert reload.inspect(ctx).would_change and calls == []
        assert reload.apply(ctx).status == "changed"
        broken = build_action({"http": {"url": f"{url}/broken"}})
        result = broken.apply(ctx)
        assert result.status == "failed" and "answered 500" in result.message
