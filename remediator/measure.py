"""Measurements of one heal: the latest run, the captures it took, and its diagnosis, kept together so
they cannot disagree. After any action the run is no longer a whole measurement of the stack as it
is, and its diagnosis no longer describes it, until the next run (``acted``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .diagnosis import Evaluator, Finding, diagnose
from .facts import Facts
from .model import Entry, Suite
from .results import Run
from .stack import Stack

Notify = Callable[[str], None]


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
    _diagnosed: tuple[Run, Facts, list[Finding]] | None = None

    def test(self, only: set[str] | None = None) -> Run:
        """Run the checks (all, or ``only`` those, re-using the rest of the latest run)."""
        # equivalent mutant: prior on a whole run (the runner reuses it only for a partial one)
        prior = self.run if only is not None else None
        self.run, self.captures = self.stack.test(self.suite.checks, only, prior, self.captures)
        self.whole = only is None
        self.runs += 1
        return self.run

    def measured(self) -> Run:
        """The latest run; there is always one once the loop has started."""
        if self.run is None:
            raise RuntimeError("nothing measured yet")
        return self.run

    def start(self, run: Run | None = None) -> Run:
        """The first measurement: ``run`` when the caller just took one (``watch``), else a whole run
        after the containers still starting have shown whether they are healthy."""
        if run is not None:
            self.run, self.whole = run, True
            return run
        self.wait_settled()
        return self.test()

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
        self.whole = False  # equivalent mutant: None is as false
        self._diagnosed = None

    def diagnosis(self) -> tuple[Facts, list[Finding]]:
        """Facts and findings on the latest run, gathered once per run: a step's verify and the round
        after it read the same evidence."""
        run = self.measured()
        if self._diagnosed is None or self._diagnosed[0] is not run:
            facts = self.stack.observe(run, self.suite.by_id(), self.captures)
            self._diagnosed = (run, facts, diagnose(self.entries, facts, Evaluator(facts, self.stack.probe)))
        return self._diagnosed[1], self._diagnosed[2]

    def settle(
        self, only: set[str] | None, done: Callable[[Run], bool], deadline: float, settle_s: float
    ) -> tuple[Run, bool]:
        """Re-test ``only`` (None: every check) until ``done`` says the step has taken effect, or the
        settle time runs out: polling a partial run beats a fixed sleep, and a step that never takes
        effect costs at most ``settle_s``."""
        clock = self.stack.clock
        end = min(deadline, clock.monotonic() + settle_s)
        while True:
            run = self.test(only)
            ok = done(run)
            if ok or clock.monotonic() >= end:  # equivalent mutant: `>` differs only on an exact tie of two readings
                return run, ok
            clock.sleep(0.25)
