"""The analyzers on a real engine, each fault made for real: one small compose project on
``remediate-base:local`` brought up once for the module (a dozen tiny services, each broken one way
or healthy on purpose), observed through the real ``facts.gather`` and ``analyzers.observe``, torn
down always. Faults that stop compose itself (an unreadable env file, a missing image) get projects
of their own that are only resolved, never started."""

from __future__ import annotations

import contextlib
import secrets
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from remediator.analyzers import analyze
from remediator.analyzers.observe import observe
from remediator.backends.compose import Compose
from remediator.backends.engine import Engine
from remediator.facts import Facts, gather
from remediator.model import ComposeProject, Target
from remediator.results import Run

from .support import require_engine, wait_for

pytestmark = pytest.mark.engine

REDIS_PASSWORD = "engine-test-redis-pw-42"
JWT_SECRET = "engine-test-jwt-secret-42"

POLL_REDIS = """\
import os, time, redis
r = redis.Redis.from_url(os.environ["REDIS_URL"], socket_connect_timeout=2)
while True:
    try:
        r.ping()
    except Exception as e:
        print("redis error:", type(e).__name__, e, flush=True)
    time.sleep(1)
"""

DB = """\
import os, http.server
if not os.path.exists("/data/PG_VERSION"):
    open("/data/PG_VERSION", "w").write("15")
    print("db: initialized /data", flush=True)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = os.path.exists("/data/schema")
        self.send_response(200 if ok else 500)
        self.end_headers()
        self.wfile.write(b"ok" if ok else b'ERROR:  relation "users" does not exist')
    def log_message(self, *a):
        pass
http.server.HTTPServer(("", 8080), H).serve_forever()
"""

APP = """\
import time, urllib.request, urllib.error
while True:
    try:
        urllib.request.urlopen("http://db:8080/", timeout=2)
        print("query ok", flush=True)
    except urllib.error.HTTPError as e:
        print("query failed:", e.read().decode(), flush=True)
    except Exception as e:
        print("db error:", e, flush=True)
    time.sleep(1)
"""


def _block(code: str) -> str:
    return "\n".join("        " + line for line in code.splitlines())


COMPOSE = f"""\
x-base: &base
  image: remediate-base:local
  pull_policy: never
  stop_signal: SIGKILL

services:
  redis:
    <<: *base
    user: redis
    working_dir: /tmp
    command: ["redis-server", "--requirepass", "${{REDIS_PASSWORD}}", "--save", "", "--appendonly", "no"]
  client:                 # its URL lacks the password its sibling carries
    <<: *base
    environment:
      REDIS_URL: redis://redis:6379/0
    depends_on: [redis]
    command:
      - python3
      - -u
      - -c
      - |
{_block(POLL_REDIS)}
  client2:
    <<: *base
    environment:
      REDIS_URL: redis://:${{REDIS_PASSWORD}}@redis:6379/1
    depends_on: [redis]
    command:
      - python3
      - -u
      - -c
      - |
{_block(POLL_REDIS)}
  signer:                 # signs with .env's JWT_SECRET; uses a variable nothing sets
    <<: *base
    command: ["sleep", "infinity"]
    environment:
      JWT_SECRET: ${{JWT_SECRET}}
      EXTRA_TOKEN: ${{ANALYZERS_TEST_NEVER_SET}}
  verifier:               # verifies with a secret of its own; drifts when .env's MODE changes
    <<: *base
    command: ["sleep", "infinity"]
    environment:
      JWT_SECRET: verifier-own-secret-42
      MODE: ${{MODE:-a}}
  nobin:
    <<: *base
    command: ["uvicorn", "main:app"]
  crash:
    <<: *base
    command: ["python3", "-c", "import sys; print('error: unsupported config keys: positions'); sys.exit(3)"]
  oom:
    <<: *base
    command: ["python3", "-c", "x = bytearray(300 * 1024 * 1024)"]
    mem_limit: 24m
  sick:
    <<: *base
    command: ["sleep", "infinity"]
    healthcheck:
      test: ["CMD", "curl", "-f", "http://127.0.0.1/"]
      interval: 1s
      timeout: 5s
      retries: 1
  stopped:
    <<: *base
    command: ["sleep", "infinity"]
    restart: unless-stopped
  porta:
    <<: *base
    command: ["sleep", "infinity"]
    ports: ["127.0.0.1:{{port}}:80"]
  portb:
    <<: *base
    command: ["sleep", "infinity"]
    ports: ["127.0.0.1:{{port}}:81"]
  mnt:
    <<: *base
    command: ["sleep", "infinity"]
    volumes:
      - type: bind
        source: ./mnt-src
        target: /x
        bind:
          create_host_path: false   # a mount (not a -v bind the engine would re-create)
  db:
    <<: *base
    command:
      - python3
      - -u
      - -c
      - |
{_block(DB)}
    volumes: ["data:/data"]
  app:
    <<: *base
    environment:
      DB_HOST: db
    command:
      - python3
      - -u
      - -c
      - |
{_block(APP)}

volumes:
  data:
"""

FIRST = ["redis", "client", "client2", "signer", "verifier", "crash", "oom", "sick", "stopped", "porta", "mnt"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    """The broken project and how to observe it as the planner does."""

    def __init__(self, directory: Path) -> None:
        self.project = ComposeProject(
            project=f"remediate-an-{secrets.token_hex(3)}",
            directory=directory,
            files=(directory / "compose.yml",),
            env_files=(directory / ".env",),
        )
        self.target = Target(name="t", inventory=directory / "inventory.yml", compose=self.project)
        self.compose = Compose(self.project)
        self.engine = Engine()

    def facts(self) -> Facts:
        facts = gather(self.target, Run([]), {}, {}, {}, engine=self.engine)
        facts.stack = observe(self.compose, self.engine)
        return facts

    def state(self, service: str) -> Any:
        return self.engine.container(self.project.project, service)

    def logs(self, service: str) -> str:
        st = self.state(service)
        return "\n".join(self.engine.logs(st.id, 50)) if st else ""


def _write_env(directory: Path, mode: str) -> None:
    (directory / ".env").write_text(f"REDIS_PASSWORD={REDIS_PASSWORD}\nJWT_SECRET={JWT_SECRET}\nMODE={mode}\n")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_engine()
    directory = tmp_path_factory.mktemp("analyzers") / "stack"
    directory.mkdir()
    (directory / "compose.yml").write_text(COMPOSE.replace("{port}", str(_free_port())))
    (directory / "mnt-src").mkdir()
    _write_env(directory, "a")
    s = Stack(directory)
    try:
        proc = s.compose.up([*FIRST, "db", "app"], timeout=120)
        assert proc.ok, proc.stderr
        assert not s.compose.up(["nobin"]).ok  # exec of a missing binary: compose reports the failure
        assert not s.compose.run("up", "-d", "--no-deps", "portb").ok  # its host port is porta's
        subprocess.run(["docker", "exec", s.state("db").id, "touch", "/data/schema"], check=True)  # the migration
        assert s.compose.stop(["stopped", "mnt"]).ok
        (directory / "mnt-src").rmdir()
        assert not s.compose.run("start", "mnt").ok
        _write_env(directory, "b")  # verifier's resolved config changes: compose would recreate it
        assert wait_for(lambda: s.state("sick").health == "unhealthy", 30)
        assert wait_for(lambda: "AuthenticationError" in s.logs("client"), 30)
        assert wait_for(lambda: s.state("crash").state == "exited" and s.state("oom").state == "exited", 30)
        # after the migration the app queries once a second; fresh-volume reads its last 5 lines, so the
        # healthy state is read once those are all good (a slow machine may lag behind the migration)
        assert wait_for(lambda: s.logs("app").splitlines()[-5:] == ["query ok"] * 5, 60)
        yield s
    finally:
        with contextlib.suppress(Exception):
            s.compose.down()
        s.engine.close()


@pytest.fixture(scope="module")
def found(stack: Stack) -> dict[str, list[Any]]:
    """Diagnoses of the broken project by subject (observed once for the module's read-only tests)."""
    by_subject: dict[str, list[Any]] = {}
    for d in analyze(stack.facts()):
        by_subject.setdefault(d.subject, []).append(d)
    return by_subject


def _one(found: dict[str, list[Any]], subject: str, analyzer: str) -> Any:
    hits = [d for d in found.get(subject, []) if d.analyzer == analyzer]
    assert len(hits) == 1, f"{analyzer} on {subject}: {found.get(subject)}"
    return hits[0]


def test_missing_binary_is_exit_127_with_state_error(found: dict[str, list[Any]]) -> None:
    d = _one(found, "nobin", "exit-code")
    assert d.signature == "missing-binary" and "'uvicorn'" in d.cause and d.confidence == "high"
    assert "executable file not found" in d.evidence[0]["state_error"]


def test_port_already_allocated(found: dict[str, list[Any]]) -> None:
    d = _one(found, "portb", "start-failure")
    assert d.signature == "port-in-use" and "port is already allocated" in d.evidence[0]["state_error"]


def test_missing_mount_source(found: dict[str, list[Any]], stack: Stack) -> None:
    d = _one(found, "mnt", "start-failure")
    assert d.signature == "mount-source-missing" and str(stack.project.directory / "mnt-src") in d.cause
    assert not any(x.analyzer == "not-running" for x in found["mnt"])  # starting it again would fail again


def test_exit_code_with_last_error_line(found: dict[str, list[Any]]) -> None:
    d = _one(found, "crash", "exit-code")
    assert "exit 3" in d.cause and "unsupported config keys" in d.cause


def test_oom_killed(found: dict[str, list[Any]]) -> None:
    d = _one(found, "oom", "exit-code")
    assert d.signature == "oom-killed" and d.evidence[0]["oom_killed"] is True


def test_unhealthy_with_missing_binary_in_healthcheck(found: dict[str, list[Any]]) -> None:
    d = _one(found, "sick", "unhealthy")
    assert d.signature == "health-missing-binary" and "curl" in d.fix


def test_stopped_service_gets_the_start_action(found: dict[str, list[Any]]) -> None:
    d = _one(found, "stopped", "not-running")
    assert d.action is not None and d.action.to_json() == {"action": "compose_up", "service": "stopped"}


def test_redis_refuses_a_client_without_password(found: dict[str, list[Any]]) -> None:
    refused = _one(found, "client", "credentials-refused")
    assert refused.signature == "redis-auth" and refused.title.startswith("redis refuses client")
    url = _one(found, "client.REDIS_URL", "url-credentials")
    assert url.signature == "url-missing-credentials"


def test_jwt_secrets_differ(found: dict[str, list[Any]]) -> None:
    d = _one(found, "JWT_SECRET", "shared-secret-differs")
    assert [e["services"] for e in d.evidence] == [["signer"], ["verifier"]]


def test_unset_variable_by_compose_interpolation(found: dict[str, list[Any]]) -> None:
    d = _one(found, "ANALYZERS_TEST_NEVER_SET", "unset-variable")
    assert "(signer)" in d.title


def test_drift_after_an_env_change(found: dict[str, list[Any]]) -> None:
    d = _one(found, "verifier", "drift")
    assert d.action is not None and d.action.action == "compose_recreate"
    assert any(e.get("env_changed") == ["MODE"] for e in d.evidence)


def test_healthy_services_are_left_alone(found: dict[str, list[Any]]) -> None:
    for healthy in ("redis", "client2", "porta", "db", "app", "signer"):
        assert healthy not in found, found.get(healthy)


def test_no_secret_in_any_diagnosis(found: dict[str, list[Any]]) -> None:
    import json

    text = json.dumps([d.to_json() for ds in found.values() for d in ds])
    assert REDIS_PASSWORD not in text and JWT_SECRET not in text and "verifier-own-secret-42" not in text


def test_removed_volume_is_a_data_loss_warning(stack: Stack, found: dict[str, list[Any]]) -> None:
    assert not [d.evidence for ds in found.values() for d in ds if d.analyzer == "fresh-volume"]
    assert stack.compose.run("rm", "-s", "-f", "db").ok
    volume = f"{stack.project.project}_data"
    subprocess.run(["docker", "volume", "rm", volume], check=True, capture_output=True)
    assert stack.compose.run("up", "-d", "--no-deps", "db").ok
    assert wait_for(lambda: "relation" in stack.logs("app").splitlines()[-1], 20)
    (d,) = [d for d in analyze(stack.facts()) if d.analyzer == "fresh-volume"]
    assert d.subject == volume and d.confidence == "high"
    assert any("initialized" in str(e.get("log", "")) for e in d.evidence)
    assert any(e.get("service") == "app" and "does not exist" in e["log"] for e in d.evidence)


# -- faults that stop compose before any container ---------------------------------------------


def _resolve_only(directory: Path, compose_text: str, env_text: str) -> tuple[Compose, Facts]:
    (directory / "compose.yml").write_text(compose_text)
    (directory / ".env").write_text(env_text)
    project = ComposeProject(
        project=f"remediate-an-{secrets.token_hex(3)}",
        directory=directory,
        files=(directory / "compose.yml",),
        env_files=(directory / ".env",),
    )
    compose, engine = Compose(project), Engine()
    facts = Facts(run=Run([]), checks={}, rendered={})
    facts.stack = observe(compose, engine)
    engine.close()
    return compose, facts


def test_env_file_with_an_unterminated_quote(tmp_path: Path) -> None:
    require_engine()
    env = 'A=1\nGREETING="hello\n# the greeting above never ends\nTOKEN=abcdefgh-secret\nZ=2\n'
    _, facts = _resolve_only(tmp_path, "services:\n  a:\n    image: remediate-base:local\n", env)
    (d,) = analyze(facts)
    assert d.analyzer == "env-file-unreadable" and d.subject == f"{tmp_path / '.env'}:2"
    assert d.evidence[0]["key"] == "GREETING" and d.evidence[0]["reported_line"] != 2  # compose names the end
    assert "abcdefgh-secret" not in str(d.to_json()) and "hello" not in str(d.to_json())


def test_missing_image(tmp_path: Path) -> None:
    require_engine()
    text = "services:\n  a:\n    image: remediate-missing-image:never\n    pull_policy: never\n"
    _, facts = _resolve_only(tmp_path, text, "")
    facts.services = facts.stack.services if facts.stack else {}
    (d,) = analyze(facts)
    assert (d.analyzer, d.subject, d.signature) == ("missing-image", "a", "missing-image")
