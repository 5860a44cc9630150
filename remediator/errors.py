"""Errors a user can act on, each mapped to the exit code the CLI promises.

Everything a user can get wrong (a bad file, a bad flag) is a ``UserError`` (exit 2); an engine or
target that cannot be reached is ``Unreachable`` (exit 3); another heal of the same target holding its lock
is ``Busy`` (exit 4). The CLI prints their one-line message and
never a traceback for them; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_NOT_MET = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_BUSY = 4


class RemediatorError(Exception):
    """Base of the errors the CLI turns into one line and an exit code."""

    exit_code = EXIT_USAGE


class UserError(RemediatorError):
    """Bad input: a file that does not parse or validate, an unknown id, a bad option."""

    exit_code = EXIT_USAGE


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
