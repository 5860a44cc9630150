"""What the guards of playbook entries remember between steps (and, for ``watch``, between cycles):
attempts within a window, the last try, what succeeded, and what is no longer taken and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .clock import SYSTEM_CLOCK, Clock


@dataclass
class Guards:
    """One ``apply`` uses one; ``watch`` keeps one for its whole life, so a fix that keeps coming back
    trips the breaker across cycles too. Attempts count within ``window_s`` only (a watch that runs for
    days may fix the same stopped service twice a day without ever tripping it).
    """

    window_s: float = float("inf")
    clock: Clock = SYSTEM_CLOCK
    tries: dict[str, list[float]] = field(default_factory=dict)  # finding key -> monotonic times
    succeeded: set[str] = field(default_factory=set)
    excluded: dict[str, str] = field(default_factory=dict)  # finding key -> why it is no longer taken

    def attempts(self, key: str) -> int:
        """Attempts at this finding within the window."""
        now = self.clock.monotonic()
        recent = [t for t in self.tries.get(key, ()) if now - t < self.window_s]
        self.tries[key] = recent
        return len(recent)

    def last_try(self, key: str) -> float | None:
        return self.tries[key][-1] if self.tries.get(key) else None

    def record(self, key: str) -> int:
        """Count one more attempt; return the attempt's number within the window."""
        count = self.attempts(key) + 1
        # equivalent mutant: the default (attempts() above has just stored the key's list)
        self.tries.setdefault(key, []).append(self.clock.monotonic())
        return count

    def trip(self, key: str, max_attempts: int) -> bool:
        """The breaker: a finding fixed before that keeps coming back is excluded; True when it trips."""
        if key in self.excluded or key not in self.succeeded:
            return key in self.excluded
        count = self.attempts(key)
        if count >= max_attempts:
            self.excluded[key] = f"breaker: the finding came back after {count} fix(es)"
            return True
        return False

    def learn(self, key: str, max_attempts: int, step: Any, blockers: set[str]) -> None:
        """What a step taught: a dependency that kept it from starting (excluded until a later apply), a
        fix that did not help in its attempts (excluded), or a success (the breaker watches it)."""
        if step.blocked_by:
            blockers.add(step.blocked_by)
            self.excluded[key] = f"waits for {step.blocked_by}, which did not start: {step.reason}"
        elif step.status in ("failed", "rolled back") and step.attempt >= max_attempts:
            self.excluded[key] = f"did not help in {step.attempt} attempt(s): {step.reason}"
        elif step.kept:
            self.succeeded.add(key)

    def cooldown_left(self, key: str, cooldown_s: float) -> float:
        """Seconds still to wait before this finding may be tried again (0 when it may now)."""
        last = self.last_try(key)
        if not cooldown_s or last is None:
            return 0.0
        return max(0.0, last + cooldown_s - self.clock.monotonic())
