"""``remediate validate``: files of any of the three kinds checked as the loader would load them, and an
inventory with its closure (the check and playbook files each target names, their templates against
that target's scope). Every error is collected, not only the first, so one run lists them all."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from . import yamlio
from .errors import LoadError, Location, UserError
from .gcpause import paused
from .loader import build_suite, kind_of, load_inventory, load_playbooks, load_suite, schema_errors, yaml_files
from .model import Inventory


def _validate_file(path: Path, errors: list[UserError]) -> tuple[str | None, Any]:
    """Parse and schema-check one file; its kind when it is valid, else None (its errors appended)."""
    try:
        data = yamlio.load_file(path)
    except LoadError as exc:
        errors.append(exc)
        return None, None
    kind = kind_of(data)
    if kind is None:
        where = Location(str(path), 1, 1)
        errors.append(LoadError(where, "not an inventory (targets:), checks (checks:) or playbooks (entries:) file"))
        return None, None
    found = schema_errors(kind, data, str(path))
    errors.extend(found)
    return (None if found else kind), data


def _validate_closure(inventory: Inventory, seen: set[Path], errors: list[UserError]) -> None:
    """Each target's check and playbook files, then the whole as ``check`` and ``apply`` will load it:
    templates against the target's scope, ``verify`` ids against its suite."""
    for target in inventory.targets.values():
        try:
            files = [*yaml_files(target.checks), *yaml_files(p for p in target.playbooks if p.exists())]
        except LoadError as exc:
            errors.append(LoadError(exc.where, f"{exc.args[0].split(': ', 1)[-1]} (named by target {target.name})"))
            continue
        before = len(errors)
        for path in files:
            if path.resolve() not in seen:
                seen.add(path.resolve())
                _validate_file(path, errors)
        if len(errors) > before:
            continue
        try:
            suite = load_suite(target.checks, target)
            load_playbooks(target.playbooks, suite, target)
        except UserError as exc:
            errors.append(exc)


def validate_paths(paths: Iterable[Path]) -> tuple[int, list[UserError]]:
    """Validate files of any of the three kinds, an inventory with every file it names; returns how
    many files were read and every error."""
    errors: list[UserError] = []
    files = yaml_files(paths)
    seen = {p.resolve() for p in files}
    suites: list[tuple[Path, Any]] = []
    inventories: list[Inventory] = []
    for path in files:
        kind, data = _validate_file(path, errors)
        if kind == "checks":
            suites.append((path, data))
        elif kind in ("inventory", "playbooks"):
            try:
                if kind == "inventory":
                    inventories.append(load_inventory(path))
                else:
                    load_playbooks([path])
            except UserError as exc:
                errors.append(exc)
    if suites:
        try:
            with paused():
                build_suite(suites, [p for p, _ in suites], None)
        except LoadError as exc:
            errors.append(exc)
    for inventory in inventories:
        _validate_closure(inventory, seen, errors)
    return len(seen), errors
