"""The loader: valid files load; each kind of mistake names file:line:column, the key and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from remediator.errors import LoadError
from remediator.loader import load_inventory, load_suite, validate_paths

from .support import ROOT, remediate

GOOD = """\
checks:
  - id: a.one
    category: health
    name: one
    probe: {kind: http, url: "http://127.0.0.1:1/x"}
    expect: {status: 200}
  - id: a.two
    category: health
    name: two
    requires: [a.one]
    probe: {kind: tcp, port: 1}
"""


def write(tmp_path: Path, text: str, name: str = "checks.yml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_good_suite_loads(tmp_path: Path) -> None:
    suite = load_suite([write(tmp_path, GOOD)])
    assert [c.id for c in suite.checks] == ["a.one", "a.two"]
    assert suite.checks[1].requires == ("a.one",)
    assert str(suite.checks[1].where).endswith("checks.yml:7:5")


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        (GOOD.replace("method", "x").replace("kind: http,", "kind: http, methd: GET,"), ":5:", "unknown key 'methd'"),
        (GOOD.replace("status: 200", "status: two hundred"), ":6:", "expect.status"),
        (GOOD.replace("kind: tcp", "kind: ftp"), ":11:", "'ftp' is not allowed; expected one of: http, tcp"),
        (GOOD.replace("name: two\n", "name: two\n    name: again\n"), ":10:", "duplicate key 'name'"),
        (GOOD.replace("[a.one]", "[a.one"), ":1", "invalid YAML"),
        (GOOD.replace("requires: [a.one]", "requires: [a.zero]"), ":7:5", "no check 'a.zero'"),
        (GOOD.replace("    name: one\n", ""), ":2:5", "'name' is required"),
    ],
)
def test_errors_name_file_line_column(tmp_path: Path, text: str, where: str, words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(LoadError) as info:
        load_suite([path])
    message = str(info.value)
    assert message.startswith(str(path) + ":"), message
    assert where in message and words in message, message


def test_requires_cycle_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("    name: one\n", "    name: one\n    requires: [a.two]\n"))
    with pytest.raises(LoadError, match=r"cycle: a\.one -> a\.two -> a\.one"):
        load_suite([path])


def test_yes_is_a_string_not_true(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("status: 200", "body_contains: yes"))
    assert load_suite([path]).checks[0].expect["body_contains"] == "yes"


def test_inventory_resolves_paths_and_groups(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
targets:
  dev:
    compose: {project: demo, directory: stack, files: [compose.yml], env_files: [.env]}
    urls: {api: "http://127.0.0.1:1"}
    secrets: {token: {file: secrets/token}}
groups:
  all: [dev]
""",
        "inventory.yml",
    )
    inv = load_inventory(path)
    target = inv.select("all")[0]
    assert target.compose is not None and target.compose.files == (tmp_path / "stack" / "compose.yml",)
    assert target.checks == (tmp_path / "checks",)
    assert target.secrets["token"].kind == "file"


def test_repository_files_validate() -> None:
    count, errors = validate_paths([ROOT / "inventory.yml", ROOT / "checks"])
    assert errors == []
    assert count >= 2


def test_validate_cli_exit_codes(tmp_path: Path) -> None:
    bad = write(tmp_path, GOOD.replace("category: health\n    name: two", "category: 7\n    name: two"))
    proc = remediate("validate", str(bad))
    assert proc.returncode == 2
    assert f"{bad}:8:5: checks[1].category: expected string, got int 7" in proc.stderr
    assert "Traceback" not in proc.stderr
    ok = remediate("validate", str(write(tmp_path, GOOD, "good.yml")))
    assert ok.returncode == 0, ok.stderr


def test_pyairtable_suite_has_35_checks_in_8_categories() -> None:
    suite = load_suite([ROOT / "checks" / "pyairtable.yml"])
    assert len(suite.checks) == 35
    cats: dict[str, int] = {}
    for c in suite.checks:
        cats[c.category] = cats.get(c.category, 0) + 1
    assert len(cats) == 8
    assert sorted(cats.values()) == [3, 3, 3, 3, 3, 4, 6, 10]
