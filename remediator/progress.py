"""Where a long wait reports what it is waiting on, for whoever shows progress.

An action that blocks (``wait_healthy`` waits for minutes at most) calls ``waiting``; the CLI
installs a sink that shows it (a live status line on a terminal, a plain line now and then
otherwise). Without a sink, as in a library use or a test, a call costs nothing. Kept apart from
the planner's ``notify`` callback because actions are not handed the planner's callback.
"""

from __future__ import annotations

from collections.abc import Callable

Sink = Callable[[str, float], None]  # (what is awaited, seconds waited so far)

_sink: Sink | None = None


def install(sink: Sink | None) -> None:
    """Send the waits of this process to ``sink`` (None: drop them)."""
    global _sink
    _sink = sink


def waiting(what: str, elapsed_s: float) -> None:
    """Say what is awaited (e.g. "api-gateway health: starting") and for how long so far."""
    if _sink is not None:
        _sink(what, elapsed_s)
