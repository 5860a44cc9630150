"""Suite patches on real files: literal URLs are corrected in the check file; URLs taken from the
inventory (``{{ urls.files }}``) are corrected in the inventory, where the port comes from."""

from __future__ import annotations

from pathlib import Path

from remediator.diagnosis import Finding
from remediator.loader import load_inventory, load_suite
from remediator.model import Entry
from remediator.suitepatch import described, suite_patch

ENTRY = Entry(id="unpublished-port", name="A check aims at a port no service publishes", when={}, suite=True)
INVENTORY = """\
targets:
  local:
    checks: [checks.yml]
    vars:
      host: 127.0.0.1
      port_offset: 100
    urls:
      gateway: "http://{{ host }}:{{ 8000 + port_offset }}"
      files: "http://{{ host }}:{{ 8004 + port_offset }}"   # the suite's guess: nothing listens there
"""
CHECKS = """\
checks:
  - id: files.list
    category: files
    name: list files
    probe: {kind: http, url: "{{ urls.files }}/files"}
    expect: {status: 200}
  - id: files.literal
    category: files
    name: a literal URL
    probe: {kind: http, url: "http://127.0.0.1:9104/files"}
    expect: {status: 200}
"""


def finding(check: str, port: int, suggested: int | None) -> Finding:
    vars_ = {"check": check, "port": port, "suggested_port": suggested}
    return Finding(entry=ENTRY, vars=vars_, checks=frozenset({check}), explains=frozenset({check}), evidence=[])


def setup(tmp_path: Path):
    (tmp_path / "inventory.yml").write_text(INVENTORY)
    (tmp_path / "checks.yml").write_text(CHECKS)
    target = load_inventory(tmp_path / "inventory.yml").select()[0]
    return target, load_suite([tmp_path / "checks.yml"])


def test_a_templated_url_is_corrected_in_the_inventory(tmp_path: Path) -> None:
    target, suite = setup(tmp_path)
    texts, diff = suite_patch(suite, finding("files.list", 8104, 8106), target)
    assert list(texts) == [tmp_path / "inventory.yml"]
    assert '+      files: "http://{{ host }}:{{ 8006 + port_offset }}"   # the suite\'s guess' in diff
    assert "-      gateway" not in diff and (tmp_path / "checks.yml").read_text() == CHECKS  # nothing written yet


def test_a_literal_url_is_corrected_in_the_check_file(tmp_path: Path) -> None:
    target, suite = setup(tmp_path)
    texts, diff = suite_patch(suite, finding("files.literal", 9104, 9106), target)
    assert list(texts) == [tmp_path / "checks.yml"]
    assert '+    probe: {kind: http, url: "http://127.0.0.1:9106/files"}' in diff


def test_without_a_known_port_there_is_no_patch_and_it_is_not_offered(tmp_path: Path) -> None:
    target, suite = setup(tmp_path)
    [shown] = described(suite, [finding("files.list", 8104, None)], target)
    assert shown["patch"] == "" and shown["fixable"] is False
