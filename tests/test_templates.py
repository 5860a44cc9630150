"""Templates: checked at load time against the scope they will see; a run-time template error is a
suite error (status ``error``), listed as such, left out of the rate, and never aborts the run."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from remediator.errors import LoadError
from remediator.loader import load_inventory, load_playbooks, load_suite
from remediator.validate import validate_paths

from .support import json_out, remediate

INVENTORY = """\
targets:
  dev:
    checks: [checks.yml]
    playbooks: [playbooks.yml]
    vars: {host: 127.0.0.1, port: PORT}
    urls:
      web: "http://{{ host }}:{{ port }}"
    secrets: {token: {env: REMEDIATOR_TEST_TOKEN}}
"""

CHECK = """\
  - id: {id}
    category: suite
    name: {id}
    probe: {probe}
"""

PLAYBOOK = """\
entries:
  - id: restart
    name: restart
    when: {check: {id: web.up}}
    actions:
      - env_set: {file: .env, key: TOKEN, value_from: {secret: token}}
    verify: [web.up]
"""


@pytest.fixture
def listening() -> Iterator[int]:
    """A real TCP port that accepts connections, for a check that passes."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def project(tmp_path: Path, port: int, checks: dict[str, str], playbook: str = PLAYBOOK) -> Path:
    (tmp_path / "checks.yml").write_text("checks:\n" + "".join(CHECK.format(id=i, probe=p) for i, p in checks.items()))
    (tmp_path / "playbooks.yml").write_text(playbook)
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(INVENTORY.replace("PORT", str(port)))
    return inventory


GOOD = {"web.up": "{kind: tcp, host: '{{ host }}', port: '{{ port }}'}"}


@pytest.mark.parametrize(
    ("probe", "words"),
    [
        ("{kind: http, url: '{{ urls.wbe }}/x'}", "the target has no urls.wbe (its urls: web)"),
        ("{kind: http, url: '{{ urls.web }}/{{ user_id }}'}", "'user_id' is not defined here"),
        ("{kind: http, url: '{{ urls.web }}', headers: {X: '{{ secrets.tokn }}'}}", "no secrets.tokn"),
        ("{kind: http, url: '{{ urls.web }/x'}", "unexpected '}'"),
        ("{kind: http, url: 'file:///etc/passwd'}", "'file:///etc/passwd' is not an http:// or https:// URL"),
    ],
)
def test_a_template_mistake_is_a_load_error_at_its_check(tmp_path: Path, probe: str, words: str) -> None:
    inventory = project(tmp_path, 1, {**GOOD, "web.bad": probe})
    target = load_inventory(inventory).targets["dev"]
    with pytest.raises(LoadError) as info:
        load_suite(target.checks, target)
    assert "checks.yml:6:5: web.bad.probe" in str(info.value) and words in str(info.value), str(info.value)
    proc = remediate("validate", "-i", str(inventory))
    assert proc.returncode == 2 and words in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_captures_of_the_suite_are_in_scope(tmp_path: Path) -> None:
    inventory = project(tmp_path, 1, {"a": "{kind: http, url: '{{ urls.web }}/{{ user_id }}'}"})
    (tmp_path / "checks.yml").write_text(
        (tmp_path / "checks.yml").read_text()
        + CHECK.format(id="b", probe="{kind: http, url: '{{ urls.web }}'}")
        + "    capture: {user_id: id}\n"
    )
    target = load_inventory(inventory).targets["dev"]
    assert len(load_suite(target.checks, target).checks) == 2


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (("verify: [web.up]", "verify: [web.upp]"), "restart.verify: no check 'web.upp' in the suite"),
        (("{secret: token}", "{secret: tokn}"), "target dev has no secret 'tokn' (token)"),
        (("when: {check: {id: web.up}}", "when: {probe: {name: ghost}}"), "no probe 'ghost' (its probes: none)"),
        (("file: .env", "file: '{{ urls.nope }}'"), "the target has no urls.nope"),
    ],
)
def test_playbook_references_are_checked_against_suite_and_target(
    tmp_path: Path, change: tuple[str, str], words: str
) -> None:
    inventory = project(tmp_path, 1, GOOD, PLAYBOOK.replace(*change))
    target = load_inventory(inventory).targets["dev"]
    suite = load_suite(target.checks, target)
    with pytest.raises(LoadError, match=r"playbooks\.yml:2:5: ") as info:
        load_playbooks(target.playbooks, suite, target)
    assert words in str(info.value), str(info.value)


def test_an_inventory_url_that_cannot_render_is_a_load_error_at_its_line(tmp_path: Path) -> None:
    inventory = project(tmp_path, 1, GOOD)
    inventory.write_text(inventory.read_text().replace('"http://{{ host }}:{{ port }}"', "\"{{ 1 + 'a' }}\""))
    proc = remediate("check", "-i", str(inventory))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == (
        f"remediate: {inventory}:7:7: targets.dev.urls.web: template \"{{{{ 1 + 'a' }}}}\": "
        "unsupported operand type(s) for +: 'int' and 'str'\n"
    )
    inventory.write_text(inventory.read_text().replace("\"{{ 1 + 'a' }}\"", "file:///etc/passwd"))
    assert "is not an http:// or https:// URL" in remediate("check", "-i", str(inventory)).stderr


def test_validate_i_validates_the_inventory_and_every_file_it_names(tmp_path: Path) -> None:
    inventory = project(tmp_path, 1, GOOD)
    ok = remediate("validate", "-i", str(inventory))
    assert ok.returncode == 0 and ok.stdout == "3 file(s) valid\n", ok.stderr
    (tmp_path / "playbooks.yml").write_text(PLAYBOOK.replace("max_attempts", "x").replace("verify:", "verfy:"))
    count, errors = validate_paths([inventory])
    assert count == 3 and [str(e).split(": ", 1)[1] for e in errors] == [
        "entries[0].verfy: unknown key 'verfy'; expected one of: actions, after, confirm, cooldown, description, "
        "group_by, id, max_attempts, name, probes, suite, verify, when"
    ]


RUNTIME = {
    "zero": "{kind: tcp, port: '{{ 1/0 }}'}",
    "huge": "{kind: tcp, port: '{{ 10**5000 }}'}",
    "range": "{kind: tcp, port: '{{ range(10**7)|list }}'}",
    "str_plus_int": "{kind: tcp, port: '{{ host + 1 }}'}",
}


def test_a_run_time_template_error_is_a_suite_error_not_a_failure(tmp_path: Path, listening: int) -> None:
    inventory = project(tmp_path, listening, {**GOOD, **RUNTIME, "after.error": GOOD["web.up"]})
    (tmp_path / "checks.yml").write_text((tmp_path / "checks.yml").read_text() + "    requires: [zero]\n")
    proc = remediate("check", "-i", str(inventory), "--json")
    doc = json_out(proc)
    status = {c["id"]: c["status"] for c in doc["checks"]}
    assert status == {"web.up": "passed", **dict.fromkeys(RUNTIME, "error"), "after.error": "error"}, proc.stderr
    assert (doc["total"], doc["passed"], doc["error"], doc["rate"]) == (6, 1, 5, 1.0)
    reasons = {c["id"]: c["reason"] for c in doc["checks"]}
    assert "division by zero" in reasons["zero"] and "Exceeds the limit" in reasons["huge"]
    assert "number argument above 100000" in reasons["range"] and "can only concatenate str" in reasons["str_plus_int"]
    assert proc.returncode == 1 and "Traceback" not in proc.stderr  # not every check passed...
    met = remediate("check", "-i", str(inventory), "--until", "1.0")
    assert met.returncode == 0, met.stdout + met.stderr  # ...but the stack met its target: errors are not counted
    assert "ERROR zero (suite error, not in the rate): template" in met.stdout


def test_a_template_syntax_error_is_found_without_an_inventory(tmp_path: Path) -> None:
    project(tmp_path, 1, {**GOOD, "web.bad": "{kind: http, url: 'http://x/{{ 1 + }}'}"})
    _, errors = validate_paths([tmp_path / "checks.yml"])
    assert [str(e).split(": ", 1)[1] for e in errors] == [
        "web.bad.probe.url: template 'http://x/{{ 1 + }}': unexpected 'end of print statement'"
    ]
