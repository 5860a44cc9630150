"""Suite findings: the corrected text of the check files a finding blames (a check aimed where nothing
listens), and writing it only when the user asked with ``--fix-suite``. The loop never moves its own
goalposts by default: the patch is shown, not applied."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import templating
from .actions.base import unified
from .backends import files
from .diagnosis import Finding
from .model import Suite, Target

_URL_NAME = re.compile(r"urls\.(\w+)")


def suite_patch(suite: Suite, finding: Finding, target: Target | None = None) -> tuple[dict[Path, str], str]:
    """The corrected text of the check files a suite finding blames, and the diff.

    Every check of those files aimed at the unpublished port is corrected, not only those that
    failed: the ones behind them (skipped, since what they require failed) aim there too. Where the
    checks take their URL from the inventory (``{{ urls.files }}``), the inventory's URL is corrected
    instead: the port is where the URL comes from, not the checks.
    """
    old_port, new_port = finding.vars.get("port"), finding.vars.get("suggested_port")
    if old_port is None or new_port is None:
        return {}, ""
    texts = _check_files(suite, finding, int(old_port), int(new_port))
    if not texts and target is not None:
        texts = _inventory(suite, finding, target, int(old_port), int(new_port))
    diff = "".join(unified(p.read_text(encoding="utf-8"), t, p.name) for p, t in texts.items())
    return texts, diff


def _check_files(suite: Suite, finding: Finding, old_port: int, new_port: int) -> dict[Path, str]:
    by_id = suite.by_id()
    paths = {Path(by_id[c].where.path) for c in finding.checks if c in by_id and by_id[c].where}
    aimed = re.compile(rf"(url:.*?:){old_port}(?!\d)|(port:\s*){old_port}(?!\d)")
    texts: dict[Path, str] = {}
    for path in sorted(paths):
        original = path.read_text(encoding="utf-8")
        lines = original.splitlines(keepends=True)
        starts = sorted(c.where.line - 1 for c in suite.checks if c.where and Path(c.where.path) == path)
        for start, end in zip(starts, [*starts[1:], len(lines)], strict=True):
            for i in range(start, end):
                lines[i] = aimed.sub(lambda m: (m.group(1) or m.group(2)) + str(new_port), lines[i])
        if "".join(lines) != original:
            texts[path] = "".join(lines)
    return texts


def _inventory(suite: Suite, finding: Finding, target: Target, old_port: int, new_port: int) -> dict[Path, str]:
    """The inventory with the URL the blamed checks use re-aimed: in that URL's line, the one number
    whose change by (new - old) makes the rendered URL's port the published one."""
    by_id = suite.by_id()
    names = {m for c in finding.checks if c in by_id for m in _URL_NAME.findall(str(by_id[c].probe.get("url", "")))}
    path = Path(target.inventory)
    try:
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    except OSError:
        return {}
    changed = False
    for name in sorted(names):
        template = target.urls.get(name)
        if template is None or _port(template, target) != old_port:
            continue
        for i, line in enumerate(lines):
            if not re.match(rf"\s*{re.escape(name)}\s*:", line):
                continue
            for m in re.finditer(r"(?<![\w.])\d+(?![\w.])", line):
                candidate = line[: m.start()] + str(int(m.group()) + new_port - old_port) + line[m.end() :]
                value = template.replace(m.group(), str(int(m.group()) + new_port - old_port), 1)
                if value in candidate and _port(value, target) == new_port:
                    lines[i], changed = candidate, True
                    break
    return {path: "".join(lines)} if changed else {}


def _port(url_template: str, target: Target) -> int | None:
    try:
        parts = urlsplit(templating.render_str(url_template, dict(target.vars)))
        return parts.port
    except Exception:  # a URL that does not render with the vars alone: not ours to patch
        return None


def described(suite: Suite, findings: list[Finding], target: Target | None = None) -> list[dict[str, Any]]:
    """Suite findings as output shows them: the finding, its patch, and whether ``--fix-suite`` can apply
    it (no patch is known when the right port is not: then the suite must be corrected by hand)."""
    out = []
    for f in findings:
        patch = suite_patch(suite, f, target)[1]
        out.append({**f.to_json(), "patch": patch, "fixable": bool(patch)})
    return out


def write(texts: dict[Path, str], run_id: str) -> None:
    """Write the corrected check files, each edit atomic and backed up."""
    for path, text in texts.items():
        files.edit(path, lambda _old, t=text: t.encode(), run_id)
