"""The sandbox on a real engine: `up` gives a healthy stack that passes the honest suite, every
`break` changes exactly what it names, `up` restores health, `down` removes only its project.

One sandbox is shared by the module (own work directory, project remediate-t-<random>, port offset
20000) and reset with `up` before each scenario.
"""

from __future__ import annotations

import importlib.util
import json
import re
import secrets
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path

import pytest
import yaml

from .support import PORT_SHIFT, ROOT, SANDBOX, SandboxDir, json_out, project_objects, remediate, require_engine

CHECKS = ROOT / "checks" / "pyairtable.yml"
OFFSET = 20000 + PORT_SHIFT
PORTS = {"gateway": 8000, "mcp": 8001, "airtable_gateway": 8002, "llm": 8003, "automation": 8006,
         "platform": 8007, "saga": 8008, "frontend": 3000, "airtable_api": 8010}  # fmt: skip


def _load_sandbox_module():
    spec = importlib.util.spec_from_file_location("sandbox_cli", SANDBOX)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


sbx = _load_sandbox_module()


# --- helpers ---------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)

    @property
    def service(self) -> str | None:
        return {k.lower(): v for k, v in self.headers.items()}.get("x-service")


def http(method: str, url: str, body=None, headers: dict | None = None, timeout: float = 15) -> Answer:
    """One request; the default timeout leaves room for a loaded machine (a fault test passes its own)."""
    data = json.dumps(body).encode() if body is not None else None
    hdrs = {"Content-Type": "application/json", **(headers or {})} if data is not None else dict(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return Answer(resp.status, dict(resp.headers), resp.read())
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, dict(exc.headers), exc.read())


def burst(url: str, n: int = 10) -> list[tuple[int, bytes]]:
    """(status, body) of n requests released at once, like the suite's concurrency probe. Each
    connection is opened first and its request sent at a barrier: on a loaded machine, connecting
    inside the burst spread the arrivals over more than the gateway's 100 ms health call, and a late
    one found a free slot."""
    parts = urllib.parse.urlsplit(url)
    barrier, out = threading.Barrier(n), []

    def one():
        conn = HTTPConnection(parts.hostname, parts.port, timeout=15)
        try:
            conn.connect()
            barrier.wait()
            conn.request("GET", parts.path)
            response = conn.getresponse()
            out.append((response.status, response.read()))
        finally:
            conn.close()

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


class Sandbox(SandboxDir):
    """The shared sandbox helper, with the stack's endpoints (how long up and break take is measured
    by benchmarks/, not here)."""

    def __init__(self, workdir: Path, project: str) -> None:
        super().__init__(workdir, project, OFFSET)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{PORTS[name] + OFFSET}"

    def secret(self, name: str) -> str:
        return (self.workdir / "secrets" / name).read_text().strip()

    def env(self) -> dict[str, str]:
        return sbx.read_env(self.workdir / ".env")

    def container(self, service: str) -> dict:
        out = subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={self.project}",
             "--filter", f"label=com.docker.compose.service={service}"],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        assert out, f"no container for {service}"
        return json.loads(subprocess.run(["docker", "inspect", out[0]], capture_output=True, text=True).stdout)[0]

    def logs(self, service: str) -> str:
        cid = self.container(service)["Id"]
        proc = subprocess.run(["docker", "logs", cid], capture_output=True, text=True)
        return proc.stdout + proc.stderr

    def check(self, inventory: Path | None = None) -> dict:
        proc = remediate("check", "--json", "-i", str(inventory or self.workdir / "inventory.yml"))
        return json_out(proc)

    def register(self, user: str, timeout: float = 15) -> Answer:
        body = {"username": user, "email": f"{user}@example.com", "password": f"{user}-pw1"}
        return http("POST", self.url("gateway") + "/api/auth/register", body, timeout=timeout)

    def login(self, user: str, field: str = "username", timeout: float = 15) -> Answer:
        ident = user if field == "username" else f"{user}@example.com"
        body = {field: ident, "password": f"{user}-pw1"}
        return http("POST", self.url("gateway") + "/api/auth/login", body, timeout=timeout)


def wait_for(predicate, timeout: float = 40, step: float = 0.5):
    """Poll until predicate() holds; the timeouts passed are ceilings for a loaded machine, not waits."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def statuses(report: dict) -> dict[str, str]:
    return {c["id"]: c["status"] for c in report["checks"]}


# --- no engine needed --------------------------------------------------------------------------------


# The scenarios the sandbox README documents, written out here: the CLI is checked against them, not
# against its own table.
SCENARIOS = {
    "services-stopped": "automation-services and saga-orchestrator stopped",
    "unmigrated": "users table never migrated",
    "login-email-only": "accepts only `email` at login",
    "bad-airtable-token": "a wrong AIRTABLE_TOKEN",
    "low-concurrency": "GATEWAY_MAX_CONCURRENCY=5",
    "gateway-key-drift": "the gateway's API_KEY differs from the key clients send",
    "internal-key-missing": "compose gives airtable-gateway API_KEY but not INTERNAL_API_KEY",
    "curl-healthcheck": "healthchecks call curl",
    "hash-rounds": "PASSWORD_HASH_ROUNDS raised",
    "shipper-config": "the log-shipper crash-loops",
    "suite-ports": "8004/8005 where nothing listens",
    "report": "all five report faults",
    "history": "all six history faults",
}


def test_scenarios_are_listed_with_a_description():
    proc = subprocess.run([sys.executable, str(SANDBOX), "scenarios"], capture_output=True, text=True, check=True)
    listed = dict(line.split(None, 1) for line in proc.stdout.splitlines())
    assert list(listed) == list(SCENARIOS)
    for name, words in SCENARIOS.items():
        assert words in listed[name], (name, listed[name])
    # and `break` takes exactly these names
    proc = subprocess.run([sys.executable, str(SANDBOX), "break", "nosuch"], capture_output=True, text=True)
    assert proc.returncode == 2 and all(f"'{name}'" in proc.stderr for name in SCENARIOS), proc.stderr


def test_check_file_has_35_checks_in_8_categories():
    checks = yaml.safe_load(CHECKS.read_text())["checks"]
    ids = [c["id"] for c in checks]
    assert len(ids) == 35 and len(set(ids)) == 35
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9._-]*", i) for i in ids)
    assert Counter(c["category"] for c in checks) == {
        "service health": 10, "authentication flow": 4, "Airtable operations": 6, "workflow management": 3,
        "file operations": 3, "SAGA transactions": 3, "frontend integration": 3, "performance": 3,
    }  # fmt: skip
    by_id = {c["id"]: c for c in checks}
    for c in checks:
        assert set(c.get("requires", [])) <= set(ids), c["id"]
        for r in c.get("requires", []):  # an exclusive check runs late: nothing earlier may wait on it
            assert by_id[r].get("exclusive", False) <= c.get("exclusive", False), (c["id"], r)
    assert all(by_id[i]["exclusive"] for i in ids if i.startswith("perf."))
    assert "auth.register" not in by_id["auth.login"]["requires"]
    assert "airtable.create-record" in by_id["airtable.update-record"]["requires"]
    assert "airtable.create-record" in by_id["airtable.delete-record"]["requires"]
    # never the seed's dead ports
    assert not re.search(r":800[45]\b", CHECKS.read_text())
    proc = remediate("validate", str(CHECKS))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_suite_ports_copy_moves_only_files_and_saga(tmp_path):
    wd = sbx.Workdir(tmp_path, "p", 100)
    copy = yaml.safe_load(sbx.suite_ports_text(wd))["checks"]
    original = yaml.safe_load(CHECKS.read_text())["checks"]
    for old, new in zip(original, copy, strict=True):
        if old["id"].startswith("files."):
            assert new["probe"]["url"].startswith("http://127.0.0.1:8104/")
        elif old["id"].startswith("saga."):
            assert new["probe"]["url"].startswith("http://127.0.0.1:8105/")
        else:
            assert new == old


# --- the real sandbox ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    require_engine()
    box = Sandbox(tmp_path_factory.mktemp("sandbox") / "run", f"remediate-t-{secrets.token_hex(3)}")
    try:
        box.up()  # inside the try: a half-started project is torn down too
        yield box
    finally:
        box.down()


@pytest.mark.engine
@pytest.mark.sandbox
class TestSandbox:
    def test_up_is_healthy_and_passes_the_whole_suite(self, sandbox):
        env = sandbox.env()
        assert env["COMPOSE_PROJECT_NAME"] == sandbox.project
        assert env["GATEWAY_PORT"] == str(8000 + OFFSET) and env["PORT_OFFSET"] == str(OFFSET)
        assert env["API_KEY"] == sandbox.secret("api_key")
        assert env["AIRTABLE_TOKEN"] == sandbox.secret("airtable_token")
        assert (sandbox.workdir / ".env").stat().st_mode & 0o777 == 0o600
        assert (sandbox.workdir / "secrets").stat().st_mode & 0o777 == 0o700
        assert all(p.stat().st_mode & 0o777 == 0o600 for p in (sandbox.workdir / "secrets").iterdir())
        report = sandbox.check()
        failed = {k: v for k, v in statuses(report).items() if v != "passed"}
        assert report["total"] == 35 and not failed, failed
        # every published port binds 127.0.0.1 only
        for service in ("api-gateway", "airtable-api", "frontend"):
            bindings = sandbox.container(service)["HostConfig"]["PortBindings"]
            assert {b["HostIp"] for v in bindings.values() for b in v} == {"127.0.0.1"}
        assert sandbox.container("postgres")["HostConfig"]["PortBindings"] in ({}, None)
        # every answer says who produced it; the gateway passes a downstream's name through
        assert http("GET", sandbox.url("saga") + "/health/").service == "saga-orchestrator"
        login = sandbox.login("nobody-" + secrets.token_hex(3))
        assert login.status == 401 and login.service == "platform-services"
        # 10 simultaneous health calls all succeed at the healthy concurrency (64)
        assert [status for status, _ in burst(sandbox.url("gateway") + "/api/health")] == [200] * 10

    def test_second_up_changes_nothing(self, sandbox):
        before = sandbox.container("api-gateway")["Id"]
        proc = sandbox.up()
        assert "up to date" in proc.stdout and "kept" in proc.stdout
        assert sandbox.container("api-gateway")["Id"] == before

    def test_services_stopped(self, sandbox):
        sandbox.break_("services-stopped")
        for service in ("automation-services", "saga-orchestrator"):
            assert sandbox.container(service)["State"]["Status"] == "exited"
        with pytest.raises(urllib.error.URLError):
            http("GET", sandbox.url("automation") + "/health", timeout=2)
        assert http("GET", sandbox.url("gateway") + "/api/health").status == 200
        sandbox.up()
        assert http("GET", sandbox.url("saga") + "/health/").status == 200

    def test_unmigrated(self, sandbox):
        sandbox.break_("unmigrated")
        answer = sandbox.register("u-" + secrets.token_hex(3))
        assert answer.status == 500 and answer.json() == {"detail": "Internal Server Error"}
        assert answer.service == "platform-services"
        assert 'relation "users" does not exist' in sandbox.logs("platform-services")
        assert http("GET", sandbox.url("platform") + "/health").status == 200
        sandbox.up()
        assert sandbox.register("u-" + secrets.token_hex(3)).status == 201

    def test_login_email_only(self, sandbox):
        user = "e-" + secrets.token_hex(3)
        assert sandbox.register(user).status == 201
        sandbox.break_("login-email-only")
        answer = sandbox.login(user)
        assert answer.status == 422 and answer.json()["detail"][0]["loc"] == ["body", "email"]
        assert sandbox.login(user, field="email").status == 200
        sandbox.up()
        assert sandbox.login(user).status == 200

    def test_bad_airtable_token(self, sandbox):
        sandbox.break_("bad-airtable-token")
        key = {"X-API-Key": sandbox.secret("api_key")}
        answer = http("GET", sandbox.url("gateway") + "/api/airtable/tables", headers=key)
        assert answer.status == 401 and answer.service == "airtable-gateway"
        assert answer.json() == {"error": {"type": "AUTHENTICATION_REQUIRED", "message": "Invalid API key"}}
        upstream = sandbox.url("airtable_api") + "/v0/meta/whoami"
        assert (
            http("GET", upstream, headers={"Authorization": f"Bearer {sandbox.secret('airtable_token')}"}).status == 200
        )
        assert (
            http("GET", upstream, headers={"Authorization": f"Bearer {sandbox.env()['AIRTABLE_TOKEN']}"}).status == 401
        )
        sandbox.up()
        assert http("GET", sandbox.url("gateway") + "/api/airtable/tables", headers=key).status == 200

    def test_low_concurrency_rejects_half_of_ten(self, sandbox):
        sandbox.break_("low-concurrency")
        url = sandbox.url("gateway") + "/api/health"
        assert http("GET", url).status == 200  # a single request never queues long
        rejected = []
        for _ in range(20):
            answers = burst(url)
            assert {status for status, _ in answers} <= {200, 503}
            rejected.append(sum(b"too many concurrent requests" in body for _, body in answers))
            time.sleep(0.15)
        # The first five in always get a slot, so never more than five are turned away. Exactly five
        # needs all ten to arrive within the 100 ms the first five hold their slots: every time on an
        # idle machine, most times on a loaded one (one late arrival in a burst then finds a slot).
        assert max(rejected) == 5 and Counter(rejected).most_common(1)[0][0] == 5, rejected
        sandbox.up()
        assert [status for status, _ in burst(url)] == [200] * 10

    def test_gateway_key_drift(self, sandbox):
        sandbox.break_("gateway-key-drift")
        key = {"X-API-Key": sandbox.secret("api_key")}
        answer = http("GET", sandbox.url("gateway") + "/api/airtable/tables", headers=key)
        assert answer.status == 401 and answer.json() == {"detail": "Invalid API key"}
        assert answer.service == "api-gateway"
        # gateway and airtable-gateway still agree with each other: only the clients' key is stale
        env_key = sandbox.env()["API_KEY"]
        assert env_key != sandbox.secret("api_key")
        assert (
            http("GET", sandbox.url("gateway") + "/api/airtable/tables", headers={"X-API-Key": env_key}).status == 200
        )
        sandbox.up()
        assert http("GET", sandbox.url("gateway") + "/api/airtable/tables", headers=key).status == 200

    def test_internal_key_missing(self, sandbox):
        sandbox.break_("internal-key-missing")
        key = {"X-API-Key": sandbox.secret("api_key")}
        answer = http("GET", sandbox.url("gateway") + "/api/airtable/tables", headers=key)
        assert answer.status == 401 and answer.json() == {"detail": "Missing user context"}
        assert answer.service == "airtable-gateway"
        env = sandbox.container("airtable-gateway")["Config"]["Env"]
        assert any(e.startswith("API_KEY=") for e in env)
        assert not any(e.startswith("INTERNAL_API_KEY=") for e in env)
        assert "INTERNAL_API_KEY" not in (sandbox.workdir / "compose.yml").read_text()
        sandbox.up()
        assert http("GET", sandbox.url("gateway") + "/api/airtable/tables", headers=key).status == 200

    def test_curl_healthcheck(self, sandbox):
        sandbox.break_("curl-healthcheck")

        def unhealthy():
            return all(
                sandbox.container(s)["State"].get("Health", {}).get("Status") == "unhealthy"
                for s in ("api-gateway", "llm-orchestrator")
            )

        assert wait_for(unhealthy, timeout=90), "containers did not turn unhealthy"
        log = sandbox.container("api-gateway")["State"]["Health"]["Log"][-1]["Output"]
        assert "curl" in log
        assert http("GET", sandbox.url("gateway") + "/api/health").status == 200
        assert http("GET", sandbox.url("llm") + "/health").status == 200
        sandbox.up()
        assert sandbox.container("api-gateway")["State"]["Health"]["Status"] == "healthy"

    def test_hash_rounds(self, sandbox):
        user = "h-" + secrets.token_hex(3)
        assert sandbox.register(user).status == 201
        sandbox.break_("hash-rounds")
        # the suite's 5 s client timeout; a hash takes 10 s
        for call in (lambda: sandbox.register("h2-" + secrets.token_hex(3), 5), lambda: sandbox.login(user, timeout=5)):
            started = time.monotonic()
            with pytest.raises((TimeoutError, urllib.error.URLError)):
                call()
            assert time.monotonic() - started >= 4.9
        assert http("GET", sandbox.url("platform") + "/health").status == 200
        sandbox.up()  # the login above may have re-hashed the password at the costly rounds: 10 s to verify
        assert sandbox.login(user, timeout=40).status == 200

    def test_shipper_config(self, sandbox):
        sandbox.break_("shipper-config")

        def crash_looping():
            state = sandbox.container("log-shipper")
            return state["RestartCount"] >= 1 and "error: unsupported config keys: batch_wait, batch_size" in (
                sandbox.logs("log-shipper")
            )

        assert wait_for(crash_looping, timeout=60)
        sandbox.up()
        state = sandbox.container("log-shipper")["State"]
        assert state["Status"] == "running" and "started; shipping" in sandbox.logs("log-shipper")

    def test_suite_ports(self, sandbox):
        repo_checks = CHECKS.read_text()
        sandbox.break_("suite-ports")
        assert CHECKS.read_text() == repo_checks
        copy = sandbox.workdir / "checks" / "pyairtable.yml"
        inventory = yaml.safe_load((sandbox.workdir / "inventory.yml").read_text())
        assert inventory["targets"]["sandbox"]["checks"] == [str(copy)]
        report = statuses(sandbox.check())
        broken = {k: v for k, v in report.items() if v != "passed"}
        assert broken == {
            "files.upload": "failed", "files.list": "failed", "files.download": "skipped",
            "saga.start": "failed", "saga.execute-step": "skipped", "saga.compensate": "skipped",
        }  # fmt: skip
        sandbox.up()
        assert not (sandbox.workdir / "checks").exists()

    def test_report_state_scores_13_of_35(self, sandbox):
        sandbox.break_("report")
        report = sandbox.check()
        assert report["passed"] == 13 and report["total"] == 35 and round(report["rate"], 3) == 0.371
        assert report["categories"]["file operations"]["passed"] == 0
        assert report["categories"]["service health"]["passed"] == 8
        assert report["categories"]["performance"]["passed"] == 2
        assert statuses(report)["auth.login"] == "failed"  # the 422 shows, not a skip

    def test_history_state_and_up_restores_everything(self, sandbox):
        sandbox.up()
        sandbox.break_("history")
        assert wait_for(
            lambda: sandbox.container("api-gateway")["State"]["Health"]["Status"] == "unhealthy", timeout=90
        )
        report = statuses(sandbox.check())
        assert report["health.api-gateway"] == "failed" and report["health.llm-orchestrator"] == "failed"
        assert report["files.upload"] == "failed" and report["saga.start"] == "failed"
        sandbox.up()
        report = sandbox.check()
        assert report["passed"] == 35, {k: v for k, v in statuses(report).items() if v != "passed"}

    def test_down_removes_only_this_project(self, sandbox):
        ours = project_objects(sandbox.project)
        assert ours["containers"] and ours["networks"] and ours["volumes"]
        # bystanders: a look-alike name, and another compose project's label
        keep = f"{sandbox.project}-bystander"
        other = f"label=com.docker.compose.project={sandbox.project}x"
        subprocess.run(["docker", "volume", "create", keep], check=True, capture_output=True)
        subprocess.run(["docker", "network", "create", "--label", other[6:], keep], check=True, capture_output=True)
        subprocess.run(
            ["docker", "create", "--name", keep, "--label", other[6:], sandbox.env()["APP_IMAGE"], "true"],
            check=True, capture_output=True,
        )  # fmt: skip
        try:
            proc = sandbox.cli("down")
            assert "down" in proc.stdout
            assert project_objects(sandbox.project) == {"containers": [], "networks": [], "volumes": []}
            for kind in ("volume", "network", "container"):
                assert subprocess.run(["docker", kind, "inspect", keep], capture_output=True).returncode == 0, kind
        finally:
            subprocess.run(["docker", "rm", "-f", keep], capture_output=True)
            subprocess.run(["docker", "network", "rm", keep], capture_output=True)
            subprocess.run(["docker", "volume", "rm", keep], capture_output=True)
