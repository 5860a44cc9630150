"""Measurements of one heal: the latest run, the captures it took, and its diagnosis, kept together so
they cannot disagree. After any action the run is no longer a whole measurement of the stack as it
is, and its diagnosis no longer describes it, until the next run (``acted``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .analysis import fixes
from .analyzers import Diagnosis
from .diagnosis import Evaluator, Finding, diagnose
from .facts import Facts
from .model import Entry, Suite
from .results import Run
from .stack import Stack

Notify = Callable[[str], None]
_FINAL = ("exited", "dead", "created", "no container")  # readiness.waiting_on's words for "not running"


@dataclass
class Meter:
    """The loop's view of the stack between steps: measure, re-measure part, diagnose once per run."""

    stack: Stack
    suite: Suite
    entries: list[Entry]
    notify: Notify = lambda _msg: None
    run: Run | None = None
    captures: dict[str, Any] = field(default_factory=dict)
    whole: bool = False  # the latest run measured every check (not a partial re-test merged in)
    runs: int = 0
    _diagnosed: tuple[Run, bool, Facts, list[Finding], list[Diagnosis], dict[str, str]] | None = None

    def test(self, only: set[str] | None = None, deep: bool = False) -> Run:
        """Run the checks (all, or ``only`` those, re-using the rest of the latest run). ``deep``: a deep
        diagnosis of this run is likely to follow (the stack may read its part while the checks run)."""
        prior = self.run if only is not None else None
        self.run, self.captures = self.stack.test(self.suite.checks, only, prior, self.captures, deep=deep)
        self.whole = only is None
        self.runs += 1
        return self.run

    def measured(self) -> Run:
        """The latest run; there is always one once the loop has started."""
        if self.run is None:
            raise RuntimeError("nothing measured yet")
        return self.run

    def start(self, run: Run | None = None, deep: bool = True) -> Run:
        """The first measurement: ``run`` when the caller just took one (``watch``), else a whole run
        after the containers still starting have shown whether they are healthy. ``deep``: it will be
        diagnosed deeply (``plan`` and ``apply`` do; a watch's scheduled cycle that finds all well does not)."""
        if run is not None:
            self.run, self.whole = run, True
            return run
        self.wait_settled()
        return self.test(deep=deep)

    def wait_settled(self, limit_s: float = 90.0) -> None:
        """Wait (bounded) while a container of the project is still in its health start period: its
        health log is not there yet, and diagnosing it now would read nothing (a probe's start period)."""
        clock = self.stack.clock
        end = clock.monotonic() + limit_s
        while clock.monotonic() < end:
            starting = self.stack.starting()
            if not starting:
                return
            self.notify(f"waiting for {', '.join(starting)} to finish starting")
            clock.sleep(1.0)

    def acted(self) -> None:
        """Actions ran: the latest run is neither whole nor diagnosed any more."""
        self.whole = False
        self._diagnosed = None

    def diagnosis(self, deep: bool = False) -> tuple[Facts, list[Finding]]:
        """Facts and findings on the latest run, gathered once per run: a step's verify and the round
        after it read the same evidence. ``deep`` also runs the built-in analyzers on compose's own word
        (``analysis``); their safe fixes join the findings, unless a playbook finding already fixes
        the same service."""
        run = self.measured()
        cached = self._diagnosed
        if cached is None or cached[0] is not run or (deep and not cached[1]):
            facts = self.stack.observe(run, self.suite.by_id(), self.captures, deep=deep)
            evaluator = Evaluator(facts, self.stack.probe)
            findings = diagnose(self.entries, facts, evaluator)
            found = evaluator.analysis() if deep else []
            self._diagnosed = (run, deep, facts, [*findings, *fixes(found, findings)], found, evaluator.errors)
        return self._diagnosed[2], self._diagnosed[3]

    def analysis(self) -> list[Diagnosis]:
        """The built-in analyzers' diagnoses of the latest deep diagnosis (none before one)."""
        return list(self._diagnosed[4]) if self._diagnosed else []

    def entry_errors(self) -> dict[str, str]:
        """Playbook entries the latest diagnosis had to leave out, with why (``Evaluator.errors``)."""
        return dict(self._diagnosed[5]) if self._diagnosed else {}

    def wait_ready(self, services: set[str], deadline: float, limit_s: float) -> set[str]:
        """Wait (bounded) until every one of ``services`` is ready (``readiness``); returns those without
        a healthcheck, whose readiness the checks themselves must then confirm (``settle``'s ``stable``).
        Says what it waits on, by service and for how long."""
        if not services:
            return set()
        clock = self.stack.clock
        started = clock.monotonic()
        end = min(deadline, started + limit_s)
        told = -10.0
        while True:
            waiting, checked = self.stack.readiness(services)
            now = clock.monotonic()
            # a container that is not running will not become ready by waiting: that is the step's result
            pending = {s: why for s, why in waiting.items() if not why.startswith(_FINAL)}
            if not pending or now >= end:
                return services - checked
            if now - told >= 2.0:
                told = now
                what = "; ".join(f"{s}: {why}" for s, why in pending.items())
                self.notify(f"  waiting {now - started:.0f} s for {what}")
            clock.sleep(0.2)

    def settle(
        self,
        only: set[str] | None,
        done: Callable[[Run], bool],
        deadline: float,
        settle_s: float,
        stable: bool = False,
        deep: bool = False,
    ) -> tuple[Run, bool]:
        """Re-test ``only`` (None: every check) until ``done`` says the step has taken effect, or the
        settle time runs out: polling a partial run beats a fixed sleep, and a step that never takes
        effect costs at most ``settle_s``. ``stable``: the result must also be the same twice in a row
        (a service without a healthcheck may answer a moment before it is really up, or after).
        ``deep``: the run that settles is likely the final one, diagnosed deeply (``test``)."""
        clock = self.stack.clock
        end = min(deadline, clock.monotonic() + settle_s)
        last: list[tuple[str, str]] | None = None
        while True:
            run = self.test(only, deep=deep)
            seen = [(r.id, r.status) for r in run.results if only is None or r.id in only]
            effect = done(run)
            if (effect and (not stable or seen == last)) or clock.monotonic() >= end:
                return run, effect
            clock.sleep(0.1 if effect else 0.25)  # took effect once: confirm it soon
            last = seen
