"""The template fast paths (no Jinja for ``{{ name.key }}`` and ``{{ INT + name }}``) give Jinja's answers:
the same rendered text or the same kind of error, and the same names for the loader's scope check. Jinja
is asked directly (``_expression`` / ``_names``) for the reference answer."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from remediator import templating
from remediator.errors import TemplateError, UserError


class Lazy(Mapping[str, Any]):
    """A mapping like the secrets: an unknown key is a UserError, not a KeyError."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def __getitem__(self, key: str) -> Any:
        if key not in self._values:
            raise UserError(f"no secret {key!r}")
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


NAMES = ["a", "b", "port", "urls", "secrets", "items", "keys", "get", "true", "self", "range", "loop", "x_1"]
names = st.sampled_from(NAMES)
leaves = st.one_of(
    st.integers(-(10**6), 10**6), st.booleans(), st.none(), st.text(max_size=5), st.floats(allow_nan=False)
)
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.dictionaries(names, inner, max_size=4), st.dictionaries(names, inner, max_size=3).map(Lazy)
    ),
    max_leaves=8,
)
scopes = st.dictionaries(names, values, max_size=5)
dotted = st.lists(names, min_size=1, max_size=3).map(".".join)
literal = st.one_of(st.integers(0, 10**18).map(str), st.sampled_from(["007", "1_000", "1.5"]))
expressions = st.one_of(
    dotted,
    st.tuples(literal, dotted).map(lambda t: f"{t[0]} + {t[1]}"),
    st.tuples(dotted, literal).map(lambda t: f"{t[0]}+{t[1]}"),
    st.sampled_from(["a . b", "a.0", "", "a +", "true + 1", "a + b", "1 + 2"]),
)


def answer(fn: Any) -> tuple[str, Any]:
    try:
        return "ok", fn()
    except UserError as exc:  # TemplateError is one: the kind, not the wording of Jinja's message
        return type(exc).__name__, None


def by_jinja(expr: str, scope: Mapping[str, Any]) -> tuple[str, Any]:
    """Reference: the expression as render_str would render it when the fast path declines."""

    def run() -> str:
        try:
            return templating._str(templating._expression(expr.strip())(scope))
        except UserError:
            raise
        except Exception as exc:
            raise TemplateError(str(exc)) from None

    return answer(run)


@settings(max_examples=400, deadline=None)
@given(expressions, scopes)
@example("a.a", {"a": Lazy({})})  # an unknown secret: the same error both ways
@example("8000 + port", {"port": 16000})
def test_a_fast_rendering_is_jinjas(expr: str, scope: dict[str, Any]) -> None:
    kind, fast = answer(lambda: templating._fast(expr, scope))  # an unknown secret raises, as in Jinja
    if kind == "ok" and fast is templating._MISS:
        return  # Jinja renders it, as before
    got = (kind, None) if kind != "ok" else answer(lambda: "" if fast is None else str(fast))
    assert got == by_jinja(expr, scope)


@settings(max_examples=400, deadline=None)
@given(expressions, scopes)
def test_render_str_is_jinjas_whatever_path_it_takes(expr: str, scope: dict[str, Any]) -> None:
    got = answer(lambda: templating.render_str("<{{" + expr + "}}>", scope))
    want = by_jinja(expr, scope)
    assert got == (want[0], None if want[1] is None else f"<{want[1]}>")


@settings(max_examples=400, deadline=None)
@given(st.lists(expressions, min_size=1, max_size=3), st.sampled_from(["", "/x/", " "]))
def test_the_names_of_a_plain_template_are_jinjas(exprs: list[str], text: str) -> None:
    source = text.join("{{ " + e + " }}" for e in exprs)
    free, keys, error = templating._names(source)
    if error is not None:
        with pytest.raises(TemplateError):
            templating.names(source)
        return
    assert templating.names(source) == (set(free), set(keys))


@pytest.mark.parametrize(
    ("source", "engine"),
    [
        ("plain text", False),
        ("{{ urls.api }}/c/{{ run_id }}", False),
        ("http://{{ host }}:{{ 8000 + port_offset }}", False),
        ("{{ secrets.api_key }}", False),
        ("{{ token | default('x') }}", True),
        ("{% if a %}x{% endif %}", True),
        ("{{ self }}", True),
        ("{{ a * 2 }}", True),
    ],
)
def test_only_what_the_fast_paths_do_not_cover_needs_jinja(source: str, engine: bool) -> None:
    assert templating.needs_engine(source) is engine
