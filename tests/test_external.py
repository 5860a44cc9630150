"""External suites: the report suite's results JSON (FAIL+SKIP pairs merged) and JUnit XML."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from remediator.external import read_junit, read_report_json

from .support import json_out, remediate

SEED = Path(__file__).parent / "fixtures" / "seed_results.json"


def test_seed_run_gives_14_11_10_of_35() -> None:
    ext = read_report_json(SEED)
    statuses = [r.status for r in ext.results]
    assert len(ext.results) == 35
    assert (statuses.count("passed"), statuses.count("failed"), statuses.count("skipped")) == (14, 11, 10)
    assert ext.merged == 8
    assert "merged 8 FAIL+SKIP pairs" in ext.notes[0]


def test_junit_reader(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text("""<?xml version="1.0"?>
<testsuite name="s"><testcase classname="auth" name="login" time="0.5"><failure message="422"/></testcase>
<testcase classname="auth" name="register"/><testcase classname="files" name="up"><skipped/></testcase></testsuite>""")
    ext = read_junit(path)
    assert [(r.category, r.status) for r in ext.results] == [
        ("auth", "failed"),
        ("auth", "passed"),
        ("files", "skipped"),
    ]
    assert ext.results[0].reason == "422"


def test_check_cli_runs_an_external_suite_command(tmp_path: Path) -> None:
    """A source's command runs, then its results file is read; the JSON document counts 40.0 %."""
    shutil.copy(SEED, tmp_path / "template.json")
    (tmp_path / "checks.yml").write_text(f"""\
sources:
  - id: legacy
    command: [{sys.executable}, -c, "import shutil; shutil.copy('template.json', 'results.json')"]
    format: report-json
    results: results.json
""")
    (tmp_path / "inventory.yml").write_text("targets:\n  local:\n    checks: [checks.yml]\n")
    proc = remediate("check", "--json", "--inventory", str(tmp_path / "inventory.yml"))
    doc = json_out(proc)
    assert proc.returncode == 1
    assert (doc["total"], doc["passed"], doc["failed"], doc["skipped"]) == (35, 14, 11, 10)
    assert doc["rate"] == 0.4
    assert doc["categories"]["Airtable Operations"] == {"total": 6, "passed": 0, "failed": 6, "skipped": 0, "rate": 0.0}
    assert any("merged 8" in n for n in doc["notes"])
