"""Diagnosis on recorded facts: each playbook entry matches on its own evidence and excludes the others.

No engine and no sandbox: the facts a round would gather (the latest run of the real suite, the
containers, the resolved compose config, the env files, log lines) are written down here, shaped as
the probes, the docker SDK and ``docker compose config --format json`` give them, and the real
playbooks are evaluated over them. Discriminating probes go to a fake runner that records what it
was asked and answers as told.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from remediator.backends.engine import ContainerState
from remediator.diagnosis import Evaluator, Finding, Match, diagnose
from remediator.facts import Facts, RecordedLogs, render_probes
from remediator.loader import load_playbooks, load_suite
from remediator.model import Entry
from remediator.probes import Outcome
from remediator.results import FAILED, PASSED, SKIPPED, CheckResult, Run
from remediator.secrets import fingerprint

ROOT = Path(__file__).resolve().parent.parent
ENTRIES = load_playbooks([ROOT / "playbooks"])
SUITE = load_suite([ROOT / "checks" / "pyairtable.yml"])
CHECKS = SUITE.by_id()

API_KEY = "client-key-0123456789"  # secrets/api_key: what the clients send
GOOD_TOKEN = "pat-good-0123456789"  # secrets/airtable_token: what the Airtable API accepts
PORTS = {  # service -> published port (= container port, offset 0)
    "api-gateway": 8000,
    "mcp-server": 8001,
    "airtable-gateway": 8002,
    "llm-orchestrator": 8003,
    "automation-services": 8006,
    "platform-services": 8007,
    "saga-orchestrator": 8008,
    "frontend": 3000,
    "airtable-api": 8010,
}
URLS = {
    "gateway": "http://127.0.0.1:8000",
    "airtable_gateway": "http://127.0.0.1:8002",
    "automation": "http://127.0.0.1:8006",
    "platform": "http://127.0.0.1:8007",
    "saga": "http://127.0.0.1:8008",
    "frontend": "http://127.0.0.1:3000",
    "airtable_api": "http://127.0.0.1:8010",
}
CONTEXT = {"urls": URLS, "secrets": {"api_key": API_KEY, "airtable_token": GOOD_TOKEN}, "run_id": "r1"}
HEALTHY_ENV = {
    "API_KEY": API_KEY,
    "AIRTABLE_TOKEN": GOOD_TOKEN,
    "PASSWORD_HASH_ROUNDS": "4",
    "LOGIN_IDENTIFIERS": "email,username",
    "GATEWAY_MAX_CONCURRENCY": "64",
}
AIRTABLE_401 = '{"error": {"type": "AUTHENTICATION_REQUIRED", "message": "Invalid API key"}}'
AIRTABLE_CHECKS = ["airtable.list-tables", "airtable.create-record", "airtable.read-records", "airtable.schema"]
CURL_MISSING = (
    'OCI runtime exec failed: exec failed: unable to start container process: exec: "curl": '
    "executable file not found in $PATH: unknown"
)


# -- building facts ---------------------------------------------------------------------------------


def compose_services(offset: int = 0) -> dict[str, Any]:
    """The resolved config as ``docker compose config --format json`` prints it (ports as strings)."""
    services: dict[str, Any] = {}
    for name, port in PORTS.items():
        services[name] = {
            "image": "remediate-sandbox-app:local",
            "ports": [
                {
                    "mode": "ingress",
                    "host_ip": "127.0.0.1",
                    "target": port,
                    "published": str(port + offset),
                    "protocol": "tcp",
                }
            ],
            "environment": {"PORT": str(port), "LOG_LEVEL": "info"},
            "healthcheck": {
                "test": ["CMD", "python3", "/app/health.py", f"http://localhost:{port}/health"],
                "interval": "2s",
            },
        }
    services["airtable-gateway"]["environment"].update(API_KEY=API_KEY, INTERNAL_API_KEY=API_KEY)
    services["api-gateway"]["depends_on"] = {"platform-services": {"condition": "service_healthy"}}
    for name in ("postgres", "redis", "log-shipper"):
        services[name] = {"image": "remediate-base:local", "environment": {}}
    return services


def container(service: str, state: str = "running", health: str = "healthy", **kw: Any) -> ContainerState:
    return ContainerState(
        service=service,
        name=f"proj-{service}-1",
        id=f"id-{service}",
        state=state,
        health=health,
        exit_code=kw.pop("exit_code", 0),
        restart_count=kw.pop("restart_count", 0),
        **kw,
    )


def http_failure(status: int, body: str, service: str, url: str = "") -> dict[str, Any]:
    return {"status": status, "body": body, "headers": {"x-service": service}, "url": url}


def run_of(failed: Mapping[str, tuple[str, dict[str, Any]]] = (), skipped: Mapping[str, str] = ()) -> Run:
    """The whole suite, passed except the ``failed`` ids (reason, evidence) and the ``skipped`` ids."""
    failed, skipped = dict(failed), dict(skipped)
    results = []
    for c in SUITE.checks:
        if c.id in failed:
            reason, evidence = failed[c.id]
            results.append(CheckResult(c.id, c.category, c.name, FAILED, reason, evidence))
        elif c.id in skipped:
            results.append(CheckResult(c.id, c.category, c.name, SKIPPED, f"requires {skipped[c.id]} failed"))
        else:
            results.append(CheckResult(c.id, c.category, c.name, PASSED))
    return Run(results)


def rendered(overrides: Mapping[str, str] = ()) -> dict[str, Mapping[str, Any]]:
    """Each check's probe rendered as the live stack renders it; ``overrides`` re-aim URLs (check id -> url)."""
    scope = {**CONTEXT, "token": "t", "record_id": "rec1", "workflow_id": "w1", "file_id": "f1", "saga_id": "s1"}
    out = render_probes(CHECKS, scope)
    for cid, url in dict(overrides).items():
        out[cid] = {**out[cid], "url": url}
    return out


def make_facts(
    run: Run,
    *,
    containers: Mapping[str, ContainerState] = (),
    services: Mapping[str, Any] | None = None,
    env: Mapping[str, str] = (),
    logs: Mapping[str, list[str]] = (),
    compose_text: str = "",
    aimed: Mapping[str, str] = (),
) -> Facts:
    states = {s: container(s) for s in [*PORTS, "postgres", "redis", "log-shipper"]}
    states.update(dict(containers))
    return Facts(
        run=run,
        checks=CHECKS,
        rendered=rendered(aimed),
        containers={k: v for k, v in states.items() if v is not None},
        services=compose_services() if services is None else services,
        env={**HEALTHY_ENV, **dict(env)},
        compose_text=compose_text,
        secrets=CONTEXT["secrets"],
        context=CONTEXT,
        logs=RecordedLogs(dict(logs)),
    )


class FakeProbes:
    """A discriminating-probe runner: answers by URL substring, remembers every call."""

    def __init__(self, answers: Mapping[str, bool] = ()) -> None:
        self.answers = dict(answers)
        self.calls: list[Mapping[str, Any]] = []

    def __call__(self, probe: Mapping[str, Any], expect: Mapping[str, Any]) -> Outcome:
        self.calls.append(probe)
        for fragment, passed in self.answers.items():
            if fragment in probe["url"]:
                return Outcome(passed, "" if passed else "status 401, expected 200", {"status": 200 if passed else 401})
        raise AssertionError(f"unexpected discriminating probe {probe['url']}")


def findings_of(facts: Facts, probes: Callable[..., Outcome] | None = None) -> list[Finding]:
    return diagnose(ENTRIES, facts, Evaluator(facts, probes or FakeProbes()))


def fired(facts: Facts, probes: Callable[..., Outcome] | None = None) -> list[str]:
    return sorted(f.key for f in findings_of(facts, probes))


def only(facts: Facts, probes: Callable[..., Outcome] | None = None) -> Finding:
    found = findings_of(facts, probes)
    assert len(found) == 1, [f.key for f in found]
    return found[0]


def airtable_run(status: int, body: str, producer: str) -> Run:
    failed = {c: (f"status {status}, expected 200", http_failure(status, body, producer)) for c in AIRTABLE_CHECKS}
    skipped = {"airtable.update-record": "airtable.create-record", "airtable.delete-record": "airtable.create-record"}
    return run_of(failed, skipped)


# -- the four Airtable 401s: same status, different producers, different causes -----------------------


def test_invalid_api_key_from_the_gateway_with_a_drifted_key_is_only_the_gateway_key():
    facts = make_facts(airtable_run(401, '{"detail": "Invalid API key"}', "api-gateway"), env={"API_KEY": "rotated"})
    probes = FakeProbes()
    finding = only(facts, probes)
    assert finding.entry.id == "gateway-key-mismatch"
    assert finding.checks == frozenset(AIRTABLE_CHECKS)
    assert finding.explains == frozenset([*AIRTABLE_CHECKS, "airtable.update-record", "airtable.delete-record"])
    shown = {"env": "API_KEY", "value": fingerprint("rotated"), "differs_from_secret": "api_key"}
    assert shown in finding.evidence and "rotated" not in str(finding.evidence)
    # the token entry's upstream probe never ran: its producer condition already failed
    assert probes.calls == []


def test_gateway_key_entry_needs_the_key_to_differ():
    facts = make_facts(airtable_run(401, '{"detail": "Invalid API key"}', "api-gateway"))
    assert fired(facts) == []


def test_airtable_error_shape_and_a_refused_env_token_is_only_the_token():
    facts = make_facts(
        airtable_run(401, AIRTABLE_401, "airtable-gateway"), env={"AIRTABLE_TOKEN": "pat-revoked", "API_KEY": "other"}
    )
    probes = FakeProbes({"/v0/meta/whoami": False})
    finding = only(facts, probes)
    assert finding.entry.id == "airtable-token-rejected"
    # the probe tried the token of .env against the upstream, once for all four checks
    assert len(probes.calls) == 1
    assert probes.calls[0]["url"] == "http://127.0.0.1:8010/v0/meta/whoami"
    assert probes.calls[0]["headers"] == {"Authorization": "Bearer pat-revoked"}
    probe_ev = [e for e in finding.evidence if "probe" in e]
    assert probe_ev == [
        {"probe": "env-token-accepted", "passed": False, "reason": "status 401, expected 200", "status": 401}
    ]


def test_airtable_error_shape_with_an_accepted_env_token_is_not_the_token():
    facts = make_facts(airtable_run(401, AIRTABLE_401, "airtable-gateway"), env={"AIRTABLE_TOKEN": "pat-revoked"})
    assert fired(facts, FakeProbes({"/v0/meta/whoami": True})) == []


def test_missing_user_context_without_internal_key_in_compose_is_only_internal_key_missing():
    services = compose_services()
    del services["airtable-gateway"]["environment"]["INTERNAL_API_KEY"]
    facts = make_facts(airtable_run(401, '{"detail": "Missing user context"}', "airtable-gateway"), services=services)
    probes = FakeProbes()
    finding = only(facts, probes)
    assert finding.entry.id == "internal-key-missing"
    assert finding.vars["key"] == "INTERNAL_API_KEY"
    ev = next(e for e in finding.evidence if "compose_service" in e)
    assert ev == {
        "compose_service": "airtable-gateway",
        "key": "INTERNAL_API_KEY",
        "present": False,
        "environment_keys": ["API_KEY", "LOG_LEVEL", "PORT"],
    }
    assert probes.calls == []  # not Airtable's error shape: the token probe is not needed


def test_missing_user_context_with_internal_key_in_compose_matches_nothing():
    facts = make_facts(airtable_run(401, '{"detail": "Missing user context"}', "airtable-gateway"))
    assert fired(facts) == []


# -- containers: exited, absent, crash-looping --------------------------------------------------------


def stopped_run(service: str, state: str) -> Run:
    dependents = {
        "automation-services": ["workflows.create", "files.upload", "files.list", "files.download"],
        "saga-orchestrator": ["saga.start", "saga.execute-step", "saga.compensate"],
    }[service]
    skipped = dict.fromkeys(dependents, f"health.{service}")
    if service == "automation-services":
        skipped |= {"workflows.execute": "health.automation-services", "workflows.history": "workflows.execute"}
    ev = {"service": service, "state": state, "exit_code": 0, "restart_count": 0}
    return run_of({f"health.{service}": (f"container is {state}, expected running", ev)}, skipped)


def test_exited_container_is_service_not_running_and_explains_its_dependents():
    st = container("automation-services", state="exited", health="none", exit_code=0)
    facts = make_facts(
        stopped_run("automation-services", "exited"),
        containers={"automation-services": st},
        logs={"automation-services": ["serving on 8006", "stopping"]},
    )
    finding = only(facts)
    assert finding.key == "service-not-running[service=automation-services]"
    assert finding.checks == frozenset()  # a container condition rests on the engine, not on a check
    assert finding.explains == frozenset(
        {
            "health.automation-services",
            "workflows.create",
            "workflows.execute",
            "workflows.history",
            "files.upload",
            "files.list",
            "files.download",
        }
    )
    assert finding.evidence[0]["state"] == "exited"
    assert finding.evidence[0]["last_log_lines"] == ["serving on 8006", "stopping"]


def test_two_stopped_services_are_two_findings_grouped_by_service():
    run = run_of(
        {
            "health.automation-services": ("container is exited", {"service": "automation-services"}),
            "health.saga-orchestrator": ("container is exited", {"service": "saga-orchestrator"}),
        },
        {"saga.start": "health.saga-orchestrator", "saga.execute-step": "saga.start"},
    )
    facts = make_facts(
        run,
        containers={
            "automation-services": container("automation-services", "exited", "none"),
            "saga-orchestrator": container("saga-orchestrator", "exited", "none"),
        },
    )
    found = {f.key: f for f in findings_of(facts)}
    assert sorted(found) == [
        "service-not-running[service=automation-services]",
        "service-not-running[service=saga-orchestrator]",
    ]
    assert found["service-not-running[service=saga-orchestrator]"].explains == frozenset(
        {"health.saga-orchestrator", "saga.start", "saga.execute-step"}
    )


def test_a_service_without_any_container_is_absent_and_not_running():
    facts = make_facts(
        stopped_run("saga-orchestrator", "absent"),
        containers={"saga-orchestrator": None},  # type: ignore[dict-item]
    )
    finding = only(facts)
    assert finding.key == "service-not-running[service=saga-orchestrator]"
    assert finding.evidence[0] == {"service": "saga-orchestrator", "state": "absent", "health": "none"}


def test_crash_loop_is_not_service_not_running():
    st = container("automation-services", state="exited", health="none", exit_code=1, restart_count=3)
    facts = make_facts(stopped_run("automation-services", "exited"), containers={"automation-services": st})
    assert fired(facts) == ["crash-loop[service=automation-services]"]


def test_one_restart_is_neither_a_crash_loop_nor_a_plain_stop():
    st = container("automation-services", state="exited", health="none", exit_code=1, restart_count=1)
    facts = make_facts(stopped_run("automation-services", "exited"), containers={"automation-services": st})
    assert fired(facts) == []


def test_log_shipper_crash_loop_with_unsupported_keys_names_them():
    st = container("log-shipper", state="restarting", health="none", exit_code=1, restart_count=4)
    line = "error: unsupported config keys: batch_wait, batch_size"
    facts = make_facts(run_of(), containers={"log-shipper": st}, logs={"log-shipper": ["starting", line]})
    found = {f.entry.id: f for f in findings_of(facts)}
    # the generic crash-loop entry reports (no actions); the stack's entry knows the fix
    assert sorted(found) == ["crash-loop", "log-shipper-unsupported-keys"]
    assert found["crash-loop"].entry.actions == ()
    assert found["log-shipper-unsupported-keys"].vars == {"service": "log-shipper", "keys": "batch_wait, batch_size"}
    assert {"service": "log-shipper", "log_line": line} in found["log-shipper-unsupported-keys"].evidence


# -- a healthcheck whose program is missing: only when the app itself answers --------------------------


def curl_facts(offset: int = 0) -> Facts:
    services = compose_services(offset)
    services["api-gateway"]["healthcheck"]["test"] = ["CMD", "curl", "-f", "http://localhost:8000/health"]
    st = container(
        "api-gateway",
        health="unhealthy",
        health_log=({"ExitCode": -1, "Output": CURL_MISSING},),
    )
    behind = Facts(run=Run([]), checks=CHECKS, rendered={}).dependents({"health.api-gateway"})
    skipped = dict.fromkeys(behind - {"health.api-gateway"}, "health.api-gateway")
    run = run_of({"health.api-gateway": ("container is unhealthy", {"health": "unhealthy"})}, skipped)
    return make_facts(run, containers={"api-gateway": st}, services=services)


def test_unhealthy_with_missing_program_and_app_answering_is_healthcheck_command_missing():
    probes = FakeProbes({"/health": True})
    finding = only(curl_facts(), probes)
    assert finding.key == "healthcheck-command-missing[service=api-gateway]"
    assert finding.vars["health_url"] == "http://localhost:8000/health"
    assert finding.vars["health_url_host"] == "http://127.0.0.1:8000/health"
    assert [c["url"] for c in probes.calls] == ["http://127.0.0.1:8000/health"]
    assert "health.api-gateway" in finding.explains and "auth.register" in finding.explains
    assert len(finding.explains) == 1 + 13  # its own health check and every check that requires it


def test_health_url_is_reached_through_the_published_port():
    probes = FakeProbes({"/health": True})
    finding = only(curl_facts(offset=30000), probes)
    assert finding.vars["health_url_host"] == "http://127.0.0.1:38000/health"
    assert probes.calls[0]["url"] == "http://127.0.0.1:38000/health"


def test_unhealthy_with_missing_program_but_app_not_answering_is_not_the_healthcheck():
    assert fired(curl_facts(), FakeProbes({"/health": False})) == []


# -- registration: 500 from the missing table, timeout from the hash cost -------------------------------


def test_register_500_with_the_relation_log_line_is_users_table_missing_not_hash_rounds():
    run = run_of(
        {
            "auth.register": (
                "status 500",
                http_failure(500, '{"detail":"Internal Server Error"}', "platform-services"),
            ),
            "auth.login": ("status 500", http_failure(500, '{"detail":"Internal Server Error"}', "platform-services")),
        },
        {"auth.verify": "auth.login", "auth.logout": "auth.login"},
    )
    log = 'ERROR register: relation "users" does not exist'
    facts = make_facts(run, env={"PASSWORD_HASH_ROUNDS": "14"}, logs={"platform-services": ["ok", log, "GET /health"]})
    finding = only(facts)
    assert finding.entry.id == "users-table-missing"
    assert finding.checks == frozenset({"auth.register", "auth.login"})
    assert finding.explains == frozenset({"auth.register", "auth.login", "auth.verify", "auth.logout"})
    assert {"service": "platform-services", "log_line": log} in finding.evidence


def test_register_500_without_the_log_line_matches_nothing():
    run = run_of({"auth.register": ("status 500", http_failure(500, "{}", "platform-services"))})
    assert fired(make_facts(run, logs={"platform-services": ["GET /health 200"]})) == []


def test_register_timeout_with_costly_hash_is_password_hash_too_slow_not_the_table():
    timeout = {"error": "timeout after 5 s", "url": "http://127.0.0.1:8000/api/auth/register"}
    run = run_of(
        {"auth.register": ("timeout after 5 s", timeout), "auth.login": ("timeout after 5 s", timeout)},
        {"auth.verify": "auth.login", "auth.logout": "auth.login"},
    )
    old = 'ERROR register: relation "users" does not exist'  # an old line still in the log
    facts = make_facts(run, env={"PASSWORD_HASH_ROUNDS": "14"}, logs={"platform-services": [old]})
    finding = only(facts)
    assert finding.entry.id == "password-hash-too-slow"
    assert any(e.get("env") == "PASSWORD_HASH_ROUNDS" for e in finding.evidence)


def test_the_hash_cost_the_diagnosis_rests_on_is_shown_in_its_evidence():
    run = run_of({"auth.register": ("timeout after 5 s", {"error": "timeout after 5 s"})})
    finding = only(make_facts(run, env={"PASSWORD_HASH_ROUNDS": "14"}))
    assert {"env": "PASSWORD_HASH_ROUNDS", "value": "14"} in finding.evidence


def test_register_timeout_with_cheap_hash_matches_nothing():
    run = run_of({"auth.register": ("timeout after 5 s", {"error": "timeout after 5 s"})})
    assert fired(make_facts(run, env={"PASSWORD_HASH_ROUNDS": "4"})) == []


def test_login_422_on_email_is_login_identifier_rejected_only_when_username_is_not_accepted():
    body = '{"detail":[{"loc":["body","email"],"msg":"field required"}]}'
    run = run_of({"auth.login": ("status 422", http_failure(422, body, "platform-services"))})
    assert fired(make_facts(run, env={"LOGIN_IDENTIFIERS": "email"})) == ["login-identifier-rejected"]
    assert fired(make_facts(run, env={"LOGIN_IDENTIFIERS": "email, username"})) == []


def test_gateway_503s_with_low_concurrency_setting():
    reason = "5 of 10 requests met the expectation, expected at least 70% (e.g. status 503, expected 2xx)"
    run = run_of({"perf.concurrent-requests": (reason, {"statuses": {"200": 5, "503": 5}})})
    assert fired(make_facts(run, env={"GATEWAY_MAX_CONCURRENCY": "5"})) == ["gateway-concurrency-too-low"]
    assert fired(make_facts(run, env={"GATEWAY_MAX_CONCURRENCY": "64"})) == []


# -- the suite's own fault: a port nobody publishes ------------------------------------------------------


def suite_ports_facts() -> Facts:
    refused = {"error": "connection refused"}
    run = run_of(
        {
            "files.upload": ("connection refused", refused),
            "files.list": ("connection refused", refused),
            "saga.start": ("connection refused", refused),
        },
        {"files.download": "files.upload", "saga.execute-step": "saga.start", "saga.compensate": "saga.start"},
    )
    aimed = {
        "files.upload": "http://127.0.0.1:8004/files/upload",
        "files.list": "http://127.0.0.1:8004/files",
        "files.download": "http://127.0.0.1:8004/files/f1/download",
        "saga.start": "http://127.0.0.1:8005/sagas/start",
    }
    return make_facts(run, aimed=aimed)


def test_refused_on_an_unpublished_port_is_a_suite_finding_with_the_required_services_port():
    found = {f.key: f for f in findings_of(suite_ports_facts())}
    assert sorted(found) == ["unpublished-port[port=8004]", "unpublished-port[port=8005]"]
    files, saga = found["unpublished-port[port=8004]"], found["unpublished-port[port=8005]"]
    assert files.entry.suite and saga.entry.suite
    # grouped by port: both checks aimed at 8004 are one finding
    assert files.checks == frozenset({"files.upload", "files.list"})
    assert files.vars["suggested_port"] == 8006 and files.vars["service"] == "automation-services"
    assert saga.vars == {"check": "saga.start", "port": 8005, "service": "saga-orchestrator", "suggested_port": 8008}
    assert files.explains == frozenset({"files.upload", "files.list", "files.download"})
    assert saga.explains == frozenset({"saga.start", "saga.execute-step", "saga.compensate"})


def test_refused_on_a_published_port_is_not_the_suite():
    run = run_of({"files.upload": ("connection refused", {"error": "connection refused"})})
    assert fired(make_facts(run)) == []  # 8006 is published: the environment is at fault, not the suite


def test_no_suggested_port_when_the_required_service_publishes_several():
    services = compose_services()
    services["automation-services"]["ports"].append(
        {"mode": "ingress", "host_ip": "127.0.0.1", "target": 9000, "published": "9000", "protocol": "tcp"}
    )
    facts = suite_ports_facts()
    facts.services = services
    files = next(f for f in findings_of(facts) if f.vars.get("port") == 8004)
    assert "suggested_port" not in files.vars


# -- generic: an unset variable ---------------------------------------------------------------------------


def test_unset_and_empty_variables_without_defaults_are_found_escaped_and_defaulted_ones_are_not():
    text = (
        "services:\n  a:\n    environment:\n"
        "      TOKEN: ${AIRTABLE_TOKEN}\n      EMPTY: ${GEMINI_API_KEY}\n      NONE: ${NOT_SET_ANYWHERE_XYZ?}\n"
        "      D: ${WITH_DEFAULT:-x}\n      E: $${ESCAPED}\n"
    )
    facts = make_facts(run_of(), env={"GEMINI_API_KEY": ""}, compose_text=text)
    found = {f.key: f for f in findings_of(facts)}
    assert sorted(found) == ["unset-variable[variable=GEMINI_API_KEY]", "unset-variable[variable=NOT_SET_ANYWHERE_XYZ]"]
    assert found["unset-variable[variable=GEMINI_API_KEY]"].evidence == [
        {"variable": "GEMINI_API_KEY", "state": "empty"}
    ]
    assert found["unset-variable[variable=NOT_SET_ANYWHERE_XYZ]"].evidence == [
        {"variable": "NOT_SET_ANYWHERE_XYZ", "state": "unset"}
    ]


# -- the report's state, all at once ----------------------------------------------------------------------


def test_the_reports_state_fires_exactly_one_entry_per_cause():
    internal = '{"detail":"Internal Server Error"}'
    body422 = '{"detail":[{"loc":["body","email"],"msg":"field required"}]}'
    failed = {
        "health.automation-services": ("container is exited", {"state": "exited"}),
        "health.saga-orchestrator": ("container is exited", {"state": "exited"}),
        "auth.register": ("status 500", http_failure(500, internal, "platform-services")),
        "auth.login": ("status 422", http_failure(422, body422, "platform-services")),
        "perf.concurrent-requests": ("5 of 10 met (e.g. status 503, expected 2xx)", {}),
        **{c: ("status 401", http_failure(401, AIRTABLE_401, "airtable-gateway")) for c in AIRTABLE_CHECKS},
    }
    skipped = {
        "auth.verify": "auth.login",
        "auth.logout": "auth.login",
        "airtable.update-record": "airtable.create-record",
        "airtable.delete-record": "airtable.create-record",
        **dict.fromkeys(
            ["workflows.create", "workflows.execute", "workflows.history", "files.upload", "files.list"],
            "health.automation-services",
        ),
        "files.download": "health.automation-services",
        **dict.fromkeys(["saga.start", "saga.execute-step", "saga.compensate"], "health.saga-orchestrator"),
    }
    run = run_of(failed, skipped)
    assert (run.passed, run.total) == (13, 35)
    facts = make_facts(
        run,
        containers={
            "automation-services": container("automation-services", "exited", "none"),
            "saga-orchestrator": container("saga-orchestrator", "exited", "none"),
        },
        env={"AIRTABLE_TOKEN": "pat-revoked", "LOGIN_IDENTIFIERS": "email", "GATEWAY_MAX_CONCURRENCY": "5"},
        logs={"platform-services": ['relation "users" does not exist']},
    )
    probes = FakeProbes({"/v0/meta/whoami": False})
    assert fired(facts, probes) == [
        "airtable-token-rejected",
        "gateway-concurrency-too-low",
        "login-identifier-rejected",
        "service-not-running[service=automation-services]",
        "service-not-running[service=saga-orchestrator]",
        "users-table-missing",
    ]
    assert len(probes.calls) == 1


# -- the joins ---------------------------------------------------------------------------------------------


NO_ENTRY = Entry(id="joins", name="joins", when={})
EXITED, UNHEALTHY = {"container": {"state": "exited"}}, {"container": {"health": "unhealthy"}}


def evaluator(facts: Facts) -> Evaluator:
    return Evaluator(facts, FakeProbes())


def two_broken() -> Facts:
    return make_facts(
        run_of(),
        containers={
            "saga-orchestrator": container("saga-orchestrator", "exited", "none"),
            "frontend": container("frontend", "running", "unhealthy", restart_count=2),
        },
    )


def test_all_joins_only_matches_whose_bindings_agree():
    ev = evaluator(two_broken())
    # exited is saga, unhealthy is frontend: both bind ``service``, to different values
    assert (
        ev.evaluate(
            NO_ENTRY, {"all": [{"container": {"state": "exited"}}, {"container": {"health": "unhealthy"}}]}, Match()
        )
        == []
    )
    joined = ev.evaluate(
        NO_ENTRY, {"all": [{"container": {"health": "unhealthy"}}, {"container": {"restarts": 2}}]}, Match()
    )
    assert [m.vars for m in joined] == [{"service": "frontend"}]
    assert len(joined[0].evidence) == 2


def test_any_unions_and_not_keeps_a_match_only_without_inner_matches():
    ev = evaluator(two_broken())
    either = ev.evaluate(
        NO_ENTRY, {"any": [{"container": {"state": "exited"}}, {"container": {"health": "unhealthy"}}]}, Match()
    )
    assert sorted(m.vars["service"] for m in either) == ["frontend", "saga-orchestrator"]
    cond = {
        "all": [
            {"any": [{"container": {"state": "exited"}}, {"container": {"health": "unhealthy"}}]},
            {"not": {"container": {"service": "{{ service }}", "restarts": 1}}},  # templated from the binding
        ]
    }
    assert [m.vars["service"] for m in ev.evaluate(NO_ENTRY, cond, Match())] == ["saga-orchestrator"]
    assert ev.evaluate(NO_ENTRY, {"not": {"container": {"state": "exited"}}}, Match()) == []
    assert ev.evaluate(NO_ENTRY, {"not": {"container": {"state": "paused"}}}, Match()) == [Match()]


def test_a_binding_made_before_the_join_constrains_every_leaf():
    ev = evaluator(two_broken())
    assert ev.evaluate(NO_ENTRY, {"container": {"state": "exited"}}, Match({"service": "frontend"})) == []
    assert len(ev.evaluate(NO_ENTRY, {"container": {"state": "exited"}}, Match({"service": "saga-orchestrator"}))) == 1


def test_match_extend_refuses_a_disagreeing_binding_and_accumulates_checks():
    m = Match({"service": "a"}, frozenset({"c1"}))
    assert m.extend({"service": "b"}) is None
    both = m.extend({"service": "a", "key": "K"}, {"c2"}, {"seen": 1})
    assert both is not None
    assert both.vars == {"service": "a", "key": "K"}
    assert both.checks == frozenset({"c1", "c2"})
    assert both.evidence == ({"seen": 1},)


def test_check_leaf_binds_service_for_container_checks_and_aimed_service_for_http_checks():
    run = run_of(
        {
            "health.frontend": ("unhealthy", {"health": "unhealthy"}),
            "frontend.home": ("status 500", http_failure(500, "Internal Server Error", "frontend")),
        }
    )
    ev = evaluator(make_facts(run))
    by_check = {m.vars["check"]: m.vars for m in ev.evaluate(NO_ENTRY, {"check": {"category": "*"}}, Match())}
    assert by_check == {
        "health.frontend": {"check": "health.frontend", "service": "frontend"},
        "frontend.home": {"check": "frontend.home", "aimed_service": "frontend"},
    }


@pytest.mark.parametrize(
    ("status", "want"),
    [(FAILED, ["auth.register"]), (SKIPPED, ["auth.verify"]), ("not_passed", ["auth.register", "auth.verify"])],
)
def test_check_leaf_status_selects_failed_skipped_or_either(status: str, want: list[str]):
    run = run_of({"auth.register": ("status 500", {"status": 500})}, {"auth.verify": "auth.login"})
    ev = evaluator(make_facts(run))
    got = sorted(m.vars["check"] for m in ev.evaluate(NO_ENTRY, {"check": {"id": "auth.*", "status": status}}, Match()))
    assert got == want


def test_a_container_that_exited_127_is_a_command_that_cannot_run_not_a_stopped_service():
    st = container("mcp-server", state="exited", health="none", exit_code=127)
    facts = make_facts(run_of(), containers={"mcp-server": st}, logs={"mcp-server": ["sh: 1: uvicorn: not found"]})
    found = only(facts)
    assert found.key == "command-cannot-run[service=mcp-server]" and not found.entry.actions
    assert found.evidence[0]["last_log_lines"] == ["sh: 1: uvicorn: not found"]
    stopped = make_facts(run_of(), containers={"mcp-server": container("mcp-server", state="exited", exit_code=137)})
    assert fired(stopped) == ["service-not-running[service=mcp-server]"]


def test_a_playbook_entry_can_build_on_an_analyzer_s_diagnosis():
    error = 'exec: "uvicorn": executable file not found in $PATH'
    st = container("mcp-server", state="exited", health="none", exit_code=127, error=error)
    facts = make_facts(run_of(), containers={"mcp-server": st})
    short = Entry(
        id="mcp-image-rebuild",
        name="mcp-server's image lacks its server",
        when={"analysis": {"analyzer": "exit-code", "signature": "missing-binary"}},
        group_by=("service",),
    )
    [found] = diagnose([short], facts, Evaluator(facts, FakeProbes()))
    assert found.key == "mcp-image-rebuild[service=mcp-server]"
    assert found.evidence[0]["analyzer"] == "exit-code" and found.evidence[0]["confidence"] == "high"
    healthy = make_facts(run_of())
    assert diagnose([short], healthy, Evaluator(healthy, FakeProbes())) == []


@pytest.mark.parametrize(
    ("pattern", "said"),
    [
        ("{{ (service | length) // 0 }}", "division"),  # a template that fails only on this round's values
        ("[{{ service }}", "unterminated character set"),  # a pattern that is only invalid once rendered
    ],
)
def test_an_entry_whose_condition_fails_on_this_round_s_values_is_left_out_and_the_others_still_diagnosed(
    pattern: str, said: str
) -> None:
    from remediator.errors import Location

    where = Location("playbooks/mine.yml", 3, 5)
    logs = {"logs": {"service": "{{ service }}", "matches": pattern}}
    bad = Entry(id="bad", name="bad", when={"all": [{"container": {"state": ["exited"]}}, logs]}, where=where)
    good = Entry(id="stopped", name="stopped", when={"container": {"state": ["exited"]}}, group_by=("service",))
    facts = make_facts(run_of(), containers={"mcp-server": container("mcp-server", state="exited", health="none")})
    evaluator = Evaluator(facts, FakeProbes())
    assert [f.key for f in diagnose([bad, good], facts, evaluator)] == ["stopped[service=mcp-server]"]
    assert list(evaluator.errors) == ["bad"]
    assert evaluator.errors["bad"].startswith("playbooks/mine.yml:3:5: ") and said in evaluator.errors["bad"]
