"""The fast way of reading YAML (yaml-rs) and the careful one (libyaml + PyYAML's constructor) give the
same answer: the same data with the same types, or the careful way's error, and the same positions.

The fast way is only an accelerator: wherever it might differ it hands the text to the careful way.
These tests hold it to that on scalars that YAML 1.1 and 1.2 read differently, on the repository's
own files mutated with hostile bytes, and on generated documents.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from remediator import yamlio
from remediator.errors import LoadError

from .support import ROOT

EXAMPLES = int(os.environ.get("REMEDIATOR_FUZZ_EXAMPLES", "150"))
SEEDS = [ROOT / "inventory.yml", *sorted((ROOT / "checks").glob("*.yml")), *sorted((ROOT / "playbooks").glob("*.yml"))]

# Plain scalars on which YAML 1.1 (PyYAML) and 1.2 (yaml-rs) disagree, or nearly do.
TRICKY = [
    "yes", "no", "on", "off", "y", "n", "True", "TRUE", "tRue", "false", "017", "0o17", "0x1F", "0b101", "1_000",
    "_1", "1_", "+5", "-5", "-0", "00", "08", "09.5", "1e3", "1.0e3", "1.0e+3", "-.5e-3", "+.5", ".5", "1.", "1.5",
    ".inf", "-.Inf", ".nan", "1:20", "-1:20", "190:20:30.15", "1:05:00", "2001-12-14", "2001-12-14t21:59:43.10-05:00",
    "2001-12-14 21:59:43.10 -5", "~", "null", "Null", "NULL", "", "=", "<<", "12345678901234567890123",
    "http://127.0.0.1:8000/x", "10.0.0.1", "a:b", "-x", "?x", ":x", "x#y", "0", "0.0", "x_1", "check_2",
]  # fmt: skip


def both(text: str) -> tuple[str, str]:
    def one(fast: bool) -> str:
        try:
            return repr(yamlio.plain(yamlio.load_text(text, "f.yml", fast=fast)))
        except LoadError as exc:
            return f"error: {exc}"

    return one(False), one(True)


@pytest.mark.parametrize("scalar", TRICKY)
@pytest.mark.parametrize("form", ["a: {}", "a: [{}]", "{}: a", "a: '{}'", 'a: "{}"', "a: {{b: {}}}"])
def test_every_tricky_scalar_reads_the_same_both_ways(scalar: str, form: str) -> None:
    careful, fast = both(form.format(scalar))
    assert fast == careful


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\na: 2",
        "a: 1\n'a': 2",
        "1: a\n1.0: b",
        "? [1, 2]\n: 3",
        "---\na: 1\n---\nb: 2",
        "a: 1\n...\n",
        "%YAML 1.2\n---\na: 1",
        'a: "x\\0"',
        'a: "\\x00"',
        "a: \x07",
        "\ufeffa: 1",
        "a: b\u2028c",
        "a: b\x85c",
        "x: &x {b: 1}\ny:\n  <<: *x\n  c: 2",
        "a: !!str 1",
        "a: !foo 1",
        "a: !!binary aGVsbG8=",
        "a: [1, 2",
        "a: 'x",
        "a: b: c",
        "- a\nb: 1",
        "a:\r\n  - 1\r\n  - 2\r\n",
        "a: " + "[" * 70 + "]" * 70,
        "".join(" " * i + "a:\n" for i in range(80)),
        "[1, 2]",
        "just text",
        "",
    ],
)
def test_documents_the_fast_way_might_misread_read_the_same(text: str) -> None:
    careful, fast = both(text)
    assert fast == careful


def _paths(node: object, prefix: tuple = ()) -> Iterator[tuple]:
    """Every path of a tree, and one step past each collection's end."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
        yield (*prefix, "nope")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*prefix, i))
        yield (*prefix, len(node), "x")


@pytest.mark.parametrize("seed", SEEDS, ids=lambda p: p.name)
def test_positions_of_a_file_read_the_fast_way_are_the_careful_ones(seed) -> None:
    text = seed.read_text()
    fast = yamlio.load_text(text, "c.yml")
    careful = yamlio.load_text(text, "c.yml", fast=False)
    if seed.name == "pyairtable.yml" and seed.parent.name == "checks":
        assert isinstance(fast, yamlio.FastDict)  # the suite takes the fast way (others may not: `:{{`, `*"`)
    for keys in _paths(careful):
        assert yamlio.position(fast, keys) == yamlio.position(careful, keys), keys
        assert str(yamlio.locate(fast, "c.yml", keys)) == str(yamlio.locate(careful, "c.yml", keys))


def test_the_first_errors_of_a_long_list_are_located_without_reading_the_rest() -> None:
    fast = yamlio.load_text("checks: [" + ",".join(["1"] * 100_000) + "]\n", "c.yml")
    yamlio.prefetch(fast, [["checks", i] for i in range(20)])
    assert len(fast.source.found) == 22  # the root, checks, its first 20 items: the stream stopped there
    assert yamlio.position(fast, ["checks", 19]) == (1, 48, 19)


_HOSTILE = [
    "\x00", "\xff", "\ufeff", "\x1b[31m", "\t", "\r", "\n", "\x85", "\u2028", "&a ", "*a", "<<: ", "!!str ", "[", "{",
    "- ", '"', "'", ": ", "? ", "---\n", "...\n", "%YAML 1.1\n", "#", "\\0", "\\", *TRICKY,
]  # fmt: skip
_SEED_TEXT = [p.read_text() for p in SEEDS]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    seed=st.sampled_from(_SEED_TEXT),
    edits=st.lists(st.tuples(st.floats(0, 1), st.sampled_from(_HOSTILE), st.integers(0, 3)), max_size=4),
)
def test_mutated_repository_files_read_the_same_both_ways(seed: str, edits: list[tuple[float, str, int]]) -> None:
    text = seed
    for where, piece, cut in edits:
        at = int(where * len(text))
        text = text[:at] + piece + text[at + cut :]
    careful, fast = both(text)
    assert fast == careful


_keys = st.one_of(st.sampled_from(TRICKY), st.text("abcxyz_-.:0123456789 ", min_size=1, max_size=6))
_scalars = st.one_of(
    st.sampled_from(TRICKY),
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.text(max_size=8),
)
_values = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4), max_leaves=20
)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(doc=st.dictionaries(_keys, _values, max_size=5), flow=st.booleans())
def test_generated_documents_read_the_same_both_ways(doc: dict, flow: bool) -> None:
    import yaml

    text = yaml.safe_dump(doc, default_flow_style=flow, allow_unicode=True)
    careful, fast = both(text)
    assert fast == careful
    if careful.startswith("error: "):
        return
    tree = yamlio.load_text(text, "g.yml")
    if isinstance(tree, yamlio.FastDict):  # and where it was read the fast way, the same positions
        located = yamlio.load_text(text, "g.yml", fast=False)
        for keys in _paths(located):
            assert yamlio.position(tree, keys) == yamlio.position(located, keys), keys
