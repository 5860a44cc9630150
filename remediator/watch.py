"""``remediate watch``: the apply loop on a schedule and on Docker events, self-healing for a dev stack.

A cycle measures the whole suite; below the target it heals with the planner exactly as ``apply``
does (the same steps, verify, rollback and journal), starting from that measurement. Cycles run
every ``interval_s`` and, sooner, when the engine reports that a container of the project exited,
ran out of memory, was removed or turned unhealthy. A burst of such events (``compose stop`` of
several services) makes one cycle after a short ``debounce_s``; the cycle's run starts at the burst's
first event, beside the window, and is used only if no other event came while it ran or the window
was open. Events that the cycle's own actions cause (a recreate stops and removes the old container)
are dropped when the cycle ends.

A service's container that exited is its own evidence (``Stopped``): the cycle starts as soon as its
run is done, without the window, when nothing else happened meanwhile and the container is still the
service's only one, still exited (not a restart policy's or a person's recreate under way). That run
re-tests only the checks of that service (and what requires them) on top of the last cycle's whole
run, when that cycle met the target: the other checks were passing and nothing else was reported to
have changed. A partial run is only a starting point: it is used only when it falls below the target
(a heal follows, and every heal ends with a whole re-test), never to say "met". Its heal's first
diagnosis is the playbooks' alone (``analyze_first=False``): the container's facts name the cause.
No cycle's final diagnosis reads the analyzers (``analyze_last=False``): the record carries the
playbooks' findings only (the suite's, the failing checks), and those do not depend on it; the
analyzers' look at compose (four compose processes) would only compete with the final re-test.

One planner lives as long as the watch, and so do its guards: a fix that keeps coming back trips
the breaker within the guards' window instead of being applied again every cycle (Monit's "if 3
restarts within 5 cycles then unmonitor"). The watch uses the planner's public surface only: its
stack (for the engine's events), ``meter.start``, ``apply`` and ``guards``.
"""

from __future__ import annotations

import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from .actions import new_run_id
from .backends.engine import SERVICE, Engine, is_oneoff
from .errors import Busy, Unreachable
from .guards import Guards
from .guardstore import StoredGuards
from .model import dependents
from .planner import Planner
from .results import FAILED, PASSED, SKIPPED, Run
from .secrets import MASKER

# What the engine is asked to send; ``health_status`` matches every health change (filtered below).
EVENTS = ("die", "oom", "destroy", "health_status")

_WAKE: Mapping[str, Any] = {}  # no event: what ``EventFeed.wake`` puts in the queue (``drop_until`` drops it)

Emit = Callable[[dict[str, Any]], None]
Notify = Callable[[str], None]
Observer = Callable[[dict[str, Any]], None]  # sees every record after it is emitted (metrics, webhooks, status)


def _action(event: Mapping[str, Any]) -> str:
    return str(event.get("Action") or event.get("status") or "")


def stopped_service(event: Mapping[str, Any]) -> str | None:
    """The compose service whose container exited, when ``event`` says so (a one-off run's does not count)."""
    attrs = (event.get("Actor") or {}).get("Attributes") or {}
    if _action(event) != "die" or is_oneoff(attrs):
        return None
    return attrs.get(SERVICE) or None


def trigger_of(event: Mapping[str, Any]) -> str | None:
    """What an engine event says in words, when it calls for a cycle; None when it does not.

    A container turning healthy or starting needs no cycle, nor does a one-off ``compose run``.
    """
    action = _action(event)
    attrs = (event.get("Actor") or {}).get("Attributes") or {}
    if is_oneoff(attrs):
        return None
    who = attrs.get(SERVICE) or attrs.get("name") or "a container"
    if action == "die":
        return f"{who} exited ({attrs.get('exitCode', '?')})"
    if action == "oom":
        return f"{who} ran out of memory"
    if action == "destroy":
        return f"{who} was removed"
    if action.startswith("health_status") and action.partition(":")[2].strip() == "unhealthy":
        return f"{who} turned unhealthy"
    return None


class EventFeed:
    """The project's engine events, read in a daemon thread into a queue the watch loop waits on.

    When the engine goes away the reader says so once and connects again every 2 s; events missed
    meanwhile are caught by the next scheduled cycle.
    """

    def __init__(self, engine: Engine, project: str, notify: Notify) -> None:
        self.engine, self.project, self.notify = engine, project, notify
        self.events: queue.Queue[Mapping[str, Any]] = queue.Queue()
        self._closed = threading.Event()
        self._stream: Any = None
        self._thread = threading.Thread(target=self._read, name="remediate-events", daemon=True)

    def start(self) -> None:
        self._stream = self.engine.events(self.project, EVENTS)  # the first connect fails loudly
        self._thread.start()

    def _read(self) -> None:
        down = False
        while not self._closed.is_set():
            try:
                if self._stream is None:
                    self._stream = self.engine.events(self.project, EVENTS)
                    if down:
                        self.notify("events: connected again")
                    down = False
                for event in self._stream:
                    self.events.put(event)
            except Exception as exc:  # the engine restarted or went away: the schedule still runs
                if not down and not self._closed.is_set():
                    self.notify(f"events: {str(exc).splitlines()[0][:160]}; connecting again every 2 s")
                down = True
            self._stream = None
            self._closed.wait(2.0)

    def get(self, timeout: float) -> Mapping[str, Any] | None:
        """The next event, or None after ``timeout`` or at a ``wake``."""
        try:
            event = self.events.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None
        return None if event is _WAKE else event

    def wake(self) -> None:
        """End the wait of a ``get`` now (or the next one's): a cycle's early run is over, and the burst's
        window may close at once (``Watcher._gather``) instead of at the end of a half-second wait."""
        self.events.put(_WAKE)

    def drop_until(self, time_ns: int) -> None:
        """Forget the events that happened up to ``time_ns`` (those the cycle's own actions caused)."""
        later = []
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                break
            if int(event.get("timeNano") or int(event.get("time", 0)) * 10**9) > time_ns:
                later.append(event)
        for event in later:
            self.events.put(event)

    def close(self) -> None:
        self._closed.set()
        stream = self._stream
        if stream is not None:
            stream.close()


@dataclass
class WatchOptions:
    """How often, how eagerly and for how long to watch."""

    until: float = 1.0
    interval_s: float = 60.0
    debounce_s: float = 1.0
    events: bool = True
    max_cycles: int | None = None
    duration_s: float | None = None
    max_steps: int = 20
    cycle_timeout_s: float = 1800.0


class Watcher:
    """Runs cycles until stopped (a signal, ``max_cycles`` or ``duration_s``); one record per cycle."""

    def __init__(
        self,
        planner: Planner,
        options: WatchOptions,
        emit: Emit,
        notify: Notify | None = None,
        observers: Sequence[Observer] = (),
    ) -> None:
        self.planner, self.options, self.emit = planner, options, emit
        self.notify = notify or (lambda _msg: None)
        self.observers = list(observers)
        self._stop = threading.Event()
        self._triggers: queue.Queue[str] = queue.Queue()  # from the trigger endpoint (Alertmanager, a person)
        self._wake = threading.Event()
        self.stop_reason = ""
        # Counts and the last record only: a watch runs for weeks, and what each cycle did is in its
        # emitted record and the journal already.
        self.cycles = self.healing_cycles = self.steps = 0
        self.last: dict[str, Any] = {}
        self._premeasured: Measured | None = None  # the next cycle's run, taken while its burst was gathered
        self._engine: Engine | None = None  # asks whether a stopped container is still the service's only one

    def stop(self, reason: str) -> None:
        """Stop after the cycle in progress (from a signal handler or another thread)."""
        if not self._stop.is_set():
            self.stop_reason = reason
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def trigger(self, reason: str) -> None:
        """Start a cycle as soon as the one in progress (if any) ends (from another thread)."""
        self._triggers.put(reason)
        self._wake.set()

    def _publish(self, record: dict[str, Any]) -> None:
        self.emit(record)
        for observe in self.observers:
            try:
                observe(record)
            except Exception as exc:  # a metric or a webhook must never stop the healer
                said = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
                self.notify(f"{getattr(observe, '__qualname__', 'observer')}: {said}")

    def run(self) -> dict[str, Any]:
        """Watch until stopped; return the summary (also emitted as the last record)."""
        opts, target = self.options, self.planner.target
        end = time.monotonic() + opts.duration_s if opts.duration_s else float("inf")
        feed = None
        if opts.events and target.compose is not None:
            feed = EventFeed(Engine(target.docker), target.compose.project, self.notify)
            feed.start()
            self._engine = Engine(target.docker)  # the main thread's own client, beside the reader's stream
        trigger: str | None = "start"
        try:
            while trigger is not None:
                number = self.cycles + 1
                premeasured, self._premeasured = self._premeasured, None
                record = self.cycle(number, trigger, premeasured)
                self.cycles, self.last = number, record
                self.healing_cycles += bool(record.get("healed"))
                self.steps += len(record.get("steps", ()))
                self._publish(record)
                if feed is not None:
                    feed.drop_until(time.time_ns())
                if opts.max_cycles and number >= opts.max_cycles:
                    self.stop(f"{number} cycle(s) (--max-cycles)")
                    break
                trigger = self._wait(feed, min(time.monotonic() + opts.interval_s, end), end)
        finally:
            if feed is not None:
                feed.close()
            if self._engine is not None:
                self._engine.close()
        summary = self.summary()
        self._publish(summary)
        return summary

    def _wait(self, feed: EventFeed | None, next_at: float, end: float) -> str | None:
        """The next cycle's trigger: relevant events (gathered for ``debounce_s``), the schedule, or
        None when the watch is to stop."""
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= end:
                self.stop(f"{self.options.duration_s:g} s (--duration)")
                return None
            if now >= next_at:
                return "schedule"
            if asked := self._asked():
                return asked
            timeout = min(0.5, next_at - now, end - now)
            event = feed.get(timeout) if feed is not None else None
            if feed is None:
                self._wake.wait(timeout)
            reason = trigger_of(event) if event is not None else None
            if event is None or reason is None:
                continue
            stopped = Stopped.of(event, self._engine, feed.project) if feed is not None and self._engine else None
            measuring = None
            if stopped is not None or self.options.debounce_s > 0:
                measuring = _Measuring(self.planner.meter, self._checks_of(stopped), feed.wake if feed else None)
            reasons = self._gather(feed, event, measuring, stopped)
            self._premeasured = measuring.result() if measuring is not None else None
            return "; ".join(reasons)
        return None

    def _checks_of(self, stopped: Stopped | None) -> set[str] | None:
        """The checks a stopped service's run re-tests: those probing it and all that require them; None
        (every check) unless the last cycle measured the whole suite at or above the target."""
        meter = self.planner.meter
        if stopped is None or not self.last.get("met") or self.last.get("error") or not meter.whole:
            return None
        checks = meter.suite.checks
        own = {c.id for c in checks if c.probe.get("service") == stopped.service}
        return dependents(checks, own) if own else None

    def _gather(
        self,
        feed: EventFeed | None,
        first: Mapping[str, Any],
        measuring: _Measuring | None = None,
        stopped: Stopped | None = None,
    ) -> list[str]:
        """The reasons of the burst of events that began with ``first``, gathered for ``debounce_s``.

        A fixed window, not "until quiet": compose stops a recreated service's old container, then
        removes it, then starts the new one, and on a loaded machine those steps are seconds apart; a
        cycle started in between measures the gap, not the new container (tried: a 0.2 s quiet gap
        missed a recreated service's fault in the sandbox test).

        ``measuring``: the cycle's run, begun at ``first``, while the window is open. Events are read on
        until both the window and that run are over; one more event of the burst in that time and the
        run is not used (the cycle measures again, after the window, as it would have without it). A
        run that is used thus saw no relevant event from its start to its end and no later window end.

        ``stopped``: ``first`` was a service's container exiting. The window closes as soon as the run is
        over if nothing else came meanwhile and the engine still shows that container exited and alone
        (``Stopped.still``); otherwise the whole window is waited out as for any event.
        """
        reasons = [trigger_of(first) or "an event"]

        def note(more: Mapping[str, Any] | None) -> None:
            """One more event of the burst: its reason, and the run begun before it is not used."""
            extra = trigger_of(more) if more is not None else None
            if extra and measuring is not None:
                measuring.dirty = True
            if extra and extra not in reasons:
                reasons.append(extra)

        end = time.monotonic() + self.options.debounce_s
        while not self._stop.is_set():
            left = end - time.monotonic()
            over = measuring is None or measuring.done()
            if over and stopped is not None and left > 0:
                while feed is not None and (more := feed.get(0)) is not None:  # what came as the run ended
                    note(more)
                if measuring is not None and not measuring.dirty and stopped.still():
                    measuring.quick = True
                    break
                stopped = None  # something else is going on: gather the burst as for any event
            if left <= 0 and over:
                break
            # the run's end wakes this wait (``EventFeed.wake``): it is over the moment it is over
            note(feed.get(min(left, 0.5) if left > 0 else 0.5) if feed is not None else None)
        return reasons

    def _asked(self) -> str | None:
        """The triggers received since the last cycle, as one reason (None when there are none)."""
        self._wake.clear()
        reasons: list[str] = []
        while True:
            try:
                reason = self._triggers.get_nowait()
            except queue.Empty:
                return "; ".join(reasons) or None
            if reason not in reasons:
                reasons.append(reason)

    def cycle(self, number: int, trigger: str, first: Measured | None = None) -> dict[str, Any]:
        """Measure (``first``: already measured, while the burst of events was gathered); below the target,
        heal from that measurement. An unreachable engine after the first cycle is recorded and waited
        out; on the first it ends the watch (exit 3)."""
        planner, opts = self.planner, self.options
        started = time.monotonic()
        record: dict[str, Any] = {
            "kind": "cycle",
            "cycle": number,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "trigger": trigger,
            "target": opts.until,
        }
        self.notify(f"cycle {number}: {trigger}")
        guards = planner.guards
        if isinstance(guards, StoredGuards):
            for key in guards.rearm():
                self.notify(f"re-armed after {guards.rearm_s:g} s of quiet: {key}")
        if first is not None and first.at_once:
            record["at_once"] = True  # a service's exit, alone: no debounce window was waited out
        if first is not None and first.partial:
            if first.run.rate >= opts.until:
                first = None  # a partial run never says "met": the cycle measures the whole suite instead
            else:
                record["first_run"] = f"{first.partial} of {first.run.total} checks re-tested, the rest as before"
        try:
            # a cycle an event or a trigger started is likely to heal: its diagnosis is read beside the run
            partial = first is not None and first.partial > 0
            run = planner.meter.start(first.run if first is not None else None, deep=trigger != "schedule")
            failing = [r.id for r in run.results if r.status in (FAILED, SKIPPED)]
            record.update(
                rate_before=round(run.rate, 4), total=run.total, passed_before=run.passed, failing_before=failing
            )
            if run.rate >= opts.until:
                record.update(
                    rate_after=round(run.rate, 4),
                    passed_after=run.passed,
                    met=True,
                    healed=False,
                    steps=[],
                    acted_on=[],
                    remaining_failures=failing,
                    checks=_counts(run),
                )
            else:
                result = planner.apply(
                    until=opts.until,
                    max_steps=opts.max_steps,
                    timeout_s=opts.cycle_timeout_s,
                    initial_run=run,
                    run_id=new_run_id(),
                    analyze_first=not partial,  # a service's exit: its cause is in the container's facts
                    analyze_last=False,  # the record carries no analysis: the heal ends at its re-test
                )
                record.update(
                    rate_after=round(result.final_rate, 4),
                    passed_after=result.final.passed,
                    met=result.met,
                    healed=any(s.status == "changed" for s in result.steps),  # a step kept, not merely taken
                    steps=[s.to_json() for s in result.steps],
                    acted_on=[s.finding.key for s in result.steps],
                    stop_reason=result.stop_reason,
                    excluded=dict(result.excluded),
                    suite_findings=[f["key"] for f in result.suite_findings],
                    remaining_failures=result.failing,
                    checks=_counts(result.final),
                )
                if isinstance(guards, StoredGuards):
                    for step in result.steps:
                        guards.outcome(step.finding.key, step.status, step.reason)
        except Busy as exc:  # another heal holds the target: this cycle leaves it to that one
            record.update(met=False, healed=False, steps=[], acted_on=[], error=str(exc))
        except Unreachable as exc:
            if number == 1:
                raise
            record.update(met=False, healed=False, steps=[], acted_on=[], error=str(exc))
        record["breaker"] = _breaker(guards)
        record["duration_s"] = round(time.monotonic() - started, 2)
        return MASKER.mask_data(record)

    def summary(self) -> dict[str, Any]:
        return MASKER.mask_data(
            {
                "kind": "summary",
                "cycles": self.cycles,
                "healing_cycles": self.healing_cycles,
                "steps": self.steps,
                "stop_reason": self.stop_reason or "stopped",
                "met": bool(self.last.get("met")),
                "rate": self.last.get("rate_after"),
                "excluded": dict(self.planner.guards.excluded),
            }
        )


@dataclass(frozen=True)
class Measured:
    """A cycle's first run, taken before the cycle began; ``partial``: how many checks it re-tested on top
    of the previous cycle's whole run (0: it measured them all)."""

    run: Run
    partial: int = 0
    at_once: bool = False  # the cycle did not wait out the debounce window (``Stopped``)


@dataclass(frozen=True)
class Stopped:
    """A service's container that exited, as an event reported it."""

    service: str
    container: str
    engine: Engine
    project: str

    @classmethod
    def of(cls, event: Mapping[str, Any], engine: Engine, project: str) -> Stopped | None:
        service = stopped_service(event)
        container = str((event.get("Actor") or {}).get("ID") or event.get("id") or "")
        return cls(service, container, engine, project) if service and container else None

    def still(self) -> bool:
        """The engine still shows that container exited, and the service has no other (no recreate under
        way, no restart policy that brought it back): acting on the event's word alone is then safe."""
        try:
            found = self.engine.containers(self.project, self.service)
        except Exception:  # the engine did not answer: wait out the window, the cycle will say why
            return False
        return [(c.id, c.state) for c in found] in ([(self.container, "exited")], [(self.container, "dead")])


class _Measuring:
    """A cycle's run, taken in a thread of its own from the first event of a burst on: the debounce
    window and the measurement overlap instead of adding up. ``only``: the checks to re-test on top of
    the latest whole run (None: all). ``dirty``: another event of the burst came while it ran (or before
    the window closed); its run is then not used. ``quick``: the window was skipped (``Stopped``)."""

    def __init__(self, meter: Any, only: set[str] | None = None, done: Callable[[], None] | None = None) -> None:
        self.dirty = self.quick = False
        self.only = only
        self._done = done  # told when the run is over (``EventFeed.wake``)
        self._over = threading.Event()  # set before ``done`` is told (the thread is still alive then)
        self._run: Run | None = None
        self._thread = threading.Thread(target=self._measure, args=(meter,), name="remediate-measure", daemon=True)
        self._thread.start()

    def _measure(self, meter: Any) -> None:
        try:
            # a service's checks alone are measured for a heal whose first diagnosis is the playbooks':
            # nothing to read beside them (the stack's deep observation would cost more than they do)
            self._run = meter.start(deep=True) if self.only is None else meter.test(self.only)
        except Exception:  # the cycle measures again, where the error is recorded as it always was
            self._run = None
        finally:
            self._over.set()
            if self._done is not None:
                self._done()

    def done(self) -> bool:
        return self._over.is_set()

    def result(self) -> Measured | None:
        self._thread.join()
        if self.dirty or self._run is None:
            return None
        return Measured(self._run, len(self.only) if self.only is not None else 0, self.quick)


def _counts(run: Run) -> dict[str, int]:
    return {status: run.count(status) for status in (PASSED, FAILED, SKIPPED)}


def _breaker(guards: Guards) -> dict[str, str]:
    """Findings no longer taken: ``open`` (the breaker tripped; stored guards re-arm it) or ``quarantined``."""
    if isinstance(guards, StoredGuards):
        return guards.breaker_state()
    return dict.fromkeys(guards.excluded, "open")


@contextmanager
def stop_on_signals(watcher: Watcher, notify: Notify) -> Iterator[None]:
    """SIGTERM and a first Ctrl-C stop the watch after the cycle in progress; a second Ctrl-C
    interrupts that cycle (files are written atomically, so an interrupted step leaves no half file)."""

    def on_signal(signum: int, _frame: Any) -> None:
        if watcher.stopping and signum == signal.SIGINT:
            raise KeyboardInterrupt
        watcher.stop(signal.Signals(signum).name)
        notify("stopping after this cycle (Ctrl-C again to interrupt it)")

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
