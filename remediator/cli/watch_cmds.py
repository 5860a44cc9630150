"""``remediate watch`` and ``remediate status``: the healer on a schedule and on events, and what its
guards remember."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import EXIT_NOT_MET, EXIT_OK, UserError
from .common import (
    ChecksOpt,
    ConcurrencyOpt,
    InventoryOpt,
    JsonOpt,
    LimitOpt,
    LockTimeoutOpt,
    PlaybooksOpt,
    VerboseOpt,
    WidthOpt,
    YesOpt,
    _Command,
    _feedback,
    _planner,
    _targets,
    _until,
    app,
    guarded,
)


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
            "--debounce",
            min=0.0,
            metavar="SECONDS",
            help="Seconds to gather a burst of events into one cycle (a service's exit, alone, does not wait).",
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
        float,
        typer.Option(
            "--rearm-after",
            metavar="SECONDS",
            min=1,
            help="Seconds of quiet after which an excluded finding is retried.",
        ),
    ] = 3600.0,
    quarantine_after: Annotated[
        int,
        typer.Option("--quarantine-after", metavar="N", min=1, help="Exclusions after which a finding stays excluded."),
    ] = 3,
    service_cooldown: Annotated[
        float,
        typer.Option(
            "--service-cooldown", metavar="SECONDS", min=0, help="Seconds between two attempts on one service."
        ),
    ] = 0.0,
    listen: Annotated[
        str | None,
        typer.Option(
            "--listen", metavar="HOST:PORT", help="Serve /metrics, /healthz and triggers on HOST:PORT (127.0.0.1)."
        ),
    ] = None,
    trigger_token_secret: Annotated[
        str | None,
        typer.Option(
            "--trigger-token-secret", metavar="NAME", help="The target's secret whose value triggers must send."
        ),
    ] = None,
    notify_url: Annotated[
        str | None,
        typer.Option("--notify-url", metavar="URL", help="Post outcomes (healed, target lost, ...) to this webhook."),
    ] = None,
    notify_format: Annotated[
        str, typer.Option("--notify-format", metavar="FORMAT", help="Webhook body: generic (JSON) or slack.")
    ] = "generic",
    notify_limit: Annotated[
        int,
        typer.Option("--notify-limit", metavar="N", min=1, help="At most this many webhook messages per 10 minutes."),
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
    from .. import healer, log, terminal
    from ..report import emit_json_line, print_watch
    from ..watch import WatchOptions

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
        str | None, typer.Option("--release", metavar="KEY", help="Take this excluded or quarantined finding again.")
    ] = None,
    as_json: JsonOpt = False,
) -> int:
    """What the watch's guards remember and its last figures (from .remediate/guards.sqlite).

    Per finding: attempts, the last outcome, and whether it is armed, open (the breaker tripped; it
    re-arms after a quiet period) or quarantined (until --release). Then the metrics of the last cycle:
    rate, checks by status, cycles, steps by outcome, breaker state, the time of the last heal.
    """
    from ..report import emit_json
    from ..status import format_status, status_doc

    docs = [status_doc(t, release) for t in _targets(inventory, limit)]
    if as_json:
        emit_json(docs if len(docs) != 1 else docs[0])
    else:
        sys.stdout.write("".join(format_status(d) for d in docs))
    return EXIT_OK
