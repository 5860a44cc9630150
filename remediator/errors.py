"""Errors a user can act on, each mapped to the exit code the CLI promises.

Everything a user can get wrong (a bad file, a bad flag) is a ``UserError`` (exit 2); an engine or
target that cannot be reached is ``Unreachable`` (exit 3); another heal of the same target holding its lock
is ``Busy`` (exit 4). The CLI prints their one-line message and
never a traceback for them; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import re

EXIT_OK = 0
EXIT_NOT_MET = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_BUSY = 4


# C0 and C1 controls, DEL, and the Unicode line and paragraph separators: anything that could move
# the cursor, recolour the terminal or break the one-line promise.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
MAX_SHOWN = 80


def printable(text: str) -> str:
    """``text`` with control characters written as escapes (``\\x1b``, ``\\n``), so it prints as one inert line."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def shown(value: object, limit: int = MAX_SHOWN) -> str:
    """A value as a message may quote it: scalars by repr cut to ``limit`` characters, containers by kind
    only (an expanded value is never printed whole)."""
    if isinstance(value, dict):
        return f"a mapping of {len(value)} key(s)"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)} item(s)"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class RemediatorError(Exception):
    """Base of the errors the CLI turns into one line and an exit code; control characters in the
    message (from a file name, a key, a value) are escaped here, once for every error."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str = "") -> None:
        super().__init__(printable(str(message)))


class UserError(RemediatorError):
    """Bad input: a file that does not parse or validate, an unknown id, a bad option."""

    exit_code = EXIT_USAGE


class TemplateError(UserError):
    """A ``{{ template }}`` that does not compile, names something its scope lacks, or fails to render.

    Found at load time it stops the command like any bad file (exit 2); met while a check runs it
    becomes that check's ``error`` status, a fault of the suite rather than of the stack.
    """


class Unreachable(RemediatorError):
    """The Docker engine, the compose CLI or a target cannot be reached."""

    exit_code = EXIT_UNREACHABLE


class Busy(RemediatorError):
    """Another heal of the same target holds its lock (``apply`` or a ``watch`` cycle): exit 4."""

    exit_code = EXIT_BUSY


class Location:
    """A place in a YAML file, printed as ``file:line:column`` (both 1-based)."""

    __slots__ = ("column", "line", "path")

    def __init__(self, path: str, line: int, column: int) -> None:
        self.path, self.line, self.column = path, line, column

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"

    def __repr__(self) -> str:
        return f"Location({self})"


class LoadError(UserError):
    """A file that does not parse or validate; the message names file:line:column and the key."""

    def __init__(self, where: Location | str, message: str) -> None:
        self.where = where
        super().__init__(f"{where}: {message}")
