"""The ``remediate`` command: check, plan, apply, watch, validate and init.

Heavy modules are imported inside each command so ``remediate --help`` starts quickly. Every
``RemediatorError`` becomes one line on stderr and its exit code: 2 for bad input, 3 when the engine
or a target cannot be reached; no traceback for a user's mistake.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup

from .errors import EXIT_NOT_MET, EXIT_OK, EXIT_USAGE, RemediatorError, UserError


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
            if isinstance(param, TyperArgument) and param.metavar:
                param.display_type_rich = lambda ctx: None
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


def _version(value: bool) -> None:
    if value:
        from . import __version__

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

    Exit codes: 0 target met, 1 not met, 2 bad input or usage, 3 engine or target unreachable.

    **Examples**

        remediate check --until 0.8
        remediate plan
        remediate apply --until 0.8 --report reports/heal.html
        remediate COMMAND --help
    """


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
            from .secrets import MASKER

            _fail(MASKER.mask(str(exc)), exc.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        raise typer.Exit(code)

    return wrapper


def _targets(inventory: Path, limit: str | None) -> list[Any]:
    from .loader import load_inventory

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


@app.command(cls=_Command)
@guarded
def check(
    inventory: InventoryOpt = Path("inventory.yml"),
    limit: LimitOpt = None,
    checks: ChecksOpt = None,
    category: Annotated[
        list[str] | None, typer.Option("--category", metavar="NAME", help="Only this category (repeatable).")
    ] = None,
    as_json: JsonOpt = False,
    junit: Annotated[
        Path | None, typer.Option("--junit", metavar="FILE", help="Also write JUnit XML to this file.")
    ] = None,
    until: Annotated[float | None, _until("Exit 0 when the rate reaches this fraction (0.8 = 80 %).")] = None,
    concurrency: ConcurrencyOpt = 64,
    width: WidthOpt = None,
    verbose: VerboseOpt = 0,
) -> int:
    """Run the verification suite and print the success rate by category.

    Checks run concurrently in the order their **requires** allow; a check whose requirement did
    not pass is skipped and counts against the rate (rate = passed / total).

    Exit 0 when every check passed (or the --until rate is met), 1 otherwise, 2 on bad input,
    3 when the engine is unreachable.

    **Examples**

        remediate check                          # inventory.yml in this directory
        remediate check -i stack/inventory.yml --until 0.8
        remediate check --category auth --json > run.json
        remediate check --junit reports/checks.xml --width 160
    """
    from . import log, terminal
    from .loader import load_suite
    from .report import emit_json, print_run, write_junit
    from .runner import run_suite, select

    log.configure(verbose)
    out = terminal.console(width)
    targets = _targets(inventory, limit)
    docs, all_met = {}, True
    for target in targets:
        suite = load_suite(checks or target.checks, target)
        chosen = select(suite, category or ())
        with _progress(len(chosen), True) as bar:
            task = bar.add_task(f"checking {target.name}", total=len(chosen)) if bar else None
            advance = (lambda _r, t=task: bar.advance(t)) if bar else None
            run = run_suite(target, suite, chosen, concurrency=concurrency, progress=advance)
        met = run.rate >= until if until is not None else run.passed == run.total
        all_met = all_met and met
        if junit:
            write_junit(run, junit, target.name)
        if as_json:
            docs[target.name] = run.to_json()
        else:
            print_run(run, target.name, until, console=out)
    if as_json:
        emit_json(next(iter(docs.values())) if len(docs) == 1 else {"targets": docs})
    return EXIT_OK if all_met else EXIT_NOT_MET


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
    from .loader import load_playbooks, load_suite
    from .planner import Planner

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
    from .terminal import Feedback

    return Feedback(enabled, live=live, width=width)


@app.command(cls=_Command)
@guarded
def plan(
    inventory: InventoryOpt = Path("inventory.yml"),
    limit: LimitOpt = None,
    checks: ChecksOpt = None,
    playbooks: PlaybooksOpt = None,
    as_json: JsonOpt = False,
    concurrency: ConcurrencyOpt = 64,
    width: WidthOpt = None,
    verbose: VerboseOpt = 0,
) -> int:
    """Show what would be fixed, in what order, on which evidence, with the predicted rate after each step.

    Runs the checks and the playbooks' discriminating probes, and inspects each action (diffs with
    secrets masked). Changes nothing: no file, no container. Findings against the suite itself are
    listed with the patch that would correct it.

    **Examples**

        remediate plan
        remediate plan -i stack/inventory.yml --limit dev
        remediate plan --json | jq '.steps[].finding.key'
    """
    from . import log, terminal
    from .report import emit_json, print_plan

    log.configure(verbose)
    with _feedback(not as_json or sys.stderr.isatty(), width) as feedback:
        feedback.start(f"reading {inventory}")
        planner = _planner(inventory, limit, checks, playbooks, concurrency, notify=feedback.notify)
        feedback.notify(f"plan: checking {planner.target.name} ({len(planner.meter.suite.checks)} checks)")
        doc = planner.plan().to_json()
    if as_json:
        emit_json(doc)
    else:
        print_plan(doc, console=terminal.console(width))
    return EXIT_OK


@app.command(cls=_Command)
@guarded
def apply(
    inventory: InventoryOpt = Path("inventory.yml"),
    limit: LimitOpt = None,
    checks: ChecksOpt = None,
    playbooks: PlaybooksOpt = None,
    until: Annotated[float | None, _until("Stop as soon as the rate reaches this fraction (0.8 = 80 %).")] = None,
    fix_suite: Annotated[
        bool,
        typer.Option(
            "--fix-suite",
            metavar="",
            help="Also apply the patches of findings against the suite itself (never by default).",
        ),
    ] = False,
    yes: YesOpt = False,
    max_steps: Annotated[int, typer.Option("--max-steps", min=1, metavar="N", help="At most this many steps.")] = 20,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1, metavar="SECONDS", help="Stop after this many seconds.")
    ] = 1800,
    as_json: JsonOpt = False,
    report: Annotated[
        Path | None,
        typer.Option("--report", metavar="FILE", help="Write an HTML page: the trajectory, each step's evidence."),
    ] = None,
    lock_timeout: LockTimeoutOpt = 0.0,
    concurrency: ConcurrencyOpt = 64,
    width: WidthOpt = None,
    verbose: VerboseOpt = 0,
) -> int:
    """Fix one step at a time, re-testing after each, until the rate reaches --until.

    Each step acts, re-runs only the checks it can have affected, and records the measured rate next
    to the predicted one; a step that does not verify or lowers the rate is rolled back and not
    retried past its attempts. Without --until, every applicable finding is healed.

    One heal per target at a time: a second apply (or watch cycle) on the same target refuses, or waits
    --lock-timeout seconds, and says who holds the lock. A step an earlier run started and never
    finished (the process was killed) is reported with its backups; with --yes it is put back first.

    Exit 0 when the target is met, 1 when not (or when it ended lower than it started), 2 on bad input,
    3 when the engine is unreachable, 4 when another heal of the target holds the lock.

    **Examples**

        remediate apply --until 0.8
        remediate apply -i stack/inventory.yml --until 0.8 --report reports/heal.html
        remediate apply --yes --fix-suite --max-steps 5 --json > heal.json
        remediate apply --until 0.8 --lock-timeout 300
    """
    import time
    from datetime import UTC, datetime

    from . import log, terminal
    from .html_report import write_html
    from .report import emit_json, print_apply

    log.configure(verbose)
    started_at, started = datetime.now(UTC), time.monotonic()
    with _feedback(not as_json or sys.stderr.isatty(), width) as feedback:
        feedback.start(f"reading {inventory}")
        planner = _planner(
            inventory,
            limit,
            checks,
            playbooks,
            concurrency,
            fix_suite=fix_suite,
            assume_yes=yes,
            notify=feedback.notify,
            lock_timeout=lock_timeout,
        )
        feedback.notify(f"apply: checking {planner.target.name} ({len(planner.meter.suite.checks)} checks)")
        doc = planner.apply(until=until, max_steps=max_steps, timeout_s=timeout).to_json()
    if report:
        meta = {
            "date": started_at.isoformat(timespec="seconds"),
            "command": " ".join(["remediate", *sys.argv[1:]]),
            "duration_s": round(time.monotonic() - started, 1),
            "target": _describe_target(planner.target),
        }
        write_html(doc, report, meta)
        doc["report"] = str(report)
    if as_json:
        emit_json(doc)
    else:
        print_apply(doc, console=terminal.console(width))
    return EXIT_OK if doc["met"] else EXIT_NOT_MET


def _describe_target(target: Any) -> str:
    """The target as the report's header names it: its name and where its stack lives."""
    compose = getattr(target, "compose", None)
    if compose is None:
        return target.name
    return f"{target.name} (compose project {compose.project} in {compose.directory})"


@app.command(cls=_Command)
@guarded
def watch(
    inventory: InventoryOpt = Path("inventory.yml"),
    limit: LimitOpt = None,
    checks: ChecksOpt = None,
    playbooks: PlaybooksOpt = None,
    until: Annotated[float, _until("Heal whenever the rate is below this fraction (0.8 = 80 %).")] = 1.0,
    interval: Annotated[
        float, typer.Option("--interval", min=0.1, metavar="SECONDS", help="Seconds between scheduled cycles.")
    ] = 60.0,
    debounce: Annotated[
        float,
        typer.Option(
            "--debounce", min=0.0, metavar="SECONDS", help="Seconds to gather a burst of events into one cycle."
        ),
    ] = 1.0,
    events: Annotated[
        bool,
        typer.Option(
            "--events/--no-events", metavar="", help="Also start a cycle when a container exits or turns unhealthy."
        ),
    ] = True,
    max_cycles: Annotated[
        int | None, typer.Option("--max-cycles", min=1, metavar="N", help="Stop after this many cycles.")
    ] = None,
    duration: Annotated[
        float | None, typer.Option("--duration", min=1, metavar="SECONDS", help="Stop after this many seconds.")
    ] = None,
    breaker_window: Annotated[
        float,
        typer.Option(
            "--breaker-window",
            min=1,
            metavar="SECONDS",
            help="Seconds in which a finding's attempts count towards its guard.",
        ),
    ] = 600.0,
    yes: YesOpt = False,
    lock_timeout: LockTimeoutOpt = 0.0,
    max_steps: Annotated[
        int, typer.Option("--max-steps", min=1, metavar="N", help="At most this many steps per cycle.")
    ] = 20,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1, metavar="SECONDS", help="A cycle stops healing after this.")
    ] = 1800,
    as_json: Annotated[
        bool,
        typer.Option("--json", metavar="", help="Print one JSON line per cycle, and one for the summary, on stdout."),
    ] = False,
    concurrency: ConcurrencyOpt = 64,
    width: WidthOpt = None,
    verbose: VerboseOpt = 0,
    rearm_after: Annotated[
        float, typer.Option("--rearm-after", min=1, help="Seconds of quiet after which an excluded finding is retried.")
    ] = 3600.0,
    quarantine_after: Annotated[
        int, typer.Option("--quarantine-after", min=1, help="Exclusions after which a finding stays excluded.")
    ] = 3,
    service_cooldown: Annotated[
        float, typer.Option("--service-cooldown", min=0, help="Seconds between two attempts on one service.")
    ] = 0.0,
    listen: Annotated[
        str | None, typer.Option("--listen", help="Serve /metrics, /healthz and triggers on HOST:PORT (127.0.0.1).")
    ] = None,
    trigger_token_secret: Annotated[
        str | None, typer.Option("--trigger-token-secret", help="The target's secret whose value triggers must send.")
    ] = None,
    notify_url: Annotated[
        str | None, typer.Option("--notify-url", help="Post outcomes (healed, target lost, ...) to this webhook.")
    ] = None,
    notify_format: Annotated[
        str, typer.Option("--notify-format", help="Webhook body: generic (JSON) or slack.")
    ] = "generic",
    notify_limit: Annotated[
        int, typer.Option("--notify-limit", min=1, help="At most this many webhook messages per 10 minutes.")
    ] = 10,
) -> int:
    """Keep the target healthy: check on a schedule and on Docker events, heal when the rate falls.

    Each cycle runs the whole suite; below --until it heals exactly as **apply** does (one step at a
    time, verify, roll back what does not help). A container of the project that exits, runs out of
    memory, is removed or turns unhealthy starts a cycle at once. Guards outlive cycles: a fix that
    keeps coming back within --breaker-window is not taken again, and they outlive the watch too
    (.remediate/guards.sqlite; see **status**): an excluded finding is retried after --rearm-after of
    quiet, and quarantined after --quarantine-after exclusions. Suite findings are only reported.

    Stops on Ctrl-C or SIGTERM (after the cycle in progress), --max-cycles or --duration. Exit 0 when
    the last cycle met the target, 1 when not, 2 on bad input, 3 when the engine is unreachable.

    **Examples**

        remediate watch --until 0.8
        remediate watch --interval 300 --no-events --max-cycles 12
        remediate watch --json --duration 3600 >> watch.jsonl
    """
    from . import healer, log, terminal
    from .report import emit_json_line, print_watch
    from .watch import WatchOptions

    log.configure(verbose)
    if notify_format not in ("generic", "slack"):
        raise UserError(f"--notify-format {notify_format!r}: expected generic or slack")
    if listen:
        healer.parse_listen(listen)  # bad input before anything starts
    service = healer.ServiceOptions(
        window_s=breaker_window,
        rearm_s=rearm_after,
        quarantine_after=quarantine_after,
        service_cooldown_s=service_cooldown,
        listen=listen,
        trigger_token_secret=trigger_token_secret,
        notify_url=notify_url,
        notify_format=notify_format,  # type: ignore[arg-type]
        notify_limit=notify_limit,
    )
    out = terminal.console(width)
    # Plain lines, never a live status: a watch prints its cycles on stdout while it runs.
    with _feedback(True, width, live=False) as feedback:
        planner = _planner(
            inventory,
            limit,
            checks,
            playbooks,
            concurrency,
            assume_yes=yes,
            notify=feedback.notify,
            lock_timeout=lock_timeout,
        )
        options = WatchOptions(
            until=until,
            interval_s=interval,
            debounce_s=debounce,
            events=events,
            max_cycles=max_cycles,
            duration_s=duration,
            max_steps=max_steps,
            cycle_timeout_s=timeout,
        )

        def emit(record: dict[str, Any]) -> None:
            print_watch(record, console=out)

        summary = healer.run(planner, options, service, emit_json_line if as_json else emit, feedback.notify)
    return EXIT_OK if summary["met"] else EXIT_NOT_MET


@app.command(cls=_Command)
@guarded
def status(
    inventory: InventoryOpt = Path("inventory.yml"),
    limit: LimitOpt = None,
    release: Annotated[
        str | None, typer.Option("--release", help="Take this excluded or quarantined finding again.")
    ] = None,
    as_json: JsonOpt = False,
) -> int:
    """What the watch's guards remember and its last figures (from .remediate/guards.sqlite).

    Per finding: attempts, the last outcome, and whether it is armed, open (the breaker tripped; it
    re-arms after a quiet period) or quarantined (until --release). Then the metrics of the last cycle:
    rate, checks by status, cycles, steps by outcome, breaker state, the time of the last heal.
    """
    from .report import emit_json
    from .status import format_status, status_doc

    docs = [status_doc(t, release) for t in _targets(inventory, limit)]
    if as_json:
        emit_json(docs if len(docs) != 1 else docs[0])
    else:
        sys.stdout.write("".join(format_status(d) for d in docs))
    return EXIT_OK


@app.command()
@guarded
def validate(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(metavar="PATH", help="Files or directories (default: inventory.yml checks/ playbooks/)."),
    ] = None,
    inventory: Annotated[
        Path | None,
        typer.Option(
            "--inventory", "-i", metavar="FILE", help="An inventory, with every check and playbook file it names."
        ),
    ] = None,
) -> int:
    """Validate inventory, check and playbook files against their schemas.

    An inventory is validated with its closure: the check and playbook files each target names, and
    their templates against the scope that target gives them. Prints each error as
    file:line:column, the key and what was expected; exits 2 on any error.

    **Examples**

        remediate validate
        remediate validate -i stack/inventory.yml
        remediate validate playbooks/generic.yml
    """
    from .loader import validate_paths

    if inventory is not None and not inventory.exists():
        raise UserError(f"{inventory}: no such inventory file (it does not exist)")
    chosen = [*(paths or []), *([inventory] if inventory else [])] or [
        p for p in (Path("inventory.yml"), Path("checks"), Path("playbooks")) if p.exists()
    ]
    if not chosen:
        raise UserError("nothing to validate: pass files or directories")
    count, errors = validate_paths(chosen)
    for e in errors:
        sys.stderr.write(f"{e}\n")
    if errors:
        sys.stderr.write(f"remediate: {len(errors)} error(s) in {count} file(s)\n")
        return EXIT_USAGE
    sys.stdout.write(f"{count} file(s) valid\n")
    return EXIT_OK


@app.command(cls=_Command)
@guarded
def init(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="The compose project's directory.")] = Path("."),
    file: Annotated[
        list[Path] | None,
        typer.Option(
            "--file", "-f", metavar="FILE", help="Compose file(s), relative to DIR (default: the ones compose finds)."
        ),
    ] = None,
    target: Annotated[
        str | None, typer.Option("--target", metavar="NAME", help="The target's name (default: the project's).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", metavar="", help="Overwrite files that already exist.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", metavar="", help="Print the files instead of writing them.")
    ] = False,
    watch: Annotated[
        bool,
        typer.Option("--watch", metavar="", help="Also add the healer to the stack: compose.remediate.yml."),
    ] = False,
    systemd: Annotated[
        bool, typer.Option("--systemd", metavar="", help="Also write a systemd user unit that runs watch.")
    ] = False,
    system: Annotated[
        bool, typer.Option("--system", metavar="", help="With --systemd: a system unit (needs root).")
    ] = False,
    watch_port: Annotated[
        int, typer.Option("--watch-port", min=1, max=65535, metavar="PORT", help="The watch's /healthz and /metrics.")
    ] = 9464,
) -> int:
    """Write inventory.yml, checks/services.yml and playbooks/generic.yml for a compose project.

    Reads the project through **compose config** (services, published ports, healthchecks,
    depends_on) and checks that each service runs (and is healthy where it has a healthcheck), that
    its published ports accept connections and that the HTTP URLs its healthcheck calls answer on the
    published port; depends_on becomes requires. Never overwrites a file without --force.

    --watch builds **remediate-watch:local** on the local base image and writes
    **compose.remediate.yml**: `docker compose -f compose.yml -f compose.remediate.yml up -d` then
    brings the healer up with the stack (the docker socket its only privilege, restart:
    unless-stopped, a healthcheck on /healthz, the host network where the checks reach the published
    ports). --systemd writes remediate-watch-TARGET.service instead (user unit; --system for root).
    With either, an inventory.yml already there is used as it is.

    **Examples**

        remediate init ~/src/shop && cd ~/src/shop && remediate check
        remediate init . --dry-run
        remediate init . --watch && docker compose -f compose.yml -f compose.remediate.yml up -d
    """
    from . import scaffold

    planned = scaffold.plan(directory, file, target)
    service = watch or systemd
    if dry_run:
        for p in planned:
            sys.stdout.write(f"# --- {p.path}\n{p.text}")
        if service:
            sys.stdout.write("# (--watch/--systemd write their files from the inventory once it exists)\n")
        return EXIT_OK
    inventory = planned[0].path
    if service and inventory.exists() and not force:
        sys.stdout.write(f"kept {inventory} (as it is; --force to write it again)\n")
    else:
        scaffold.write(planned, force)
        for p in planned:
            sys.stdout.write(f"wrote {p.path}: {p.summary}\n")
    if service:
        _service_files(inventory, target, watch, systemd, system, watch_port)
    sys.stdout.write(f"next: remediate check -i {inventory}   (or cd {inventory.parent} && remediate check)\n")
    return EXIT_OK


def _service_files(inventory: Path, name: str | None, watch: bool, systemd: bool, system: bool, port: int) -> None:
    """``init --watch`` / ``--systemd``: the files that run the watch as a service, for one target."""
    from .service_files import systemd_unit, unit_path, write_compose, write_systemd

    targets = _targets(inventory, name)
    if len(targets) != 1:
        names = ", ".join(t.name for t in targets)
        raise UserError(f"{inventory}: --watch and --systemd take one target; pick one with --target (of: {names})")
    target = targets[0]
    if watch:
        sys.stdout.write("building remediate-watch:local on remediate-base:local (offline)\n")
        sys.stdout.write(f"wrote {write_compose(target, port)}: the remediate-watch service\n")
    if systemd:
        unit = systemd_unit(inventory, target.name, user=not system, port=port)
        path = write_systemd(unit_path(target.name, user=not system), unit)
        how = "systemctl" if system else "systemctl --user"
        sys.stdout.write(f"wrote {path}: then {how} daemon-reload && {how} enable --now {path.name}\n")


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
