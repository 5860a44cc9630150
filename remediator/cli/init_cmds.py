"""``remediate init``: an inventory, checks and the generic playbook for a compose project, and the
healer as a compose service or a systemd unit."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..errors import EXIT_OK, UserError
from .common import _Command, _targets, app, guarded


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
    from .. import scaffold

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
    from ..service_files import systemd_unit, unit_path, write_compose, write_systemd

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
