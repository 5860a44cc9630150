"""Time as the heal loop sees it: one small seam, so guards, cooldowns, deadlines and settling can be
tested in milliseconds with a clock that only moves when told (kopf's "mocked loop time")."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Monotonic seconds and a way to wait; nothing else of time is read by the loop."""

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


SYSTEM_CLOCK = SystemClock()
