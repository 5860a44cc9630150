"""``{{ name }}`` templates over inventory variables, URLs, secrets and captures.

Jinja2's sandboxed environment (the engine Ansible users already know): expressions such as
``{{ 8000 + port_offset }}`` work, attribute access to Python internals does not, and nothing here can
reach a shell. An undefined name is an error that names it, never an empty string. Jinja2 compiles a
template in about a millisecond, so a string made only of text and ``{{ expression }}`` parts is
rendered part by part, each distinct expression compiled once (``urls.api`` once for a thousand URLs);
strings with ``{% ... %}`` blocks go through a whole compiled template.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from .errors import UserError


@lru_cache(maxsize=1)
def _env() -> Any:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


_EXPRESSION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)


def prepare() -> None:
    """Import and set up the template engine now rather than at the first template."""
    _env()


@lru_cache(maxsize=8192)
def _compile(source: str) -> Any:
    from jinja2 import TemplateSyntaxError

    try:
        return _env().from_string(source)
    except TemplateSyntaxError as exc:
        raise UserError(f"template {source!r}: {exc.message}") from None


@lru_cache(maxsize=8192)
def _expression(source: str) -> Any:
    from jinja2 import TemplateSyntaxError

    try:
        return _env().compile_expression(source, undefined_to_none=False)
    except TemplateSyntaxError as exc:
        raise UserError(f"template expression {{{{{source}}}}}: {exc.message}") from None


@lru_cache(maxsize=8192)
def _split(source: str) -> tuple[str, ...] | None:
    """Text and expression parts alternating (text first), or None when the string has blocks."""
    if "{%" in source or "{#" in source:
        return None
    return tuple(_EXPRESSION.split(source))


def render_str(source: str, context: Mapping[str, Any]) -> str:
    """Render one string; strings without ``{{``/``{%`` are returned as they are, at no cost."""
    if "{{" not in source and "{%" not in source:
        return source
    from jinja2.exceptions import SecurityError, UndefinedError

    try:
        parts = _split(source)
        if parts is None:
            return _compile(source).render(context)
        out = []
        for i, part in enumerate(parts):
            out.append(part if i % 2 == 0 else _str(_expression(part.strip())(context)))
        return "".join(out)
    except (UndefinedError, SecurityError) as exc:
        raise UserError(f"template {source!r}: {exc.message}") from None


def _str(value: Any) -> str:
    from jinja2 import Undefined

    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises here, naming the missing variable
    return "" if value is None else str(value)


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
