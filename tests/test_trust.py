"""Trustworthy heals on a real engine: a true verdict, never worse, one heal at a time, a journal that
survives kill -9.

A stack of its own, written here and tuned to no playbook but the one below: ``db`` with a healthcheck
(healthy while /tmp/ok exists), and ``api`` with NO healthcheck that starts listening only a second
after its container starts, answers ``GET /flag`` with its FLAG (from ``.env``), and waits for db to be
healthy (depends_on). One playbook entry turns FLAG on; the generic ones start stopped services.
"""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from remediator.backends.compose import Compose
from remediator.model import ComposeProject

from .support import PORT_SHIFT, ROOT, json_out, remediate, require_engine, wait_for

pytestmark = [pytest.mark.engine]

PORT = 23080 + PORT_SHIFT
API = """\
import http.server, os, time
time.sleep(1.0)  # a slow start: the container runs a second before anything listens
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = os.environ.get("FLAG", "").encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("0.0.0.0", 8080), H).serve_forever()
"""
COMPOSE = f"""\
services:
  db:
    image: remediate-base:local
    command: ["sh", "-c", "touch /tmp/ok && exec sleep infinity"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ok"]
      interval: 1s
      timeout: 5s
      retries: 2
  api:
    image: remediate-base:local
    command: ["python3", "-c", {json.dumps(API)}]
    environment:
      FLAG: ${{FLAG}}
    ports: ["127.0.0.1:{PORT}:8080"]
    depends_on:
      db: {{condition: service_healthy}}
"""
CHECKS = """\
checks:
  - id: api.running
    category: api
    name: api runs
    probe: {kind: container, service: api}
    expect: {state: running}
  - id: api.flag
    category: api
    name: the flag is on
    requires: [api.running]
    probe: {kind: http, url: "{{ urls.api }}/flag", timeout: 3}
    expect: {status: 200, body_contains: "on"}
"""
FLAG_ENTRY = """\
entries:
  - id: flag-off
    name: The flag is off
    when:
      all:
        - check: {id: api.flag}
        - env: {key: FLAG, not_equals: "on"}
    actions:
      - env_set: {file: .env, key: FLAG, value: "on"}
      - compose_up: {services: [api]}
"""
SLOW_ENTRY = FLAG_ENTRY.replace("flag-off", "flag-off-slowly").replace(
    "      - compose_up: {services: [api]}\n",
    "      - exec: {service: db, command: [sleep, '12']}\n      - compose_up: {services: [api]}\n",
)


class Stack:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.project = ComposeProject(
            project=f"remediate-trust-{secrets.token_hex(3)}", directory=directory, files=(directory / "compose.yml",)
        )
        self.compose = Compose(self.project)
        self.inventory = directory / "inventory.yml"

    def write(self) -> None:
        (self.dir / "playbooks").mkdir(parents=True, exist_ok=True)
        (self.dir / "compose.yml").write_text(COMPOSE)
        (self.dir / "checks.yml").write_text(CHECKS)
        (self.dir / "playbooks" / "flag.yml").write_text(FLAG_ENTRY)
        (self.dir / "playbooks" / "generic.yml").write_text((ROOT / "playbooks" / "generic.yml").read_text())
        (self.dir / "slow.yml").write_text(SLOW_ENTRY)
        (self.dir / ".env").write_text("# the api's flag\nFLAG=on\n")
        self.inventory.write_text(
            f"targets:\n  trust:\n    compose: {{project: {self.project.project}, directory: ., files: [compose.yml],"
            " env_files: [.env]}\n    checks: [checks.yml]\n    playbooks: [playbooks]\n"
            f"    urls: {{api: 'http://127.0.0.1:{PORT}'}}\n"
        )

    def reset(self) -> None:
        """Healthy: FLAG on, db healthy, api up and answering."""
        (self.dir / ".env").write_text("# the api's flag\nFLAG=on\n")
        self.exec_db("touch", "/tmp/ok")
        proc = self.compose.up(wait=True, timeout=120)
        assert proc.ok, proc.stderr
        assert wait_for(lambda: self.check()["rate"] == 1.0, timeout=30)

    def exec_db(self, *argv: str) -> None:
        subprocess.run(["docker", "exec", self.container("db"), *argv], capture_output=True, check=False)

    def container(self, service: str) -> str:
        out = subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={self.project.project}",
             "--filter", f"label=com.docker.compose.service={service}"],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        return out[0] if out else ""

    def inspect(self, service: str) -> dict[str, Any]:
        cid = self.container(service)
        out = subprocess.run(["docker", "inspect", cid], capture_output=True, text=True, check=True).stdout
        return json.loads(out)[0]

    def check(self) -> dict[str, Any]:
        return json_out(remediate("check", "--json", "-i", str(self.inventory)))

    def apply(self, *args: str) -> subprocess.CompletedProcess[str]:
        return remediate("apply", "--json", "-i", str(self.inventory), *args)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_engine()
    s = Stack(tmp_path_factory.mktemp("trust"))
    s.write()
    try:
        s.reset()
        yield s
    finally:
        s.compose.down()


def test_a_heal_of_a_service_without_healthcheck_reports_the_truth(stack: Stack) -> None:
    """Stopped, then FLAG off: each heal waits until api listens; the verdict equals a check right after."""
    stack.reset()
    assert stack.compose.stop(["api"]).ok
    proc = stack.apply("--until", "1.0")
    doc = json_out(proc)
    assert proc.returncode == 0, proc.stderr
    assert doc["met"] and doc["final_rate"] == 1.0
    assert stack.check()["rate"] == doc["final_rate"]

    (stack.dir / ".env").write_text("# the api's flag\nFLAG=off\n")
    assert stack.compose.up(["api"]).ok
    assert wait_for(lambda: stack.check()["rate"] == 0.5, timeout=30)
    proc = stack.apply("--until", "1.0")
    doc = json_out(proc)
    assert proc.returncode == 0, proc.stderr
    assert [s["finding"]["id"] for s in doc["steps"]] == ["flag-off"]
    assert doc["met"] and doc["final_rate"] == 1.0 == doc["steps"][0]["rate_after"]
    assert stack.check()["rate"] == 1.0


def test_a_dependency_unhealthy_during_a_step_leaves_the_stack_as_it_was(stack: Stack) -> None:
    stack.reset()
    (stack.dir / ".env").write_text("# the api's flag\nFLAG=off\n")
    assert stack.compose.up(["api"]).ok
    env_before = (stack.dir / ".env").read_bytes()
    stack.exec_db("rm", "/tmp/ok")
    assert wait_for(lambda: stack.inspect("db")["State"]["Health"]["Status"] == "unhealthy", timeout=30)
    api_before = stack.inspect("api")
    assert api_before["State"]["Running"]

    proc = stack.apply("--until", "1.0")
    doc = json_out(proc)
    assert proc.returncode == 1, proc.stderr
    step = doc["steps"][0]
    assert step["status"] == "rolled back"
    assert "dependency failed to start" in step["reason"] and "Running" not in step["reason"].split(":")[1]
    assert step["blocked_by"].endswith("-db-1")
    assert len(doc["steps"]) == 1, "the same step was retried blindly"
    # never worse: api runs again, on its prior config (FLAG=off), and .env is byte for byte as found
    api_after = stack.inspect("api")
    assert api_after["State"]["Running"], api_after["State"]
    assert "FLAG=off" in api_after["Config"]["Env"]
    assert (stack.dir / ".env").read_bytes() == env_before
    assert doc["final_rate"] >= doc["initial_rate"]


def test_two_applies_at_once_one_refuses_and_names_the_other(stack: Stack) -> None:
    stack.reset()
    (stack.dir / ".env").write_text("# the api's flag\nFLAG=off\n")
    assert stack.compose.up(["api"]).ok
    first = subprocess.Popen(
        [sys.executable, "-m", "remediator", "apply", "--json", "-i", str(stack.inventory),
         "--playbooks", str(stack.dir / "slow.yml"), "--until", "1.0"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lock_info = stack.dir / ".remediate" / "locks" / "heal.lock.json"
    try:
        assert wait_for(lock_info.exists, timeout=60)
        second = stack.apply("--until", "1.0")
        assert second.returncode == 4, second.stderr
        assert f"pid {first.pid}" in second.stderr and "--lock-timeout" in second.stderr
        waited = stack.apply("--until", "1.0", "--lock-timeout", "120")
        assert waited.returncode == 0, waited.stderr
        assert json_out(waited)["steps"] == []  # the first one healed it; the second found nothing to do
    finally:
        out, err = first.communicate(timeout=180)
    assert first.returncode == 0, err
    assert [s["status"] for s in json.loads(out)["steps"]] == ["changed"]


def test_kill_9_mid_step_leaves_a_valid_journal_and_the_next_run_puts_the_files_back(stack: Stack) -> None:
    stack.reset()
    (stack.dir / ".env").write_text("# the api's flag\nFLAG=off\n")
    original = (stack.dir / ".env").read_bytes()
    assert stack.compose.up(["api"]).ok
    journal = stack.dir / ".remediate" / "journal.jsonl"
    seen = len(journal.read_text().splitlines()) if journal.exists() else 0
    victim = subprocess.Popen(
        [sys.executable, "-m", "remediator", "apply", "--json", "-i", str(stack.inventory),
         "--playbooks", str(stack.dir / "slow.yml"), "--until", "1.0"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip

    def started() -> bool:
        lines = journal.read_text().splitlines()[seen:] if journal.exists() else []
        return any(json.loads(line).get("event") == "started" for line in lines)

    try:
        assert wait_for(started, timeout=90)
        assert wait_for(lambda: b"FLAG=on" in (stack.dir / ".env").read_bytes(), timeout=30)
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.communicate(timeout=30)
    for line in journal.read_text().splitlines():
        json.loads(line)  # every line whole
    assert (stack.dir / ".env").read_bytes() != original  # the half-done edit is there

    told = stack.apply("--playbooks", str(stack.dir / "playbooks" / "generic.yml"), "--until", "0.1")
    doc = json_out(told)
    assert doc["interrupted"]["finding"] == "flag-off-slowly"
    assert doc["interrupted"]["files"] == [str(stack.dir / ".env")] and doc["interrupted"]["recovered"] == []

    fixed = stack.apply("--playbooks", str(stack.dir / "playbooks" / "generic.yml"), "--until", "0.1", "--yes")
    assert json_out(fixed)["interrupted"]["recovered"] == [str(stack.dir / ".env")]
    assert (stack.dir / ".env").read_bytes() == original
    again = stack.apply("--playbooks", str(stack.dir / "playbooks" / "generic.yml"), "--until", "0.1")
    assert json_out(again)["interrupted"] is None
