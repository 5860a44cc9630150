"""``validation.is_valid`` judges a checks document check by check, each by the schema of its probe's
kind; that must accept exactly what the whole schema accepts (the explanations come from jsonschema
and the whole schema either way)."""

from __future__ import annotations

import copy
import os

import fastjsonschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from remediator import validation, yamlio

from .support import ROOT

EXAMPLES = int(os.environ.get("REMEDIATOR_FUZZ_EXAMPLES", "150"))
SUITE = yamlio.plain(yamlio.load_file(ROOT / "checks" / "pyairtable.yml"))


def whole(doc: object) -> bool:
    try:
        validation._fast("checks")(doc)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def test_the_split_knows_every_probe_kind_of_the_schema() -> None:
    assert validation._probe_kinds() == {"http", "tcp", "container", "command", "logs"}


def test_the_repository_suite_is_valid_both_ways() -> None:
    assert validation.is_valid("checks", SUITE) and whole(SUITE)


_odd = st.one_of(
    st.sampled_from(["http", "tcp", "container", "command", "logs", "nope", "", "HTTP"]),
    st.integers(),
    st.none(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.sampled_from(["kind", "url", "x"]), st.text(max_size=3), max_size=2),
)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    picks=st.lists(st.integers(0, len(SUITE["checks"]) - 1), max_size=6),
    edits=st.lists(
        st.tuples(
            st.integers(0, 5),
            st.sampled_from(["probe", "kind", "expect", "id", "extra", "check", "top", "url"]),
            _odd,
        ),
        max_size=4,
    ),
)
def test_judging_by_probe_kind_agrees_with_the_whole_schema(picks: list[int], edits: list) -> None:
    doc = {"checks": [copy.deepcopy(SUITE["checks"][i]) for i in picks]}
    for at, what, value in edits:
        checks = doc["checks"]
        if what == "top":
            doc[str(value)[:3] or "x"] = value
            continue
        if not checks:
            continue
        i = at % len(checks)
        check = checks[i]
        if what == "check":
            checks[i] = value
        elif not isinstance(check, dict):
            continue
        elif what == "probe":
            check["probe"] = value
        elif what == "kind" and isinstance(check.get("probe"), dict):
            check["probe"]["kind"] = value
        elif what == "url" and isinstance(check.get("probe"), dict):
            check["probe"]["url"] = value
        elif what == "expect":
            check["expect"] = value
        elif what == "id":
            check["id"] = value
        else:
            check[what] = value
    assert validation.is_valid("checks", doc) == whole(doc)
    for odd in (None, [], "x", {"checks": "x"}, {"checks": {}}):
        assert validation.is_valid("checks", odd) == whole(odd)
