"""Analyzers of one container's own state: how it exited, why it could not start, loops, health.

Each reads ``facts.containers`` (the engine's inspect) and, for the last words of a process, the
service's logs; none looks at another service (that is ``dependencies``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .base import (
    Diagnosis,
    ErrorClass,
    SafeAction,
    classify,
    classify_lines,
    depends_on,
    describe,
    error_lines,
    explained,
    health_only_timed_out,
)

if TYPE_CHECKING:
    from ..backends.engine import ContainerState
    from ..facts import Facts

_STOP_CODES = {0, 130, 137, 143}  # a clean exit, or SIGINT/SIGKILL/SIGTERM from a stop
_LOOP_RESTARTS = 3

_FIXES = {
    "missing-binary": "fix the service's command/entrypoint (or healthcheck) to name a program the image has, "
    "or use an image that has it",
    "not-executable": "make the file executable in the image, or run it through its interpreter",
    "port-in-use": "free the host port (stop what holds it) or publish the service on another port",
    "mount-source-missing": "create the mount's source path on the host, or fix the path in the compose file",
    "missing-module": "install the module in the image (rebuild it), or fix the import",
    "missing-image": "build or load the image locally, or fix the image name",
}


def _state_evidence(st: ContainerState) -> dict[str, Any]:
    ev: dict[str, Any] = {"container": st.name, "state": st.state, "exit_code": st.exit_code}
    if st.error:
        ev["state_error"] = st.error
    if st.oom_killed:
        ev["oom_killed"] = True
    if st.restart_count:
        ev["restart_count"] = st.restart_count
    if st.finished_at and not st.finished_at.startswith("0001"):
        ev["finished_at"] = st.finished_at
    return ev


def _log_evidence(facts: Facts, service: str) -> tuple[list[str], ErrorClass | None]:
    lines = facts.logs_of(service, 50)
    return error_lines(lines), classify_lines(lines)


def exit_code(facts: Facts) -> list[Diagnosis]:
    """A container that exited non-zero, read by the exit code's class.

    126/127 carry the runtime's State.Error (the binary); 137 with OOMKilled is memory, 139 is a
    crash; any other code is told by its last error lines. Codes a stop leaves (0, 137, 143) are
    ``not-running``'s, and a looping container is ``restart-loop``'s.
    """
    out = []
    for service, st in facts.containers.items():
        if st.state not in ("exited", "dead", "created") or _looping(st):
            continue
        code = st.exit_code
        if code in _STOP_CODES and not st.oom_killed:
            continue
        if st.error and code not in (126, 127):
            continue  # a start failure: start_failure() reads it
        ev = _state_evidence(st)
        signature, cause, fix, confidence = "", "", "", "high"
        if code in (126, 127):
            err = classify(st.error) if st.error else None
            lines, logged = _log_evidence(facts, service)
            err = err or logged
            if lines:
                ev["last_error_lines"] = lines
            kind = "missing-binary" if code == 127 else "not-executable"
            signature = err.kind if err else kind
            what = describe(err) if err else ("a command was not found" if code == 127 else "a command could not run")
            cause = f"exit {code}: {what}"
            fix = _FIXES.get(signature, _FIXES[kind])
            confidence = "high" if st.error or err else "medium"
        elif code == 137:
            signature = "oom-killed"
            cause = "exit 137 with OOMKilled: the kernel killed it for exceeding its memory limit"
            fix = "raise the service's memory limit (mem_limit / deploy.resources.limits.memory) or lower its use"
        elif code == 139:
            signature = "segfault"
            lines, _ = _log_evidence(facts, service)
            ev["last_error_lines"] = lines
            cause = "exit 139: the process crashed with a segmentation fault (SIGSEGV)"
            fix = "look at the last lines for the crashing library; an image built for another CPU or libc can do this"
        else:
            lines, err = _log_evidence(facts, service)
            ev["last_error_lines"] = lines
            signature = err.kind if err else "exit-nonzero"
            said = f"; its last error: {lines[-1]}" if lines else ""
            cause = f"exit {code}" + (f": {describe(err)}" if err else said)
            fix = _FIXES.get(signature, "fix what its last error lines say, then start it again")
            confidence = "high" if err else "medium"
        out.append(
            Diagnosis(
                analyzer="exit-code",
                subject=service,
                subject_kind="service",
                title=f"{service} exited with code {code}",
                cause=cause,
                fix=fix,
                confidence=confidence,
                evidence=(ev,),
                explains=explained(facts, [service]),
                signature=signature,
            )
        )
    return out


def start_failure(facts: Facts) -> list[Diagnosis]:
    """A container the runtime could not start (State.Error): port taken, mount source missing, ..."""
    out = []
    gone = facts.stack.missing_mounts if facts.stack else {}
    for service, st in facts.containers.items():
        if st.state == "running" or st.exit_code in (126, 127) or not (st.error or service in gone):
            continue
        if service in gone and not st.error:
            err: ErrorClass | None = ErrorClass("mount-source-missing", gone[service][0], "")
        else:
            err = classify(st.error)
        signature = err.kind if err else "start-error"
        out.append(
            Diagnosis(
                analyzer="start-failure",
                subject=service,
                subject_kind="service",
                title=f"{service} could not start",
                cause=describe(err) if err else st.error,
                fix=_FIXES.get(signature, "fix what the engine's error says, then start it again"),
                confidence="high",
                evidence=(_state_evidence(st), *({"missing_mount_source": p} for p in gone.get(service, ()))),
                explains=explained(facts, [service]),
                signature=signature,
            )
        )
    return out


def missing_image(facts: Facts) -> list[Diagnosis]:
    """A service whose image the engine lacks and that has no container to show for it."""
    stack = facts.stack
    out = []
    for service, image in stack.missing_images.items() if stack else ():
        st = facts.containers.get(service)
        if st is not None and st.state == "running":
            continue
        builds = bool((facts.services.get(service) or {}).get("build"))
        policy = (facts.services.get(service) or {}).get("pull_policy", "")
        cause = f"the image {image!r} is not present on the engine" + (
            " and pull_policy is 'never'" if policy == "never" else ""
        )
        fix = (
            f"build it ('compose build {service}' or 'compose up --build')"
            if builds
            else f"build or load {image!r} locally (docker load / docker build -t {image}), or fix the image name"
        )
        out.append(
            Diagnosis(
                analyzer="missing-image",
                subject=service,
                subject_kind="service",
                title=f"{service}'s image {image} is missing",
                cause=cause,
                fix=fix,
                confidence="high",
                evidence=({"service": service, "image": image, "pull_policy": policy or "missing", "build": builds},),
                explains=explained(facts, [service]),
                signature="missing-image",
            )
        )
    return out


def _looping(st: ContainerState) -> bool:
    return st.state == "restarting" or (st.restart_count >= _LOOP_RESTARTS and st.state != "running")


def restart_loop(facts: Facts) -> list[Diagnosis]:
    """A container the engine keeps restarting, with its last error classified."""
    out = []
    for service, st in facts.containers.items():
        if not _looping(st):
            continue
        ev = _state_evidence(st)
        lines, err = _log_evidence(facts, service)
        if st.error:
            err = classify(st.error) or err
        ev["last_error_lines"] = lines
        signature = err.kind if err else ("oom-killed" if st.oom_killed else "crash-loop")
        if err:
            why = describe(err)
        elif st.oom_killed:
            why = "it is killed for exceeding its memory limit"
        else:
            why = f"its last error: {lines[-1]}" if lines else f"it exits with code {st.exit_code}"
        out.append(
            Diagnosis(
                analyzer="restart-loop",
                subject=service,
                subject_kind="service",
                title=f"{service} is restarting in a loop ({st.restart_count} restarts)",
                cause=f"it exits with code {st.exit_code} and its restart policy starts it again: {why}",
                fix=_FIXES.get(signature, "fix what its last error lines say; restarting it again will not help"),
                confidence="high" if err or lines else "medium",
                evidence=(ev,),
                explains=explained(facts, [service]),
                signature=signature,
            )
        )
    return out


def unhealthy(facts: Facts) -> list[Diagnosis]:
    """A running container whose healthcheck fails, with the health log's last output classified."""
    out = []
    for service, st in facts.containers.items():
        if st.state != "running" or st.health != "unhealthy":
            continue
        slow = health_only_timed_out(st)
        if slow and not explained(facts, [service]):
            continue  # slow under load, and no check fails on it: not a fault we can name
        last = st.health_log[-1] if st.health_log else {}
        output = str(last.get("Output", "")).strip()
        err = classify(output) if output else None
        if err is None and last.get("ExitCode") == -1 and not output:
            err = ErrorClass("timeout", "", "health check exceeded its timeout")
        signature = f"health-{err.kind}" if err else "health-failing"
        if err and err.kind == "missing-binary":
            fix = f"the healthcheck names {err.detail!r}, which the image lacks: use a program it has"
        elif err and err.kind == "timeout":
            fix = "the check does not answer in time: see whether the service is overloaded, or raise its timeout"
        elif err and err.kind == "http-status":
            fix = f"the health endpoint answers {err.detail}: see the service's logs for why"
        else:
            fix = "see the health log's output and the service's logs for why the check fails"
        tail = [(str(h.get("Output", "")).strip().splitlines() or [""])[-1][-200:] for h in st.health_log[-2:]]
        ev = {
            "container": st.name,
            "health": st.health,
            "health_exit_code": last.get("ExitCode"),
            "health_output": tail,
        }
        out.append(
            Diagnosis(
                analyzer="unhealthy",
                subject=service,
                subject_kind="service",
                title=f"{service} is unhealthy",
                cause=f"its healthcheck fails: {describe(err) if err else (output[-200:] or 'no output')}",
                fix=fix,
                # a busy machine times health probes out too: only a low-confidence reading
                confidence="low" if slow else "high" if err else "medium",
                evidence=(ev,),
                explains=explained(facts, [service]),
                signature=signature,
            )
        )
    return out


def _long_running(facts: Facts, service: str, config: Mapping[str, Any]) -> bool:
    """Whether a service is meant to keep running (a one-shot job that exited 0 is not a fault)."""
    replicas = (config.get("deploy") or {}).get("replicas", config.get("scale"))
    if replicas is not None and int(replicas) == 0:
        return False  # scaled to zero on purpose
    if config.get("restart") in ("always", "unless-stopped") or config.get("ports") or config.get("healthcheck"):
        return True
    for other in facts.services.values():
        deps = other.get("depends_on") or {}
        if service in deps:
            cond = deps.get(service, {}).get("condition") if isinstance(deps, Mapping) else None
            if cond != "service_completed_successfully":
                return True
    return bool(explained(facts, [service]))


def not_running(facts: Facts) -> list[Diagnosis]:
    """A service meant to run that is stopped, never started, or has no container: start it."""
    out = []
    stack = facts.stack
    cannot = {*stack.missing_images, *stack.missing_mounts} if stack else set()
    for service, config in facts.services.items():
        st = facts.containers.get(service)
        if service in cannot or not _long_running(facts, service, config):
            continue
        if st is None:
            what, ev = "has no container", {"service": service, "container": None}
        elif st.state == "created" and not st.error:
            what, ev = "was created but never started", _state_evidence(st)
        elif st.state in ("exited", "dead") and st.exit_code in _STOP_CODES and not st.oom_killed and not st.error:
            if _looping(st):
                continue
            what, ev = f"is stopped (exit {st.exit_code})", _state_evidence(st)
        else:
            continue
        deps = ", ".join(depends_on(config))
        out.append(
            Diagnosis(
                analyzer="not-running",
                subject=service,
                subject_kind="service",
                title=f"{service} is not running",
                cause=f"{service} {what}; nothing in its state says it failed",
                fix=f"start it (compose up -d {service})" + (f"; compose starts {deps} first" if deps else ""),
                confidence="high" if st is None or st.exit_code in (0, 143, 130) else "medium",
                evidence=(ev,),
                explains=explained(facts, [service]),
                action=SafeAction("compose_up", service),
                signature="stopped",
            )
        )
    return out
