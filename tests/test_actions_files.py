"""compose_set / compose_unset / yaml_set / yaml_unset: one line changes, compose still accepts it."""

from __future__ import annotations

import textwrap
from pathlib import Path

from remediator.actions import ActionContext, build_action
from remediator.backends import files
from remediator.backends.compose import Compose
from remediator.model import ComposeProject, Target


def _ctx(project: ComposeProject) -> ActionContext:
    return ActionContext.for_target(Target(name="t", inventory=project.directory / "inventory.yml", compose=project))


def _only_added(before: str, after: str) -> list[str]:
    a, b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(b) == len(a) + 1
    i = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), len(a))
    assert a[i:] == b[i + 1 :] and a[:i] == b[:i]  # every other line byte-identical
    return [b[i]]


def test_compose_set_adds_one_environment_line_and_compose_accepts_it(compose_project: ComposeProject):
    ctx = _ctx(compose_project)
    compose_file = compose_project.directory / "compose.yml"
    original = compose_file.read_text()
    action = build_action({"compose_set": {"path": "services.web.environment.INTERNAL_API_KEY", "value": "${API_KEY}"}})
    seen = action.inspect(ctx)
    assert seen.would_change and "+      INTERNAL_API_KEY: ${API_KEY}\n" in seen.diff
    assert compose_file.read_text() == original

    result = action.apply(ctx)
    assert result.status == "changed"
    assert _only_added(original, compose_file.read_text()) == ["      INTERNAL_API_KEY: ${API_KEY}\n"]
    (compose_project.directory / ".env").write_text("API_KEY=from-dotenv\n")  # what compose interpolates
    assert Compose(compose_project).config()["services"]["web"]["environment"]["INTERNAL_API_KEY"] == "from-dotenv"
    assert files.backup_path(compose_file, ctx.run_id).read_text() == original

    assert action.apply(ctx).status == "ok"
    assert action.rollback(ctx).status == "changed"
    assert compose_file.read_text() == original


def test_list_style_environment_and_healthcheck_test(compose_project: ComposeProject):
    ctx = _ctx(compose_project)
    compose_file = compose_project.directory / "compose.yml"
    original = compose_file.read_text()
    add = build_action({"compose_set": {"path": "services.worker.environment.QUEUE", "value": "jobs"}})
    assert add.apply(ctx).status == "changed"
    assert _only_added(original, compose_file.read_text()) == ["      - QUEUE=jobs\n"]
    assert Compose(compose_project).config()["services"]["worker"]["environment"]["QUEUE"] == "jobs"

    test = ["CMD", "python3", "-c", "import socket; socket.create_connection(('127.0.0.1', 8080))"]
    check = build_action({"compose_set": {"path": "services.web.healthcheck.test", "value": test}})
    assert check.apply(ctx).status == "changed"
    assert Compose(compose_project).config()["services"]["web"]["healthcheck"]["test"] == test
    assert check.apply(ctx).status == "ok"

    gone = build_action({"compose_unset": {"path": "services.worker.environment.QUEUE"}})
    assert gone.inspect(ctx).would_change
    assert gone.apply(ctx).status == "changed"
    assert "QUEUE" not in compose_file.read_text()
    assert gone.apply(ctx).status == "ok"


def test_an_edit_compose_rejects_never_lands(compose_project: ComposeProject):
    ctx = _ctx(compose_project)
    compose_file = compose_project.directory / "compose.yml"
    original = compose_file.read_text()
    action = build_action({"compose_set": {"path": "services.web.ports", "value": "not-a-list"}})
    assert action.inspect(ctx).would_change
    result = action.apply(ctx)
    assert result.status == "failed" and "compose config rejects" in result.message
    assert compose_file.read_text() == original


PROMTAIL = textwrap.dedent(
    """\
    # log shipper
    server:
      http_listen_port: 9080
    clients:
      - url: http://loki:3100/loki/api/v1/push
        batch_wait: 1s      # unsupported here
        batch_size: 1048576
    positions:
      filename: /tmp/positions.yaml
    """
)


def test_yaml_unset_and_set_on_another_config_file(tmp_path: Path):
    project = ComposeProject(project="remediate-yamltest", directory=tmp_path)
    ctx = _ctx(project)
    config = tmp_path / "promtail.yml"
    config.write_text(PROMTAIL)
    for key in ("batch_wait", "batch_size"):
        action = build_action({"yaml_unset": {"file": "promtail.yml", "path": f"clients.0.{key}"}})
        assert action.inspect(ctx).would_change
        assert action.apply(ctx).status == "changed"
        assert action.apply(ctx).status == "ok"
    expected = PROMTAIL.replace("    batch_wait: 1s      # unsupported here\n", "")
    assert config.read_text() == expected.replace("    batch_size: 1048576\n", "")

    port = build_action({"yaml_set": {"file": "promtail.yml", "path": "server.http_listen_port", "value": 9081}})
    assert port.apply(ctx).status == "changed"
    assert "  http_listen_port: 9081\n" in config.read_text()
    assert port.rollback(ctx).status == "changed"
    assert config.read_text() == PROMTAIL


# --- writes stay inside the target -----------------------------------------------------------------


def _confined_tree(tmp_path: Path) -> tuple[Path, Path, Path]:
    """home/stack (the compose directory) and home/outside.env beside it, a symlink to it inside."""
    stack, outside = tmp_path / "home" / "stack", tmp_path / "home" / "outside.env"
    stack.mkdir(parents=True)
    outside.write_text("A=1\n")
    (stack / ".env").write_text("A=1\n")
    (stack / "link.env").symlink_to(outside)
    return stack, outside, tmp_path / "home"


def test_an_action_never_writes_outside_the_compose_directory(tmp_path: Path) -> None:
    from remediator.errors import UserError

    stack, outside, home = _confined_tree(tmp_path)
    ctx = _ctx(ComposeProject(project="remediate-confined", directory=stack))
    for name in ("../outside.env", str(outside), "link.env", "../../home/outside.env"):
        action = build_action({"env_set": {"file": name, "key": "A", "value": "2"}})
        try:
            action.apply(ctx)
        except UserError as exc:
            assert "outside the target's compose directory" in str(exc)
        else:
            raise AssertionError(f"{name} was written")
    assert outside.read_text() == "A=1\n" and not (home / ".remediate").exists()
    inside = build_action({"env_set": {"file": "./sub/../.env", "key": "A", "value": "2"}})
    assert inside.apply(ctx).status == "changed" and (stack / ".env").read_text() == "A=2\n"
    listed = Target(name="t", inventory=stack / "i.yml", compose=ctx.target.compose, write_roots=(home,))
    wider = ActionContext.for_target(listed)
    assert build_action({"env_set": {"file": "../outside.env", "key": "A", "value": "3"}}).apply(wider).status == (
        "changed"
    )
    assert outside.read_text() == "A=3\n"


def test_the_inventory_and_playbooks_are_refused_when_they_point_outside(tmp_path: Path) -> None:
    from .support import remediate

    stack, _outside, _home = _confined_tree(tmp_path)
    (stack / "checks.yml").write_text("checks: []\n")
    (stack / "playbooks.yml").write_text(
        "entries:\n  - id: e\n    name: e\n    when: {check: {id: x}}\n"
        "    actions:\n      - env_set: {file: ../outside.env, key: A, value: '2'}\n"
    )
    inventory = stack / "inventory.yml"
    base = "targets:\n  t:\n    checks: [checks.yml]\n    playbooks: [playbooks.yml]\n"
    inventory.write_text(base + "    compose: {project: p, directory: ../../..}\n")
    proc = remediate("validate", "-i", str(inventory))
    assert proc.returncode == 2 and f"{inventory}:5:27: targets.t.compose.directory: '../../..' is " in proc.stderr
    inventory.write_text(base + "    compose: {project: p, directory: .}\n")
    proc = remediate("validate", "-i", str(inventory))
    assert proc.returncode == 2 and "e.actions[0].env_set.file: " in proc.stderr, proc.stderr
    assert "outside the target's compose directory" in proc.stderr
    inventory.write_text(base + "    compose: {project: p, directory: .}\n    write_roots: [..]\n")
    assert remediate("validate", "-i", str(inventory)).returncode == 0
