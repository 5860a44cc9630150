"""The ``remediate`` command: check, plan, apply, watch, status, validate and init (one module per
family of commands: measure_cmds, heal_cmds, watch_cmds, init_cmds; what they share in common).

Heavy modules are imported inside each command so ``remediate --help`` starts quickly. Every
``RemediatorError`` becomes one line on stderr and its exit code: 2 for bad input, 3 when the engine
or a target cannot be reached; no traceback for a user's mistake.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from ..errors import EXIT_OK, EXIT_USAGE
from .common import app

# isort: off
# Importing a module registers its commands, and --help lists them in this order.
from . import measure_cmds, heal_cmds, watch_cmds, init_cmds  # noqa: F401
# isort: on


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        sys.stdout.write(f"remediate {__version__}\n")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", metavar="", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Heal a docker-compose dev environment the way a careful engineer would: run the verification
    suite (check), diagnose from evidence and show the fixes (plan), apply them one at a time and
    re-test after each until the target rate is met (apply --until 0.8).

    Exit codes: 0 target met, 1 not met, 2 bad input or usage, 3 engine or target unreachable, 4 another
    heal of the target holds its lock.

    **Examples**

        remediate check --until 0.8
        remediate plan
        remediate apply --until 0.8 --report reports/heal.html
        remediate COMMAND --help
    """


def _usage_hint(exc: Any, argv: list[str]) -> str:
    """One line for a usage error, with the likely fix where the mistake is a known one."""
    message = exc.format_message()
    for i, arg in enumerate(argv[:-1]):
        if (arg == "--verbose" or (len(arg) > 1 and arg.strip("v") == "-")) and argv[i + 1].isdigit():
            n = int(argv[i + 1])
            return f"-v is counted, not given a number: write -{'v' * max(1, min(n, 2))} instead of {arg} {n}"
    where = exc.ctx.command_path if getattr(exc, "ctx", None) else "remediate"
    return f"{message} (see '{where} --help')"


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: usage errors are one line on stderr and exit 2, as every other mistake."""
    args = sys.argv[1:] if argv is None else argv
    try:
        code = app(args=args, prog_name="remediate", standalone_mode=False)
    except typer.TyperException as exc:  # click's usage errors (typer vendors click)
        if type(exc).__name__ == "NoArgsIsHelpError":
            sys.stdout.write(exc.format_message() + "\n")
        elif getattr(exc, "exit_code", 1) == EXIT_USAGE:
            sys.stderr.write(f"remediate: {_usage_hint(exc, args)}\n")
        else:
            sys.stderr.write(f"remediate: {exc.format_message()}\n")
        sys.exit(getattr(exc, "exit_code", 1))
    except typer.Abort:
        sys.stderr.write("remediate: interrupted\n")
        sys.exit(130)
    sys.exit(code or 0)
