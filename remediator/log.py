"""Structured logging (structlog) to stderr, with every event masked before it is rendered.

structlog and its console renderer (which pulls in rich's traceback module) cost about 0.1 s to
import, a sixth of a command's start-up, while at the default level nothing remediator logs is
shown. So ``configure`` only records the level, and structlog is set up when an event at or above
it is logged for the first time; below it, a call is a no-op that imports nothing.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from .secrets import MASKER

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
_level = logging.WARNING
_ready = False


def _mask(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    return MASKER.mask_data(event)


def configure(verbosity: int = 0) -> None:
    """WARNING by default, INFO with -v, DEBUG with -vv; always to stderr, never to stdout."""
    global _level, _ready
    _level = logging.WARNING - 10 * min(verbosity, 2)
    _ready = False


class _CurrentStderr:
    """Whatever ``sys.stderr`` is when a line is written, not when logging was set up: a stream swapped
    since (a test's capture, a redirect) is never written to after it was closed."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _setup() -> None:
    global _ready
    import structlog

    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="%H:%M:%S"),
            _mask,
            structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_level),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    _ready = True


class Logger:
    """A bound logger that becomes structlog's only when it has something to show."""

    def __init__(self, name: str, context: dict[str, Any] | None = None) -> None:
        self.name, self.context = name, dict(context or {})

    def bind(self, **values: Any) -> Logger:
        return Logger(self.name, {**self.context, **values})

    def _emit(self, level: str, event: str, **values: Any) -> None:
        if _LEVELS[level] < _level:
            return
        if not _ready:
            _setup()
        import structlog

        getattr(structlog.get_logger(self.name).bind(**self.context), level)(event, **values)

    def debug(self, event: str, **values: Any) -> None:
        self._emit("debug", event, **values)

    def info(self, event: str, **values: Any) -> None:
        self._emit("info", event, **values)

    def warning(self, event: str, **values: Any) -> None:
        self._emit("warning", event, **values)

    def error(self, event: str, **values: Any) -> None:
        self._emit("error", event, **values)


def get(name: str) -> Logger:
    return Logger(name)
