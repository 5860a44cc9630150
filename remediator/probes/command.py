"""Command probe: exit code and output of an argv command (no shell)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any

from . import Outcome, ProbeContext

EXCERPT = 300


async def run(probe: Mapping[str, Any], expect: Mapping[str, Any], ctx: ProbeContext) -> Outcome:
    argv = [str(a) for a in probe["argv"]]
    timeout = float(probe.get("timeout", 30))
    evidence: dict[str, Any] = {"argv": argv}
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=probe.get("cwd"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
        )
    except OSError as exc:
        evidence["error"] = str(exc)
        return Outcome(False, f"cannot run {argv[0]!r}: {exc.strerror or exc}", evidence)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        evidence["error"] = f"timeout after {timeout:g} s"
        return Outcome(False, evidence["error"], evidence)
    stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
    evidence.update(exit_code=proc.returncode, stdout=stdout[-EXCERPT:], stderr=stderr[-EXCERPT:])
    want = expect.get("exit_code", 0)
    if proc.returncode != want:
        return Outcome(False, f"exit code {proc.returncode}, expected {want}", evidence)
    for name, text in (("stdout", stdout), ("stderr", stderr)):
        wanted = expect.get(f"{name}_contains")
        for w in [wanted] if isinstance(wanted, str) else (wanted or []):
            if w not in text:
                return Outcome(False, f"{name} does not contain {w!r}", evidence)
    pattern = expect.get("stdout_matches")
    if pattern and not re.search(pattern, stdout, re.MULTILINE):
        return Outcome(False, f"stdout does not match {pattern!r}", evidence)
    return Outcome(True, "", evidence)
