"""Matches and findings: what a diagnosis produces, with the evidence it rests on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .model import Entry
from .secrets import MASKER


@dataclass(frozen=True)
class Match:
    """One way a condition holds: bound variables, the checks it rests on, what was seen."""

    vars: Mapping[str, Any] = field(default_factory=dict)
    checks: frozenset[str] = frozenset()
    evidence: tuple[Mapping[str, Any], ...] = ()

    def extend(
        self,
        new_vars: Mapping[str, Any],
        checks: set[str] | frozenset[str] = frozenset(),
        evidence: Mapping[str, Any] | None = None,
    ) -> Match | None:
        """This match with more bindings; None when a binding disagrees with one already made."""
        for k, v in new_vars.items():
            if k in self.vars and self.vars[k] != v:
                return None
        return Match(
            {**self.vars, **new_vars},
            self.checks | frozenset(checks),
            (*self.evidence, evidence) if evidence else self.evidence,
        )


@dataclass
class Finding:
    """A diagnosis that matched, on which evidence, explaining which checks."""

    entry: Entry
    vars: dict[str, Any]
    checks: frozenset[str]  # the checks its conditions matched on
    explains: frozenset[str]  # those and every not-passed check behind them (requires, service)
    evidence: list[Mapping[str, Any]]

    @property
    def key(self) -> str:
        """Identity across rounds: the entry and the values of its group_by variables."""
        parts = [f"{k}={self.vars.get(k)}" for k in self.entry.group_by]
        return self.entry.id + (f"[{','.join(parts)}]" if parts else "")

    def to_json(self) -> dict[str, Any]:
        return MASKER.mask_data(
            {
                "id": self.entry.id,
                "key": self.key,
                "name": self.entry.name,
                "description": self.entry.description,
                "vars": {k: v for k, v in self.vars.items() if not k.startswith("_")},
                "checks": sorted(self.checks),
                "explains": sorted(self.explains),
                "evidence": self.evidence,
                "suite": self.entry.suite,
            }
        )
