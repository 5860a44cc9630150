"""The built-in analyzers on recorded facts: each names its fault (positive) and stays silent on the
healthy neighbour of that fault (negative). Pure: no engine, no compose; the facts are what
``facts.gather`` and ``analyzers.observe`` record."""

from __future__ import annotations

import json
from typing import Any

import pytest

from remediator.analyzers import ANALYZERS, analyze
from remediator.analyzers.base import classify
from remediator.analyzers.observe import StackFacts
from remediator.backends.engine import ContainerState
from remediator.facts import Facts, RecordedLogs
from remediator.model import Check
from remediator.results import FAILED, PASSED, CheckResult, Run
from remediator.secrets import MASKER

T0 = "2026-11-25T10:00:00.123456789Z"
T1 = "2026-11-25T10:05:00.5Z"
T2 = "2026-11-25T10:09:00Z"
REDIS_PW = "redis-pw-0123456789"


def cs(service: str, state: str = "running", health: str = "healthy", **kw: Any) -> ContainerState:
    base: dict[str, Any] = {
        "name": f"p-{service}-1",
        "id": f"id-{service}",
        "exit_code": 0,
        "restart_count": 0,
        "created": T0,
        "started_at": T0,
    }
    return ContainerState(service=service, state=state, health=health, **{**base, **kw})


def svc(**kw: Any) -> dict[str, Any]:
    return {"image": "app:local", "restart": "unless-stopped", **kw}


def healthy_services() -> dict[str, Any]:
    return {
        "redis": svc(environment={"REDIS_PASSWORD": REDIS_PW}),
        "postgres": svc(environment={"POSTGRES_PASSWORD": "pg-pw-0123456789"}, volumes=[]),
        "api": svc(
            environment={
                "REDIS_URL": f"redis://:{REDIS_PW}@redis:6379/0",
                "DATABASE_URL": "postgresql://postgres:pg-pw-0123456789@postgres:5432/app",
                "JWT_SECRET": "jwt-0123456789",
            },
            ports=[{"published": "18000", "target": 8000}],
            depends_on={"postgres": {"condition": "service_healthy"}},
        ),
        "worker": svc(environment={"REDIS_URL": f"redis://:{REDIS_PW}@redis:6379/1", "JWT_SECRET": "jwt-0123456789"}),
    }


def make_facts(
    services: dict[str, Any] | None = None,
    containers: dict[str, ContainerState] | None = None,
    logs: dict[str, list[str]] | None = None,
    results: list[CheckResult] | None = None,
    checks: list[Check] | None = None,
    stack: StackFacts | None = None,
    compose_text: str = "",
) -> Facts:
    services = healthy_services() if services is None else services
    if containers is None:
        containers = {name: cs(name) for name in services}
    checks = checks or [
        Check("api.health", "health", "api answers", {"kind": "http", "url": "http://127.0.0.1:18000/health"}, {})
    ]
    results = results or [CheckResult(c.id, c.category, c.name, PASSED) for c in checks]
    logs = logs or {}
    return Facts(
        run=Run(results),
        checks={c.id: c for c in checks},
        rendered={c.id: dict(c.probe) for c in checks},
        containers=containers,
        services=services,
        compose_text=compose_text,
        logs=RecordedLogs(dict(logs)),
        stack=stack or StackFacts(),
    )


def failed(cid: str = "api.health", **evidence: Any) -> list[CheckResult]:
    return [CheckResult(cid, "health", cid, FAILED, "failed", evidence)]


def only(facts: Facts, analyzer: str) -> list[Any]:
    return analyze(facts, [analyzer])


# -- the healthy stack --------------------------------------------------------------------------


def test_a_healthy_stack_yields_nothing() -> None:
    facts = make_facts(stack=StackFacts(volumes={"p_pgdata": "2026-11-25T09:59:59Z"}, drift={"api": "running"}))
    assert analyze(facts) == []


def test_every_analyzer_is_registered_once_and_ids_match() -> None:
    facts = make_facts(
        containers={"redis": cs("redis", "exited", exit_code=1)},
        logs={"redis": ["fatal: boom"]},
    )
    for name, fn in ANALYZERS.items():
        assert all(d.analyzer == name for d in fn(facts))


# -- exit codes and start failures ---------------------------------------------------------------

EXEC_127 = (
    "failed to create shim task: OCI runtime create failed: runc create failed: unable to start container "
    'process: exec: "uvicorn": executable file not found in $PATH: unknown'
)


def test_exit_127_names_the_missing_binary_from_state_error() -> None:
    facts = make_facts(
        containers={
            **{s: cs(s) for s in ("redis", "postgres", "worker")},
            "api": cs("api", "created", exit_code=127, error=EXEC_127),
        },
        results=failed(),
    )
    (d,) = only(facts, "exit-code")
    assert (d.subject, d.signature, d.confidence) == ("api", "missing-binary", "high")
    assert "'uvicorn'" in d.cause and d.explains == {"api.health"}
    assert d.evidence[0]["state_error"] == EXEC_127
    assert only(facts, "start-failure") == []  # one fault, one diagnosis


def test_a_clean_stop_is_not_an_exit_code_fault() -> None:
    facts = make_facts(
        containers={**{s: cs(s) for s in ("redis", "postgres", "worker")}, "api": cs("api", "exited", exit_code=0)}
    )
    assert only(facts, "exit-code") == []


@pytest.mark.parametrize(
    ("code", "oom", "logs", "signature"),
    [
        (137, True, [], "oom-killed"),
        (139, False, ["Segmentation fault (core dumped)"], "segfault"),
        (1, False, ["starting", "ModuleNotFoundError: No module named 'fastapi'"], "missing-module"),
        (3, False, ["starting", "error: unsupported config keys: positions"], "exit-nonzero"),
    ],
)
def test_exit_code_classes(code: int, oom: bool, logs: list[str], signature: str) -> None:
    facts = make_facts(
        containers={"api": cs("api", "exited", exit_code=code, oom_killed=oom)},
        services={"api": healthy_services()["api"]},
        logs={"api": logs},
    )
    (d,) = only(facts, "exit-code")
    assert d.signature == signature
    if code == 3:
        assert "unsupported config keys" in d.cause


def test_start_failure_port_already_allocated() -> None:
    error = (
        "driver failed programming external connectivity on endpoint p-api-1 (9726): "
        "Bind for 127.0.0.1:18555 failed: port is already allocated"
    )
    facts = make_facts(containers={"api": cs("api", "created", exit_code=128, error=error)})
    (d,) = only(facts, "start-failure")
    assert (d.signature, d.confidence) == ("port-in-use", "high") and "18555" in d.cause
    assert only(make_facts(), "start-failure") == []


def test_start_failure_missing_mount_source() -> None:
    error = 'invalid mount config for type "bind": bind source path does not exist: /srv/app/config.yml'
    facts = make_facts(containers={"api": cs("api", "created", exit_code=128, error=error)})
    (d,) = only(facts, "start-failure")
    assert d.signature == "mount-source-missing" and "/srv/app/config.yml" in d.cause


def test_missing_image() -> None:
    services = {"api": svc(pull_policy="never")}
    facts = make_facts(services=services, containers={}, stack=StackFacts(missing_images={"api": "app:local"}))
    (d,) = only(facts, "missing-image")
    assert d.signature == "missing-image" and "pull_policy is 'never'" in d.cause
    assert only(facts, "not-running") == []  # the image is the cause, not a forgotten start
    assert only(make_facts(services=services, stack=StackFacts()), "missing-image") == []


# -- loops, health, stopped ----------------------------------------------------------------------


def test_restart_loop_with_its_last_error() -> None:
    facts = make_facts(
        containers={"worker": cs("worker", "restarting", exit_code=1, restart_count=7)},
        services={"worker": healthy_services()["worker"]},
        logs={"worker": ["reading config", "error: unsupported config keys: positions"]},
    )
    (d,) = only(facts, "restart-loop")
    assert "7 restarts" in d.title and "unsupported config keys" in d.cause
    assert only(facts, "exit-code") == []
    recovered = make_facts(containers={"worker": cs("worker", restart_count=7)}, services=facts.services)
    assert only(recovered, "restart-loop") == []


def health(output: str, code: int = 1) -> tuple[dict[str, Any], ...]:
    return tuple({"Start": T1, "End": T1, "ExitCode": code, "Output": output} for _ in range(3))


@pytest.mark.parametrize(
    ("log", "code", "signature"),
    [
        (
            'OCI runtime exec failed: exec failed: unable to start container process: exec: "curl": '
            "executable file not found in $PATH: unknown",
            -1,
            "health-missing-binary",
        ),
        (
            "Traceback ...\n  urllib.request.urlopen('http://127.0.0.1:8007/health', timeout=2)\n"
            "urllib.error.HTTPError: HTTP Error 503: Service Unavailable\n",
            1,
            "health-http-status",
        ),
    ],
)
def test_unhealthy_health_log_classified(log: str, code: int, signature: str) -> None:
    facts = make_facts(containers={"api": cs("api", health="unhealthy", health_log=health(log, code))})
    (d,) = only(facts, "unhealthy")
    assert d.signature == signature and d.confidence == "high"


def test_health_timeouts_alone_are_load_not_a_fault() -> None:
    slow = health("Health check exceeded timeout (3s)", -1)
    facts = make_facts(
        containers={
            **{s: cs(s) for s in ("redis", "postgres", "worker")},
            "api": cs("api", health="unhealthy", health_log=slow),
        }
    )
    assert analyze(facts) == []  # no check fails: nothing to name
    facts = make_facts(containers=facts.containers, results=failed())
    (d,) = analyze(facts)
    assert (d.analyzer, d.confidence) == ("unhealthy", "low")


def test_stopped_service_is_started() -> None:
    facts = make_facts(
        containers={**{s: cs(s) for s in ("redis", "api", "worker")}, "postgres": cs("postgres", "exited", exit_code=0)}
    )
    (d,) = only(facts, "not-running")
    assert (
        d.subject == "postgres"
        and d.action is not None
        and d.action.to_json() == {"action": "compose_up", "service": "postgres"}
    )


def test_a_finished_one_shot_job_is_not_stopped() -> None:
    services = {
        "migrate": {"image": "app:local"},
        "api": svc(depends_on={"migrate": {"condition": "service_completed_successfully"}}),
    }
    facts = make_facts(
        services=services, containers={"migrate": cs("migrate", "exited", exit_code=0), "api": cs("api")}
    )
    assert analyze(facts) == []


def test_a_service_scaled_to_zero_is_not_missing() -> None:
    services = {**healthy_services(), "spare": svc(deploy={"replicas": 0})}
    assert analyze(make_facts(services=services, containers={s: cs(s) for s in healthy_services()})) == []


def test_odd_shapes_of_resolved_config_do_not_break_analysis() -> None:
    services = {
        "a": {"image": "x", "environment": None, "ports": [{"target": 80}], "depends_on": ["b"]},
        "b": {"image": "x", "environment": ["K=v", "URL=http://a:80"], "healthcheck": {"disable": True}},
    }
    facts = make_facts(services=services, containers={"a": cs("a"), "b": cs("b", health="none")})
    assert analyze(facts) == []


def test_a_service_without_container_is_started() -> None:
    facts = make_facts(containers={s: cs(s) for s in ("redis", "postgres", "worker")}, results=failed())
    (d,) = only(facts, "not-running")
    assert d.subject == "api" and d.explains == {"api.health"}


# -- across services ------------------------------------------------------------------------------


def test_dependency_down_by_environment_comes_first() -> None:
    containers = {
        **{s: cs(s) for s in ("postgres", "api")},
        "redis": cs("redis", "exited", exit_code=1),
        "worker": cs("worker", "exited", exit_code=2),
    }
    facts = make_facts(
        containers=containers,
        logs={"redis": ["FATAL: bad config"], "worker": ["Error 111 connecting to redis:6379. Connection refused."]},
    )
    found = analyze(facts)
    dep = next(d for d in found if d.analyzer == "dependency-down")
    assert dep.subject == "redis" and {"dependent": "worker", "via": "environment REDIS_URL"} in dep.evidence
    subjects = [d.subject for d in found]
    assert subjects.index("redis") < subjects.index("worker")  # the dependency comes first


def test_dependent_restarted_after_its_dependency_recovered() -> None:
    containers = {
        **{s: cs(s) for s in ("redis", "worker")},
        "postgres": cs("postgres", started_at=T2),
        "api": cs("api", health="unhealthy", started_at=T1, health_log=health("HTTP Error 503: Service Unavailable")),
    }
    logs = {
        "api": [
            'psycopg2.OperationalError: connection to server at "postgres" (172.18.0.2), port 5432 failed: '
            "Connection refused"
        ]
    }
    (d,) = only(make_facts(containers=containers, logs=logs), "dependent-after-recovery")
    assert (
        d.subject == "api" and d.action is not None and d.action.action == "compose_restart" and d.confidence == "high"
    )
    containers["api"] = cs("api", health="unhealthy", started_at=T2, health_log=containers["api"].health_log)
    containers["postgres"] = cs("postgres", started_at=T1)
    assert only(make_facts(containers=containers, logs=logs), "dependent-after-recovery") == []


@pytest.mark.parametrize(
    ("line", "kind", "backing"),
    [
        ("redis.exceptions.AuthenticationError: NOAUTH Authentication required.", "redis", "redis"),
        ("WRONGPASS invalid username-password pair or user is disabled.", "redis", "redis"),
        ('FATAL:  password authentication failed for user "postgres"', "postgres", "postgres"),
    ],
)
def test_credentials_refused_in_the_dependents_logs(line: str, kind: str, backing: str) -> None:
    facts = make_facts(logs={"api": ["listening on :8000", line]}, results=failed())
    (d,) = only(facts, "credentials-refused")
    assert (d.subject, d.signature, d.confidence) == ("api", f"{kind}-auth", "high")
    assert d.title.startswith(backing) and d.explains == {"api.health"}
    text = json.dumps(d.to_json())
    assert REDIS_PW not in text and "pg-pw-0123456789" not in text


def test_mysql_and_rabbitmq_signatures() -> None:
    services = {
        "api": svc(
            environment={"DB": "mysql://app:pw-0123456@mysql:3306/app", "AMQP_URL": "amqp://app:x1234567@mq:5672/"}
        ),
        "mysql": svc(image="mysql:8"),
        "mq": svc(image="rabbitmq:3"),
    }
    logs = {
        "api": [
            "(1045, \"Access denied for user 'app'@'172.18.0.5' (using password: YES)\")",
            "ACCESS_REFUSED - Login was refused",
        ]
    }
    found = {d.signature: d for d in only(make_facts(services=services, logs=logs), "credentials-refused")}
    assert set(found) == {"mysql-auth", "rabbitmq-auth"}
    assert found["mysql-auth"].title.startswith("mysql") and found["rabbitmq-auth"].title.startswith("mq")


def test_credentials_refused_named_by_a_health_document() -> None:
    body = json.dumps({"status": "unhealthy", "checks": {"redis": "error: Authentication required.", "db": "ok"}})
    facts = make_facts(results=failed(status=503, body=body, headers={"x-service": "api"}))
    (d,) = only(facts, "credentials-refused")
    assert d.subject == "api" and d.evidence[0]["redis"] == "error: Authentication required."
    assert only(facts, "health-names-dependency") == []  # one fault, one diagnosis
    assert only(make_facts(logs={"api": ["GET /health 200"]}), "credentials-refused") == []


def test_refusal_words_without_such_a_server_are_not_credentials() -> None:
    services = {"api": svc(environment={"LEVEL": "info"}), "web": svc()}
    logs = {"api": ['127.0.0.1 "GET /me" 401 Authentication required']}
    assert only(make_facts(services=services, logs=logs), "credentials-refused") == []


def test_a_server_logging_a_refused_client() -> None:
    services = {"db": svc(image="postgres:16"), "api": svc(environment={"DATABASE_URL": "postgresql://u:p@db/app"})}
    logs = {"db": ['FATAL:  password authentication failed for user "u"']}
    (d,) = only(make_facts(services=services, logs=logs), "credentials-refused")
    assert d.subject == "db" and d.confidence == "medium"


def test_start_failure_from_a_vanished_bind_source() -> None:
    # the engine leaves such a container "created" with no State.Error; observe looked at the host
    facts = make_facts(
        containers={"api": cs("api", "created")}, stack=StackFacts(missing_mounts={"api": ("/srv/conf",)})
    )
    (d,) = only(facts, "start-failure")
    assert d.signature == "mount-source-missing" and "/srv/conf" in d.cause
    assert "api" not in {x.subject for x in only(facts, "not-running")}  # starting it again would fail again


def test_health_document_names_a_failing_dependency() -> None:
    body = json.dumps({"status": "unhealthy", "checks": {"database": "error: connection refused"}})
    facts = make_facts(results=failed(status=503, body=body, headers={"x-service": "api"}))
    (d,) = only(facts, "health-names-dependency")
    assert d.subject == "postgres" and d.signature == "health-connection-refused"  # DATABASE_URL reaches it


def test_http_401_between_services() -> None:
    checks = [Check("gw.tables", "api", "tables", {"kind": "http", "url": "http://127.0.0.1:18000/api/tables"}, {})]
    ev = {"status": 401, "body": '{"detail": "Invalid API key"}', "headers": {"x-service": "worker"}}
    facts = make_facts(checks=checks, results=failed("gw.tables", **ev))
    (d,) = only(facts, "http-refused-between-services")
    assert (d.subject, d.explains) == ("api", {"gw.tables"})
    ev["headers"] = {"x-service": "api"}  # the service called refused the client itself: not between services
    assert only(make_facts(checks=checks, results=failed("gw.tables", **ev)), "http-refused-between-services") == []


# -- configuration -------------------------------------------------------------------------------

COMPOSE = """\
services:
  api:
    image: app:local
    environment:
      API_TOKEN: ${API_TOKEN}
      LEVEL: ${LEVEL:-info}
"""


def test_unset_variable_from_compose_warning() -> None:
    warning = 'The "API_TOKEN" variable is not set. Defaulting to a blank string.'
    facts = make_facts(compose_text=COMPOSE, stack=StackFacts(config_warnings=(warning,)), results=failed())
    (d,) = only(facts, "unset-variable")
    assert d.subject == "API_TOKEN" and "line 5 (api)" in d.title and d.explains == {"api.health"}
    assert only(make_facts(compose_text=COMPOSE), "unset-variable") == []


def test_required_variable_stops_compose() -> None:
    error = "required variable POSTGRES_PASSWORD is missing a value: set POSTGRES_PASSWORD in .env"
    (d,) = only(make_facts(stack=StackFacts(config_error=error)), "unset-variable")
    assert d.signature == "required-variable"


def test_env_file_unterminated_quote_at_the_right_line() -> None:
    text = 'A=1\nGREETING="hello\n# comment\nTOKEN=s3cret-token-value\nZ=2\n'
    error = 'failed to read /w/.env: line 6: unterminated quoted value "hello'
    facts = make_facts(stack=StackFacts(config_error=error, error_files={"/w/.env": text}))
    (d,) = only(facts, "env-file-unreadable")
    assert d.subject == "/w/.env:2" and d.evidence[0]["reported_line"] == 6 and d.evidence[0]["key"] == "GREETING"
    assert "hello" not in json.dumps(d.to_json())  # the value is not echoed: it may be a secret
    closed = 'A=1\nGREETING="hello\nworld"\nB="x"\n'
    assert only(make_facts(stack=StackFacts()), "env-file-unreadable") == []
    from remediator.analyzers.variables import _unclosed_quote_line

    assert _unclosed_quote_line(closed) is None


def test_shared_secret_differs_and_is_masked() -> None:
    services = healthy_services()
    services["worker"]["environment"]["JWT_SECRET"] = "jwt-other-0123456789"
    (d,) = only(make_facts(services=services), "shared-secret-differs")
    assert d.subject == "JWT_SECRET" and d.confidence == "high"
    assert "jwt-other" not in json.dumps(d.to_json()) and "jwt-0123456789" not in json.dumps(d.to_json())
    assert only(make_facts(), "shared-secret-differs") == []


def test_running_containers_disagree_on_a_secret() -> None:
    containers = {s: cs(s) for s in healthy_services()}
    containers["api"] = cs("api", env={"JWT_SECRET": "old-0123456789"})
    containers["worker"] = cs("worker", env={"JWT_SECRET": "jwt-0123456789"})
    (d,) = only(make_facts(containers=containers), "shared-secret-differs")
    assert d.evidence[0]["view"] == "running containers"


def test_url_lacking_the_credentials_its_siblings_carry() -> None:
    services = healthy_services()
    services["worker"]["environment"]["REDIS_URL"] = "redis://redis:6379/1"
    (d,) = only(make_facts(services=services), "url-credentials")
    assert d.subject == "worker.REDIS_URL" and d.signature == "url-missing-credentials"
    assert REDIS_PW not in json.dumps(d.to_json()) and "redis://:***@redis:6379/0" in json.dumps(d.to_json())
    assert only(make_facts(), "url-credentials") == []


def test_url_with_another_password() -> None:
    services = healthy_services()
    services["worker"]["environment"]["REDIS_URL"] = "redis://:wrong-0123456@redis:6379/1"
    found = only(make_facts(services=services), "url-credentials")
    assert {d.signature for d in found} == {"url-credentials-differ"}


# -- state ---------------------------------------------------------------------------------------


def test_fresh_volume_after_the_stack_existed() -> None:
    mount = ({"type": "volume", "name": "p_pgdata", "source": "", "destination": "/var/lib/postgresql"},)
    containers = {s: cs(s) for s in ("redis", "api", "worker")}
    containers["postgres"] = cs("postgres", created=T2, started_at=T2, mounts=mount)
    stack = StackFacts(volumes={"p_pgdata": "2026-11-25T10:08:59Z"})  # minutes after the stack
    checks = [Check("db.ready", "health", "h", {"kind": "container", "service": "postgres"}, {})]
    (d,) = only(
        make_facts(containers=containers, stack=stack, checks=checks, results=failed("db.ready")), "fresh-volume"
    )
    assert d.confidence == "medium" and d.signature == "data-loss"
    assert only(make_facts(containers=containers, stack=stack), "fresh-volume") == []  # healed: nothing misses it
    logs = {"postgres": ["postgres: initialized /var/lib/postgresql/data"], "api": ['relation "users" does not exist']}
    (d,) = only(make_facts(containers=containers, stack=stack, logs=logs), "fresh-volume")
    assert d.confidence == "high" and {"service": "api", "log": 'relation "users" does not exist'} in d.evidence
    first_start = {"postgres": ["postgres: initialized /var/lib/postgresql/data"], "api": ["GET /users 200"]}
    assert only(make_facts(containers=containers, stack=stack, logs=first_start), "fresh-volume") == []
    old = StackFacts(volumes={"p_pgdata": "2026-11-25T09:59:58Z"})
    assert only(make_facts(containers=containers, stack=old), "fresh-volume") == []


def test_drift_names_what_changed() -> None:
    containers = {s: cs(s) for s in healthy_services()}
    containers["api"] = cs(
        "api", ports={17999: 8000}, env={"JWT_SECRET": "x", "REDIS_URL": "redis://:old@redis:6379/0"}
    )
    compose_text = 'services:\n  api:\n    ports: ["127.0.0.1:${API_PORT:-8000}:8000"]\n  worker:\n    image: x\n'
    facts = make_facts(
        containers=containers,
        stack=StackFacts(drift={"api": "recreate", "worker": "running"}),
        compose_text=compose_text,
    )
    (d,) = only(facts, "drift")
    assert d.action is not None and d.action.action == "compose_recreate"
    ports = {"published_ports": {"running": [17999], "compose": [18000]}, "from_variables": ["API_PORT"]}
    assert ports in d.evidence and "(from API_PORT)" in d.cause
    changed = next(e for e in d.evidence if "env_changed" in e)
    assert (
        changed["env_changed"] == ["DATABASE_URL", "JWT_SECRET", "REDIS_URL"] or "JWT_SECRET" in changed["env_changed"]
    )
    assert "jwt-0123456789" not in json.dumps(d.to_json())
    assert only(make_facts(stack=StackFacts(drift={"api": "running"})), "drift") == []


def test_check_aimed_at_an_unpublished_port() -> None:
    checks = [Check("api.health", "health", "h", {"kind": "http", "url": "{{ urls.api }}/health"}, {})]
    facts = make_facts(checks=checks, results=failed(error="connection refused"))
    facts.rendered = {"api.health": {"kind": "http", "url": "http://127.0.0.1:17999/health"}}
    (d,) = only(facts, "unpublished-port")
    assert d.subject == "17999" and "urls.api" in d.fix and "18000" in d.fix and d.confidence == "high"
    assert only(make_facts(checks=checks), "unpublished-port") == []


def test_classify_reads_a_tracebacks_last_line_first() -> None:
    text = "urlopen('http://x/health', timeout=2)\nurllib.error.HTTPError: HTTP Error 500: Internal"
    found = classify(text)
    assert found is not None and (found.kind, found.detail) == ("http-status", "500")


def test_to_json_masks_registered_secrets() -> None:
    MASKER.add("zz-secret-in-a-log-line")
    facts = make_facts(
        containers={"api": cs("api", "exited", exit_code=1)},
        services={"api": healthy_services()["api"]},
        logs={"api": ["error: bad token zz-secret-in-a-log-line"]},
    )
    (d,) = only(facts, "exit-code")
    assert "zz-secret-in-a-log-line" not in json.dumps(d.to_json())
