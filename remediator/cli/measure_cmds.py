"""``remediate check`` and ``remediate validate``: measure a target, or read its files without touching it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..errors import EXIT_NOT_MET, EXIT_OK, EXIT_USAGE, UserError
from .common import (
    ChecksOpt,
    ConcurrencyOpt,
    InventoryOpt,
    JsonOpt,
    LimitOpt,
    VerboseOpt,
    WidthOpt,
    _Command,
    _progress,
    _targets,
    _until,
    app,
    guarded,
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
    from .. import log, terminal
    from ..loader import load_suite
    from ..report import emit_json, print_run, write_junit
    from ..runner import run_suite, select

    log.configure(verbose)
    out = None if as_json else terminal.console(width)  # rich is not imported for JSON (~0.1 s)
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


@app.command(cls=_Command)
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
    from ..validate import validate_paths

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
