"""The journal: one JSON line per step, masked, in ``.remediate/journal.jsonl`` of the target's compose
directory (else the inventory's). What a heal did stays readable after the process is gone."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from .backends import files
from .model import Target
from .secrets import MASKER


def journal_path(target: Target) -> Path:
    base = target.compose.directory if target.compose else Path(target.inventory).parent
    return Path(base) / files.STATE_DIR / "journal.jsonl"


class Journal:
    """Appends records of one run (``run_id``) to a journal file."""

    def __init__(self, path: Path, run_id: str) -> None:
        self.path, self.run_id = path, run_id

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps({"run_id": self.run_id, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **record}, default=str)
        files.append_line(self.path, MASKER.mask(line))
