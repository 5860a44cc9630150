"""How fast does ``remediate watch`` heal what breaks under it, and what does it cost while it waits?

One run, on a sandbox of its own (a temporary work directory, project ``remediate-wbench-<random>``,
port offset 32000, torn down at the end, also on error or Ctrl-C):

1. Reaction. ``remediate watch --json --interval 600`` runs as a child process (the schedule is far
   away, so each heal comes from the engine's event). ``saga-orchestrator`` is stopped. Two times per heal: from the
   stop until the service is healthy again (polled as by hand: the baseline's own end point, the
   moment the stack is healed) and from the stop to the watch's record of the healed cycle (after its
   whole re-test verified it and the playbooks' diagnosis of that run; the watch asks no analyzers at a
   heal's end, its record carries none); with the default ``--debounce 1`` and ``--debounce 0``.
   The watcher's own fixes' events are still ignored (the cycle drops them). First, in the same run
   and with no watch running, the same service is stopped and brought back by hand (``compose up -d``
   and a poll of the engine until healthy, as ``benchmarks/heal.py`` does): that is the baseline.
   Ratio: median watch / median raw.
2. Idle cost: the watch's CPU time over a quiet stretch, as a share of the wall time, with its
   endpoint listening (``--listen``) and a persistent guards' file, as it runs as a service.
3. Memory: the watch's resident size after the 10th, the 100th and the last of 1,000 fast cycles
   (``--no-events --interval 0.1``) on a one-service stack of its own (the sandbox's whole suite
   would take a quarter of an hour for as many); the ratio says whether it grows with cycles.

The reaction rounds are interleaved: each round stops the service once by hand, then once under each
watch (each debounce, and with ``--baseline DIR`` the same under another source tree of remediator,
e.g. ``git archive`` of main), so every figure of a round meets the same load. ``--inventory`` uses a
healthy sandbox that is already up; ``--reaction-only`` skips the idle and memory figures.

Run by hand: .venv/bin/python benchmarks/watch.py [--rounds 3] [--cycles 1000] [--skip-reaction]
             [--reaction-only] [--baseline DIR] [--inventory INV]
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from heal import POLL_S, REMEDIATE, ROOT, Raw, private_sandbox, table

from remediator.backends.compose import _find_default as find_compose

SERVICE = "saga-orchestrator"


class Watch:
    """``remediate watch --json`` as a child; its records are read as they come."""

    def __init__(self, inventory: Path, *args: str, tree: Path = ROOT) -> None:
        argv = [*REMEDIATE, "watch", "--json", "-i", str(inventory), *args]
        self.proc = subprocess.Popen(argv, cwd=tree, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.records: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.records.put((time.perf_counter(), json.loads(line)))

    def next(self, timeout: float = 120) -> tuple[float, dict[str, Any]]:
        try:
            return self.records.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"no watch record in {timeout} s") from None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def cpu_s(self) -> float:
        """utime + stime of the watch process, from /proc (Linux)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")


def stop_service(raw: Raw, project: str) -> float:
    """Stop the service's container; return the moment it had stopped."""
    (container,) = raw.client.containers.list(
        filters={"label": [f"com.docker.compose.project={project}", f"com.docker.compose.service={SERVICE}"]}
    )
    container.stop(timeout=5)
    return time.perf_counter()


def by_hand(box: Any, raw: Raw, rounds: int) -> list[float]:
    """Per round: stop the service, then ``compose up -d`` it and poll until healthy (no watch running)."""
    times = []
    for _ in range(rounds):
        time.sleep(1.5)
        stopped = stop_service(raw, box.project)
        raw.compose("up", "-d", SERVICE)
        raw.wait([SERVICE], 60)
        times.append(time.perf_counter() - stopped)
    return times


def healthy_again(box: Any, healthy_at: list[float]) -> threading.Thread:
    """Poll, as ``by_hand`` does (every POLL_S through the docker SDK), from the stop until the service is
    healthy again; appends that moment to ``healthy_at``. The same end point as by hand: the
    stack is healed when the container is healthy, whatever the watch still verifies after."""

    def poll() -> None:
        poller = Raw(box.workdir, box.project, {})
        end = time.monotonic() + 240
        while time.monotonic() < end:
            if poller.healthy([SERVICE]):
                healthy_at.append(time.perf_counter())
                return
            time.sleep(POLL_S)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    return thread


def reaction(box: Any, raw: Raw, debounce: float, rounds: int, tree: Path = ROOT) -> list[tuple[float, float]]:
    """Per round: (stop -> the service healthy again, stop -> the watch's record of the healed cycle, its
    whole re-test and final diagnosis done)."""
    # --until 0.97: the suite's latency check fails on a loaded machine, and it is not what is measured here.
    watch = Watch(
        box.inventory,
        "--until", "0.97", "--interval", "600", "--debounce", str(debounce), "--breaker-window", "1",
        tree=tree,
    )  # fmt: skip
    healed = []
    try:
        watch.next()  # the first cycle
        for _ in range(rounds):
            time.sleep(1.5)  # past the breaker window, and the stack at rest
            stopped = stop_service(raw, box.project)
            healthy_at: list[float] = []
            poller = healthy_again(box, healthy_at)
            at, record = watch.next()
            keys = [s["finding"]["key"] for s in record.get("steps", ())]
            if not record.get("met") or f"service-not-running[service={SERVICE}]" not in keys:
                raise RuntimeError(f"the watch did not heal {SERVICE}: {record}")
            poller.join(timeout=60)
            if not healthy_at:
                raise RuntimeError(f"{SERVICE} was never seen healthy though the watch says it healed it")
            healed.append((healthy_at[0] - stopped, at - stopped))
    finally:
        watch.stop()
    return healed


def idle(box: Any, quiet_s: float) -> float:
    """The watch's CPU time over ``quiet_s`` with nothing to do, as a share of one core."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    watch = Watch(box.inventory, "--interval", "600", "--listen", f"127.0.0.1:{port}")
    try:
        watch.next()
        time.sleep(1.0)
        cpu0, t0 = watch.cpu_s(), time.perf_counter()
        time.sleep(quiet_s)
        return (watch.cpu_s() - cpu0) / (time.perf_counter() - t0)
    finally:
        watch.stop()


TINY_COMPOSE = """\
services:
  web:
    image: remediate-base:local
    pull_policy: never
    command:
      - python3
      - -c
      - import http.server as h; h.ThreadingHTTPServer(('', 8080), h.SimpleHTTPRequestHandler).serve_forever()
    ports: ["127.0.0.1:{port}:8080"]
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "python3", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8080/', timeout=3)"]
      interval: 2s
"""
TINY_CHECKS = """\
checks:
  - {{id: web.running, category: web, name: web runs, probe: {{kind: container, service: web}},
     expect: {{state: running}}}}
  - {{id: web.answers, category: web, name: web answers, requires: [web.running],
     probe: {{kind: http, url: "http://127.0.0.1:{port}/", timeout: 3}}, expect: {{status: 200}}}}
"""


def memory(cycles: int, port: int) -> dict[str, float]:
    """Resident size after the 10th, 100th and last of ``cycles`` fast cycles on a one-service stack."""
    workdir = Path(tempfile.mkdtemp(prefix="remediate-wmem-"))
    project = f"remediate-wmem-{secrets.token_hex(3)}"
    (workdir / "compose.yml").write_text(TINY_COMPOSE.format(port=port))
    (workdir / "checks.yml").write_text(TINY_CHECKS.format(port=port))
    (workdir / "inventory.yml").write_text(
        f"targets:\n  tiny:\n    compose: {{project: {project}, directory: ., files: [compose.yml]}}\n"
        f"    checks: [checks.yml]\n    playbooks: [{ROOT / 'playbooks' / 'generic.yml'}]\n"
    )
    compose = [*find_compose(), "-p", project, "--project-directory", str(workdir), "-f", str(workdir / "compose.yml")]
    try:
        subprocess.run([*compose, "up", "-d", "--wait"], capture_output=True, check=True, timeout=300)
        watch = Watch(workdir / "inventory.yml", "--no-events", "--interval", "0.1", "--max-cycles", str(cycles))
        rss: dict[int, float] = {}
        t0 = time.perf_counter()
        try:
            for n in range(1, cycles + 1):
                _, record = watch.next()
                if not record.get("met"):
                    raise RuntimeError(f"cycle {n} did not meet the target: {record}")
                if n in (10, 100, cycles):
                    rss[n] = watch.rss_mb()
        finally:
            watch.stop()
        wall = time.perf_counter() - t0
    finally:
        subprocess.run([*compose, "down", "-v", "-t", "1"], capture_output=True, check=False, timeout=300)
        shutil.rmtree(workdir, ignore_errors=True)
    return {"cycles": cycles, "rss_10_mb": rss[10], "rss_100_mb": rss[100], "rss_last_mb": rss[cycles], "wall_s": wall}


def reactions(box: Any, rounds: int, baseline: Path | None, debounces: tuple[float, ...] = (1, 0)) -> dict[str, Any]:
    """The interleaved rounds: by hand, then each watch once, per round."""
    raw = Raw(box.workdir, box.project, {})
    trees = [("", ROOT)] + ([("baseline ", baseline)] if baseline is not None else [])
    kinds = [(f"{name}watch --debounce {d:g}", d, tree) for name, tree in trees for d in debounces]
    figures: dict[str, Any] = {"load_before": [round(x, 1) for x in os.getloadavg()], "raw_s": []}
    for label, _, _ in kinds:
        figures[label] = []
    for i in range(rounds):
        figures["raw_s"] += by_hand(box, raw, 1)
        for label, debounce, tree in kinds:
            figures[label] += reaction(box, raw, debounce, 1, tree)
        print(
            f"[watch-bench] round {i + 1}/{rounds}: by hand {figures['raw_s'][-1]:.2f} s, "
            + ", ".join(
                f"{label} {figures[label][-1][0]:.2f} s (record {figures[label][-1][1]:.2f} s)" for label, _, _ in kinds
            ),
            file=sys.stderr,
            flush=True,
        )
    figures["load_after"] = [round(x, 1) for x in os.getloadavg()]
    med_r = sorted(figures["raw_s"])[rounds // 2]
    rows = [["(by hand: compose up + wait)", " ".join(f"{x:.2f}" for x in figures["raw_s"]), "1.00x", "", ""]]
    for label, _, _ in kinds:
        healthy = [h for h, _ in figures[label]]
        recorded = [r for _, r in figures[label]]
        rows.append([
            label,
            " ".join(f"{x:.2f}" for x in healthy),
            f"{sorted(healthy)[rounds // 2] / med_r:.2f}x",
            " ".join(f"{x:.2f}" for x in recorded),
            f"{sorted(recorded)[rounds // 2] / med_r:.2f}x",
        ])  # fmt: skip
    print()
    print(
        f"stop -> healthy again, and stop -> the watch's verified record (s), each round; "
        f"load average {figures['load_before']} -> {figures['load_after']}"
    )
    print(table(rows, ["who brings it back", "healthy, each round", "median / by hand", "verified, each round",
                       "median / by hand"]))  # fmt: skip
    return figures


class _Given:
    """A sandbox that is already up (``--inventory``), as ``reactions`` and ``idle`` use it."""

    def __init__(self, inventory: Path) -> None:
        from remediator.loader import load_inventory

        target = load_inventory(inventory).select()[0]
        assert target.compose is not None
        self.inventory, self.workdir, self.project = inventory, Path(target.compose.directory), target.compose.project


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="stops per debounce setting")
    parser.add_argument("--cycles", type=int, default=1000, help="fast cycles for the memory figure")
    parser.add_argument("--quiet", type=float, default=30.0, help="seconds of idle watching measured")
    parser.add_argument("--skip-reaction", action="store_true", help="only the idle and memory figures")
    parser.add_argument("--reaction-only", action="store_true", help="only the reaction figures")
    parser.add_argument("--baseline", type=Path, help="another remediator source tree, watched in the same rounds")
    parser.add_argument("--inventory", type=Path, help="a healthy sandbox's inventory to use as it is")
    parser.add_argument("--json", dest="json_out", type=Path, help="write the figures as JSON to this file")
    parser.add_argument("--debounces", default="1,0", help="the --debounce values watched, comma-separated")
    parser.add_argument(
        "--port-offset",
        type=int,
        default=11000,
        help="added to the sandbox's ports; they stay below Linux's ephemeral range (32768-60999), where an "
        "outgoing connection can hold a port first",
    )
    args = parser.parse_args()
    debounces = tuple(float(d) for d in args.debounces.split(","))

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.path.insert(0, str(ROOT))
    figures: dict[str, Any] = {}
    baseline = args.baseline.resolve() if args.baseline else None
    if args.inventory:
        box: Any = _Given(args.inventory.resolve())
        if not args.skip_reaction:
            figures["reaction"] = reactions(box, args.rounds, baseline, debounces)
        if not args.reaction_only:
            figures["idle_cpu_share"] = idle(box, args.quiet)
            print(f"idle: {figures['idle_cpu_share']:.2%} of one core over {args.quiet:g} s with nothing to do")
    else:
        with private_sandbox("wbench", args.port_offset) as box:
            box.up()  # sandbox.py asks up --wait again when a slow first initdb made it give up
            if not args.skip_reaction:
                figures["reaction"] = reactions(box, args.rounds, baseline, debounces)
            if not args.reaction_only:
                figures["idle_cpu_share"] = idle(box, args.quiet)
                print(f"idle: {figures['idle_cpu_share']:.2%} of one core over {args.quiet:g} s with nothing to do")
    if args.json_out:
        args.json_out.write_text(json.dumps(figures, indent=2) + "\n")
    if args.reaction_only:
        print(json.dumps(figures))
        return 0
    mem = memory(args.cycles, args.port_offset + 9000)
    figures["memory"] = mem
    print(
        f"memory: {mem['rss_10_mb']:.1f} MB after 10 cycles, {mem['rss_100_mb']:.1f} MB after 100, "
        f"{mem['rss_last_mb']:.1f} MB after {mem['cycles']} ({mem['rss_last_mb'] / mem['rss_10_mb']:.2f}x; "
        f"{mem['wall_s']:.0f} s)"
    )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
