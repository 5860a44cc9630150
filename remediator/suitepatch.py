"""Suite findings: the corrected text of the check files a finding blames (a check aimed where nothing
listens), and writing it only when the user asked with ``--fix-suite``. The loop never moves its own
goalposts by default: the patch is shown, not applied."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .actions.base import unified
from .backends import files
from .diagnosis import Finding
from .model import Suite


def suite_patch(suite: Suite, finding: Finding) -> tuple[dict[Path, str], str]:
    """The corrected text of the check files a suite finding blames, and the diff.

    Every check of those files aimed at the unpublished port is corrected, not only those that
    failed: the ones behind them (skipped, since what they require failed) aim there too.
    """
    old_port, new_port = finding.vars.get("port"), finding.vars.get("suggested_port")
    if old_port is None or new_port is None:
        return {}, ""
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
    diff = "".join(unified(p.read_text(encoding="utf-8"), t, p.name) for p, t in texts.items())
    return texts, diff


def described(suite: Suite, findings: list[Finding]) -> list[dict[str, Any]]:
    """Suite findings as output shows them: the finding and its patch (empty when none is known)."""
    return [{**f.to_json(), "patch": suite_patch(suite, f)[1]} for f in findings]


def write(texts: dict[Path, str], run_id: str) -> None:
    """Write the corrected check files, each edit atomic and backed up."""
    for path, text in texts.items():
        files.edit(path, lambda _old, t=text: t.encode(), run_id)
