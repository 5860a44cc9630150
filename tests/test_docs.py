"""The docs cannot drift: every fenced example in docs/ is validated or run, and the reference covers
every condition leaf, action, template variable and exit code the code has.

A block's info string says what it is (GitHub renders by its first word only):

- ``yaml inventory|checks|playbooks``: a whole file, validated as ``remediate validate`` does;
- ``yaml when``: one condition, validated inside an entry; ``yaml action``: a list of actions, each
  built as the planner builds it (schema and argument checks);
- ``file=PATH`` on any of those: also written to PATH (relative to the current directory of the
  commands that follow) before the next commands run;
- ``bash run``: commands, run in order in one shell; each must exit 0, or the N of its ``# exit N``;
- ``text layout``: paths that must exist after the guide ran (``<run id>``, ``<n>`` are wildcards).

The guide runs for real on a copy of tests/stacks/shop: under a unique compose project name and with
its ports shifted (the shell environment beats ``.env`` in compose's substitution, and the docs' port
numbers are rewritten to the shifted ones), with ``docker compose`` mapped to the Compose v2 binary
remediator uses when the machine has no compose plugin.
"""

from __future__ import annotations

import fnmatch
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from remediator import errors
from remediator.actions import ACTIONS, build_action
from remediator.context import base_context
from remediator.model import Target
from remediator.validate import validate_paths

from .stacks_support import BASE_PORT, compose_binary
from .support import PORT_SHIFT, ROOT, require_engine

DOCS = ROOT / "docs"
GUIDE = DOCS / "bring-your-own-stack.md"
REFERENCE = DOCS / "reference.md"
GUIDE_OFFSET = 50  # the shop ports the guide runs on: 18150 + REMEDIATE_TEST_PORT_SHIFT
_FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_YAML_KINDS = {"inventory", "checks", "playbooks", "when", "action"}
_EXIT = re.compile(r"#\s*exit (\d+)")


@dataclass
class Block:
    doc: Path
    line: int
    lang: str
    tags: set[str]
    attrs: dict[str, str] = field(default_factory=dict)
    text: str = ""

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


def blocks(doc: Path) -> list[Block]:
    source = doc.read_text(encoding="utf-8")
    out = []
    for m in _FENCE.finditer(source):
        words = m.group(2).split()
        attrs = dict(w.split("=", 1) for w in words if "=" in w)
        tags = {w for w in words if "=" not in w}
        out.append(Block(doc, source.count("\n", 0, m.start()) + 1, m.group(1), tags, attrs, m.group(3)))
    return out


def all_blocks() -> list[Block]:
    return [b for doc in sorted(DOCS.glob("*.md")) for b in blocks(doc)]


def test_every_example_says_how_it_is_tested():
    found = all_blocks()
    assert len(found) >= 20
    for b in found:
        if b.lang == "yaml":
            assert len(b.tags & _YAML_KINDS) == 1, f"{b.where}: yaml needs one of {sorted(_YAML_KINDS)}"
        elif b.lang == "bash":
            assert b.tags == {"run"}, f"{b.where}: bash examples are run: tag them 'bash run'"
        elif b.lang == "text":
            assert b.tags == {"layout"}, f"{b.where}: text blocks are layouts checked after the guide"
        else:
            raise AssertionError(f"{b.where}: no test knows how to check a {b.lang!r} block")


@pytest.mark.parametrize("block", [b for b in all_blocks() if b.lang == "yaml"], ids=lambda b: b.where)
def test_yaml_example_is_valid(block: Block, tmp_path: Path):
    (kind,) = block.tags & _YAML_KINDS
    data = yaml.safe_load(block.text)
    if kind == "action":
        assert isinstance(data, list) and data, f"{block.where}: a list of actions"
        for i, spec in enumerate(data):
            build_action(spec, where=f"{block.where} action {i}")
        return
    if kind == "when":
        data = {"entries": [{"id": "example", "name": "example", "when": data}]}
    if kind == "checks":  # a part of a suite: the checks it requires from elsewhere (init's) are stubbed
        ids = {c["id"] for c in data["checks"]}
        needed = {r for c in data["checks"] for r in (*c.get("requires", []), *c.get("after", []))} - ids
        stub = {"category": "elsewhere", "name": "a check of another file", "probe": {"kind": "tcp", "port": 1}}
        data["checks"] += [{"id": r, **stub} for r in sorted(needed)]
    if kind == "inventory":  # validated with its closure: the check files it names must exist (stubbed here)
        stub = {"id": "stub.up", "category": "stub", "name": "stub", "probe": {"kind": "tcp", "port": 1}, "expect": {}}
        for target in data["targets"].values():
            for name in target.get("checks", ["checks"]):
                where = tmp_path / name
                where.parent.mkdir(parents=True, exist_ok=True)
                if not where.suffix:
                    where.mkdir(exist_ok=True)
                    where = where / "stub.yml"
                where.write_text(yaml.safe_dump({"checks": [stub]}))
    path = tmp_path / "example.yml"
    path.write_text(yaml.safe_dump(data) if kind in ("when", "checks") else block.text)
    count, errors = validate_paths([path])
    assert ([str(e) for e in errors], count >= 1) == ([], True), block.where


def _script(doc: Path, ports: dict[str, str]) -> str:
    """The doc's ``file=`` and ``bash run`` blocks as one shell script that checks every exit code."""

    def shifted(text: str) -> str:
        for old, new in ports.items():
            text = text.replace(old, new)
        return text

    out = ["set -o pipefail"]
    for b in blocks(doc):
        if "file" in b.attrs:
            path = b.attrs["file"]
            out.append(f"mkdir -p {shlex.quote(str(Path(path).parent))}")
            out.append(f"cat > {shlex.quote(path)} <<'DOCS_EOF'\n{shifted(b.text)}DOCS_EOF")
        if b.lang != "bash":
            continue
        for n, line in enumerate(b.text.splitlines(), start=b.line + 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            code = int(m.group(1)) if (m := _EXIT.search(line)) else 0
            shown = shlex.quote(f"{doc.name}:{n}: {line.strip()}")
            out.append(f"echo {shown}")
            out.append(shifted(line))
            out.append(f'rc=$?; [ "$rc" -eq {code} ] || {{ echo "^ exited $rc, expected {code}" >&2; exit 97; }}')
    return "\n".join(out) + "\n"


def _path_with_compose(tmp: Path) -> str:
    """PATH with the venv's ``remediate`` and a ``docker compose`` that runs Compose v2."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    compose = compose_binary()
    docker = shutil.which("docker")
    if compose[1:] != ["compose"] and docker:  # no compose plugin: map ``docker compose`` to the binary
        shim = bin_dir / "docker"
        shim.write_text(
            "#!/bin/sh\n"
            f'if [ "$1" = compose ]; then shift; exec {shlex.join(compose)} "$@"; fi\n'
            f'exec {shlex.quote(docker)} "$@"\n'
        )
        shim.chmod(0o755)
    return os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def _run(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False
    )


def test_the_guide_runs_as_written(tmp_path: Path):
    require_engine()
    home = tmp_path / "home"
    home.mkdir()
    catalog = BASE_PORT + GUIDE_OFFSET + PORT_SHIFT
    project = f"remediate-docs-{secrets.token_hex(3)}"
    env = {
        **os.environ,
        "HOME": str(home),
        "PATH": _path_with_compose(tmp_path),
        "COLUMNS": "200",
        "COMPOSE_PROJECT_NAME": project,
        "CATALOG_PORT": str(catalog),
        "STOREFRONT_PORT": str(catalog + 1),
    }
    ports = {str(BASE_PORT): str(catalog), str(BASE_PORT + 1): str(catalog + 1)}
    stack = home / "shop"
    try:
        proc = _run(_script(GUIDE, ports), ROOT, env)
        assert proc.returncode == 0, f"{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
        assert "Welcome to the shop" in (stack / "storefront.env").read_text()
        for b in blocks(REFERENCE):  # the layout the reference shows is what the guide left
            if b.lang == "text":
                for pattern in b.text.splitlines():
                    glob = re.sub(r"<[^>]+>", "*", pattern)
                    found = [p for p in stack.rglob("*") if fnmatch.fnmatch(str(p.relative_to(stack)), glob)]
                    assert found, f"{b.where}: nothing in the guide's stack matches {pattern}"
    finally:
        if stack.exists():
            subprocess.run(
                [*compose_binary(), "-p", project, "down", "--volumes", "--timeout", "0"],
                cwd=stack,
                capture_output=True,
                timeout=120,
                check=False,
            )


def test_the_reference_examples_run_as_written(tmp_path: Path):
    require_engine()
    env = {**os.environ, "HOME": str(tmp_path), "PATH": _path_with_compose(tmp_path), "COLUMNS": "200"}
    proc = _run(_script(REFERENCE, {}), tmp_path, env)
    assert proc.returncode == 0, f"{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"


def _headings(doc: Path) -> set[str]:
    return set(re.findall(r"^### `([a-z_]+)`", doc.read_text(encoding="utf-8"), re.MULTILINE))


def test_the_reference_names_every_leaf_and_action():
    schema = yaml.safe_load((ROOT / "remediator" / "schemas" / "playbooks.schema.json").read_text())
    leaves = set(schema["definitions"]["condition"]["properties"]) - {"all", "any", "not"}
    documented = _headings(REFERENCE)
    assert leaves - documented == set(), "condition leaves missing from docs/reference.md"
    assert set(ACTIONS) - documented == set(), "actions missing from docs/reference.md"
    assert documented <= leaves | set(ACTIONS), "docs/reference.md documents what does not exist"


def test_the_reference_names_every_template_variable_and_exit_code():
    text = REFERENCE.read_text(encoding="utf-8")
    table = text[text.index("## Template variables") : text.index("## Actions")]
    target = Target(name="t", inventory=ROOT / "inventory.yml", compose=None)
    for name in base_context(target):  # what every template sees
        assert f"`{name}" in table, f"template variable {name!r} missing from docs/reference.md"
    for name in ("env_file", "captures", "candidate", "service"):
        assert f"`{name}" in table
    codes = text[text.index("## Exit codes") :]
    for code in [v for k, v in vars(errors).items() if k.startswith("EXIT_")] + [130]:
        assert f"\n| {code} |" in codes, f"exit code {code} missing from docs/reference.md"
