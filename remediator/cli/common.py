"""What every ``remediate`` command shares: the typer app, option types that say what they take in
words, the one-line error guard, and the helpers that turn an inventory into a target and a planner."""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup

from ..errors import RemediatorError, UserError


def _untyped(option: Any) -> Any:
    """--help takes no value: show no type for it (typer would print ``<bool>``)."""
    if option is not None:
        option.metavar = ""
    return option


class _Command(TyperCommand):
    """typer prints every value's Python type in --help (``<bool>``, ``<list[Path]>``); our options
    carry a metavar that says it in words (FILE, RATE, SECONDS), so a command shows that alone."""

    def get_help_option(self, ctx: Any) -> Any:
        return _untyped(super().get_help_option(ctx))

    def get_params(self, ctx: Any) -> list[Any]:
        """An argument's metavar already says what it takes: show no Python type beside it."""
        params = super().get_params(ctx)
        for param in params:
            if isinstance(param, TyperArgument) and param.metavar and not getattr(param, "_untyped", False):
                # typer < 0.29 prints ``param.type.get_metavar()`` (else ``<path>``): an empty one prints nothing
                param.type = copy.copy(param.type)
                param.type.get_metavar = lambda *args, **kwargs: ""
                param._untyped = True
        return params


class _Group(TyperGroup):
    """The top level, whose --help shows no type either."""

    def get_help_option(self, ctx: Any) -> Any:
        return _untyped(super().get_help_option(ctx))


app = typer.Typer(
    name="remediate",
    cls=_Group,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)

InventoryOpt = Annotated[
    Path,
    typer.Option("--inventory", "-i", metavar="FILE", help="Inventory file naming the targets.", show_default=True),
]
LimitOpt = Annotated[
    str | None, typer.Option("--limit", "-l", metavar="NAMES", help="Target or group name(s), comma-separated.")
]
ChecksOpt = Annotated[
    list[Path] | None,
    typer.Option("--checks", "-c", metavar="PATH", help="Check file or directory, repeatable (default: the target's)."),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", metavar="", help="Print one JSON document on stdout instead of tables.")
]
ConcurrencyOpt = Annotated[int, typer.Option("--concurrency", min=1, metavar="N", help="Probes in flight at once.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", metavar="", help="Allow steps whose entry says confirm: true.")]
VerboseOpt = Annotated[
    int,
    typer.Option(
        "--verbose",
        "-v",
        count=True,
        metavar="",
        help="More log output on stderr: -v info, -vv debug.",
        show_default=False,
    ),
]
WidthOpt = Annotated[
    int | None,
    typer.Option(
        "--width",
        min=40,
        metavar="COLUMNS",
        help="Lay output out for this many columns (default: the terminal's; 200 when piped).",
    ),
]


def _rate(value: float | None) -> float | None:
    """--until is a fraction; 80 is refused with the fraction it almost surely meant (0.8)."""
    if value is None or 0.0 <= value <= 1.0:
        return value
    if 1.0 < value <= 100.0:
        raise typer.BadParameter(f"{value:g} is not a rate from 0 to 1; for {value:g} % write --until {value / 100:g}")
    raise typer.BadParameter(f"{value:g} is not a rate from 0 to 1 (0.8 means 80 %)")


def _until(help_text: str) -> Any:
    return typer.Option("--until", metavar="RATE", callback=_rate, help=help_text)


def _fail(message: str, code: int) -> None:
    sys.stderr.write(f"remediate: {message}\n")
    raise typer.Exit(code)


def guarded(fn: Callable[..., int]) -> Callable[..., int]:
    """Run a command body; turn user and reachability errors into one line and their exit code."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> int:
        try:
            code = fn(*args, **kwargs)
        except RemediatorError as exc:
            from ..secrets import MASKER

            _fail(MASKER.mask(str(exc)), exc.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        raise typer.Exit(code)

    return wrapper


def _targets(inventory: Path, limit: str | None) -> list[Any]:
    from ..loader import load_inventory

    if inventory.is_dir():
        raise UserError(f"{inventory}: is a directory, not an inventory file")
    if not inventory.exists():
        where = f" ({inventory.resolve()} does not exist)" if not inventory.is_absolute() else " (it does not exist)"
        default = "; pass --inventory FILE" if inventory == Path("inventory.yml") else ""
        raise UserError(f"{inventory}: no such inventory file{where}{default}")
    return load_inventory(inventory).select(limit)


def _progress(total: int, enabled: bool) -> Any:
    """A live progress bar on stderr when it is a terminal; a no-op otherwise."""
    import contextlib

    if not enabled or not sys.stderr.isatty():
        return contextlib.nullcontext(None)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )


LockTimeoutOpt = Annotated[
    float,
    typer.Option(
        "--lock-timeout",
        min=0.0,
        metavar="SECONDS",
        help="Seconds to wait for another heal of the target to end (default: refuse at once, exit 4).",
    ),
]
PlaybooksOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--playbooks", "-p", metavar="PATH", help="Playbook file or directory, repeatable (default: the target's)."
    ),
]


def _planner(
    inventory: Path,
    limit: str | None,
    checks: list[Path] | None,
    playbooks: list[Path] | None,
    concurrency: int,
    **kwargs: Any,
) -> Any:
    """One target's planner; plan and apply work on exactly one target at a time."""
    from ..loader import load_playbooks, load_suite
    from ..planner import Planner

    targets = _targets(inventory, limit)
    if len(targets) != 1:
        names = ", ".join(t.name for t in targets)
        raise UserError(f"{inventory}: plan and apply take one target; pick one with --limit (of: {names})")
    target = targets[0]
    suite = load_suite(checks or target.checks, target)
    entries = load_playbooks(playbooks or target.playbooks, suite, target)
    if not entries:
        raise UserError(f"no playbook entries in {', '.join(map(str, playbooks or target.playbooks))}")
    return Planner(target, suite, entries, concurrency=concurrency, **kwargs)


def _feedback(enabled: bool, width: int | None, live: bool | None = None) -> Any:
    """Progress on stderr from the first moment: what is checked, which step runs, what it waits on."""
    from ..terminal import Feedback

    return Feedback(enabled, live=live, width=width)


def _describe_target(target: Any) -> str:
    """The target as the report's header names it: its name and where its stack lives."""
    compose = getattr(target, "compose", None)
    if compose is None:
        return target.name
    return f"{target.name} (compose project {compose.project} in {compose.directory})"
