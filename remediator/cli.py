"""The ``remediate`` command: check, plan, apply, watch and validate.

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

from .errors import EXIT_NOT_MET, EXIT_OK, EXIT_USAGE, RemediatorError, UserError

app = typer.Typer(
    name="remediate",
    help=(
        "Heal a docker-compose dev environment the way a careful engineer would: run the verification "
        "suite (check), diagnose from evidence and show the fixes (plan), apply them one at a time and "
        "re-test after each until the target rate is met (apply --until 0.8)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)

InventoryOpt = Annotated[
    Path, typer.Option("--inventory", "-i", help="Inventory file naming the targets.", show_default=True)
]
LimitOpt = Annotated[str | None, typer.Option("--limit", "-l", help="Target or group name(s), comma-separated.")]
ChecksOpt = Annotated[
    list[Path] | None, typer.Option("--checks", "-c", help="Check files or directories (default: the target's).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout instead of tables.")]
ConcurrencyOpt = Annotated[int, typer.Option("--concurrency", min=1, help="Probes in flight at once.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Allow steps whose entry says confirm: true.")]
VerboseOpt = Annotated[int, typer.Option("--verbose", "-v", count=True, help="More log output on stderr (-vv).")]


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

    if not inventory.exists():
        raise UserError(f"{inventory}: no such inventory file; pass --inventory FILE")
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


@app.command()
@guarded
def check(
    inventory: InventoryOpt = Path("inventory.yml"),
    limit: LimitOpt = None,
    checks: ChecksOpt = None,
    category: Annotated[list[str] | None, typer.Option("--category", help="Only this category (repeatable).")] = None,
    as_json: JsonOpt = False,
    junit: Annotated[Path | None, typer.Option("--junit", help="Also write JUnit XML to this file.")] = None,
    until: Annotated[
        float | None, typer.Option("--until", min=0.0, max=1.0, help="Exit 0 when the rate reaches this (0..1).")
    ] = None,
    concurrency: ConcurrencyOpt = 64,
    verbose: VerboseOpt = 0,
) -> int:
    """Run the verification suite and print the success rate by category.

    Checks run concurrently in the order their **requires** allow; a check whose requirement did
    not pass is skipped and counts against the rate (rate = passed / total).

    Exit 0 when every check passed (or the --until rate is met), 1 otherwise, 2 on bad input,
    3 when the engine is unreachable.
    """
    from . import log
    from .loader import load_suite
    from .report import emit_json, print_run, write_junit
    from .runner import run_suite, select

    log.configure(verbose)
    targets = _targets(inventory, limit)
    docs, all_met = {}, True
    for target in targets:
        suite = load_suite(checks or target.checks)
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
            print_run(run, target.name, until)
    if as_json:
        emit_json(next(iter(docs.values())) if len(docs) == 1 else {"targets": docs})
    return EXIT_OK if all_met else EXIT_NOT_MET


LockTimeoutOpt = Annotated[
    float,
    typer.Option(
        "--lock-timeout", min=0.0, help="Seconds to wait for another heal of the target to end (default: refuse)."
    ),
]
PlaybooksOpt = Annotated[
    list[Path] | None, typer.Option("--playbooks", "-p", help="Playbook files or directories (default: the target's).")
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
    suite = load_suite(checks or target.checks)
    entries = load_playbooks(playbooks or target.playbooks)
    if not entries:
        raise UserError(f"no playbook entries in {', '.join(map(str, playbooks or target.playbooks))}")
    return Planner(target, suite, entries, concurrency=concurrency, **kwargs)


def _notifier(enabled: bool) -> Any:
    """Live status lines on stderr: what is being checked, which step runs, what it measured."""
    if not enabled:
        return None
    from rich.console import Console
    from rich.markup import escape

    console = Console(stderr=True)
    return lambda msg: console.print(f"[dim]{escape(msg)}[/]", highlight=False, soft_wrap=True)


@app.command()
@guarded
def plan(
    inventory: InventoryOpt = Path("inventory.yml"),
    limit: LimitOpt = None,
    checks: ChecksOpt = None,
    playbooks: PlaybooksOpt = None,
    as_json: JsonOpt = False,
    concurrency: ConcurrencyOpt = 64,
    verbose: VerboseOpt = 0,
) -> int:
    """Show what would be fixed, in what order, on which evidence, with the predicted rate after each step.

    Runs the checks and the playbooks' discriminating probes, and inspects each action (diffs with
    secrets masked). Changes nothing: no file, no container. Findings against the suite itself are
    listed with the patch that would correct it.
    """
    from . import log
    from .report import emit_json, print_plan

    log.configure(verbose)
    planner = _planner(inventory, limit, checks, playbooks, concurrency)
    doc = planner.plan().to_json()
    if as_json:
        emit_json(doc)
    else:
        print_plan(doc)
    return EXIT_OK


@app.command()
@guarded
def apply(
    inventory: InventoryOpt = Path("inventory.yml"),
    limit: LimitOpt = None,
    checks: ChecksOpt = None,
    playbooks: PlaybooksOpt = None,
    until: Annotated[
        float | None, typer.Option("--until", min=0.0, max=1.0, help="Stop as soon as the rate reaches this (0..1).")
    ] = None,
    fix_suite: Annotated[
        bool,
        typer.Option(
            "--fix-suite", help="Also apply the patches of findings against the suite itself (never by default)."
        ),
    ] = False,
    yes: YesOpt = False,
    max_steps: Annotated[int, typer.Option("--max-steps", min=1, help="At most this many steps.")] = 20,
    timeout: Annotated[float, typer.Option("--timeout", min=1, help="Stop after this many seconds.")] = 1800,
    as_json: JsonOpt = False,
    report: Annotated[Path | None, typer.Option("--report", help="Write an HTML page with the trajectory.")] = None,
    lock_timeout: LockTimeoutOpt = 0.0,
    concurrency: ConcurrencyOpt = 64,
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
    """
    from . import log
    from .report import emit_json, print_apply, write_html

    log.configure(verbose)
    planner = _planner(
        inventory,
        limit,
        checks,
        playbooks,
        concurrency,
        fix_suite=fix_suite,
        assume_yes=yes,
        notify=_notifier(not as_json or sys.stderr.isatty()),
        lock_timeout=lock_timeout,
    )
    doc = planner.apply(until=until, max_steps=max_steps, timeout_s=timeout).to_json()
    if report:
        write_html(doc, report)
        doc["report"] = str(report)
    if as_json:
        emit_json(doc)
    else:
        print_apply(doc)
    return EXIT_OK if doc["met"] else EXIT_NOT_MET


@app.command()
@guarded
def watch(
    inventory: InventoryOpt = Path("inventory.yml"),
    limit: LimitOpt = None,
    checks: ChecksOpt = None,
    playbooks: PlaybooksOpt = None,
    until: Annotated[
        float, typer.Option("--until", min=0.0, max=1.0, help="Heal whenever the rate is below this (0..1).")
    ] = 1.0,
    interval: Annotated[float, typer.Option("--interval", min=0.1, help="Seconds between scheduled cycles.")] = 60.0,
    debounce: Annotated[
        float, typer.Option("--debounce", min=0.0, help="Seconds to gather a burst of events into one cycle.")
    ] = 1.0,
    events: Annotated[
        bool, typer.Option("--events/--no-events", help="Also start a cycle when a container exits or turns unhealthy.")
    ] = True,
    max_cycles: Annotated[int | None, typer.Option("--max-cycles", min=1, help="Stop after this many cycles.")] = None,
    duration: Annotated[float | None, typer.Option("--duration", min=1, help="Stop after this many seconds.")] = None,
    breaker_window: Annotated[
        float,
        typer.Option("--breaker-window", min=1, help="Seconds in which a finding's attempts count towards its guard."),
    ] = 600.0,
    yes: YesOpt = False,
    lock_timeout: LockTimeoutOpt = 0.0,
    max_steps: Annotated[int, typer.Option("--max-steps", min=1, help="At most this many steps per cycle.")] = 20,
    timeout: Annotated[float, typer.Option("--timeout", min=1, help="A cycle stops healing after this.")] = 1800,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON line per cycle, and one for the summary, on stdout.")
    ] = False,
    concurrency: ConcurrencyOpt = 64,
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
    """
    from . import healer, log
    from .report import emit_json_line, print_watch
    from .watch import WatchOptions

    log.configure(verbose)
    notify = _notifier(True)
    if notify_format not in ("generic", "slack"):
        raise UserError(f"--notify-format {notify_format!r}: expected generic or slack")
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
    if listen:
        healer.parse_listen(listen)  # bad input before anything starts
    planner = _planner(inventory, limit, checks, playbooks, concurrency, assume_yes=yes, notify=notify)
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
    summary = healer.run(planner, options, service, emit_json_line if as_json else print_watch, notify)
    return EXIT_OK if summary["met"] else EXIT_NOT_MET


@app.command()
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


service_app = typer.Typer(
    help="Write the files that run **watch** as a service: a compose override or a systemd unit.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(service_app, name="service")
PortOpt = Annotated[int, typer.Option("--port", min=1, max=65535, help="The watch's /healthz and /metrics port.")]
WatchArgs = Annotated[
    list[str] | None, typer.Argument(help="More `remediate watch` options, after --, e.g. -- --until 0.9")
]


def _one_target(inventory: Path, limit: str | None) -> Any:
    targets = _targets(inventory, limit)
    if len(targets) != 1:
        names = ", ".join(t.name for t in targets)
        raise UserError(f"{inventory}: pick one target with --limit (of: {names})")
    return targets[0]


@service_app.command("compose")
@guarded
def service_compose(
    inventory: InventoryOpt = Path("inventory.yml"),
    limit: LimitOpt = None,
    port: PortOpt = 9464,
    build: Annotated[bool, typer.Option("--build/--no-build", help="Build remediate-watch:local first.")] = True,
    base: Annotated[str, typer.Option("--base", help="The local image to build on.")] = "remediate-base:local",
    watch_args: WatchArgs = None,
) -> int:
    """Add the healer to the stack: build **remediate-watch:local** and write **compose.remediate.yml**.

    Then `docker compose -f compose.yml -f compose.remediate.yml up -d` brings it up with the stack:
    the docker socket is its only privilege, it restarts unless stopped, and its healthcheck asks
    its /healthz. It runs on the host network, where the checks reach the stack's published ports.
    """
    from .service_files import write_compose

    path = write_compose(_one_target(inventory, limit), port, watch_args or (), build=build, base=base)
    sys.stdout.write(f"{path} written\n")
    return EXIT_OK


@service_app.command("systemd")
@guarded
def service_systemd(
    inventory: InventoryOpt = Path("inventory.yml"),
    limit: LimitOpt = None,
    port: PortOpt = 9464,
    user: Annotated[bool, typer.Option("--user/--system", help="A user unit (no root) or a system unit.")] = True,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here (default: where systemd looks).")
    ] = None,
    watch_args: WatchArgs = None,
) -> int:
    """Write a systemd unit that runs **watch** for one target (`systemctl [--user] enable --now` it)."""
    from .service_files import systemd_unit, unit_path, write_systemd

    target = _one_target(inventory, limit)
    unit = systemd_unit(inventory, target.name, user, port, watch_args or ())
    path = write_systemd(output or unit_path(target.name, user), unit)
    sys.stdout.write(f"{path} written\n")
    return EXIT_OK


@app.command()
@guarded
def validate(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Files or directories (default: inventory.yml checks/ playbooks/).")
    ] = None,
) -> int:
    """Validate inventory, check and playbook files against their schemas.

    Prints each error as file:line:column, the key and what was expected; exits 2 on any error.
    """
    from .loader import validate_paths

    chosen = paths or [p for p in (Path("inventory.yml"), Path("checks"), Path("playbooks")) if p.exists()]
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


def main() -> None:
    """Console-script entry point."""
    app(prog_name="remediate")
