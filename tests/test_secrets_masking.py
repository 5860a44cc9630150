"""A known secret goes through every action; it must appear nowhere in what remediator says."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import structlog

from remediator import log
from remediator.actions import ACTIONS, ActionContext, build_action
from remediator.model import ComposeProject, SecretSource, Target
from remediator.secrets import fingerprint

from .support import http_server

SECRET = "s3cr3t-VALUE-4242"


def _ctx(project: ComposeProject) -> ActionContext:
    source = SecretSource("env", "REMEDIATE_TEST_SECRET", project.directory)
    target = Target(name="t", inventory=project.directory / "inventory.yml", compose=project, secrets={"api": source})
    return ActionContext.for_target(target)


def test_no_action_lets_a_secret_out(engine, compose_project, monkeypatch, capsys):
    monkeypatch.setenv("REMEDIATE_TEST_SECRET", SECRET)
    log.configure(2)  # -vv: every event the actions log is rendered, so every one is looked at
    log.get("test").debug("logging on")
    (compose_project.directory / "extra.yml").write_text("# other config\nauth:\n  token: none\n")
    ctx = _ctx(compose_project)

    def echo(req):
        ok = req.headers.get("Authorization") == f"Bearer {SECRET}"
        return (200 if ok else 401), {}, f"you sent {req.headers.get('Authorization')} to {req.path}".encode()

    failing = {
        "exec": {
            "service": "worker",
            "command": ["python3", "-c", "import sys; sys.exit('bad ' + sys.argv[1])", "{{ secrets.api }}"],
        }
    }
    with http_server(echo) as url:
        probe = {
            "http": {
                "url": f"{url}/check?key={{{{ candidate }}}}",
                "headers": {"Authorization": "Bearer {{ candidate }}"},
            }
        }
        specs = [
            {"env_set": {"file": "app.env", "key": "TOKEN", "value_from": {"secret": "api"}, "validate_with": probe}},
            {"env_set": {"file": "app.env", "key": "OTHER", "value": "{{ secrets.api }}"}},
            {"env_rename": {"file": "app.env", "from": "OTHER", "to": "OTHER2"}},
            {"env_unset": {"file": "app.env", "key": "OTHER2"}},
            {
                "compose_set": {
                    "path": "services.web.environment.SECRET_X",
                    "value_from": {"env": "REMEDIATE_TEST_SECRET"},
                }
            },
            {"compose_unset": {"path": "services.web.environment.S"}},
            {"yaml_set": {"file": "extra.yml", "path": "auth.token", "value": "{{ secrets.api }}"}},
            {"yaml_unset": {"file": "extra.yml", "path": "auth.token"}},
            {"compose_up": {"services": ["web", "worker"]}},
            {"wait_healthy": {"services": ["web"], "timeout": 60, "start_period": 10}},
            {"compose_restart": {"services": ["worker"]}},
            {"compose_recreate": {"services": ["worker"]}},
            {
                "exec": {
                    "service": "worker",
                    "command": ["python3", "-c", "import os; print(os.environ['S'])"],
                    "env": {"S": "{{ secrets.api }}"},
                }
            },
            failing,  # a command that fails and says the secret in its error: the failure message is masked
            {
                "run": {
                    "service": "worker",
                    "command": ["python3", "-c", "import sys; print(sys.argv[1])", "{{ secrets.api }}"],
                }
            },
            {
                "http": {
                    "url": f"{url}/reload?token={{{{ secrets.api }}}}",
                    "headers": {"Authorization": "Bearer {{ secrets.api }}"},
                }
            },
        ]
        assert {next(iter(s)) for s in specs} == set(ACTIONS)  # every action is exercised

        said: list[object] = []
        with structlog.testing.capture_logs() as logs:
            for spec in specs:
                action = build_action(spec)
                said.append(dataclasses.asdict(action.inspect(ctx)))
                result = action.apply(ctx)
                said.append(result.to_dict())
                if spec is failing:  # it failed for its own reason, and said so with the secret masked
                    assert (
                        result.status == "failed" and result.message == f"python3 exited 1: bad {fingerprint(SECRET)}"
                    ), result
                else:  # every other action did its work: a failed one would have shown nothing
                    assert result.status in ("changed", "ok"), result
                if action.reversible:
                    undone, redone = action.rollback(ctx), action.apply(ctx)
                    said += [undone.to_dict(), redone.to_dict()]
                    assert undone.status != "failed" and redone.status != "failed", (undone, redone)

    assert len(logs) >= len(specs)  # the actions did log, and what they logged is checked below
    # the secret really travelled: the commands and the server echoed it, masked
    outputs = [r for r in said if isinstance(r, dict) and r.get("action") in ("exec", "run", "http")]
    assert any("***" in json.dumps(r) for r in outputs)

    # a rendered log line (structlog's default console output) is masked as well
    build_action({"env_set": {"file": "app.env", "key": "TOKEN", "value": "{{ secrets.api }}x"}}).apply(ctx)
    assert f"TOKEN='{SECRET}x'" in (compose_project.directory / "app.env").read_text()
    out, err = capsys.readouterr()
    assert "action=env_set" in err  # that line was rendered (and is checked for the secret below)
    for where, text in {"results": json.dumps(said), "logs": repr(logs), "stdout": out, "stderr": err}.items():
        assert SECRET not in text, f"the secret leaked into {where}"
    log.configure(0)


def test_logging_costs_nothing_below_its_level_and_shows_warnings_masked() -> None:
    code = (
        "import sys; from remediator import log, secrets; secrets.register(['hunter2-hunter2'])\n"
        "log.configure(0); log.get('x').bind(run='r').info('quiet', token='hunter2-hunter2')\n"
        "print('structlog' in sys.modules)\n"
        "log.get('x').warning('loud', token='hunter2-hunter2')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout == "False\n"  # nothing shown, nothing imported
    assert "loud" in proc.stderr and "quiet" not in proc.stderr
    assert "hunter2-hunter2" not in proc.stderr and "***" in proc.stderr
