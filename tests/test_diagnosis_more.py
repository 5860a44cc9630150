"""Condition leaves and the evaluator on small hand-made facts: each leaf's filters, bindings and
evidence, the probe seam, and what a finding explains. The cases ``tests/test_diagnosis.py`` (the real
playbooks on recorded facts of the sandbox) leaves open, found by mutation testing (``make mutate``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from remediator.analyzers.base import Diagnosis
from remediator.backends.engine import ContainerState
from remediator.diagnosis import Evaluator, Match, diagnose, unexplained
from remediator.facts import Facts, RecordedLogs
from remediator.model import Check, DiagnosticProbe, Entry
from remediator.probes import Outcome
from remediator.results import FAILED, PASSED, SKIPPED, CheckResult, Run
from remediator.secrets import MASKER, fingerprint

NO_ENTRY = Entry(id="e", name="e", when={})


def http(cid: str, url: str, requires: tuple[str, ...] = ()) -> Check:
    return Check(cid, cid.split(".")[0], cid, {"kind": "http", "url": url}, {}, requires=requires)


def probe_check(cid: str, kind: str, service: str, requires: tuple[str, ...] = ()) -> Check:
    return Check(cid, cid.split(".")[0], cid, {"kind": kind, "service": service}, {}, requires=requires)


def state(service: str, st: str = "running", health: str = "healthy", **kw: Any) -> ContainerState:
    return ContainerState(service, f"p-{service}-1", f"id-{service}", st, health, kw.pop("exit_code", 0),
                          kw.pop("restart_count", 0), **kw)  # fmt: skip


class Probes:
    """A discriminating-probe runner answering by URL; remembers what it was asked."""

    def __init__(self, answers: Mapping[str, bool] = ()) -> None:
        self.answers, self.calls = dict(answers), []

    def __call__(self, probe: Mapping[str, Any], expect: Mapping[str, Any]) -> Outcome:
        self.calls.append((dict(probe), dict(expect)))
        ok = self.answers[probe["url"]]
        return Outcome(ok, "" if ok else "status 401", {"status": 200 if ok else 401, "token": "s3cr3t-value"})


def facts(
    checks: list[Check],
    results: dict[str, tuple[str, str, dict[str, Any]]] | None = None,
    **kw: Any,
) -> Facts:
    """``results``: check id -> (status, reason, evidence); every other check passed."""
    results = results or {}
    run = Run(
        [CheckResult(c.id, c.category, c.name, *results.get(c.id, (PASSED, "", {}))) for c in checks]
    )  # fmt: skip
    by_id = {c.id: c for c in checks}
    return Facts(run=run, checks=by_id, rendered={c.id: c.probe for c in checks}, **kw)


def matches(f: Facts, cond: Mapping[str, Any], entry: Entry = NO_ENTRY, probes: Probes | None = None) -> list[Match]:
    return Evaluator(f, probes or Probes()).evaluate(entry, cond, Match())


def bound(f: Facts, cond: Mapping[str, Any], key: str = "check") -> list[Any]:
    return [m.vars.get(key) for m in matches(f, cond)]


# -- check leaf -------------------------------------------------------------------------------------------

API = [http("api.a", "http://127.0.0.1:8000/a"), http("api.b", "http://127.0.0.1:8000/b"), http("ui.c", "http://x/c")]
FAILS = {
    "api.a": (FAILED, "status 500, expected 200", {"status": 500, "body": "relation users missing",
                                                   "headers": {"x-service": "api-gateway"}, "error": ""}),
    "api.b": (FAILED, "timed out", {"error": "ReadTimeout", "status": None}),
    "ui.c": (SKIPPED, "requires api.a failed", {}),
}  # fmt: skip


@pytest.mark.parametrize(
    ("cond", "want"),
    [
        ({"http_status": [500, 502]}, ["api.a"]),
        ({"http_status": 404}, []),
        ({"reason": "^timed"}, ["api.b"]),
        ({"body": "relation \\w+ missing"}, ["api.a"]),
        ({"error": "Timeout"}, ["api.b"]),
        ({"producer": "api-*"}, ["api.a"]),
        ({"producer": "other"}, []),
        ({"kind": "http"}, ["api.a", "api.b"]),
        ({"kind": "container"}, []),
        ({"category": "ui", "status": "skipped"}, ["ui.c"]),
    ],
)
def test_check_leaf_filters(cond: dict[str, Any], want: list[str]) -> None:
    assert bound(facts(API, FAILS), {"check": cond}) == want


def test_check_leaf_evidence_shows_what_the_check_saw_and_who_answered() -> None:
    (m,) = matches(facts(API, FAILS), {"check": {"id": "api.a"}})
    assert m.checks == frozenset({"api.a"})
    assert m.evidence == (
        {"check": "api.a", "result": FAILED, "reason": "status 500, expected 200", "status": 500, "error": "",
         "producer": "api-gateway", "body": "relation users missing"},
    )  # fmt: skip


def test_check_leaf_cuts_a_long_body_in_its_evidence() -> None:
    long = {"api.a": (FAILED, "status 500", {"status": 500, "body": "x" * 500})}
    (m,) = matches(facts(API, long), {"check": {"id": "api.a"}})
    assert m.evidence[0]["body"] == "x" * 160


# -- container and healthcheck leaves ---------------------------------------------------------------------


def test_container_leaf_filters_on_restarts_and_exit_code_and_shows_the_last_log_lines() -> None:
    f = facts(
        [],
        containers={"a": state("a", "exited", "none", exit_code=1, restart_count=3), "b": state("b", "exited", "none")},
        services={"a": {}, "b": {}, "c": {}},
        logs=RecordedLogs({"a": [f"line {i}" for i in range(9)]}),
    )
    assert bound(f, {"container": {"restarts": 3}}, "service") == ["a"]
    assert bound(f, {"container": {"restarts": 4}}, "service") == []
    assert bound(f, {"container": {"exit_code_not": 0}}, "service") == ["a"]
    assert bound(f, {"container": {"state": "absent"}}, "service") == ["c"]  # in compose, no container
    (m,) = matches(f, {"container": {"service": "a"}})
    assert m.evidence == (
        {"service": "a", "state": "exited", "health": "none", "exit_code": 1, "restart_count": 3,
         "last_log_lines": ["line 4", "line 5", "line 6", "line 7", "line 8"]},
    )  # fmt: skip


def test_a_running_container_that_never_restarted_shows_no_log_lines() -> None:
    f = facts([], containers={"a": state("a", restart_count=1), "b": state("b")}, logs=RecordedLogs({"a": ["x"]}))
    evidence = {m.vars["service"]: m.evidence[0] for m in matches(f, {"container": {}})}
    assert evidence["a"]["last_log_lines"] == ["x"] and "last_log_lines" not in evidence["b"]


HEALTH_TEST = ["CMD", "curl", "-f", "http://localhost:8080/health"]


def health_facts(code: int, output: str) -> Facts:
    log = ({"ExitCode": 0, "Output": "ok"}, {"ExitCode": code, "Output": f"  {output}\n"})
    return facts(
        [],
        containers={"a": state("a", health="unhealthy", health_log=log), "b": state("b")},
        services={
            "a": {"healthcheck": {"test": HEALTH_TEST}, "ports": [{"published": "9080", "target": 8080}]},
            "b": {"ports": [{"published": "9081", "target": 80}]},
        },
    )


def test_healthcheck_leaf_reads_the_last_attempt_and_filters_on_its_exit_code_and_output() -> None:
    f = health_facts(127, "exec: curl: not found")
    assert bound(f, {"healthcheck": {"exit_code": [126, 127]}}, "service") == ["a"]
    assert bound(f, {"healthcheck": {"exit_code": 1}}, "service") == []
    assert bound(f, {"healthcheck": {"output": "not found$"}}, "service") == ["a"]
    assert bound(f, {"healthcheck": {"output": "^ok"}}, "service") == []
    (m,) = matches(f, {"healthcheck": {}})
    assert m.vars == {
        "service": "a",
        "health_test": HEALTH_TEST,
        "health_url": "http://localhost:8080/health",
        "health_url_host": "http://127.0.0.1:9080/health",
    }
    assert m.evidence == (
        {"service": "a", "health": "unhealthy", "health_log_exit_code": 127,
         "health_log_output": "exec: curl: not found", "healthcheck": HEALTH_TEST},
    )  # fmt: skip


def test_a_health_url_has_no_host_url_when_its_port_is_not_published() -> None:
    f = health_facts(1, "refused")
    f.services["a"]["ports"] = [{"published": "9080", "target": 9999}]
    (m,) = matches(f, {"healthcheck": {}})
    assert "health_url_host" not in m.vars


def test_a_health_url_without_a_port_is_port_80() -> None:
    f = health_facts(1, "refused")
    f.services["a"]["healthcheck"]["test"] = ["CMD", "curl", "http://localhost/health"]
    f.services["a"]["ports"] = [{"published": "9082", "target": 80}]
    (m,) = matches(f, {"healthcheck": {}})
    assert m.vars["health_url_host"] == "http://127.0.0.1:9082/health"


# -- logs, compose_env, env, unset_variable ---------------------------------------------------------------


def test_logs_leaf_reads_the_newest_matching_line_within_its_tail_and_binds_named_groups() -> None:
    lines = ["key=old", "noise", "key=new", "noise", "noise"]
    f = facts([], logs=RecordedLogs({"api": lines}))
    (m,) = matches(f, {"logs": {"service": "api", "matches": "key=(?P<key>\\w+)"}})
    assert m.vars == {"key": "new"} and m.evidence == ({"service": "api", "log_line": "key=new"},)
    assert matches(f, {"logs": {"service": "api", "matches": "key=", "tail": 2}}) == []
    bound_first = Evaluator(f, Probes()).evaluate(NO_ENTRY, {"logs": {"matches": "key="}}, Match({"service": "api"}))
    assert len(bound_first) == 1  # the service bound so far is where it looks
    assert matches(f, {"logs": {"matches": "key="}}) == []  # no service: nowhere to look


def test_compose_env_leaf_matches_a_key_present_or_absent_as_asked() -> None:
    f = facts([], services={"api": {"environment": {"B": "1", "A": "2"}}})
    (m,) = matches(f, {"compose_env": {"service": "api", "key": "A", "present": True}})
    assert m.vars == {"key": "A"}
    assert m.evidence == ({"compose_service": "api", "key": "A", "present": True, "environment_keys": ["A", "B"]},)
    assert matches(f, {"compose_env": {"service": "api", "key": "A"}}) == []
    assert len(matches(f, {"compose_env": {"service": "api", "key": "C"}})) == 1
    assert matches(f, {"compose_env": {"service": "nope", "key": "C"}}) == []


@pytest.mark.parametrize(
    ("cond", "hits"),
    [
        ({"missing": True}, False),
        ({"missing": False}, True),
        ({"empty": True}, False),
        ({"empty": False}, True),
        ({"equals": "8"}, True),
        ({"not_equals": "8"}, False),
        ({"above": 8}, False),
        ({"above": 7.5}, True),
        ({"below": 8}, False),
        ({"below": 8.5}, True),
        ({"lacks": "b"}, False),
        ({"lacks": "z"}, True),
    ],
)
def test_env_leaf_conditions(cond: dict[str, Any], hits: bool) -> None:
    f = facts([], env={"N": "8", "L": "a,b ,c"})
    key = "L" if "lacks" in cond else "N"
    assert bool(matches(f, {"env": {"key": key, **cond}})) is hits


def test_env_leaf_on_a_missing_or_non_numeric_value() -> None:
    f = facts([], env={"T": "many", "E": ""})
    assert matches(f, {"env": {"key": "T", "above": 1}}) == []
    assert len(matches(f, {"env": {"key": "X", "missing": True}})) == 1
    assert len(matches(f, {"env": {"key": "E", "empty": True}})) == 1
    assert matches(f, {"env": {"key": "X", "lacks": "a"}}) == []


def test_env_leaf_masks_a_secret_value_and_compares_with_the_secret_it_names() -> None:
    f = facts([], env={"API_KEY": "old", "LEVEL": "info"}, secrets={"api_key": "new"})
    (m,) = matches(f, {"env": {"key": "API_KEY", "differs_from_secret": "api_key"}})
    assert m.vars == {"key": "API_KEY"}
    assert m.evidence == ({"env": "API_KEY", "value": fingerprint("old"), "differs_from_secret": "api_key"},)
    assert matches(f, {"env": {"key": "LEVEL"}})[0].evidence == ({"env": "LEVEL", "value": "info"},)
    same = facts([], env={"API_KEY": "new"}, secrets={"api_key": "new"})
    assert matches(same, {"env": {"key": "API_KEY", "differs_from_secret": "api_key"}}) == []


def test_unset_variable_leaf_names_each_unset_or_empty_variable_once() -> None:
    text = "a: ${A}\nb: ${B}\nc: ${A}\nd: ${C:-x}\ne: ${D-x}\nf: $${E}\ng: ${F:?need}\nh: ${G}\ni: ${H+y}\n"
    f = facts([], compose_text=text, env={"B": "", "G": "set"}, environ={"F": "from-shell"})
    found = [(m.vars["variable"], m.evidence[0]["state"]) for m in matches(f, {"unset_variable": {}})]
    assert found == [("A", "unset"), ("B", "empty")]


# -- unpublished_port -------------------------------------------------------------------------------------

PORT_CHECKS = [
    probe_check("api.up", "container", "api"),
    http("api.call", "http://127.0.0.1:8009/call", ("api.up",)),
    http("api.far", "http://10.0.0.1:8009/", ("api.up",)),
    http("api.pub", "http://localhost:8001/", ("api.up",)),
    http("api.odd", "http://127.0.0.1:8011/", ("api.up",)),
]
REFUSED = {"error": "ConnectError: connection refused"}


def port_facts(api_ports: list[dict[str, Any]], **results: tuple[str, str, dict[str, Any]]) -> Facts:
    return facts(PORT_CHECKS, results, services={"api": {"ports": api_ports}, "db": {"ports": [{"published": 5432}]}})


def test_a_refused_check_aimed_at_an_unpublished_local_port_suggests_the_required_service_s_port() -> None:
    f = port_facts(
        [{"published": "8001", "target": 8000}],
        **{"api.call": (FAILED, "refused", REFUSED), "api.far": (FAILED, "refused", REFUSED),
           "api.pub": (FAILED, "refused", REFUSED), "api.odd": (FAILED, "timeout", {"error": "timed out"})},
    )  # fmt: skip
    (m,) = matches(f, {"unpublished_port": {}})
    assert m.vars == {"check": "api.call", "port": 8009, "service": "api", "suggested_port": 8001}
    assert m.checks == frozenset({"api.call"})
    assert m.evidence == (
        {"check": "api.call", "port": 8009, "published_by": None, "published_ports": [5432, 8001],
         "service": "api", "suggested_port": 8001},
    )  # fmt: skip


def test_no_port_is_suggested_when_the_service_publishes_none() -> None:
    f = port_facts([], **{"api.call": (FAILED, "refused", REFUSED)})
    (m,) = matches(f, {"unpublished_port": {}})
    assert m.vars == {"check": "api.call", "port": 8009}


def test_a_skipped_check_is_not_an_unpublished_port() -> None:
    f = port_facts([], **{"api.call": (SKIPPED, "refused", REFUSED)})
    assert matches(f, {"unpublished_port": {}}) == []


# -- probe leaf, the probe seam, all/any/not with probes ----------------------------------------------------

PROBES = (
    DiagnosticProbe("good", {"kind": "http", "url": "http://h/{{ service }}/good"}, {"status": 200}),
    DiagnosticProbe("bad", {"kind": "http", "url": "http://h/bad"}, {"status": 204}),
)
PROBING = Entry(id="p", name="p", when={}, probes=PROBES)


def test_probe_leaf_runs_the_entry_s_probe_rendered_and_matches_on_its_outcome() -> None:
    MASKER.add("s3cr3t-value")  # a secret the probe's evidence carries: masked where the finding keeps it
    runner = Probes({"http://h/api/good": True, "http://h/bad": False})
    f = facts([])
    ev = Evaluator(f, runner)
    start = Match({"service": "api"})
    (m,) = ev.evaluate(PROBING, {"probe": {"name": "good"}}, start)
    assert m.evidence == (
        {"probe": "good", "passed": True, "reason": "", "status": 200, "token": fingerprint("s3cr3t-value")},
    )
    assert ev.evaluate(PROBING, {"probe": {"name": "good", "passed": False}}, start) == []
    assert len(ev.evaluate(PROBING, {"probe": {"name": "bad", "passed": False}}, start)) == 1
    assert ev.evaluate(PROBING, {"probe": {"name": "unknown"}}, start) == []
    # each probe asked once per round, with its own expectation
    assert runner.calls == [
        ({"kind": "http", "url": "http://h/api/good"}, {"status": 200}),
        ({"kind": "http", "url": "http://h/bad"}, {"status": 204}),
    ]


def test_probes_inside_any_and_not_are_the_entry_s_own() -> None:
    f = facts([])
    runner = Probes({"http://h/api/good": True, "http://h/bad": False})
    ev = Evaluator(f, runner)
    start = Match({"service": "api"})
    assert len(ev.evaluate(PROBING, {"any": [{"probe": {"name": "bad"}}, {"probe": {"name": "good"}}]}, start)) == 1
    assert ev.evaluate(PROBING, {"not": {"probe": {"name": "good"}}}, start) == []


# -- what a finding explains ------------------------------------------------------------------------------


def test_a_finding_on_checks_explains_those_and_what_requires_them_not_its_service_s_other_checks() -> None:
    checks = [
        probe_check("api.up", "container", "api"),
        probe_check("api.logs", "logs", "api"),
        http("api.call", "http://x/", ("api.up",)),
        http("api.deep", "http://x/d", ("api.call",)),
    ]
    results = {c.id: (FAILED, "", {}) for c in checks}
    f = facts(checks, results, containers={"api": state("api", "exited", "none")}, services={"api": {}})
    both = Entry(id="b", name="b", when={"all": [{"check": {"id": "api.call"}}, {"container": {"service": "api"}}]})
    (finding,) = diagnose([both], f, Evaluator(f, Probes()))
    assert finding.explains == frozenset({"api.call", "api.deep"})
    down = Entry(id="d", name="d", when={"container": {"state": "exited"}})
    (finding,) = diagnose([down], f, Evaluator(f, Probes()))
    assert finding.explains == frozenset({"api.up", "api.logs", "api.call", "api.deep"})


# -- more leaf details ------------------------------------------------------------------------------------


def logged(service: str, code: int, output: str | None = None) -> ContainerState:
    entry = {"ExitCode": code} if output is None else {"ExitCode": code, "Output": output}
    return state(service, health="unhealthy", health_log=(entry,))


def test_healthcheck_leaf_looks_past_a_container_that_fails_a_filter_and_keeps_to_the_named_service() -> None:
    f = facts([], containers={"a": logged("a", 127, "not found"), "b": logged("b", 1, "refused")}, services={})
    assert bound(f, {"healthcheck": {"exit_code": 1}}, "service") == ["b"]
    assert bound(f, {"healthcheck": {"output": "refused"}}, "service") == ["b"]
    assert bound(f, {"healthcheck": {"service": "b"}}, "service") == ["b"]
    # neither is in the compose config: no healthcheck test known
    assert [m.vars["health_test"] for m in matches(f, {"healthcheck": {}})] == [[], []]


def test_healthcheck_leaf_without_output_and_with_a_long_one() -> None:
    f = facts([], containers={"a": logged("a", 1), "b": logged("b", 1, "x" * 150 + "y" * 200)})
    evidence = {m.vars["service"]: m.evidence[0]["health_log_output"] for m in matches(f, {"healthcheck": {}})}
    assert evidence == {"a": "", "b": "y" * 200}


def test_a_health_url_is_found_wherever_it_stands_in_the_test_command() -> None:
    f = health_facts(1, "refused")
    f.services["a"]["healthcheck"]["test"] = ["CMD", "curl", "http://localhost:8080/health", "-f"]
    (m,) = matches(f, {"healthcheck": {}})
    assert m.vars["health_url"] == "http://localhost:8080/health"


def test_logs_leaf_reads_the_last_200_lines_by_default_and_keeps_the_last_300_characters() -> None:
    old = facts([], logs=RecordedLogs({"api": ["needle", *["noise"] * 200]}))
    assert matches(old, {"logs": {"service": "api", "matches": "needle"}}) == []
    recent = facts([], logs=RecordedLogs({"api": ["needle", *["noise"] * 199]}))
    assert len(matches(recent, {"logs": {"service": "api", "matches": "needle"}})) == 1
    long = facts([], logs=RecordedLogs({"api": ["n" * 100 + "e" * 300]}))
    (m,) = matches(long, {"logs": {"service": "api", "matches": "n"}})
    assert m.evidence[0]["log_line"] == "e" * 300


def test_unset_variable_leaf_reads_lowercase_names_skips_colon_plus_and_goes_on_after_a_skip() -> None:
    text = "a: ${lower}\nb: ${I:+z}\nc: ${lower}\nd: ${J}\n"
    found = [m.vars["variable"] for m in matches(facts([], compose_text=text), {"unset_variable": {}})]
    assert found == ["lower", "J"]


LOOPBACK_CHECKS = [
    http("api.far", "http://10.0.0.1:8009/"),
    http("api.odd", "http://127.0.0.1:8011/"),
    http("api.local", "http://localhost:8012/"),
    http("api.v6", "http://[::1]:8013/"),
]


def test_unpublished_port_leaf_knows_every_loopback_name_and_looks_past_the_checks_it_skips() -> None:
    results = {
        "api.far": (FAILED, "refused", REFUSED),
        "api.odd": (FAILED, "timeout", {"error": "timed out"}),
        "api.local": (FAILED, "refused", REFUSED),
        "api.v6": (FAILED, "refused", REFUSED),
    }
    found = matches(facts(LOOPBACK_CHECKS, results), {"unpublished_port": {}})
    assert [m.vars for m in found] == [{"check": "api.local", "port": 8012}, {"check": "api.v6", "port": 8013}]
    assert found[0].evidence[0]["service"] is None  # requires nothing: no owner known


def test_probe_leaf_renders_the_expectation_too() -> None:
    spec = DiagnosticProbe("p", {"kind": "http", "url": "http://h/bad"}, {"body": "{{ service }}"})
    runner = Probes({"http://h/bad": False})
    entry = Entry(id="p", name="p", when={}, probes=(spec,))
    Evaluator(facts([]), runner).evaluate(entry, {"probe": {"name": "p", "passed": False}}, Match({"service": "api"}))
    assert runner.calls == [({"kind": "http", "url": "http://h/bad"}, {"body": "api"})]


@pytest.mark.parametrize(
    "cond", [{"state": "exited"}, {"health": "unhealthy"}, {"restarts": 5}, {"exit_code_not": 0}, {"exit_code": 2}]
)
def test_container_leaf_looks_past_a_container_that_fails_its_filter(cond: dict[str, Any]) -> None:
    f = facts([], containers={"a": state("a"), "b": state("b", "exited", "unhealthy", exit_code=2, restart_count=5)})
    assert bound(f, {"container": cond}, "service") == ["b"]


def test_container_leaf_exit_code_is_of_a_container_that_stopped_not_of_a_running_one() -> None:
    f = facts([], containers={"a": state("a", exit_code=0), "b": state("b", "exited", "none", exit_code=0)})
    assert bound(f, {"container": {"exit_code": 0}}, "service") == ["b"]
    assert bound(f, {"container": {"exit_code": [1, 0]}}, "service") == ["b"]


# failing checks in this order: a container check, a logs check, then the two http ones, the match last
ORDERED = [
    probe_check("db.up", "container", "db"),
    probe_check("db.logs", "logs", "db"),
    http("api.b", "http://127.0.0.1:8000/b"),
    http("api.a", "http://127.0.0.1:8000/a"),
]
ORDERED_FAILS = {
    "db.up": (FAILED, "", {"state": "exited", "health": "none", "statuses": ["exited"], "url": "u", "extra": 1}),
    "db.logs": (FAILED, "no line", {}),
    "api.b": FAILS["api.b"],
    "api.a": FAILS["api.a"],
}


@pytest.mark.parametrize(
    ("cond", "want"),
    [
        ({"kind": "http"}, ["api.b", "api.a"]),
        ({"http_status": 500}, ["api.a"]),
        ({"body": "relation"}, ["api.a"]),
        ({"producer": "api-gateway"}, ["api.a"]),
        ({"reason": "^$"}, ["db.up"]),  # no reason is an empty one
        ({"body": "^$"}, ["db.up", "db.logs", "api.b"]),  # no body is an empty one
        ({"error": "^$"}, ["db.up", "db.logs", "api.a"]),  # no error is an empty one
    ],
)
def test_check_leaf_filters_look_past_every_check_that_does_not_match(cond: dict[str, Any], want: list[str]) -> None:
    assert bound(facts(ORDERED, ORDERED_FAILS), {"check": cond}) == want


def test_check_leaf_binds_the_service_of_container_and_logs_checks_and_shows_their_state() -> None:
    found = matches(facts(ORDERED, ORDERED_FAILS), {"check": {"category": "db"}})
    assert [m.vars for m in found] == [{"check": "db.up", "service": "db"}, {"check": "db.logs", "service": "db"}]
    assert found[0].evidence[0] == {
        "check": "db.up", "result": FAILED, "reason": "", "state": "exited", "health": "none",
        "statuses": ["exited"], "url": "u",
    }  # fmt: skip


# -- what is left unexplained -----------------------------------------------------------------------------

LOGGED = [f"api line {i}" for i in range(7)]


def test_an_unexplained_check_shows_what_it_saw_who_answered_and_its_service_s_last_log_lines() -> None:
    checks = [http("api.call", "http://127.0.0.1:8000/call"), http("ext.ping", "http://10.0.0.1/ping")]
    seen = {"status": 502, "error": "bad gateway", "state": "exited", "health": "unhealthy",
            "headers": {"x-service": "edge-proxy"}, "body": "b" * 200, "url": "http://127.0.0.1:8000/call"}  # fmt: skip
    f = facts(
        checks,
        {"api.call": (FAILED, "status 502, expected 200", seen), "ext.ping": (FAILED, "timed out", {"body": ""})},
        services={"api": {"ports": [{"published": "8000", "target": 8000}]}},
        logs=RecordedLogs({"api": LOGGED}),
    )
    assert unexplained(f, []) == [
        {"check": "api.call", "status": FAILED, "reason": "status 502, expected 200", "http_status": 502,
         "error": "bad gateway", "state": "exited", "health": "unhealthy", "producer": "edge-proxy",
         "body": "b" * 160, "service": "api", "last_log_lines": LOGGED[-5:]},
        {"check": "ext.ping", "status": FAILED, "reason": "timed out", "body": ""},  # no service, nobody answered
    ]  # fmt: skip


# in this order: what an analyzer explains, what requires it (skipped, then failed on its own), a stopped
# service's checks, then a failure nobody explains and what it blocks
COVERAGE = [
    probe_check("db.up", "container", "db"),
    http("db.query", "http://x/q", ("db.up",)),
    http("db.report", "http://x/r", ("db.up",)),
    probe_check("api.up", "container", "api"),
    http("api.call", "http://x/c", ("api.up",)),
    http("ext.x", "http://x/x"),
    http("web.y", "http://x/y", ("ext.x",)),
    http("web.ok", "http://x/ok"),
]
COVERAGE_RESULTS = {
    "db.up": (FAILED, "exited", {}),
    "db.query": (SKIPPED, "requires db.up failed", {}),
    "db.report": (FAILED, "status 500", {}),
    "api.up": (FAILED, "exited", {}),
    "api.call": (SKIPPED, "requires api.up failed", {}),
    "ext.x": (FAILED, "refused", {}),
    "web.y": (SKIPPED, "requires ext.x failed", {}),
}
DB_DOWN = Diagnosis("exit-code", "db", "service", "db exited", "", "", "high", explains=frozenset({"db.up"}))


def test_unexplained_leaves_out_what_a_finding_or_an_analyzer_explains_and_skips_they_cause() -> None:
    f = facts(
        COVERAGE,
        COVERAGE_RESULTS,
        containers={"api": state("api", "exited", "none"), "db": state("db")},
        services={"api": {}, "db": {}},
    )
    stopped = Entry(id="down", name="down", when={"container": {"state": "exited"}})
    findings = diagnose([stopped], f, Evaluator(f, Probes()))
    assert [fi.checks for fi in findings] == [frozenset()]  # the stopped service's finding names no check
    # db.query is skipped for a cause the analyzer explains; db.report failed on its own: still listed
    assert [u["check"] for u in unexplained(f, findings, [DB_DOWN])] == ["db.report", "ext.x", "web.y"]
    assert [u["check"] for u in unexplained(f, findings)] == ["db.up", "db.query", "db.report", "ext.x", "web.y"]
    assert [u["check"] for u in unexplained(f, [], [DB_DOWN])] == ["db.report", "api.up", "api.call", "ext.x", "web.y"]


# -- analysis leaf ----------------------------------------------------------------------------------------

ANALYSED = [
    Diagnosis("exit-code", "mcp", "service", "mcp cannot start its server", "", "", "high",
              explains=frozenset({"mcp.up", "mcp.call"}), signature="missing-binary"),
    Diagnosis("variables", "API_KEY", "variable", "API_KEY is unset", "", "", "medium", signature="unset"),
    Diagnosis("exit-code", "worker", "service", "worker was killed", "", "", "low", signature="oom"),
]  # fmt: skip


class Analysed(Evaluator):
    """An evaluator whose built-in analyzers said ``ANALYSED`` (recorded, as a deep look would)."""

    def analysis(self) -> list[Any]:
        return list(ANALYSED)


def analysed(cond: Mapping[str, Any]) -> list[Match]:
    return Analysed(facts([]), Probes()).evaluate(NO_ENTRY, {"analysis": cond}, Match())


@pytest.mark.parametrize(
    ("cond", "want"),
    [
        ({}, ["mcp", "API_KEY", "worker"]),
        ({"analyzer": "variables"}, ["API_KEY"]),
        ({"analyzer": "exit-*"}, ["mcp", "worker"]),
        ({"signature": "oom"}, ["worker"]),
        ({"signature": ["unset", "oom"]}, ["API_KEY", "worker"]),
        ({"subject": "worker"}, ["worker"]),
        ({"subject": "API_*"}, ["API_KEY"]),
        ({"confidence": "low"}, ["worker"]),
        ({"confidence": ["medium", "low"]}, ["API_KEY", "worker"]),
        ({"analyzer": "exit-code", "confidence": "low"}, ["worker"]),
        ({"analyzer": "exit-code", "signature": "unset"}, []),
        ({"analyzer": "variables", "subject": "mcp"}, []),
    ],
)
def test_analysis_leaf_matches_each_diagnosis_that_passes_all_its_filters(
    cond: dict[str, Any], want: list[str]
) -> None:
    assert [next(iter(m.vars.values())) for m in analysed(cond)] == want


def test_analysis_leaf_binds_the_subject_by_its_kind_and_takes_what_the_analyzer_explains() -> None:
    mcp, key, _ = analysed({})
    assert mcp.vars == {"service": "mcp"} and key.vars == {"variable": "API_KEY"}
    assert mcp.checks == frozenset({"mcp.up", "mcp.call"}) and key.checks == frozenset()
    assert mcp.evidence == (
        {"analyzer": "exit-code", "title": "mcp cannot start its server", "confidence": "high",
         "signature": "missing-binary"},
    )  # fmt: skip
