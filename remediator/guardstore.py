"""Guards that outlive the watcher: attempts and outcomes per finding in a small SQLite file.

``StoredGuards`` keeps ``guards.Guards``' interface (the planner calls ``attempts``/``record``/``trip``/
``cooldown_left`` and writes ``excluded`` and ``succeeded``) and writes every change through to
``.remediate/guards.sqlite`` of the target, so a restarted watcher still knows that a fix keeps
failing. What it adds for a watch that runs for weeks:

- **re-arming** (Monit's counter, not a latch): a finding excluded by the breaker or for not helping
  is taken again after ``rearm_s`` of quiet, with a fresh budget;
- **quarantine**: a finding excluded ``quarantine_after`` times stays excluded until released by hand
  (``remediate status --release KEY``): it keeps coming back and no fix holds;
- **a cooldown per service**: no two attempts on the same service within ``service_cooldown_s``, so
  different findings cannot restart one container back to back.

Times in the file are wall-clock seconds (monotonic time means nothing after a restart); in memory
they are the injected clock's, converted once at start, so the timing logic is tested on a fake clock.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .guards import Guards
from .secrets import MASKER

FILE_NAME = "guards.sqlite"
QUARANTINED = "quarantined"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS findings (
    key TEXT PRIMARY KEY,
    attempts_total INTEGER NOT NULL DEFAULT 0,
    last_try REAL,
    last_outcome TEXT NOT NULL DEFAULT '',
    last_reason TEXT NOT NULL DEFAULT '',
    succeeded INTEGER NOT NULL DEFAULT 0,
    excluded_at REAL,
    excluded_why TEXT,
    exclusions INTEGER NOT NULL DEFAULT 0,
    quarantined INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS tries (key TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS tries_key ON tries (key, at);
CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_SERVICE = re.compile(r"\bservice=([^,\]]+)")


def service_of(key: str) -> str | None:
    """The service a finding's key names (``entry[service=api]``), None when it names none."""
    found = _SERVICE.search(key)
    return found.group(1) if found else None


class GuardStore:
    """The SQLite file: one connection, autocommit, every write durable when the call returns."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def _touch(self, key: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO findings (key) VALUES (?)", (key,))

    def add_try(self, key: str, at: float) -> None:
        self._touch(key)
        self.db.execute("INSERT INTO tries (key, at) VALUES (?, ?)", (key, at))
        self.db.execute(
            "UPDATE findings SET attempts_total = attempts_total + 1, last_try = ? WHERE key = ?", (at, key)
        )

    def tries(self, since: float) -> dict[str, list[float]]:
        self.db.execute("DELETE FROM tries WHERE at <= ?", (since,))  # outside every window: forgotten
        out: dict[str, list[float]] = {}
        for key, at in self.db.execute("SELECT key, at FROM tries ORDER BY at"):
            out.setdefault(key, []).append(at)
        return out

    def clear_tries(self, key: str) -> None:
        self.db.execute("DELETE FROM tries WHERE key = ?", (key,))

    def outcome(self, key: str, status: str, reason: str) -> None:
        self._touch(key)
        self.db.execute(
            "UPDATE findings SET last_outcome = ?, last_reason = ? WHERE key = ?", (status, MASKER.mask(reason), key)
        )

    def succeed(self, key: str) -> None:
        self._touch(key)
        self.db.execute("UPDATE findings SET succeeded = 1 WHERE key = ?", (key,))

    def exclude(self, key: str, why: str, at: float, quarantined: bool) -> None:
        self._touch(key)
        self.db.execute(
            "UPDATE findings SET excluded_at = ?, excluded_why = ?, exclusions = exclusions + 1, quarantined = ?"
            " WHERE key = ?",
            (at, MASKER.mask(why), int(quarantined), key),
        )

    def release(self, key: str) -> bool:
        """Lift an exclusion or a quarantine (kept: the totals and the count of exclusions)."""
        cur = self.db.execute(
            "UPDATE findings SET excluded_at = NULL, excluded_why = NULL, quarantined = 0"
            " WHERE key = ? AND excluded_why IS NOT NULL",
            (key,),
        )
        self.clear_tries(key)
        return cur.rowcount > 0

    def findings(self) -> list[dict[str, Any]]:
        cur = self.db.execute("SELECT * FROM findings ORDER BY key")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur]

    def put_state(self, name: str, value: Any) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO state (name, value) VALUES (?, ?)", (name, json.dumps(MASKER.mask_data(value)))
        )

    def get_state(self, name: str) -> Any:
        row = self.db.execute("SELECT value FROM state WHERE name = ?", (name,)).fetchone()
        return json.loads(row[0]) if row else None


class _Excluded(dict[str, str]):
    """``Guards.excluded`` that writes through: the planner sets keys on it directly."""

    def __init__(self, on_set: Callable[[str, str], str]) -> None:
        super().__init__()
        self._on_set = on_set

    def __setitem__(self, key: str, why: str) -> None:
        super().__setitem__(key, self._on_set(key, why))


class _Succeeded(set[str]):
    """``Guards.succeeded`` that writes through (the planner adds to it directly)."""

    def __init__(self, on_add: Callable[[str], None], items: Iterable[str] = ()) -> None:
        super().__init__(items)
        self._on_add = on_add

    def add(self, key: str) -> None:
        if key not in self:
            self._on_add(key)
        super().add(key)


@dataclass
class StoredGuards(Guards):
    """``Guards`` backed by a ``GuardStore``, with re-arming, quarantine and a cooldown per service."""

    store: GuardStore | None = None
    rearm_s: float = 3600.0
    quarantine_after: int = 3
    service_cooldown_s: float = 0.0
    wall: Callable[[], float] = time.time
    excluded_at: dict[str, float] = field(default_factory=dict)  # key -> monotonic time of its exclusion
    exclusions: dict[str, int] = field(default_factory=dict)  # key -> times excluded, ever
    quarantined: set[str] = field(default_factory=set)
    service_tries: dict[str, float] = field(default_factory=dict)  # service -> monotonic time of the last try

    def __post_init__(self) -> None:
        self._offset = self.wall() - self.clock.monotonic()  # wall = monotonic + offset
        self.excluded = _Excluded(self._on_exclude)
        self.succeeded = _Succeeded(self._on_succeed)
        if self.store is not None:
            self._load(self.store)

    def _mono(self, wall: float) -> float:
        return wall - self._offset

    def _wall(self, mono: float) -> float:
        return mono + self._offset

    def _load(self, store: GuardStore) -> None:
        now = self.clock.monotonic()
        since = self._wall(now - self.window_s) if self.window_s != float("inf") else float("-inf")
        self.tries = {k: [self._mono(t) for t in ts] for k, ts in store.tries(since).items()}
        for row in store.findings():
            key = row["key"]
            if row["succeeded"]:
                set.add(self.succeeded, key)
            self.exclusions[key] = row["exclusions"]
            if row["last_try"] is not None and (service := service_of(key)):
                self.service_tries[service] = max(self.service_tries.get(service, 0.0), self._mono(row["last_try"]))
            if row["excluded_why"] is not None:
                dict.__setitem__(self.excluded, key, row["excluded_why"])
                self.excluded_at[key] = self._mono(row["excluded_at"])
                if row["quarantined"]:
                    self.quarantined.add(key)

    # --- the planner's interface -------------------------------------------------------------------

    def record(self, key: str) -> int:
        count = super().record(key)
        now = self.clock.monotonic()
        if service := service_of(key):
            self.service_tries[service] = now
        if self.store is not None:
            self.store.add_try(key, self._wall(now))
        return count

    def cooldown_left(self, key: str, cooldown_s: float) -> float:
        """The finding's own cooldown, and the service's: the longer of what is left of each."""
        left = super().cooldown_left(key, cooldown_s)
        service = service_of(key)
        last = self.service_tries.get(service) if service else None
        if self.service_cooldown_s and last is not None:
            left = max(left, last + self.service_cooldown_s - self.clock.monotonic())
        return max(0.0, left)

    def _on_exclude(self, key: str, why: str) -> str:
        count = self.exclusions.get(key, 0) + 1
        self.exclusions[key] = count
        now = self.clock.monotonic()
        self.excluded_at[key] = now
        quarantined = count >= self.quarantine_after
        if quarantined:
            self.quarantined.add(key)
            why = f"{QUARANTINED} after {count} exclusions (release with remediate status --release): {why}"
        if self.store is not None:
            self.store.exclude(key, why, self._wall(now), quarantined)
        return why

    def _on_succeed(self, key: str) -> None:
        if self.store is not None:
            self.store.succeed(key)

    # --- the watch's additions ---------------------------------------------------------------------

    def rearm(self) -> list[str]:
        """Lift the exclusions that have been quiet for ``rearm_s`` (not quarantines); return their keys.

        The watch calls it before each cycle: a fix excluded yesterday may be taken again today, with
        a fresh budget of attempts, instead of the finding being ignored for the life of the watcher.
        """
        now = self.clock.monotonic()
        lifted = [
            key
            for key, at in self.excluded_at.items()
            if key not in self.quarantined and key in self.excluded and now - at >= self.rearm_s
        ]
        for key in lifted:
            dict.pop(self.excluded, key, None)
            self.excluded_at.pop(key, None)
            self.tries.pop(key, None)
            if self.store is not None:
                self.store.release(key)
        return lifted

    def outcome(self, key: str, status: str, reason: str = "") -> None:
        """What the attempt at ``key`` came to (a step's status), kept for ``remediate status``."""
        if self.store is not None:
            self.store.outcome(key, status, reason)

    def breaker_state(self) -> dict[str, str]:
        """Per excluded finding: ``quarantined`` or ``open`` (the breaker has tripped; it re-arms)."""
        return {key: (QUARANTINED if key in self.quarantined else "open") for key in self.excluded}


def store_path(base: Path) -> Path:
    """The guards' file of a target whose state lives in ``base`` (``journal.target_base``)."""
    from .backends.files import STATE_DIR

    return base / STATE_DIR / FILE_NAME
