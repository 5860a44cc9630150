"""Structured logging (structlog) to stderr, with every event masked before it is rendered."""

from __future__ import annotations

import logging
import sys
from typing import Any

from .secrets import MASKER


def _mask(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    return MASKER.mask_data(event)


def configure(verbosity: int = 0) -> None:
    """WARNING by default, INFO with -v, DEBUG with -vv; always to stderr, never to stdout."""
    import structlog

    level = logging.WARNING - 10 * min(verbosity, 2)
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="%H:%M:%S"),
            _mask,
            structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def get(name: str) -> Any:
    import structlog

    return structlog.get_logger(name)
