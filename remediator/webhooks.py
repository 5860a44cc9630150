"""Notifications on the watch's outcomes: healed, target lost, breaker tripped, suite finding.

``outcomes_of`` (pure) turns a cycle's record into the events worth telling a person, remembering
what it told already (a finding excluded for a week is one message, not one per cycle). ``Webhook``
posts them, one at a time from a thread of its own so a slow receiver never delays a heal, through
``backends.http`` (the one way out), with retries on no answer, 429 and 5xx, and a rate limit: at
most ``limit`` messages per ``per_s``; what the limit held back is counted in the next message sent.
The body is generic JSON or Slack-compatible (``{"text": ...}``), masked; so is every error printed.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from .backends.http import HttpError, Request, request
from .clock import SYSTEM_CLOCK, Clock
from .secrets import MASKER

Format = Literal["generic", "slack"]
HEALED, LOST, TRIPPED, SUITE = "healed", "target lost", "breaker tripped", "suite finding"


@dataclass(frozen=True)
class Outcome:
    """One thing worth a message: its kind, a sentence, and the cycle it came from."""

    kind: str
    text: str
    cycle: int


@dataclass
class OutcomeTracker:
    """What was told already: whether the target was met, the findings excluded and suite findings seen."""

    met: bool | None = None
    excluded: set[str] = field(default_factory=set)
    suite: set[str] = field(default_factory=set)

    def outcomes_of(self, record: dict[str, Any]) -> list[Outcome]:
        if record.get("kind") != "cycle" or "error" in record:
            return []
        n, out = record["cycle"], []
        pct = f"{record.get('rate_after', 0) * 100:.1f} %"
        acted = ", ".join(record.get("acted_on") or [])
        if record.get("healed") and record.get("met"):
            out.append(Outcome(HEALED, f"healed ({record['trigger']}): {acted}; rate {pct}", n))
        if not record.get("met") and self.met is not False:
            failing = ", ".join((record.get("remaining_failures") or [])[:8])
            out.append(Outcome(LOST, f"target {record['target'] * 100:.0f} % lost: rate {pct}; failing: {failing}", n))
        self.met = bool(record.get("met"))
        breaker = record.get("breaker") or {}
        for key in sorted(set(breaker) - self.excluded):
            why = (record.get("excluded") or {}).get(key, breaker[key])
            out.append(Outcome(TRIPPED, f"not taken any more: {key}: {why}", n))
        self.excluded = set(breaker)
        for key in record.get("suite_findings") or []:
            if key not in self.suite:
                self.suite.add(key)
                out.append(Outcome(SUITE, f"the check suite itself is wrong: {key} (see remediate plan)", n))
        return out


def body(outcome: Outcome, target: str, fmt: Format, suppressed: int = 0) -> dict[str, Any]:
    """The JSON a receiver gets, masked."""
    note = f" ({suppressed} earlier message(s) held back by the rate limit)" if suppressed else ""
    if fmt == "slack":
        doc: dict[str, Any] = {"text": f"remediate watch [{target}] {outcome.kind}: {outcome.text}{note}"}
    else:
        doc = {
            "source": "remediate watch",
            "target": target,
            "event": outcome.kind,
            "text": outcome.text,
            "cycle": outcome.cycle,
            "suppressed": suppressed,
        }
    return MASKER.mask_data(doc)


class Webhook:
    """Posts outcomes to ``url``; ``__call__`` is a watch observer, ``close`` waits for what is queued."""

    def __init__(
        self,
        url: str,
        target: str,
        fmt: Format = "generic",
        limit: int = 10,
        per_s: float = 600.0,
        retries: int = 3,
        backoff_s: float = 1.0,
        timeout_s: float = 10.0,
        clock: Clock = SYSTEM_CLOCK,
        log: Callable[[str], None] = lambda _m: None,
    ) -> None:
        MASKER.add(url)  # a Slack webhook URL is a credential: it never appears in output
        self.url, self.target, self.fmt = url, target, fmt
        self.limit, self.per_s, self.retries = limit, per_s, retries
        self.backoff_s, self.timeout_s = backoff_s, timeout_s
        self.clock, self.log = clock, log
        self.tracker = OutcomeTracker()
        self.sent_at: deque[float] = deque()
        self.suppressed = 0
        self.delivered = self.failed = 0
        self._queue: queue.Queue[tuple[Outcome, int] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="remediate-webhook", daemon=True)
        self._thread.start()

    def __call__(self, record: dict[str, Any]) -> None:
        for outcome in self.tracker.outcomes_of(record):
            if self.allow():
                self._queue.put((outcome, self.suppressed))  # what was held back before this one
                self.suppressed = 0
            else:
                self.suppressed += 1

    def allow(self) -> bool:
        """The rate limit: at most ``limit`` messages within any ``per_s`` seconds."""
        now = self.clock.monotonic()
        while self.sent_at and now - self.sent_at[0] >= self.per_s:
            self.sent_at.popleft()
        if len(self.sent_at) >= self.limit:
            return False
        self.sent_at.append(now)
        return True

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            outcome, suppressed = item
            if self.send(body(outcome, self.target, self.fmt, suppressed)):
                self.delivered += 1
            else:
                self.failed += 1

    def send(self, doc: dict[str, Any]) -> bool:
        """POST with retries (no answer, 429, 5xx; backoff doubling); True when the receiver took it."""
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.clock.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                answer = request(Request("POST", self.url, json=doc, timeout=self.timeout_s))
            except HttpError as exc:
                problem = str(exc)
                continue
            if 200 <= answer.status < 300:
                return True
            problem = f"answered {answer.status}"
            if answer.status != 429 and answer.status < 500:
                break  # the receiver refuses this message: sending it again will not help
        self.log(MASKER.mask(f"webhook {self.url}: {problem}; {doc.get('event') or 'message'} not delivered"))
        return False

    def close(self, timeout: float = 30.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)
