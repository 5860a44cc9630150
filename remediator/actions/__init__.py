"""Actions: idempotent steps that change a compose environment only where it differs.

Build one from its YAML spec with ``build_action({"compose_up": {"services": ["api"]}})`` and call
``inspect(ctx)`` (the plan: would it change, the diff) or ``apply(ctx)`` (ok / changed / failed)
with an ``ActionContext``. Specs are validated against ``schemas/action.schema.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import validation
from ..errors import UserError
from .base import Action, ActionContext, ActionResult, Inspection, new_run_id
from .commands import Exec, Http, Run
from .compose import ComposeRecreate, ComposeRestart, ComposeUp, WaitHealthy
from .files import ComposeSet, ComposeUnset, EnvRename, EnvSet, EnvUnset, YamlSet, YamlUnset

ACTIONS: dict[str, type[Action]] = {
    cls.name: cls
    for cls in (
        ComposeUp,
        ComposeRestart,
        ComposeRecreate,
        WaitHealthy,
        EnvSet,
        EnvUnset,
        EnvRename,
        ComposeSet,
        ComposeUnset,
        YamlSet,
        YamlUnset,
        Exec,
        Run,
        Http,
    )
}

__all__ = ["ACTIONS", "Action", "ActionContext", "ActionResult", "Inspection", "build_action", "new_run_id"]


def build_action(spec: Mapping[str, Any], where: str = "action") -> Action:
    """The action a spec names, its arguments checked; ``where`` prefixes errors (e.g. file:line:col)."""
    if not isinstance(spec, Mapping):
        raise UserError(f"{where}: expected a mapping such as {{compose_up: {{services: [api]}}}}")
    # ``compose_up:`` with nothing after it means "no arguments"
    spec = {name: {} if args is None else args for name, args in dict(spec).items()}
    if not validation.is_valid("action", spec):
        errors = sorted(validation.explainer("action").iter_errors(spec), key=lambda e: -len(e.absolute_path))
        if errors:
            raise UserError(f"{where}: {_message(errors[0])}")
    ((name, args),) = spec.items()
    return ACTIONS[name](args)


def _message(err: Any) -> str:
    """One precise line: which key, what was wrong, what was expected."""
    at = ".".join(map(str, err.absolute_path)) or "(action)"
    if not err.absolute_path and err.validator in ("enum", "propertyNames", "maxProperties", "minProperties"):
        return f"expected exactly one action name as the key, one of: {', '.join(ACTIONS)}"
    if err.validator == "additionalProperties":
        return f"{at}: {err.message}; expected only: {', '.join(err.schema.get('properties', {}))}"
    if err.validator == "oneOf" and "value_from" in err.schema.get("properties", {}):
        both = "value" in err.instance and "value_from" in err.instance
        return f"{at}: {'give value or value_from, not both' if both else 'needs value or value_from'}"
    return f"{at}: {err.message}"
