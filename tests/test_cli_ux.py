"""The CLI as a new user meets it: --version, -v, --help, the hints for common mistakes, the output
width, what plan and apply show while they work, and summary rows that can be told apart.

Everything runs the real CLI in a child process; the heal runs on a real compose project (conftest's
``compose_project``: web with a healthcheck, worker), healed by the shipped generic playbook.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from remediator import __version__
from remediator.report import print_apply, print_plan
from remediator.terminal import Feedback, clip

from .support import ROOT, remediate

COMMANDS = ("check", "plan", "apply", "watch", "validate")


def test_version() -> None:
    proc = remediate("--version")
    assert proc.returncode == 0 and proc.stdout == f"remediate {__version__}\n"


def test_help_shows_human_types_and_examples() -> None:
    for args in [(), *((c,) for c in COMMANDS)]:
        proc = remediate(*args, "--help")
        assert proc.returncode == 0, proc.stderr
        assert not re.search(r"<[a-z][a-zA-Z\[\] ]*>", proc.stdout), f"a Python type in {args} --help"
        assert "Examples" in proc.stdout and "remediate " + (args[0] if args else "") in proc.stdout
    apply_help = remediate("apply", "--help").stdout
    for shown in ("FILE", "PATH", "RATE", "SECONDS", "COLUMNS"):
        assert shown in apply_help


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("check", "--until", "80"), "for 80 % write --until 0.8"),
        (("apply", "--until", "1.5"), "not a rate from 0 to 1; for 1.5 % write --until 0.015"),
        (("watch", "--until", "-1"), "not a rate from 0 to 1 (0.8 means 80 %)"),
        (("check", "-v", "2"), "-v is counted, not given a number: write -vv instead of -v 2"),
        (("apply", "-vv", "3"), "write -vv instead of -vv 3"),
        (("plan", "--bogus"), "No such option: --bogus"),
    ],
)
def test_usage_mistakes_are_one_line_with_the_fix(args: tuple[str, ...], expected: str) -> None:
    proc = remediate(*args)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("remediate: "), proc.stderr
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_missing_inventory_is_named_not_asked_for(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yml"
    for cmd in ("check", "plan", "apply"):
        proc = remediate(cmd, "-vv", "-i", str(missing))
        assert proc.returncode == 2
        assert proc.stderr == f"remediate: {missing}: no such inventory file (it does not exist)\n"
    relative = remediate("check", "-i", "missing.yml", cwd=tmp_path)
    assert f"({missing} does not exist)" in relative.stderr and "pass --inventory" not in relative.stderr
    default = remediate("check", cwd=tmp_path)  # nothing passed: then say how to pass one
    assert default.returncode == 2 and "pass --inventory FILE" in default.stderr


def test_validate_takes_an_inventory(tmp_path: Path) -> None:
    inv = tmp_path / "inv.yml"
    inv.write_text("targets:\n  local: {urls: {api: 'http://127.0.0.1:1'}, checks: [checks.yml]}\n")
    (tmp_path / "checks.yml").write_text(
        "checks:\n  - {id: api.up, category: api, name: api, probe: {kind: http, url: '{{ urls.api }}'}, expect: {}}\n"
    )
    ok = remediate("validate", "-i", str(inv), cwd=tmp_path)  # the inventory and the checks it names
    assert ok.returncode == 0 and ok.stdout == "2 file(s) valid\n", ok.stderr
    inv.write_text("targets:\n  local: {urls: 3}\n")
    bad = remediate("validate", "--inventory", str(inv), cwd=tmp_path)
    assert bad.returncode == 2 and f"{inv}:2:" in bad.stderr
    gone = remediate("validate", "-i", str(tmp_path / "gone.yml"), cwd=tmp_path)
    assert gone.returncode == 2 and "does not exist" in gone.stderr


def _container_inventory(tmp_path: Path, project: str = "nothing-here", directory: Path | None = None) -> Path:
    (tmp_path / "checks.yml").write_text("""\
checks:
  - id: web.running
    category: containers
    name: web runs and is healthy
    probe: {kind: container, service: web}
    expect: {state: running, health: healthy}
  - id: worker.running
    category: containers
    name: worker runs
    probe: {kind: container, service: worker}
    expect: {state: running}
""")
    inv = tmp_path / "inventory.yml"
    inv.write_text(f"""\
targets:
  local:
    compose: {{project: {project}, directory: {directory or tmp_path}, files: [compose.yml]}}
    checks: [{tmp_path / "checks.yml"}]
    playbooks: [{ROOT / "playbooks" / "generic.yml"}]
""")
    return inv


def test_docker_host_is_named_and_no_repo_only_path_is_offered(tmp_path: Path) -> None:
    inv = _container_inventory(tmp_path)
    proc = remediate("check", "-i", str(inv), cwd=tmp_path, env={"DOCKER_HOST": "tcp://127.0.0.1:9"})
    assert proc.returncode == 3, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "tcp://127.0.0.1:9 (DOCKER_HOST)" in lines[0], lines
    assert "default socket" not in lines[0] and "scripts/engine.sh" not in lines[0]
    # no DOCKER_HOST, an engine that is not there: a script is offered only by a path that exists
    inv.write_text(
        inv.read_text().replace("    checks:", "    docker: {host: unix:///nonexistent/docker.sock}\n    checks:")
    )
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
    local = subprocess.run(
        [sys.executable, "-m", "remediator", "check", "-i", str(inv)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert local.returncode == 3 and "sudo systemctl start docker" in local.stderr, local.stderr
    for path in re.findall(r"'bash (\S+)'", local.stderr):
        assert Path(path).is_absolute() and Path(path).is_file(), local.stderr


def test_piped_output_is_wide_unless_a_width_is_given(tmp_path: Path) -> None:
    category = "a-category-whose-name-alone-takes-more-than-eighty-columns-of-a-ci-log-to-print-whole"
    (tmp_path / "checks.yml").write_text(f"""\
checks:
  - id: cmd.ok
    category: {category}
    name: a command that passes
    probe: {{kind: command, argv: [{sys.executable}, -c, "print('ok')"]}}
""")
    inv = tmp_path / "inventory.yml"
    inv.write_text(f"targets:\n  local: {{checks: [{tmp_path / 'checks.yml'}]}}\n")
    piped = remediate("check", "-i", str(inv), env={"COLUMNS": ""})  # no $COLUMNS: the wide default
    assert piped.returncode == 0 and category in piped.stdout, piped.stdout
    narrow = remediate("check", "-i", str(inv), "--width", "60")
    assert narrow.returncode == 0 and max(map(len, narrow.stdout.splitlines())) <= 60, narrow.stdout


def test_clip_cuts_at_a_word_with_an_ellipsis() -> None:
    text = "status=500 body=the quick brown fox jumps over the lazy dog"
    assert clip(text, 80) == text
    assert clip(text, 30) == "status=500 body=the quick…"
    assert clip("x" * 50, 10) == "x" * 9 + "…"  # one long token: cut inside it, still marked
    assert clip("a\n  b   c", 20) == "a b c"


def _plan_doc() -> dict:
    """A recorded plan of the sandbox's history scenario. It was recorded when the plan document named
    its target "target"; since the planner's split it is "target_name" (as in apply's): both are set,
    so the printer reads its own name on either side of that change."""
    doc = json.loads((ROOT / "tests" / "fixtures" / "plan_history.json").read_text())
    doc["target"] = doc["target_name"] = doc.get("target_name", doc.get("target"))
    return doc


def test_plan_evidence_lines_fit_and_end_at_a_word() -> None:
    doc = _plan_doc()
    out = io.StringIO()
    print_plan(doc, console=Console(file=out, width=90, color_system=None))
    text = out.getvalue()
    lines = text.splitlines()
    evidence = []
    for i, line in enumerate(lines):  # an evidence line, and the one that continues it under its start
        if line.startswith("   evidence: "):
            evidence.append(line)
            after = lines[i + 1] if i + 1 < len(lines) else ""
            if after.startswith(" " * 13) and after[13:14] != " ":
                evidence.append(after)
    assert evidence
    whole = io.StringIO()
    print_plan(doc, console=Console(file=whole, width=5000, color_system=None))
    vocabulary = {word.rstrip(",;:=") for word in whole.getvalue().split()}
    for line in evidence:
        assert len(line) <= 90, line
        words = line.strip().removeprefix("evidence: ").rstrip("…").split()
        if words:  # the last word shown is a whole word of the evidence, not a cut one
            assert words[-1].rstrip(",;:=") in vocabulary, line
    assert any(line.endswith("…") for line in evidence)
    for step in doc["steps"]:
        sub = step["finding"]["key"].split("[", 1)[1].rstrip("]")
        assert f"[{sub}]" in text.replace("\n", " ")


def test_apply_summary_names_each_rows_subject() -> None:
    doc = json.loads((ROOT / "tests" / "fixtures" / "apply_history.json").read_text())
    out = io.StringIO()
    print_apply(doc, console=Console(file=out, width=200, color_system=None))
    cells = [line.split("│") for line in out.getvalue().splitlines() if line.startswith("│")]
    rows = ["│".join(c) for c in cells if c[1].strip()]  # not the wrapped lines of a long row
    subjects = [line.split("│")[3].strip() for line in rows]
    assert subjects == [
        "service=api-gateway",
        "key=API_KEY",
        "key=INTERNAL_API_KEY",
        "service=airtable-gateway",
        "service=airtable-gateway",
        "service=llm-orchestrator",
        "service=log-shipper",
    ]
    times = [line.split("│")[6].strip() for line in rows]
    assert times[2] == "188.4 s"


def test_plain_progress_says_each_thing_once_and_a_long_wait_every_10_s(
    capsys: pytest.CaptureFixture[str],
) -> None:
    feedback = Feedback(enabled=True, live=False)
    with feedback:
        feedback.start("reading inventory.yml")  # a pipe shows no line for it: it is over in a moment
        feedback.notify("apply: checking local (2 checks)")
        for _ in range(3):
            feedback.notify("waiting for web to finish starting")
        for second in range(25):
            feedback.waiting("health of web (running/starting), up to 90 s", second)
        feedback.waiting("health of worker (running/starting), up to 90 s", 25)
    lines = capsys.readouterr().err.splitlines()
    assert re.fullmatch(r"\[ +\d+\.\d s\] apply: checking local \(2 checks\)", lines[0]), lines
    assert sum("finish starting" in line for line in lines) == 1
    web = [line for line in lines if "health of web" in line]
    assert len(web) == 1  # the seconds go by faster than a real clock here: one line, then silence
    assert any("health of worker" in line for line in lines)


@pytest.mark.engine
def test_plan_and_apply_show_progress_and_heal_a_real_project(tmp_path: Path, engine, compose_project) -> None:
    inv = _container_inventory(tmp_path, compose_project.project, compose_project.directory)
    plan = remediate("plan", "-i", str(inv))
    assert plan.returncode == 0, plan.stderr
    err = plan.stderr.splitlines()
    assert "plan: checking local (2 checks)" in err[0]
    assert "checked: 0/2 passed" in plan.stderr
    assert "service=web" in plan.stdout and "service=worker" in plan.stdout

    report = tmp_path / "heal.html"
    proc = remediate("apply", "-i", str(inv), "--width", "120", "--report", str(report))
    # whether web turns healthy within its 2 s healthcheck timeout depends on the machine's load, and
    # healing is not what this test is about: what it shows while it works, and how it sums up, is
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    assert re.search(r"waiting for health of web \((running|created)/\w+\), up to 90 s \(\d+ s\)", proc.stderr), (
        proc.stderr
    )
    assert all(len(line) <= 120 for line in proc.stdout.splitlines())
    assert "service=web" in proc.stdout and "service=worker" in proc.stdout
    page = report.read_text()
    assert f"remediate apply -i {inv}" in page and "service=web" in page


@pytest.mark.engine
def test_a_terminal_gets_a_live_status(tmp_path: Path, engine, compose_project) -> None:
    """Under a pseudo-terminal (util-linux script), plan draws rich's status line, then the table."""
    inv = _container_inventory(tmp_path, compose_project.project, compose_project.directory)
    command = f"{sys.executable} -m remediator plan -i {inv}"
    proc = subprocess.run(
        ["script", "-qec", command, "/dev/null"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "COLUMNS": "120", "LINES": "40", "TERM": "xterm-256color"},
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout
    assert "\x1b[?25l" in proc.stdout  # rich hides the cursor while its live status runs
    assert re.search(r"plan: checking local \(2 checks\).*\(\d+ s\)", proc.stdout)
    assert "service=web" in proc.stdout


def test_a_playbook_entry_left_out_is_said_with_its_place_and_why() -> None:
    doc = _plan_doc()
    doc["entry_errors"] = {"bad": "playbooks/mine.yml:3:5: template '{{ x // 0 }}': integer division or modulo by zero"}
    out = io.StringIO()
    print_plan(doc, console=Console(file=out, width=200, color_system=None))
    said = "playbook entry bad left out: playbooks/mine.yml:3:5: template '{{ x // 0 }}': integer division"
    assert said in out.getvalue()
