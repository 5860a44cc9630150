"""`remediate check` end to end: the real CLI against a real HTTP server and a real engine."""

from __future__ import annotations

import json
import secrets
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .support import http_server, json_out, remediate, require_engine, wait_for

TOKEN = "tok-" + secrets.token_hex(8)
API_KEY = "key-" + secrets.token_hex(8)


def _app() -> Any:
    counter = {"n": 0}
    lock = threading.Lock()

    def handle(req: Any) -> tuple[int, dict[str, str], bytes]:
        path = req.path
        js = {"Content-Type": "application/json", "X-Service": "api"}
        if path == "/health":
            return 200, js, b'{"status": "healthy", "version": 3}'
        if path == "/login":
            length = int(req.headers.get("Content-Length", 0))
            body = json.loads(req.rfile.read(length) or b"{}")
            if body.get("username") != "probe" or req.headers.get("X-API-Key") != API_KEY:
                return 422, js, b'{"detail": "username required"}'
            return 200, js, json.dumps({"access_token": TOKEN, "token_type": "bearer"}).encode()
        if path == "/me":
            ok = req.headers.get("Authorization") == f"Bearer {TOKEN}"
            return (200, js, b'{"user": "probe"}') if ok else (401, js, b'{"detail": "bad token"}')
        if path == "/slow":
            time.sleep(0.3)
            return 200, js, b"{}"
        if path == "/limited":  # every other request is refused: half of a burst fails
            with lock:
                counter["n"] += 1
                n = counter["n"]
            return (200, js, b"{}") if n % 2 else (503, js, b'{"detail": "busy"}')
        if path == "/page":
            return 200, {"Content-Type": "text/html"}, b"<html>Welcome</html>"
        return 404, js, b'{"detail": "Not Found"}'

    return handle


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    with http_server(_app()) as url:
        yield url


def _suite(tmp_path: Path, url: str, checks: str, extra_target: str = "") -> Path:
    (tmp_path / "secret_key").write_text(API_KEY + "\n")
    (tmp_path / "checks.yml").write_text(checks)
    inv = tmp_path / "inventory.yml"
    inv.write_text(f"""\
targets:
  local:
    urls: {{api: "{url}"}}
    secrets: {{api_key: {{file: {tmp_path / "secret_key"}}}}}
    checks: [checks.yml]
{extra_target}""")
    return inv


HTTP_CHECKS = """\
checks:
  - id: api.health
    category: health
    name: health answers healthy
    probe: {kind: http, url: "{{ urls.api }}/health"}
    expect: {status: 200, json: {status: healthy, version: 3}, json_exists: [status], body_not_contains: Error}
  - id: api.missing
    category: health
    name: a 404 is not a pass
    probe: {kind: http, url: "{{ urls.api }}/nothing-here"}
    expect: {status: 2xx}
  - id: auth.login
    category: auth
    name: login captures a token
    requires: [api.health]
    capture: {token: access_token}
    probe:
      kind: http
      method: POST
      url: "{{ urls.api }}/login"
      headers: {X-API-Key: "{{ secrets.api_key }}"}
      json: {username: probe, run: "{{ run_id }}"}
    expect: {status: [200, 201], json: {token_type: bearer}}
  - id: auth.me
    category: auth
    name: the captured token is accepted
    requires: [auth.login]
    probe: {kind: http, url: "{{ urls.api }}/me", headers: {Authorization: "Bearer {{ token }}"}}
    expect: {status: 200, body_contains: [probe]}
  - id: auth.behind-missing
    category: auth
    name: skipped because what it requires failed
    requires: [api.missing]
    probe: {kind: http, url: "{{ urls.api }}/health"}
  - id: perf.slow
    category: performance
    name: latency over the limit fails
    probe: {kind: http, url: "{{ urls.api }}/slow", timeout: 5}
    expect: {latency_ms: 100}
  - id: perf.burst-half
    category: performance
    name: half of a burst is enough at share 0.5
    exclusive: true
    probe: {kind: http, url: "{{ urls.api }}/limited", concurrency: 10}
    expect: {status: 200, share: 0.5}
  - id: perf.burst-most
    category: performance
    name: half of a burst is not enough at share 0.7
    exclusive: true
    probe: {kind: http, url: "{{ urls.api }}/limited", concurrency: 10}
    expect: {status: 200, share: 0.7}
  - id: web.page
    category: frontend
    name: html page
    probe: {kind: http, url: "{{ urls.api }}/page"}
    expect: {status: 200, body_contains: Welcome, body_not_contains: Internal Server Error}
"""


def test_http_probes_requires_capture_and_json_document(tmp_path: Path, api: str) -> None:
    inv = _suite(tmp_path, api, HTTP_CHECKS)
    junit = tmp_path / "out.xml"
    proc = remediate("check", "--json", "--inventory", str(inv), "--junit", str(junit))
    doc = json_out(proc)
    status = {c["id"]: c["status"] for c in doc["checks"]}
    assert status == {
        "api.health": "passed",
        "api.missing": "failed",
        "auth.login": "passed",
        "auth.me": "passed",
        "auth.behind-missing": "skipped",
        "perf.slow": "failed",
        "perf.burst-half": "passed",
        "perf.burst-most": "failed",
        "web.page": "passed",
    }
    assert proc.returncode == 1
    assert set(doc) >= {"total", "passed", "failed", "skipped", "rate", "duration_s", "categories", "checks"}
    assert (doc["total"], doc["passed"], doc["failed"], doc["skipped"]) == (9, 5, 3, 1)
    assert doc["rate"] == round(5 / 9, 4)
    assert doc["categories"]["auth"] == {"total": 3, "passed": 2, "failed": 0, "skipped": 1, "rate": 0.6667}
    by_id = {c["id"]: c for c in doc["checks"]}
    assert set(by_id["api.health"]) == {"id", "category", "name", "status", "reason", "evidence", "duration_ms"}
    assert by_id["api.missing"]["evidence"]["status"] == 404
    assert by_id["api.missing"]["reason"] == "status 404, expected 2xx"
    assert by_id["auth.behind-missing"]["reason"] == "requires api.missing failed"
    assert "expected under 100 ms" in by_id["perf.slow"]["reason"]
    assert by_id["perf.burst-most"]["evidence"]["statuses"] == {"200": 5, "503": 5}
    # secrets and captured tokens never reach the output, the JUnit file included
    for text in (proc.stdout, proc.stderr, junit.read_text()):
        assert API_KEY not in text and TOKEN not in text
    cases = ET.parse(junit).getroot().findall(".//testcase")
    assert len(cases) == 9


def test_exit_codes_until_and_category(tmp_path: Path, api: str) -> None:
    inv = _suite(tmp_path, api, HTTP_CHECKS)
    assert remediate("check", "--inventory", str(inv), "--until", "0.5").returncode == 0
    assert remediate("check", "--inventory", str(inv), "--until", "0.6").returncode == 1
    only = remediate("check", "--json", "--inventory", str(inv), "--category", "frontend")
    assert only.returncode == 0 and json_out(only)["total"] == 1
    table = remediate("check", "--inventory", str(inv), "--until", "0.8")
    assert "FAIL api.missing: status 404, expected 2xx" in table.stdout
    assert "target 80%: not met" in table.stdout
    bad = remediate("check", "--inventory", str(inv), "--category", "nope")
    assert bad.returncode == 2 and bad.stderr.startswith("remediate: no category 'nope'")
    missing = remediate("check", "--inventory", str(tmp_path / "nope.yml"))
    assert missing.returncode == 2 and "no such inventory file" in missing.stderr


def test_tcp_and_command_probes(tmp_path: Path, api: str) -> None:
    port = api.rsplit(":", 1)[1]
    inv = _suite(
        tmp_path,
        api,
        f"""\
checks:
  - id: tcp.open
    category: net
    name: open port
    probe: {{kind: tcp, host: 127.0.0.1, port: {port}}}
  - id: tcp.closed
    category: net
    name: closed port fails
    probe: {{kind: tcp, host: 127.0.0.1, port: 1, timeout: 1}}
  - id: tcp.expect-closed
    category: net
    name: closed as expected
    probe: {{kind: tcp, port: "{{{{ 0 + 1 }}}}"}}
    expect: {{open: false}}
  - id: cmd.ok
    category: cmd
    name: command output
    probe: {{kind: command, argv: [{sys.executable}, -c, "print('ready 42')"]}}
    expect: {{exit_code: 0, stdout_contains: ready, stdout_matches: "ready \\\\d+"}}
  - id: cmd.exit
    category: cmd
    name: non-zero exit fails
    probe: {{kind: command, argv: [{sys.executable}, -c, "import sys; sys.exit(3)"]}}
  - id: cmd.nosuch
    category: cmd
    name: missing program fails
    probe: {{kind: command, argv: [/nonexistent/program]}}
""",
    )
    doc = json_out(remediate("check", "--json", "--inventory", str(inv)))
    status = {c["id"]: (c["status"], c["reason"]) for c in doc["checks"]}
    assert status["tcp.open"] == ("passed", "")
    assert status["tcp.closed"][0] == "failed" and "closed, expected open" in status["tcp.closed"][1]
    assert status["tcp.expect-closed"] == ("passed", "")
    assert status["cmd.ok"] == ("passed", "")
    assert status["cmd.exit"] == ("failed", "exit code 3, expected 0")
    assert status["cmd.nosuch"][0] == "failed"


@pytest.fixture(scope="module")
def labelled_containers() -> Iterator[str]:
    """Two real containers carrying compose labels: one running and healthy, one exited."""
    client = require_engine()
    project = f"remediate-probe-{secrets.token_hex(3)}"
    labels = {"com.docker.compose.project": project, "com.docker.compose.oneoff": "False"}
    made = []
    try:
        made.append(
            client.containers.run(
                "remediate-base:local",
                ["python3", "-u", "-c", "print('hello from svc'); import time; time.sleep(600)"],
                detach=True,
                labels={**labels, "com.docker.compose.service": "svc"},
                healthcheck={"test": ["CMD", "true"], "interval": 300_000_000, "start_period": 0, "retries": 1},
            )
        )
        made.append(
            client.containers.run(
                "remediate-base:local",
                ["python3", "-c", "raise SystemExit(4)"],
                detach=True,
                labels={**labels, "com.docker.compose.service": "gone"},
            )
        )

        def ready() -> bool:
            made[0].reload()
            made[1].reload()
            return made[0].attrs["State"].get("Health", {}).get("Status") == "healthy" and made[1].status == "exited"

        assert wait_for(ready, 30), "containers did not settle"
        yield project
    finally:
        for c in made:
            c.remove(force=True)


def test_container_and_logs_probes(tmp_path: Path, api: str, labelled_containers: str) -> None:
    checks = """\
checks:
  - id: c.svc
    category: containers
    name: running and healthy
    probe: {kind: container, service: svc}
    expect: {state: running, health: healthy}
  - id: c.gone
    category: containers
    name: exited is not running
    probe: {kind: container, service: gone}
    expect: {state: running}
  - id: c.absent
    category: containers
    name: no such service
    probe: {kind: container, service: never}
  - id: l.hello
    category: logs
    name: greeting logged
    probe: {kind: logs, service: svc, tail: 50}
    expect: {matches: "hello from \\\\w+"}
  - id: l.no-hello
    category: logs
    name: greeting must not be logged
    probe: {kind: logs, service: svc}
    expect: {not_matches: hello}
"""
    inv = _suite(tmp_path, api, checks, extra_target=f"    compose: {{project: {labelled_containers}, directory: .}}\n")
    doc = json_out(remediate("check", "--json", "--inventory", str(inv)))
    by_id = {c["id"]: c for c in doc["checks"]}
    assert by_id["c.svc"]["status"] == "passed"
    assert by_id["c.svc"]["evidence"]["health"] == "healthy"
    assert by_id["c.gone"]["status"] == "failed"
    assert by_id["c.gone"]["evidence"]["state"] == "exited" and by_id["c.gone"]["evidence"]["exit_code"] == 4
    assert by_id["c.absent"]["reason"] == "no container for service 'never'"
    assert by_id["l.hello"]["status"] == "passed" and "hello from svc" in by_id["l.hello"]["evidence"]["line"]
    assert by_id["l.no-hello"]["status"] == "failed"


def test_unreachable_engine_exits_3_with_one_line(tmp_path: Path, api: str) -> None:
    inv = _suite(
        tmp_path,
        api,
        """\
checks:
  - id: c.svc
    category: containers
    name: needs the engine
    probe: {kind: container, service: svc}
""",
        extra_target="    compose: {project: p, directory: .}\n    docker: {host: unix:///nonexistent/docker.sock}\n",
    )
    proc = remediate("check", "--inventory", str(inv))
    assert proc.returncode == 3, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no Docker engine answers" in lines[0] and "engine.sh" in lines[0]


def test_help_explains_each_command() -> None:
    top = remediate("--help")
    assert top.returncode == 0 and "check" in top.stdout and "validate" in top.stdout
    for cmd in ("check", "validate"):
        proc = remediate(cmd, "--help")
        assert proc.returncode == 0 and "Usage: remediate " + cmd in proc.stdout
