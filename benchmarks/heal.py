"""How much does remediator add on top of the compose work a heal needs?

One run, on a sandbox of its own (a temporary work directory, project ``remediate-bench-<random>``,
port offset 14000, torn down at the end, also on error or Ctrl-C):

1. ``sandbox up`` + ``break report``, then ``remediate apply --until 1.0 --json`` as a child process,
   timed wall to wall (Python start-up, imports, every check run, diagnosis and wait included).
2. From its JSON, the actions of every kept step say which compose work the heal needed (steps it
   took together, such as two stopped services, are replayed together: one ``up -d`` naming both). The
   sandbox is reset (``up`` + ``break report``) and exactly that work is replayed by hand, timed: the
   same ``.env`` edits (plain Python, atomic write), the same ``compose up -d SERVICES`` followed by
   a poll of the engine until those containers are healthy, the same ``compose exec`` migration,
   with the Compose v2 binary remediator itself uses.
3. overhead = (remediate - raw) / raw. Goal: under 20 %.

With ``--phases`` a third heal runs in-process (after another reset) with every phase timed (check
runs, facts gathering, diagnosis, discriminating probes, each action, compose CLI calls by verb,
sleeps), self time only, so the rows add up to the whole; ``--cprofile FILE`` also writes a cProfile
of that run (read it with ``python -m pstats FILE``).

Run by hand: .venv/bin/python benchmarks/heal.py [--phases] [--cprofile /tmp/heal.prof]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SANDBOX = ROOT / "sandbox" / "sandbox.py"
REMEDIATE = [PYTHON, "-m", "remediator"]
GOAL = 0.20
EDITS = {"env_set", "env_unset", "compose_set", "compose_unset", "yaml_set", "yaml_unset"}
RAW_KEYS = {"services", "service", "command", "key", "file", "timeout"}
POLL_S = 0.25  # the raw wait's poll interval, the same as remediator's wait_healthy


def say(msg: str) -> None:
    print(f"[heal-bench] {msg}", file=sys.stderr, flush=True)


# -- the sandbox ----------------------------------------------------------------------------------


class Sandbox:
    """One sandbox in its own work directory and compose project."""

    def __init__(self, workdir: Path, project: str, offset: int) -> None:
        self.workdir, self.project, self.offset = workdir, project, offset
        self.started = False

    def _cli(self, *args: str) -> float:
        t0 = time.perf_counter()
        proc = subprocess.run([PYTHON, str(SANDBOX), *args], capture_output=True, text=True, cwd=ROOT, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"sandbox {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
        return time.perf_counter() - t0

    def up(self) -> float:
        self.started = True
        return self._cli(
            "up", "--workdir", str(self.workdir), "--project", self.project, "--port-offset", str(self.offset)
        )

    def break_(self, scenario: str) -> float:
        return self._cli("break", scenario, "--workdir", str(self.workdir))

    def reset(self, scenario: str) -> None:
        t_up = self.up()
        t_break = self.break_(scenario)
        say(f"sandbox reset: up {t_up:.1f} s, break {scenario} {t_break:.1f} s")

    def down(self) -> None:
        if self.started:
            self._cli("down", "--workdir", str(self.workdir))

    @property
    def inventory(self) -> Path:
        return self.workdir / "inventory.yml"


@contextmanager
def private_sandbox(name: str, offset: int) -> Iterator[Sandbox]:
    """A sandbox in a temporary work directory with a compose project of its own; brought down and
    removed afterwards, also on error or Ctrl-C."""
    workdir = Path(tempfile.mkdtemp(prefix=f"remediate-{name}-"))
    box = Sandbox(workdir / "sandbox", f"remediate-{name}-{secrets.token_hex(3)}", offset)
    say(f"sandbox {box.project} in {box.workdir}, port offset {offset}")
    try:
        yield box
    finally:
        try:
            box.down()
            say(f"sandbox {box.project} down")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


# -- the remediate run ----------------------------------------------------------------------------


def run_remediate(inventory: Path, until: float, tree: Path = ROOT) -> tuple[float, dict[str, Any]]:
    """``remediate apply`` as a child, timed wall to wall; ``tree``: the source tree whose ``remediator``
    it runs (``python -m`` imports from the working directory first), to compare two versions."""
    argv = [*REMEDIATE, "apply", "--until", str(until), "--json", "-i", str(inventory)]
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=tree, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1) or not proc.stdout.strip():
        raise RuntimeError(f"remediate apply exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return wall, json.loads(proc.stdout)


# -- what the heal needed, as raw operations ------------------------------------------------------


def _entries(inventory: Path) -> dict[str, Any]:
    from remediator.loader import load_inventory, load_playbooks

    target = load_inventory(inventory).select()[0]
    return {e.id: e for e in load_playbooks(target.playbooks)}


def _specs(entry: Any) -> list[tuple[str, dict[str, Any]]]:
    """The entry's actions as the planner runs them (``schedule.specs``: a restart after an edit becomes an up)."""
    from remediator import schedule
    from remediator.diagnosis import Finding

    bare = Finding(entry=entry, vars={}, checks=frozenset(), explains=frozenset(), evidence=[])
    return [(name, dict(args or {})) for spec in schedule.specs(bare) for name, args in spec.items()]


def raw_operations(doc: Mapping[str, Any], inventory: Path) -> list[list[tuple[str, dict[str, Any]]]]:
    """Per kept step, the operations it performed: [(kind, args)], rendered with the finding's variables.

    Only actions that changed something count (an ``ok`` action was a no-op); ``wait_healthy``
    always counts after a compose operation of the same step (a person waits for health too).
    """
    from remediator import templating

    entries = _entries(inventory)
    steps = []
    for step in doc["steps"]:
        if step["status"] not in ("ok", "changed"):
            say(f"step {step['finding']['key']} was {step['status']}: its work is not part of the heal, not replayed")
            continue
        entry = entries[step["finding"]["id"]]
        if entry.suite:
            raise RuntimeError("a suite patch is not compose work; run without --fix-suite")
        scope = dict(step["finding"]["vars"])
        done = [a for a in step["actions"] if not a["action"].startswith(("rollback ", "re-apply "))]
        ops, composed = [], False
        for (name, args), result in zip(_specs(entry), done, strict=False):
            if result["action"] != name:
                raise RuntimeError(f"step {entry.id}: action {result['action']} where the playbook says {name}")
            # only what the raw operation needs (``validate_with`` and the like are rendered late, by the action)
            args = {k: templating.render(v, scope) for k, v in args.items() if k in RAW_KEYS}
            if result["result"] == "changed" or (name == "wait_healthy" and composed):
                ops.append((name, args))
                composed = composed or name.startswith("compose_")
        steps.append(ops)
    return steps


def _together(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Two steps of the JSON taken as one (``schedule.companions``): the same entry, one compose call
    recorded on both (its message names every service), one rate after (their durations differ by the
    moment each was stamped)."""
    same = a["finding"]["id"] == b["finding"]["id"]
    return same and a["actions"] == b["actions"] and a["rate_after"] == b["rate_after"]


def batches(steps: list[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """The steps as remediate took them: consecutive steps taken together form one batch."""
    out: list[list[Mapping[str, Any]]] = []
    for step in steps:
        if out and _together(out[-1][-1], step):
            out[-1].append(step)
        else:
            out.append([step])
    return out


def merge_ops(ops_of: list[list[tuple[str, dict[str, Any]]]]) -> list[tuple[str, dict[str, Any]]]:
    """The raw operations of steps taken together, as a person does them: one ``up -d`` (and one wait)
    naming every service, not one per service."""
    merged: list[tuple[str, dict[str, Any]]] = []
    for column in zip(*ops_of, strict=True):
        name, args = column[0][0], dict(column[0][1])
        services: list[str] = []
        for _, a in column:
            services += [x for x in a.get("services") or [] if x not in services]
        if services:
            args["services"] = services
        merged.append((name, args))
    return merged


# -- replaying them by hand -----------------------------------------------------------------------


def _write_atomic(path: Path, text: str) -> None:
    mode = path.stat().st_mode & 0o777
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _env_value(text: str, key: str) -> str | None:
    for line in text.splitlines():
        k, sep, v = line.partition("=")
        if sep and k.strip().removeprefix("export ").strip() == key:
            return v
    return None


def env_edit(path: Path, key: str, value: str | None) -> None:
    """Set (or with None remove) ``KEY=value`` in an env file, every other line as it was."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    out, found = [], False
    for line in lines:
        k, sep, _ = line.partition("=")
        if sep and k.strip().removeprefix("export ").strip() == key:
            found = True
            if value is not None:
                out.append(f"{key}={value}\n")
            continue
        out.append(line)
    if not found and value is not None:
        out.append(f"{key}={value}\n")
    _write_atomic(path, "".join(out))


class Raw:
    """The compose project driven by hand: the bundled Compose v2 binary and the docker SDK."""

    def __init__(self, workdir: Path, project: str, healed: Mapping[str, str]) -> None:
        import docker

        from remediator.backends.compose import find_command
        from remediator.model import ComposeProject

        self.workdir, self.project, self.healed = workdir, project, healed
        cp = ComposeProject(project, workdir, (workdir / "compose.yml",), (workdir / ".env",))
        self.base = [
            *find_command(cp),
            "-p",
            project,
            "--project-directory",
            str(workdir),
            "-f",
            str(workdir / "compose.yml"),
            "--env-file",
            str(workdir / ".env"),
        ]
        self.client = docker.from_env()

    def compose(self, *args: str) -> None:
        proc = subprocess.run([*self.base, *args], capture_output=True, text=True, cwd=self.workdir, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"compose {' '.join(args)} failed: {proc.stderr.strip()[-500:]}")

    def healthy(self, services: list[str]) -> bool:
        for service in services:
            found = self.client.containers.list(
                all=True,
                filters={
                    "label": [f"com.docker.compose.project={self.project}", f"com.docker.compose.service={service}"]
                },
            )
            ok = False
            for c in found:
                state = c.attrs["State"]
                health = (state.get("Health") or {}).get("Status", "none")
                ok = ok or (state.get("Status") == "running" and health in ("healthy", "none"))
            if not ok:
                return False
        return True

    def wait(self, services: list[str], timeout: float) -> None:
        end = time.monotonic() + timeout
        while not self.healthy(services):
            if time.monotonic() > end:
                raise RuntimeError(f"{', '.join(services)} not healthy after {timeout:g} s")
            time.sleep(POLL_S)

    def do(self, name: str, args: Mapping[str, Any]) -> None:
        services = list(args.get("services") or [])
        if name in ("env_set", "env_unset"):
            path = self.workdir / args["file"]
            env_edit(path, args["key"], _env_value(self.healed[args["file"]], args["key"]))
        elif name in EDITS:  # a compose or YAML edit: the file as the heal left it
            path = self.workdir / args.get("file", "compose.yml")
            _write_atomic(path, self.healed[str(path.relative_to(self.workdir))])
        elif name == "compose_up":
            self.compose("up", "-d", *services)
        elif name == "compose_recreate":
            self.compose("up", "-d", "--force-recreate", *services)
        elif name == "compose_restart":
            self.compose("restart", *services)
        elif name == "wait_healthy":
            self.wait(services, float(args.get("timeout", 60)))
        elif name == "exec":
            self.compose("exec", "-T", args["service"], *args["command"])
        elif name == "run":
            self.compose("run", "--rm", "-T", "--no-deps", args["service"], *args["command"])
        else:
            raise RuntimeError(f"no raw equivalent for action {name}")


def replay(raw: Raw, steps: list[list[tuple[str, dict[str, Any]]]]) -> list[float]:
    times = []
    for ops in steps:
        t0 = time.perf_counter()
        for name, args in ops:
            raw.do(name, args)
        times.append(time.perf_counter() - t0)
    return times


# -- phases of an in-process heal -----------------------------------------------------------------


class Phases:
    """Self time per labelled call: nested labelled calls are subtracted from their caller."""

    def __init__(self) -> None:
        self.self_s: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._stack: list[list[float]] = []  # per active call: [time spent in labelled children]
        self.labels: list[str] = []  # the active labels, innermost last
        self._undo: list[Callable[[], None]] = []

    @contextmanager
    def timed(self, label: str) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # engine calls of probes run in worker threads: they count as part of the check run
            return
        self._stack.append([0.0])
        self.labels.append(label)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - t0
            children = self._stack.pop()[0]
            self.labels.pop()
            self.self_s[label] += elapsed - children
            self.calls[label] += 1
            if self._stack:
                self._stack[-1][0] += elapsed

    def wrap(self, owner: Any, attr: str, label: str | Callable[..., str]) -> None:
        original = getattr(owner, attr)

        def wrapper(*a: Any, **kw: Any) -> Any:
            with self.timed(label(*a, **kw) if callable(label) else label):
                return original(*a, **kw)

        setattr(owner, attr, wrapper)
        self._undo.append(lambda: setattr(owner, attr, original))

    def restore(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()


def _compose_verb(_self: Any, *args: str, **_kw: Any) -> str:
    words = [a for a in args if not a.startswith("-")]
    return "compose CLI: " + ("dry-run " if "--dry-run" in args else "") + (words[0] if words else "?")


def heal_in_process(inventory: Path, until: float, cprofile: Path | None) -> tuple[float, dict[str, Any], Phases]:
    """The same heal as ``remediate apply``, in this process, with its phases timed."""
    import remediator.actions.base as action_base
    import remediator.backends.compose as compose_mod
    import remediator.backends.engine as engine_mod
    import remediator.journal as journal_mod
    import remediator.measure as measure_mod
    import remediator.planner as planner_mod
    import remediator.stack as stack_mod
    import remediator.step as step_mod
    from remediator import log
    from remediator.loader import load_inventory, load_playbooks, load_suite

    log.configure(0)  # as the CLI does: warnings only, on stderr
    target = load_inventory(inventory).select()[0]
    planner = planner_mod.Planner(target, load_suite(target.checks), load_playbooks(target.playbooks))
    ph = Phases()
    M = measure_mod.Meter
    # a run announced deep also waits for the analyzers' observation read beside it (in a thread: counted here)
    ph.wrap(M, "test", lambda _s, only=None, **_kw: "check run (full)" if only is None else "check run (partial)")
    ph.wrap(stack_mod.LiveStack, "observe", "observe: gather facts")
    ph.wrap(stack_mod.LiveStack, "probe", "discriminating probe")
    ph.wrap(M, "diagnosis", "diagnose: facts and findings")
    ph.wrap(M, "settle", "settle loop")
    ph.wrap(journal_mod.Journal, "write", "journal")
    ph.wrap(action_base.Action, "apply", lambda a, _ctx: f"action {a.name}")
    ph.wrap(compose_mod.Compose, "run", _compose_verb)
    ph.wrap(engine_mod.Engine, "containers", "engine SDK: list+inspect")
    ph.wrap(engine_mod.Engine, "logs", "engine SDK: logs")
    ph.wrap(step_mod, "verified", "verify: did the step work")
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        with ph.timed(f"sleep in {ph.labels[-1] if ph.labels else '?'}"):
            real_sleep(seconds)

    time.sleep = sleep
    profiler = None
    if cprofile:
        import cProfile

        profiler = cProfile.Profile()
    t0 = time.perf_counter()
    try:
        with ph.timed("planner (own code)"):
            if profiler:
                profiler.enable()
            doc = planner.apply(until=until).to_json()
    finally:
        if profiler:
            profiler.disable()
            profiler.dump_stats(str(cprofile))
        wall = time.perf_counter() - t0
        time.sleep = real_sleep
        ph.restore()
    return wall, doc, ph


# -- output ---------------------------------------------------------------------------------------


def table(rows: list[list[str]], head: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    fmt = lambda r: "  ".join(  # noqa: E731
        str(c).ljust(w) if i in (0, len(r) - 1) else str(c).rjust(w)
        for i, (c, w) in enumerate(zip(r, widths, strict=True))
    )
    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(head), rule, *(fmt(r) for r in rows)])


def describe_ops(ops: list[tuple[str, dict[str, Any]]]) -> str:
    parts = []
    for name, args in ops:
        what = args.get("key") or " ".join(args.get("services") or []) or args.get("service") or ""
        parts.append(f"{name}({what})")
    return ", ".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="report")
    parser.add_argument("--until", type=float, default=1.0)
    parser.add_argument(
        "--port-offset",
        type=int,
        default=14000,
        help="added to the sandbox's ports; they stay below Linux's ephemeral range (32768-60999), where an "
        "outgoing connection can hold a port first",
    )
    parser.add_argument("--phases", action="store_true", help="also time the phases of an in-process heal")
    parser.add_argument("--cprofile", type=Path, help="with --phases: write a cProfile of the in-process heal")
    parser.add_argument("--json", dest="json_out", type=Path, help="write the figures as JSON to this file")
    parser.add_argument("--baseline", type=Path, help="another remediator source tree: its heal, in the same run")
    args = parser.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the sandbox is torn down
    sys.path.insert(0, str(ROOT))
    with private_sandbox("bench", args.port_offset) as box:
        box.reset(args.scenario)
        say(f"remediate apply --until {args.until} --json")
        wall, doc = run_remediate(box.inventory, args.until)
        if not doc["met"]:
            raise RuntimeError(f"remediate did not meet {args.until}: {doc['stop_reason']}")
        kept = [s for s in doc["steps"] if s["status"] in ("ok", "changed")]
        per_step = raw_operations(doc, box.inventory)
        # fixes remediate took together (two stopped services) are replayed together too: one compose call
        groups, at = [], 0
        for batch in batches(kept):
            groups.append((batch, merge_ops(per_step[at : at + len(batch)])))
            at += len(batch)
        steps = [ops for _, ops in groups]
        healed = {
            str(p.relative_to(box.workdir)): p.read_text(encoding="utf-8")
            for p in (box.workdir / ".env", box.workdir / "compose.yml", *box.workdir.glob("config/*.yml"))
        }
        baseline_s = None
        if args.baseline:
            box.reset(args.scenario)
            say(f"the same heal by the remediator in {args.baseline}")
            baseline_s, baseline_doc = run_remediate(box.inventory, args.until, args.baseline.resolve())
            if not baseline_doc["met"]:
                raise RuntimeError(f"the baseline did not meet {args.until}: {baseline_doc['stop_reason']}")
        box.reset(args.scenario)
        say("replaying the heal's compose work by hand")
        raw = Raw(box.workdir, box.project, healed)
        raw_times = replay(raw, steps)
        raw_total = sum(raw_times)
        # the replay healed it too: the same suite must now pass (else the baseline did less work)
        check = subprocess.run(
            [*REMEDIATE, "check", "--json", "-i", str(box.inventory)], capture_output=True, text=True, cwd=ROOT
        )
        raw_rate = json.loads(check.stdout)["rate"] if check.stdout.strip() else float("nan")

        rows = []
        for (batch, ops), t in zip(groups, raw_times, strict=True):
            key = " + ".join(s["finding"]["key"] for s in batch)
            rows.append([key, f"{batch[0]['duration_s']:.2f}", f"{t:.2f}", describe_ops(ops)])
        steps_total = sum(batch[0]["duration_s"] for batch in batches(doc["steps"]))  # a batch's time once
        rows.append(["(all steps)", f"{steps_total:.2f}", f"{raw_total:.2f}", ""])
        rows.append(["(outside steps: start-up, first and last run, diagnosis)", f"{wall - steps_total:.2f}", "", ""])
        print()
        print(table(rows, ["step", "remediate s", "raw s", "raw operations"]))
        overhead = (wall - raw_total) / raw_total
        print()
        print(
            table(
                [
                    ["rate", f"{doc['initial_rate']:.3f} -> {doc['final_rate']:.3f}", f"-> {raw_rate:.3f}"],
                    ["time to heal (wall)", f"{wall:.2f} s", f"{raw_total:.2f} s"],
                    ["steps", str(len(doc["steps"])), str(len(steps))],
                    ["test runs (full or partial)", str(doc["test_runs"]), "0"],
                    ["overhead (remediate - raw) / raw", f"{overhead:.1%}", f"goal < {GOAL:.0%}"],
                    ["ratio remediate / raw", f"{wall / raw_total:.2f}x", f"goal <= {1 + GOAL:.1f}x"],
                    *(
                        [["baseline tree (same run)", f"{baseline_s:.2f} s = {baseline_s / raw_total:.2f}x", ""]]
                        if baseline_s is not None
                        else []
                    ),
                ],
                ["", "remediate apply", "raw compose"],
            )
        )
        print(f"\ngoal {'MET' if overhead < GOAL else 'NOT MET'}: overhead {overhead:.1%} (goal < {GOAL:.0%})")
        figures: dict[str, Any] = {
            "scenario": args.scenario,
            "remediate_s": round(wall, 3),
            "raw_s": round(raw_total, 3),
            "overhead": round(overhead, 4),
            "goal": GOAL,
            "met": overhead < GOAL,
            "test_runs": doc["test_runs"],
            "load": [round(x, 1) for x in os.getloadavg()],
            "baseline_s": None if baseline_s is None else round(baseline_s, 3),
            "steps": [
                {
                    "finding": " + ".join(s["finding"]["key"] for s in batch),
                    "remediate_s": batch[0]["duration_s"],
                    "raw_s": round(t, 3),
                }
                for (batch, _), t in zip(groups, raw_times, strict=True)
            ],
        }
        if args.phases:
            box.reset(args.scenario)
            say("in-process heal with its phases timed")
            ip_wall, ip_doc, ph = heal_in_process(box.inventory, args.until, args.cprofile)
            rows = [
                [label, str(ph.calls[label]), f"{s:.2f}", f"{s / ip_wall:.1%}"]
                for label, s in sorted(ph.self_s.items(), key=lambda kv: -kv[1])
            ]
            rows.append(["(total)", "", f"{sum(ph.self_s.values()):.2f}", ""])
            print(f"\nphases of an in-process heal ({ip_wall:.2f} s, {ip_doc['test_runs']} test runs, self time):")
            print(table(rows, ["phase", "calls", "s", "share"]))
            figures["phases"] = {k: round(v, 3) for k, v in ph.self_s.items()}
            figures["phases_wall_s"] = round(ip_wall, 3)
            if args.cprofile:
                print(f"\ncProfile written to {args.cprofile} (python -m pstats {args.cprofile})")
        if args.json_out:
            args.json_out.write_text(json.dumps(figures, indent=2) + "\n")
        return 0


if __name__ == "__main__":
    sys.exit(main())
