"""``remediate plan`` and ``remediate apply``: what would be fixed, and fixing it one step at a time."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..errors import EXIT_NOT_MET, EXIT_OK
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
    _describe_target,
    _feedback,
    _planner,
    _until,
    app,
    guarded,
)


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
    from .. import log, terminal
    from ..report import emit_json, print_plan

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

    from .. import log, terminal
    from ..html_report import write_html
    from ..report import emit_json, print_apply

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
