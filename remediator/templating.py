"""``{{ name }}`` templates over inventory variables, URLs, secrets and captures.

Jinja2's sandboxed environment (the engine Ansible users already know): expressions such as
``{{ 8000 + port_offset }}`` work, attribute access to Python internals does not, and nothing here can
reach a shell. An undefined name is an error that names it, never an empty string. Jinja2 compiles a
template in about a millisecond, so a string made only of text and ``{{ expression }}`` parts is
rendered part by part, each distinct expression compiled once (``urls.api`` once for a thousand URLs);
strings with ``{% ... %}`` blocks go through a whole compiled template. The two commonest expressions,
``{{ name.key }}`` and ``{{ 8000 + port_offset }}``, are answered without Jinja, exactly as Jinja would
(tests/test_templating_fast.py), so a suite made of them never imports it (0.1-0.2 s of a ``check``).

A template is user code, so whatever it raises (``1/0``, ``1 + 'a'``, a 5000-digit number that
cannot become text, a range past the sandbox's 100,000) is a ``TemplateError`` naming the template,
never a traceback. ``**`` and ``*`` are intercepted, and numbers passed to filters and functions
bounded, so ``10**10**10``, ``'x' * 10**10`` or ``'a'|center(10**9)`` are refused before Python spends
minutes or gigabytes on them. ``names`` lists what a template refers to, so the
loader can check it against the scope it will see before anything runs.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from typing import Any

from .errors import TemplateError, UserError, shown

MAX_BITS = 64_000  # an integer result of ``**`` (about 19,000 digits)
MAX_ITEMS = 1_000_000  # a string or list made by ``*``, a filter or a function
MAX_ARG = 100_000  # a number passed to a filter or function (the sandbox's own range limit)


def _bounded_binop(operator: str, left: Any, right: Any) -> Any:
    """``**`` and ``*`` with their result's size estimated first (Jinja calls this for both)."""
    if operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
        if abs(left) > 1 and left.bit_length() * right > MAX_BITS:
            raise OverflowError(f"the result of ** would exceed {MAX_BITS} bits")
        return left**right
    if operator == "*":
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple) and isinstance(count, int) and len(seq) * count > MAX_ITEMS:
                raise OverflowError(f"the result of * would exceed {MAX_ITEMS} items")
        return left * right
    return {"**": lambda a, b: a**b}.get(operator, lambda a, b: a * b)(left, right)


def _check_call(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Refuse a number argument that would make a filter or function build something huge
    (``'a'|center(10**9)``, ``lipsum(10**5)``: gigabytes or minutes)."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_ARG:
            raise OverflowError(f"a number argument above {MAX_ARG} is refused in templates")


def _check_result(value: Any) -> Any:
    if isinstance(value, str | list | tuple) and len(value) > MAX_ITEMS:
        raise OverflowError(f"a template value of more than {MAX_ITEMS} items is refused")
    return value


def _bounded_filter(fn: Any) -> Any:
    @functools.wraps(fn)  # keeps jinja's pass_context / pass_eval_context marks
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _check_call(args, kwargs)
        return _check_result(fn(*args, **kwargs))

    return bounded


@lru_cache(maxsize=1)
def _env() -> Any:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Bounded(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"**", "*"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            return _bounded_binop(operator, left, right)

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
            _check_call(args, kwargs)
            return _check_result(super().call(__context, __obj, *args, **kwargs))

    env = Bounded(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.filters = {name: _bounded_filter(fn) for name, fn in env.filters.items()}
    del env.globals["lipsum"]  # lorem ipsum has no use here, and lipsum(10**5) takes 15 s
    return env


_EXPRESSION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)


def prepare(sources: Iterable[str] = ()) -> None:
    """Import and set up the template engine now rather than at the first template that needs it, if
    one of ``sources`` will (a block, or an expression ``_plain`` does not cover): a suite of plain
    lookups never imports Jinja (0.1-0.2 s of a ``check``'s CPU)."""
    if any(needs_engine(source) for source in sources):
        _env()


def needs_engine(source: str) -> bool:
    """Whether rendering ``source`` goes through Jinja (its values aside: a lookup that misses does too)."""
    if "{{" not in source and "{%" not in source:
        return False
    parts = _split(source)
    return parts is None or any(_plain(part) is None for part in parts[1::2])


@lru_cache(maxsize=8192)
def _compile(source: str) -> Any:
    from jinja2 import TemplateSyntaxError

    try:
        return _env().from_string(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template {shown(source)}: {exc.message}") from None


@lru_cache(maxsize=8192)
def _expression(source: str) -> Any:
    from jinja2 import TemplateSyntaxError

    try:
        return _env().compile_expression(source, undefined_to_none=False)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template expression {shown('{{' + source + '}}')}: {exc.message}") from None


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
    try:
        parts = _split(source)
        if parts is None:
            return _compile(source).render(context)
        out = []
        for i, part in enumerate(parts):
            if i % 2 == 0:
                out.append(part)
                continue
            value = _fast(part, context)
            if value is _MISS:
                out.append(_str(_expression(part.strip())(context)))
            else:
                out.append("" if value is None else str(value))
        return "".join(out)
    except UserError:
        raise
    except Exception as exc:  # a template is user code: whatever it raises is the template's fault
        detail = str(getattr(exc, "message", None) or exc) or type(exc).__name__
        detail = detail if len(detail) <= 160 else detail[:157] + "..."
        raise TemplateError(f"template {shown(source)}: {detail}") from None


_MISS = object()
_DOTTED = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*")
_WORDS = frozenset({"true", "false", "none", "True", "False", "None", "and", "or", "not", "in", "is", "if", "else"})


@lru_cache(maxsize=8192)
def _dotted(part: str) -> tuple[str, ...] | None:
    m = _DOTTED.fullmatch(part)
    names = tuple(m.group(1).split(".")) if m else None
    return None if names is None or names[0] in _WORDS else names


_SUM = re.compile(
    r"\s*(?:(0|[1-9][0-9]{0,17})\s*\+\s*([A-Za-z_][A-Za-z0-9_.]*)|([A-Za-z_][A-Za-z0-9_.]*)\s*\+\s*(0|[1-9][0-9]{0,17}))\s*"
)
# Names Jinja itself gives a meaning (its globals, ``self``, a macro's ``caller`` ...): left to Jinja.
_SPECIAL = frozenset(
    {"self", "range", "dict", "lipsum", "cycler", "joiner", "namespace", "loop", "caller", "varargs", "kwargs", "super"}
)


@lru_cache(maxsize=8192)
def _plain(part: str) -> tuple[tuple[str, ...], int | None] | None:
    """An expression of the two kinds rendered without Jinja: ``name.key...`` (literal None) and
    ``INT + name.key...`` / ``name.key... + INT`` (``{{ 8000 + port_offset }}``); None for anything else."""
    names = _dotted(part)
    literal = None
    if names is None:
        m = _SUM.fullmatch(part)
        if m is None:
            return None
        literal = int(m.group(1) or m.group(4))
        names = _dotted(m.group(2) or m.group(3))
        if names is None:
            return None
    return None if names[0] in _SPECIAL else (names, literal)


def _fast(part: str, context: Mapping[str, Any]) -> Any:
    """What Jinja would make of a ``_plain`` expression over plain dicts, or ``_MISS`` to let Jinja do it.
    The sum only of two ints (``+`` of anything else is Jinja's, with its errors)."""
    plain = _plain(part)
    if plain is None:
        return _MISS
    names, literal = plain
    value = _lookup(names, context)
    if literal is None or value is _MISS:
        return value
    return literal + value if value.__class__ is int else _MISS


def _lookup(names: tuple[str, ...], context: Mapping[str, Any]) -> Any:
    """``{{ name }}`` and ``{{ name.key.key }}`` over dicts and mappings, looked up as Jinja's sandbox would
    (a name of the scope, then a key that is not an attribute; an error other than a missing key, such as
    an unknown secret's ``UserError``, raised as Jinja would let it through), without a Jinja context per
    call: most of a check's rendering (``{{ urls.api }}``, ``{{ secrets.api_key }}``). Anything else is
    ``_MISS``, for Jinja to evaluate."""
    if names[0] not in context:
        return _MISS
    value = context[names[0]]
    for key in names[1:]:
        if value.__class__ is dict:
            if key not in value or hasattr(dict, key):
                return _MISS
            value = value[key]
        elif isinstance(value, Mapping) and not hasattr(value, key):  # the secrets: Jinja's getattr, then [key]
            try:
                value = value[key]
            except (TypeError, LookupError):
                return _MISS
        else:
            return _MISS
    return value


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


def names(source: str) -> tuple[set[str], set[tuple[str, str]]]:
    """What a template refers to: the free names, and ``(name, key)`` for each ``name.key`` or
    ``name['key']`` with a literal key. A syntax error is a ``TemplateError``.

    The text between expressions says nothing about names, so a string made of text and plain
    ``{{ expression }}`` parts is parsed as its expressions alone, and the answer is cached by them:
    ``{{ urls.api }}/c/1`` ... ``{{ urls.api }}/c/9999`` parse once, not 10,000 times (about 1 ms
    each). An expression with quotes or braces, or a string with blocks, is parsed whole."""
    parts = _split(source)
    if parts is not None and not any("{{" in text or "}}" in text for text in parts[::2]):
        plain = [_plain(p) for p in parts[1::2]]
        if all(p is not None for p in plain):  # Jinja's answer for these, without parsing (or importing) it
            free = {p[0][0] for p in plain if p is not None}
            return free, {p[0][:2] for p in plain if p is not None and len(p[0]) > 1}
    if (
        parts is not None
        and not any("{{" in text for text in parts[::2])  # an unclosed ``{{`` is the parser's to report
        and not any(_QUOTE_OR_BRACE.search(expr) for expr in parts[1::2])
    ):
        key = "".join("{{" + p + "}}" for p in parts[1::2])
    else:
        key = source
    free, keys, error = _names(key)
    if error is not None:
        raise TemplateError(f"template {shown(source)}: {error}")
    return set(free), set(keys)


_QUOTE_OR_BRACE = re.compile(r"[\"'{}]")


@lru_cache(maxsize=8192)
def _names(source: str) -> tuple[frozenset[str], frozenset[tuple[str, str]], str | None]:
    from jinja2 import TemplateSyntaxError, meta, nodes

    try:
        tree = _env().parse(source)
    except TemplateSyntaxError as exc:
        return frozenset(), frozenset(), str(exc.message)
    free = meta.find_undeclared_variables(tree) - set(_env().globals)
    keys: set[tuple[str, str]] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if isinstance(node.node, nodes.Name) and node.node.name in free:
            key = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
            if isinstance(key, str):
                keys.add((node.node.name, key))
    return frozenset(free), frozenset(keys), None


def strings(value: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """``(dotted place, string)`` for every template string inside a mapping / list structure.

    A leaf is judged in its container's loop, not in a call of its own, and a place is spelt only
    for what is yielded or entered: the loader walks every value of every check."""
    if isinstance(value, str):
        if "{{" in value or "{%" in value:
            yield where, value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            if v.__class__ is str:
                if "{{" in v or "{%" in v:
                    yield (f"{where}.{k}" if where else str(k)), v
            elif _container(v):
                yield from strings(v, f"{where}.{k}" if where else str(k))
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            if v.__class__ is str:
                if "{{" in v or "{%" in v:
                    yield f"{where}[{i}]", v
            elif _container(v):
                yield from strings(v, f"{where}[{i}]")


def _container(value: Any) -> bool:
    cls = value.__class__
    if cls is dict or cls is list or cls is tuple:
        return True
    if cls is int or cls is float or cls is bool or value is None:
        return False
    return isinstance(value, Mapping | list | tuple | str)
