"""The loader: valid files load; each kind of mistake names file:line:column, the key and what was expected."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from remediator.errors import LoadError
from remediator.loader import load_inventory, load_suite
from remediator.validate import validate_paths

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


# --- the two validators agree, and the fast one's cache is only a cache ---------------------------

BAD_ACTIONS = [
    {"env_set": {"file": ".env", "key": "A"}},
    {"env_set": {"file": ".env", "key": "A", "value": "b", "value_from": {"secret": "s"}}},
    {"nope": {}},
    {"compose_up": {"services": "api"}},
    {"compose_up": {}, "compose_restart": {}},
    {"wait_healthy": {"timeout": "soon"}},
    {"exec": {"service": "api"}},
    {"env_set": {"file": ".env", "key": "A", "value": "b", "extra": 1}},
]


def _playbook_actions() -> list[dict]:
    import yaml

    out = []
    for path in sorted((ROOT / "playbooks").glob("*.yml")):
        for entry in yaml.safe_load(path.read_text())["entries"]:
            out.extend({k: ({} if v is None else v) for k, v in a.items()} for a in entry.get("actions", []))
    return out


def test_fast_and_explaining_validators_agree_on_every_action() -> None:
    from remediator import validation

    good = _playbook_actions()
    assert len(good) >= 20
    for spec in good + BAD_ACTIONS:
        explained = list(validation.explainer("action").iter_errors(spec))
        assert validation.is_valid("action", spec) == (not explained), spec
    assert not any(validation.is_valid("action", s) for s in BAD_ACTIONS)


def test_the_compiled_schema_cache_is_written_once_and_survives_corruption(tmp_path: Path) -> None:
    code = "from remediator import validation; print(validation.is_valid('checks', {'checks': []}))"
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    (cached,) = (tmp_path / "remediator").glob("checks-*.marshal")
    stamp = cached.stat().st_mtime_ns
    again = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert first.stdout == again.stdout and cached.stat().st_mtime_ns == stamp  # read, not rewritten
    cached.write_bytes(b"not marshal")
    healed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert healed.stdout == first.stdout and cached.read_bytes() != b"not marshal"
    assert all(p.suffix == ".marshal" for p in (tmp_path / "remediator").iterdir())  # no temp file left


def test_an_id_seen_in_an_earlier_file_names_both_places(tmp_path: Path) -> None:
    from remediator.loader import load_playbooks

    first, second = write(tmp_path, GOOD, "a.yml"), write(tmp_path, GOOD.replace("a.two", "b.two"), "b.yml")
    with pytest.raises(LoadError, match=r"b\.yml:2:5: duplicate check id 'a\.one' \(first at .*a\.yml:2:5\)"):
        load_suite([first, second])
    entries = (ROOT / "playbooks" / "generic.yml").read_text()
    copy = write(tmp_path, entries, "copy.yml")
    with pytest.raises(LoadError, match=r"copy\.yml:\d+:\d+: duplicate entry id '[a-z-]+' \(first at .*generic\.yml"):
        load_playbooks([ROOT / "playbooks" / "generic.yml", copy])


# --- hostile files: one located line, exit 2, bounded time and memory ---------------------------

LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)


@pytest.mark.parametrize(
    ("data", "where", "words"),
    [
        (LAUGHS.encode() + b"checks: *i\n", ":", "aliases expand this document past"),
        (b"checks: &x [*x]\n", ":1:9:", "aliases may not recurse"),
        (b"checks:" + b" [" * 900 + b" ]" * 900 + b"\n", ":1:", "nested deeper than 64 levels"),
        (b"checks:\n  - id: caf\xe9\n", ":2:12:", "not UTF-8 text (byte 0xe9)"),
        ('checks:\n  - id: "é\\0"\n'.encode(), ":2:9:", "a NUL character"),
        (b"checks:\n  - id: a\x1b[31mred\n", ":2:10:", "character 0x001b is not allowed"),
        ("checks:\n\n  - id: é\x00\n".encode(), ":3:10:", "character 0x0000 is not allowed"),
        (b"checks:\n" + b"  - id: x\n" * 15 + b"  - {id: [a, b\n" + b"  - id: y\n" * 40, ":17:10:", "flow sequence"),
        (b'checks:\n  - id: "abc\n' + b"x: 1\n" * 40, ":2:9:", "quoted scalar starting here"),
        (b"checks:\n  - id: x\n   name: y\n", ":3:", "invalid YAML"),
    ],
)
def test_a_hostile_file_is_one_located_line_and_exit_2(tmp_path: Path, data: bytes, where: str, words: str) -> None:
    path = tmp_path / "checks.yml"
    path.write_bytes(data)
    with pytest.raises(LoadError) as info:
        load_suite([path])
    message = str(info.value)
    assert message.startswith(f"{path}{where}"), message
    assert words in message and "\n" not in message and "\x1b" not in message and len(message) < 300, message
    proc = remediate("validate", str(path))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[0] == message


def test_an_alias_bomb_in_an_inventory_is_refused_by_check(tmp_path: Path) -> None:
    inventory = write(tmp_path, LAUGHS + "targets:\n  dev:\n    vars: {x: *i}\n", "inventory.yml")
    proc = remediate("check", "-i", str(inventory), timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "aliases expand this document" in proc.stderr


def test_anchors_that_share_a_block_still_load(tmp_path: Path) -> None:
    shared = GOOD.replace("probe: {kind: http", "probe: &p {kind: http")
    shared = shared.replace("probe: {kind: tcp, port: 1}", "probe: *p")
    suite = load_suite([write(tmp_path, shared)])
    assert suite.checks[1].probe == suite.checks[0].probe == {"kind": "http", "url": "http://127.0.0.1:1/x"}


def test_control_characters_and_big_values_are_never_echoed(tmp_path: Path) -> None:
    text = GOOD.replace("name: one", 'name: one\n    "\\e]0;owned\\a": 1').replace(
        "category: health\n    name: two", "category: [" + ", ".join(["x" * 50] * 200) + "]\n    name: two"
    )
    _, errors = validate_paths([write(tmp_path, text)])
    messages = [str(e) for e in errors]
    assert any("unknown key '\\x1b]0;owned\\x07'" in m for m in messages), messages
    assert any("expected string, got a list of 200 item(s)" in m for m in messages), messages
    assert all("\x1b" not in m and len(m) < 300 for m in messages)


def test_a_file_with_thousands_of_errors_lists_the_first_ones(tmp_path: Path) -> None:
    _, errors = validate_paths([write(tmp_path, "checks: [" + ", ".join(["1"] * 5000) + "]\n")])
    assert len(errors) == 21 and "more errors not shown" in str(errors[-1])
