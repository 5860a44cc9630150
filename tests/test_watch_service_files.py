"""Ways to run the watch, for real: the compose override brings a healthy healer up with a small stack
and it heals a stopped service; the systemd unit is one systemd itself accepts.

The stack is written here: one ``web`` service on the local base image with a healthcheck, published
on 127.0.0.1, a check that it answers, and the generic playbook (which starts a stopped service).
"""

from __future__ import annotations

import json
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from remediator.backends.compose import _find_default
from remediator.service_files import OVERRIDE, SERVICE, systemd_unit

from .support import ROOT, json_out, remediate, require_engine, wait_for

WEB = "import http.server as h; h.ThreadingHTTPServer(('0.0.0.0', 8080), h.SimpleHTTPRequestHandler).serve_forever()"
HEALTH = "import urllib.request as u; u.urlopen('http://127.0.0.1:8080/', timeout=3)"
FINDING = "service-not-running[service=web]"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TinyStack:
    def __init__(self, directory: Path) -> None:
        self.dir, self.project = directory, f"remediate-watchsvc-{secrets.token_hex(3)}"
        self.port, self.watch_port = free_port(), free_port()
        self.inventory = directory / "inventory.yml"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "playbooks").mkdir()
        shutil.copy(ROOT / "playbooks" / "generic.yml", directory / "playbooks" / "generic.yml")
        compose = {
            "services": {
                "web": {
                    "image": "remediate-base:local",
                    "pull_policy": "never",
                    "command": ["python3", "-c", WEB],
                    "ports": [f"127.0.0.1:{self.port}:8080"],
                    "stop_grace_period": "1s",
                    "healthcheck": {"test": ["CMD", "python3", "-c", HEALTH], "interval": "2s", "retries": 5},
                }
            }
        }
        (directory / "compose.yml").write_text(yaml.safe_dump(compose))
        checks = {
            "checks": [
                {"id": "web.running", "category": "web", "name": "web runs",
                 "probe": {"kind": "container", "service": "web"}, "expect": {"state": "running"}},
                {"id": "web.answers", "category": "web", "name": "web answers", "requires": ["web.running"],
                 "probe": {"kind": "http", "url": "{{ urls.web }}/", "timeout": 3}, "expect": {"status": 200}},
            ]
        }  # fmt: skip
        (directory / "checks.yml").write_text(yaml.safe_dump(checks, sort_keys=False))
        inventory = {
            "targets": {
                "tiny": {
                    "compose": {"project": self.project, "directory": ".", "files": ["compose.yml"]},
                    "checks": ["checks.yml"],
                    "playbooks": ["playbooks"],
                    "urls": {"web": f"http://127.0.0.1:{self.port}"},
                }
            }
        }
        self.inventory.write_text(yaml.safe_dump(inventory, sort_keys=False))

    def compose(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        argv = [*_find_default(), "-p", self.project, "--project-directory", str(self.dir), "-f", "compose.yml"]
        if (self.dir / OVERRIDE).exists():
            argv += ["-f", OVERRIDE]
        return subprocess.run([*argv, *args], cwd=self.dir, capture_output=True, text=True, timeout=timeout)

    def container(self, service: str) -> dict[str, Any] | None:
        out = subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={self.project}",
             "--filter", f"label=com.docker.compose.service={service}"],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        if not out:
            return None
        inspected = subprocess.run(["docker", "inspect", out[0]], capture_output=True, text=True, check=True).stdout
        return json.loads(inspected)[0]

    def state(self, service: str) -> tuple[str, str]:
        c = self.container(service)
        if c is None:
            return ("absent", "")
        return c["State"]["Status"], (c["State"].get("Health") or {}).get("Status", "")


@pytest.fixture
def tiny(tmp_path: Path) -> Iterator[TinyStack]:
    require_engine()
    stack = TinyStack(tmp_path / "stack")
    try:
        yield stack
    finally:
        stack.compose("down", "-v", "--remove-orphans", "-t", "5")
        left = subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={stack.project}"],
            capture_output=True, text=True, check=False,
        ).stdout.split()  # fmt: skip
        if left:
            subprocess.run(["docker", "rm", "-f", *left], capture_output=True, check=False)
            raise AssertionError(f"compose down left {left}")


@pytest.mark.engine
def test_the_compose_override_brings_up_a_healthy_healer_that_heals_a_stopped_service(tiny: TinyStack) -> None:
    made = remediate("init", str(tiny.dir), "--watch", "--watch-port", str(tiny.watch_port), timeout=900)
    assert made.returncode == 0, made.stderr
    assert f"kept {tiny.inventory}" in made.stdout  # the stack's own inventory, as it was
    override = yaml.safe_load((tiny.dir / OVERRIDE).read_text())["services"][SERVICE]
    assert override["restart"] == "unless-stopped" and "healthcheck" in override
    assert "privileged" not in override and "cap_add" not in override
    assert "/var/run/docker.sock:/var/run/docker.sock" in override["volumes"]
    assert f"{tiny.dir.resolve()}:{tiny.dir.resolve()}:rw" in override["volumes"]

    up = tiny.compose("up", "-d", "--wait", "--wait-timeout", "300")
    assert up.returncode == 0, up.stderr + tiny.compose("logs", SERVICE).stdout
    assert tiny.state(SERVICE) == ("running", "healthy")
    with_metrics = subprocess.run(
        ["python3", "-c", f"import urllib.request as u; print(u.urlopen('http://127.0.0.1:{tiny.watch_port}/metrics').read().decode())"],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    assert 'remediate_cycles_total{result="met"}' in with_metrics

    web = tiny.container("web")
    assert web is not None
    subprocess.run(["docker", "stop", "-t", "1", web["Id"]], capture_output=True, check=True)
    assert wait_for(lambda: tiny.state("web") == ("running", "healthy"), timeout=240), tiny.compose("logs").stdout

    def healed() -> dict[str, Any] | None:  # the cycle's record lands after its re-test
        status = json_out(remediate("status", "--json", "-i", str(tiny.inventory)))
        rows = [f for f in status["findings"] if f["key"] == FINDING and f["last_outcome"]]
        return {**rows[0], "status": status} if rows else None

    assert wait_for(lambda: healed() is not None, timeout=120)
    row = healed()
    assert row is not None
    status = row["status"]
    assert row["attempts"] == 1 and row["last_outcome"] in ("changed", "ok"), row
    assert status["watch"]["pid"] and status["metrics"]["steps"][row["last_outcome"]] == 1
    logs = tiny.compose("logs", SERVICE).stdout
    assert "Traceback" not in logs


def test_the_systemd_unit_is_one_systemd_accepts(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("targets: {}\n")
    unit = systemd_unit(inventory, "sandbox", user=True, port=9555, args=["--until", "0.9"], exe="/usr/bin/true")
    assert "ExecStart=/usr/bin/true watch -i" in unit and "--listen 127.0.0.1:9555 --until 0.9" in unit
    assert "WantedBy=default.target" in unit and "docker.service" not in unit
    system = systemd_unit(inventory, "sandbox", user=False, exe="/usr/bin/true")
    assert "After=docker.service" in system and "WantedBy=multi-user.target" in system
    path = tmp_path / "remediate-watch-sandbox.service"
    path.write_text(system)
    verify = shutil.which("systemd-analyze")
    if verify is None:
        pytest.skip("systemd-analyze is not installed")
    proc = subprocess.run([verify, "verify", str(path)], capture_output=True, text=True, check=False)
    problems = [ln for ln in proc.stderr.splitlines() if str(path) in ln or "remediate-watch" in ln]
    assert not problems, proc.stderr


def test_init_writes_a_systemd_user_unit_for_the_existing_inventory(tmp_path: Path) -> None:
    stack = TinyStack(tmp_path / "stack")
    home = tmp_path / "home"
    proc = remediate("init", str(stack.dir), "--systemd", "--watch-port", "9555", env={"HOME": str(home)})
    assert proc.returncode == 0, proc.stderr
    unit = home / ".config/systemd/user/remediate-watch-tiny.service"
    text = unit.read_text()
    assert f"-i {stack.inventory.resolve()} --limit tiny --listen 127.0.0.1:9555" in text
    assert text.rstrip().endswith("WantedBy=default.target") and f"wrote {unit}" in proc.stdout
    bad = remediate("init", str(tmp_path / "nope"), "--watch")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


def _unit_fields(text: str) -> dict[str, str]:
    return dict(ln.split("=", 1) for ln in text.splitlines() if "=" in ln and not ln.startswith("#"))


@pytest.mark.engine
def test_the_systemd_units_exec_start_runs_a_watch_that_heals_and_stops_on_its_kill_signal(tiny: TinyStack) -> None:
    """No systemd manager runs here (PID 1 is not systemd), so this does what the manager would do with
    the unit: run ExecStart, split by systemd's quoting (shlex for what shlex.join wrote), in
    WorkingDirectory; wait for the watch to answer; break the stack; then send KillSignal and expect a
    clean exit well within TimeoutStopSec."""
    up = tiny.compose("up", "-d", "--wait", "--wait-timeout", "300")
    assert up.returncode == 0, up.stderr
    fields = _unit_fields(systemd_unit(tiny.inventory, "tiny", user=True, port=tiny.watch_port))
    argv = shlex.split(fields["ExecStart"])
    assert Path(argv[0]).is_file(), argv[0]  # the installed console script, not a module run
    log = tiny.dir / "watch.log"  # a file, not a pipe nobody reads while the watch runs
    with log.open("w") as sink:
        watch = subprocess.Popen(argv, cwd=fields["WorkingDirectory"], stdout=sink, stderr=subprocess.STDOUT)
    try:

        def answers() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{tiny.watch_port}/healthz", timeout=2) as resp:
                    return resp.status == 200
            except OSError:
                return False

        assert wait_for(answers, timeout=120), "the unit's watch never answered /healthz"
        web = tiny.container("web")
        assert web is not None
        subprocess.run(["docker", "stop", "-t", "1", web["Id"]], capture_output=True, check=True)
        assert wait_for(lambda: tiny.state("web") == ("running", "healthy"), timeout=240)
        watch.send_signal(getattr(signal, fields["KillSignal"]))
        watch.wait(timeout=float(fields["TimeoutStopSec"]))
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()
    out = log.read_text()
    assert watch.returncode in (0, -signal.SIGTERM), out  # systemd counts both as a clean stop
    assert "Traceback" not in out, out
