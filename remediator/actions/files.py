"""Actions on files: env-file keys, compose-file keys, keys of other YAML configs.

All edits go through ``backends.files.edit`` (lock, backup of the run's original, atomic write), and
all are reversible: ``rollback`` puts the run's backup back. A compose-file edit is validated by
``docker compose config`` on a candidate copy *before* it replaces the real file, so an edit compose
would reject never lands (the file is left as it was and the action fails).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import secrets
from ..backends import files
from ..errors import UserError
from . import envfile, yamledit
from .base import Action, ActionContext, ActionResult, Inspection, unified


def write_roots(ctx: ActionContext) -> tuple[Path, ...]:
    """Where the target's actions may write: its compose directory (else the inventory's) and the
    roots its inventory lists under ``write_roots``."""
    return (ctx.base_dir, *ctx.target.write_roots)


class _FileAction(Action):
    """Shared shape: compute the new text from the old; inspect diffs it, apply writes it."""

    reversible = True

    def file(self, ctx: ActionContext, args: dict[str, Any]) -> Path:
        return files.confine(ctx.path(args["file"]), write_roots(ctx))

    def change(self, ctx: ActionContext, args: dict[str, Any]) -> Callable[[str], str]:
        raise NotImplementedError

    def check(self, ctx: ActionContext, args: dict[str, Any], path: Path, text: str) -> str | None:
        """A reason to refuse the new text, or None; runs before anything is written."""
        return None

    def _inspect(self, ctx: ActionContext, args: dict[str, Any]) -> Inspection:
        path = self.file(ctx, args)
        before = files.read(path).decode("utf-8")
        after = self.change(ctx, args)(before)
        diff = unified(before, after, path.name)
        summary = f"would edit {path.name}" if diff else f"{path.name} already as wanted"
        return Inspection(self.name, before != after, summary, diff, {"file": str(path)})

    def _apply(self, ctx: ActionContext, args: dict[str, Any]) -> ActionResult:
        path = self.file(ctx, args)
        change = self.change(ctx, args)
        refused: list[str] = []

        def edit(raw: bytes) -> bytes:
            before = raw.decode("utf-8")
            after = change(before)
            if after != before and (reason := self.check(ctx, args, path, after)):
                refused.append(reason)
                return raw
            return after.encode("utf-8")

        before, after = files.edit(path, edit, ctx.run_id)
        diff = unified(before.decode("utf-8"), after.decode("utf-8"), path.name)
        if refused:
            return self.result("failed", f"{path.name} left unchanged: {refused[0]}", file=str(path))
        if not diff:
            return self.result("ok", f"{path.name} already as wanted", file=str(path))
        backup = files.backup_path(path, ctx.run_id)
        return self.result("changed", f"edited {path.name}", diff, file=str(path), backup=str(backup))

    def _rollback(self, ctx: ActionContext, args: dict[str, Any]) -> ActionResult:
        path = self.file(ctx, args)
        if files.restore(path, ctx.run_id):
            return self.result("changed", f"restored {path.name} from the run's backup", file=str(path))
        return self.result("ok", f"{path.name} was not changed in this run", file=str(path))


# -- env files ------------------------------------------------------------------------------------


class EnvSet(_FileAction):
    """Set a key in an env file; a secret candidate may be validated (``validate_with``) first."""

    name = "env_set"
    late_keys = frozenset({"validate_with"})

    def change(self, ctx: ActionContext, args: dict[str, Any]) -> Callable[[str], str]:
        value, where = str(ctx.resolve(args)), str(self.file(ctx, args))
        if "value_from" in args:
            # the value being replaced is as secret as the new one: keep it out of diffs too
            old = envfile.get(files.read(self.file(ctx, args)).decode("utf-8"), args["key"], where)
            if old:
                ctx.masker.add(old)
        return lambda text: envfile.set_key(text, args["key"], value, where)

    def check(self, ctx: ActionContext, args: dict[str, Any], path: Path, text: str) -> str | None:
        if "validate_with" not in args:
            return None
        candidate = envfile.get(text, args["key"], str(path)) or ""
        passed, reason = secrets.validate_with(args["validate_with"], candidate, ctx.template)
        return None if passed else f"the candidate value failed validation: {reason}"


class EnvUnset(_FileAction):
    name = "env_unset"

    def change(self, ctx: ActionContext, args: dict[str, Any]) -> Callable[[str], str]:
        return lambda text: envfile.unset_key(text, args["key"], str(self.file(ctx, args)))


class EnvRename(_FileAction):
    """Rename a key, keeping its value; done already when only the new name is there."""

    name = "env_rename"

    def change(self, ctx: ActionContext, args: dict[str, Any]) -> Callable[[str], str]:
        old, new, where = args["from"], args["to"], str(self.file(ctx, args))

        def rename(text: str) -> str:
            present = envfile.keys(text, where)
            if old in present and new in present:
                raise UserError(f"{args['file']}: both {old} and {new} are set; unset one of them first")
            return envfile.rename_key(text, old, new, where)

        return rename


# -- YAML files -----------------------------------------------------------------------------------


class YamlSet(_FileAction):
    """Set a dotted path in a YAML file, keeping comments, order and the other lines' bytes."""

    name = "yaml_set"

    def change(self, ctx: ActionContext, args: dict[str, Any]) -> Callable[[str], str]:
        value, path = ctx.resolve(args), yamledit.parse_path(args["path"])
        where = str(self.file(ctx, args))
        return lambda text: yamledit.set_value(text, path, value, where)


class YamlUnset(_FileAction):
    name = "yaml_unset"

    def change(self, ctx: ActionContext, args: dict[str, Any]) -> Callable[[str], str]:
        path, where = yamledit.parse_path(args["path"]), str(self.file(ctx, args))
        return lambda text: yamledit.unset(text, path, where)


class _ComposeFile:
    """Mixin: the file is the project's compose file, and compose must accept the result."""

    def file(self, ctx: ActionContext, args: dict[str, Any]) -> Path:
        if args.get("file"):
            return files.confine(ctx.path(args["file"]), write_roots(ctx))
        project = ctx.need_compose().project
        if project.files:
            return files.confine(ctx.path(str(project.files[0])), write_roots(ctx))
        for name in ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"):
            if (project.directory / name).exists():
                return files.confine(project.directory / name, write_roots(ctx))
        raise UserError(f"{project.directory}: no compose file found")

    def check(self, ctx: ActionContext, args: dict[str, Any], path: Path, text: str) -> str | None:
        compose = ctx.need_compose()
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".candidate.yml", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            current = compose.project.files or (path,)
            candidate = tuple(Path(name) if ctx.path(str(f)) == path else f for f in current)
            proc = compose.run("config", "--quiet", files=candidate, timeout=60)
        finally:
            os.unlink(name)
        return None if proc.ok else f"docker compose config rejects the edit: {proc.error_line()}"


class ComposeSet(_ComposeFile, YamlSet):
    name = "compose_set"


class ComposeUnset(_ComposeFile, YamlUnset):
    name = "compose_unset"
