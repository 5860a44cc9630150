"""The journal: what every heal did, one JSON line per event, masked, in ``.remediate/journal.jsonl``
of the target's compose directory (else the inventory's).

It is written ahead: a step is journalled ``started`` (with the run id that names its backups) before
its first action and ``finished`` after, each line fsynced. A run killed in between leaves a started
step with no finish; the next run finds it (``interrupted``) and can put back the backups that step
made. A line torn by a kill is skipped when reading; every whole line stays valid JSON.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .backends import files
from .model import Target
from .secrets import MASKER


def journal_path(target: Target) -> Path:
    return target_base(target) / files.STATE_DIR / "journal.jsonl"


def target_base(target: Target) -> Path:
    """Where a target's own state lives: its compose directory, else the inventory's directory."""
    return Path(target.compose.directory) if target.compose else Path(target.inventory).parent


@dataclass(frozen=True)
class Interrupted:
    """A step that started and never finished: which, and the backups that hold what it changed."""

    step_run_id: str
    finding: str
    time: str
    backups: tuple[Path, ...]

    def originals(self) -> list[Path]:
        """The files whose originals the backups hold."""
        return [b.parent.parent.parent / b.name[: -len(self.step_run_id) - 1] for b in self.backups]

    def to_json(self) -> dict[str, Any]:
        return {
            "step_run_id": self.step_run_id,
            "finding": self.finding,
            "time": self.time,
            "backups": [str(b) for b in self.backups],
            "files": [str(p) for p in self.originals()],
        }


class Journal:
    """Appends the records of one run (``run_id``) to a journal file, and reads what earlier runs left."""

    def __init__(self, path: Path, run_id: str) -> None:
        self.path, self.run_id = path, run_id

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps({"run_id": self.run_id, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **record}, default=str)
        files.append_line(self.path, MASKER.mask(line))

    def records(self) -> Iterator[dict[str, Any]]:
        """Every whole record, oldest first (a line torn by a kill is skipped)."""
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return
        for line in text.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record

    def interrupted(self) -> Interrupted | None:
        """The latest step that started and neither finished nor was recovered since."""
        open_steps: dict[str, dict[str, Any]] = {}
        for r in self.records():
            sid = str(r.get("step_run_id", ""))
            if r.get("event") == "started":
                open_steps[sid] = r
            elif r.get("event") in ("finished", "recovered"):
                open_steps.pop(sid, None)
        if not open_steps:
            return None
        last = list(open_steps.values())[-1]
        sid = str(last["step_run_id"])
        found = sorted(p for d in _state_dirs(self.path.parent.parent) for p in d.glob(f"backups/*.{sid}"))
        return Interrupted(sid, str(last.get("key", "?")), str(last.get("time", "?")), tuple(found))

    def recover(self, step: Interrupted) -> list[Path]:
        """Put back every file the interrupted step changed, from its backups; journal that it was done."""
        restored = [p for p in step.originals() if files.restore(p, step.step_run_id)]
        self.write({"event": "recovered", "step_run_id": step.step_run_id, "files": [str(p) for p in restored]})
        return restored


def _state_dirs(base: Path, depth: int = 3) -> Iterator[Path]:
    """``.remediate`` directories at most ``depth`` levels below ``base`` (edited files live near the
    compose file; a deep walk of a large project tree would cost seconds for nothing)."""
    if (base / files.STATE_DIR).is_dir():
        yield base / files.STATE_DIR
    if depth == 0:
        return
    try:
        children = [c for c in base.iterdir() if c.is_dir() and not c.name.startswith(".") and c.name != "node_modules"]
    except OSError:
        return
    for child in sorted(children):
        yield from _state_dirs(child, depth - 1)


def offer_recovery(journal: Journal, assume_yes: bool, notify: Callable[[str], None]) -> dict[str, Any] | None:
    """An earlier run's step that started and never finished: say so; with ``assume_yes`` (``--yes``),
    put back the files it changed, from its backups, before anything else. Returns what to report."""
    step = journal.interrupted()
    if step is None:
        return None
    info = step.to_json()
    where = ", ".join(info["files"]) or "no file backed up"
    if assume_yes:
        info["recovered"] = [str(p) for p in journal.recover(step)]
        notify(f"the last run was interrupted at {step.finding} ({step.time}); put back: {where}")
    else:
        info["recovered"] = []
        notify(
            f"the last run was interrupted at {step.finding} ({step.time}); the originals of {where} are in "
            f"{', '.join(info['backups']) or 'no backup'}; run again with --yes to put them back first"
        )
    return info
