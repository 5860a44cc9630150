"""remediate plan / apply end to end: the real CLI heals a real sandbox on a real engine.

One sandbox for the module (own work directory, project remediate-e2e-<random>, port offset 21000),
reset with `sandbox.py up` before each scenario. Every claim of issue 5 is asserted here: plan
changes nothing and names each cause; apply reaches the target and a second apply changes nothing;
the history's causes are fixed and the suite's wrong ports are only reported until --fix-suite; each
single fault is healed by exactly its entry; a fix that does not help is rolled back.
"""

from __future__ import annotations

import itertools
import secrets as rnd
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .support import PORT_SHIFT, ROOT, SandboxDir, json_out, sandbox_dir

pytestmark = [pytest.mark.engine, pytest.mark.sandbox]

OFFSET = 21000 + PORT_SHIFT


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxDir]:
    with sandbox_dir(tmp_path_factory, "e2e", OFFSET) as box:
        yield box


def fired(doc: dict[str, Any]) -> set[str]:
    return {s["finding"]["id"] for s in doc["steps"]}


def assert_no_secret(box: SandboxDir, *texts: str) -> None:
    journal = box.workdir / ".remediate" / "journal.jsonl"
    extra = [journal.read_text()] if journal.exists() else []
    for value in box.secret_values():
        for text in (*texts, *extra):
            assert value not in text, "a secret value leaked into output"


def test_report_plan_changes_nothing_and_apply_meets_target(sandbox: SandboxDir, tmp_path: Path) -> None:
    sandbox.up()
    sandbox.cli("break", "report")
    files, containers = sandbox.files(), sandbox.containers()
    plan = sandbox.remediate("plan", "--json")
    doc = json_out(plan)
    assert plan.returncode == 0, plan.stderr
    assert sandbox.files() == files, "plan changed a file"
    assert sandbox.containers() == containers, "plan changed a container"
    assert 0.30 <= doc["initial_rate"] <= 0.45
    causes = {s["finding"]["id"] for s in doc["steps"]}
    assert causes == {
        "service-not-running",
        "airtable-token-rejected",
        "users-table-missing",
        "login-identifier-rejected",
        "gateway-concurrency-too-low",
    }
    stopped = {s["finding"]["vars"].get("service") for s in doc["steps"] if s["finding"]["id"] == "service-not-running"}
    assert stopped == {"automation-services", "saga-orchestrator"}
    rates = [doc["initial_rate"], *(s["predicted_rate"] for s in doc["steps"])]
    assert all(a < b for a, b in itertools.pairwise(rates)) and rates[-1] == 1.0, rates  # each step turns a check
    assert doc["suite_findings"] == []

    report = tmp_path / "heal.html"
    first = sandbox.remediate("apply", "--until", "0.8", "--json", "--report", str(report))
    first_doc = json_out(first)
    assert first.returncode == 0, first.stderr
    assert first_doc["met"] and first_doc["final_rate"] >= 0.8
    assert all(s["status"] == "changed" for s in first_doc["steps"])
    # the predictions rest on the right evidence: every check a step was credited with passes at the end
    final = {c["id"]: c["status"] for c in first_doc["checks"]["checks"]}
    for s in first_doc["steps"]:
        assert {final[c] for c in s["finding"]["explains"]} == {"passed"}, s["finding"]["key"]
    assert "<svg" in report.read_text() and "predicted" in report.read_text()

    files = sandbox.files()
    again = sandbox.remediate("apply", "--until", "0.8", "--json")
    assert again.returncode == 0 and json_out(again)["steps"] == []
    assert sandbox.files() == files

    full = sandbox.remediate("apply", "--until", "1.0", "--json")
    full_doc = json_out(full)
    assert full.returncode == 0, full.stderr
    assert full_doc["final_rate"] == 1.0
    # precise: on the healed stack the built-in analyzers name nothing at medium or high confidence
    assert [a["key"] for a in full_doc["analysis"] if a["confidence"] != "low"] == []
    healed = sandbox.remediate("apply", "--json")
    assert healed.returncode == 0 and json_out(healed)["steps"] == []
    assert_no_secret(sandbox, plan.stdout, plan.stderr, first.stdout, first.stderr, full.stdout, report.read_text())


def test_history_fixes_environment_then_suite_only_when_asked(sandbox: SandboxDir) -> None:
    sandbox.up()
    sandbox.cli("break", "history")
    suite_file = sandbox.workdir / "checks" / "pyairtable.yml"
    suite_before = suite_file.read_bytes()
    proc = sandbox.remediate("apply", "--until", "1.0", "--json")
    doc = json_out(proc)
    assert proc.returncode == 1, proc.stderr
    assert fired(doc) == {
        "healthcheck-command-missing",
        "gateway-key-mismatch",
        "internal-key-missing",
        "password-hash-too-slow",
        "log-shipper-unsupported-keys",
    }
    assert all(s["status"] == "changed" for s in doc["steps"])
    assert suite_file.read_bytes() == suite_before, "the suite was edited without --fix-suite"
    ports = {f["vars"]["port"] for f in doc["suite_findings"]}
    assert ports == {8004 + OFFSET, 8005 + OFFSET}
    assert all(
        f'+      url: "http://127.0.0.1:{8006 + OFFSET}/files' in f["patch"]
        or f'+      url: "http://127.0.0.1:{8008 + OFFSET}/sagas' in f["patch"]
        for f in doc["suite_findings"]
    )
    assert {r["category"] for r in doc["remaining_failures"]} == {"file operations", "SAGA transactions"}

    fixed = sandbox.remediate("apply", "--fix-suite", "--until", "1.0", "--json")
    fixed_doc = json_out(fixed)
    assert fixed.returncode == 0, fixed.stderr
    assert fixed_doc["final_rate"] == 1.0
    assert fired(fixed_doc) == {"unpublished-port"}
    assert f":{8004 + OFFSET}/" not in suite_file.read_text() and f":{8005 + OFFSET}/" not in suite_file.read_text()


SINGLE = {
    "services-stopped": "service-not-running",
    "unmigrated": "users-table-missing",
    "login-email-only": "login-identifier-rejected",
    "bad-airtable-token": "airtable-token-rejected",
    "low-concurrency": "gateway-concurrency-too-low",
    "gateway-key-drift": "gateway-key-mismatch",
    "internal-key-missing": "internal-key-missing",
    "curl-healthcheck": "healthcheck-command-missing",
    "hash-rounds": "password-hash-too-slow",
    "shipper-config": "log-shipper-unsupported-keys",
}


@pytest.mark.parametrize("scenario", sorted(SINGLE))
def test_each_single_fault_is_healed_by_exactly_its_entry(sandbox: SandboxDir, scenario: str) -> None:
    sandbox.up()
    sandbox.cli("break", scenario)
    proc = sandbox.remediate("apply", "--json")
    doc = json_out(proc)
    assert proc.returncode == 0, proc.stderr
    assert fired(doc) == {SINGLE[scenario]}
    assert doc["final_rate"] == 1.0 and doc["remaining_findings"] == []
    assert all(s["status"] == "changed" for s in doc["steps"])


def test_suite_ports_alone_is_a_suite_finding(sandbox: SandboxDir) -> None:
    sandbox.up()
    sandbox.cli("break", "suite-ports")
    files = sandbox.files()
    proc = sandbox.remediate("apply", "--json")
    doc = json_out(proc)
    assert proc.returncode == 1
    assert doc["steps"] == [] and {f["id"] for f in doc["suite_findings"]} == {"unpublished-port"}
    assert sandbox.files() == files


def test_wrong_secret_is_refused_and_env_stays_byte_identical(sandbox: SandboxDir) -> None:
    """The secret source holds another wrong token: validated before writing, nothing is written."""
    sandbox.up()
    sandbox.cli("break", "bad-airtable-token")
    wrong = sandbox.workdir / "wrong_token"
    wrong.write_text("pat-" + rnd.token_hex(16) + "\n")
    inventory = sandbox.workdir / "inventory-wrong.yml"
    inventory.write_text(sandbox.inventory.read_text().replace("file: secrets/airtable_token", f"file: {wrong}"))
    env_before = (sandbox.workdir / ".env").read_bytes()
    proc = sandbox.remediate("apply", "--json", inventory=inventory)
    doc = json_out(proc)
    assert proc.returncode == 1
    assert (sandbox.workdir / ".env").read_bytes() == env_before
    step = doc["steps"][0]
    assert step["finding"]["id"] == "airtable-token-rejected" and step["status"] == "failed"
    assert "answered 401 to the candidate" in step["reason"]
    assert "airtable-token-rejected" in doc["excluded"]
    assert wrong.read_text().strip() not in proc.stdout + proc.stderr


def test_a_fix_that_does_not_help_is_rolled_back(sandbox: SandboxDir, tmp_path: Path) -> None:
    """Without validation the wrong token is written, the finding stays, the step is rolled back."""
    sandbox.up()
    sandbox.cli("break", "bad-airtable-token")
    wrong = sandbox.workdir / "wrong_token"
    wrong.write_text("pat-" + rnd.token_hex(16) + "\n")
    playbook = tmp_path / "token.yml"
    text = (ROOT / "playbooks" / "pyairtable.yml").read_text()
    start = text.index("  - id: airtable-token-rejected")
    end = text.index("  - id: gateway-key-mismatch")
    entry = text[start:end]
    cut = entry.index("          validate_with:")
    entry = entry[:cut] + entry[entry.index("      - compose_up:") :]
    playbook.write_text("entries:\n" + entry)
    inventory = sandbox.workdir / "inventory-wrong.yml"
    inventory.write_text(sandbox.inventory.read_text().replace("file: secrets/airtable_token", f"file: {wrong}"))
    env_before = (sandbox.workdir / ".env").read_bytes()
    proc = sandbox.remediate("apply", "--json", "--playbooks", str(playbook), inventory=inventory)
    doc = json_out(proc)
    assert proc.returncode == 1, proc.stderr
    assert (sandbox.workdir / ".env").read_bytes() == env_before
    statuses = [s["status"] for s in doc["steps"]]
    assert statuses == ["rolled back"], statuses
    assert "still matches" in doc["steps"][0]["reason"]
    assert any(a["action"] == "rollback env_set" for a in doc["steps"][0]["actions"])
    assert doc["final_rate"] == doc["initial_rate"]
