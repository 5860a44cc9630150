"""The terminal side of the CLI: how wide output is, and how progress is shown while work goes on.

Width: ``--width`` when given; the terminal's own width on a terminal; otherwise (a pipe, a CI log)
``$COLUMNS`` or a wide default, so tables are not cut at rich's 80 columns.

Progress: the planner reports milestones through a ``notify(str)`` callback and long waits through
``progress.waiting``. On a terminal they drive rich's live status line (a spinner, the current
message and the seconds it has lasted), with each milestone also kept as a line above it; elsewhere
they become plain lines stamped with the seconds since the start, a repeated wait at most every 10 s.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from types import TracebackType
from typing import Any

from .secrets import MASKER

PIPE_WIDTH = 200  # wide enough for a step table with its evidence on one line in a CI log
MIN_WIDTH = 40
_REPEAT_S = 10.0  # plain mode: a wait that goes on is repeated this often, not every poll


def output_width(requested: int | None, stream: Any = None) -> int | None:
    """The width to lay out for: None lets rich measure the terminal itself."""
    if requested:
        return max(MIN_WIDTH, requested)
    stream = stream or sys.stdout
    if stream.isatty():
        return None
    columns = os.environ.get("COLUMNS", "")
    return max(MIN_WIDTH, int(columns)) if columns.isdigit() else PIPE_WIDTH


def console(width: int | None = None, stderr: bool = False) -> Any:
    """A rich Console for stdout (or stderr) at the width the rules above give."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=output_width(width, stream), soft_wrap=False)


def clip(text: str, width: int) -> str:
    """``text`` on one line of at most ``width`` characters, cut at a word boundary with an ellipsis."""
    text = " ".join(str(text).split())
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    cut = text[: width - 1]
    space = cut.rfind(" ")
    if space >= width * 0.6:  # a word boundary not too far back; else cut inside a long token
        cut = cut[:space]
    return cut.rstrip(" ,;:=") + "…"


class Feedback:
    """Shows the planner's milestones and the actions' waits on stderr while a command works."""

    def __init__(self, enabled: bool = True, live: bool | None = None, width: int | None = None) -> None:
        self.enabled = enabled
        self.live = sys.stderr.isatty() if live is None else live
        self._console = console(width, stderr=True) if enabled else None
        self._status: Any = None
        self._started = time.monotonic()
        self._message = ""
        self._message_at = self._started
        self._last_line = ""
        self._last_wait: tuple[str, float] = ("", 0.0)
        self._lock = threading.Lock()
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()

    # -- the two inputs ---------------------------------------------------------------------------

    def notify(self, message: str) -> None:
        """A milestone: kept as a line (once, however often it is repeated) and shown as the status."""
        if not self.enabled:
            return
        message = MASKER.mask(message)
        with self._lock:
            self._message, self._message_at = message.strip(), time.monotonic()
            if message != self._last_line:
                self._last_line = message
                self._print(message)
            self._refresh()

    def waiting(self, what: str, elapsed_s: float) -> None:
        """A wait in progress: the status line on a terminal; a plain line when it changes or every 10 s."""
        if not self.enabled:
            return
        what = MASKER.mask(what)
        with self._lock:
            if self.live:
                self._message, self._message_at = f"waiting for {what}", time.monotonic() - elapsed_s
                self._refresh()
                return
            last_what, last_at = self._last_wait
            now = time.monotonic()
            if what != last_what or now - last_at >= _REPEAT_S:
                self._last_wait = (what, now)
                self._print(f"waiting for {what} ({elapsed_s:.0f} s)")

    # -- the live status line ----------------------------------------------------------------------

    def start(self, message: str) -> Feedback:
        """Begin: on a terminal, the live status shows ``message`` at once, so the screen is never blank
        while files are read; in a pipe nothing is printed until the first milestone."""
        if not self.enabled:
            return self
        from . import progress

        progress.install(self.waiting)
        message = MASKER.mask(message)
        self._message, self._message_at = message, time.monotonic()
        if self.live:
            self._status = self._console.status(self._status_text(), spinner="dots")
            self._status.start()
            self._ticker = threading.Thread(target=self._tick, name="remediate-status", daemon=True)
            self._ticker.start()
        return self

    def stop(self) -> None:
        if not self.enabled:
            return
        from . import progress

        progress.install(None)
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2)
        if self._status is not None:
            self._status.stop()
            self._status = None

    def __enter__(self) -> Feedback:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _tick(self) -> None:
        """Advance the seconds shown once a second, between milestones too."""
        while not self._stop.wait(1.0):
            with self._lock:
                self._refresh()

    def _status_text(self) -> str:
        from rich.markup import escape

        seconds = time.monotonic() - self._message_at
        return f"{escape(self._message)} [dim]({seconds:.0f} s)[/]"

    def _refresh(self) -> None:
        if self._status is not None:
            self._status.update(self._status_text())

    def _print(self, message: str) -> None:
        from rich.markup import escape

        if self.live:
            self._console.print(f"[dim]{escape(message)}[/]", highlight=False, soft_wrap=True)
        else:
            stamp = f"[{time.monotonic() - self._started:6.1f} s]"
            self._console.print(f"{stamp} {message}", highlight=False, soft_wrap=True, markup=False)
