"""``{{ name }}`` templates over inventory variables, URLs, secrets and captures.

Jinja2's sandboxed environment (the engine Ansible users already know): expressions such as
``{{ 8000 + port_offset }}`` work, attribute access to Python internals does not, and nothing here can
reach a shell. An undefined name is an error that names it, never an empty string. Compiled templates
are cached, so a suite of thousands of checks compiles each distinct string once.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from .errors import UserError


@lru_cache(maxsize=1)
def _env() -> Any:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


@lru_cache(maxsize=8192)
def _compile(source: str) -> Any:
    from jinja2 import TemplateSyntaxError

    try:
        return _env().from_string(source)
    except TemplateSyntaxError as exc:
        raise UserError(f"template {source!r}: {exc.message}") from None


def render_str(source: str, context: Mapping[str, Any]) -> str:
    """Render one string; strings without ``{{``/``{%`` are returned as they are, at no cost."""
    if "{{" not in source and "{%" not in source:
        return source
    from jinja2 import UndefinedError

    try:
        return _compile(source).render(context)
    except UndefinedError as exc:
        raise UserError(f"template {source!r}: {exc.message}") from None


def render(value: Any, context: Mapping[str, Any]) -> Any:
    """Render every string inside a mapping / list structure."""
    if isinstance(value, str):
        return render_str(value, context)
    if isinstance(value, Mapping):
        return {k: render(v, context) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render(v, context) for v in value]
    return value


def has_template(value: Any) -> bool:
    """Whether any string inside ``value`` is a template (its result may depend on captures)."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, Mapping):
        return any(has_template(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(has_template(v) for v in value)
    return False
