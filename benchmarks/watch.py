"""How fast does ``remediate watch`` heal what breaks under it, and what does it cost while it waits?

One run, on a sandbox of its own (a temporary work directory, project ``remediate-wbench-<random>``,
port offset 32000, torn down at the end, also on error or Ctrl-C):

1. Reaction. ``remediate watch --json --interval 600`` runs as a child process (the schedule is far
   away, so each heal comes from the engine's event). ``saga-orchestrator`` is stopped; the time from
   the stop to the watch's record of the healed cycle is the watch's reaction, with the default
   ``--debounce 1`` and with ``--debounce 0``. First, in the same run and with no watch running, the
   same service is stopped and brought back by hand (``compose up -d`` and a poll of the engine until
   healthy, as ``benchmarks/heal.py`` does): that is the baseline. Ratio: median watch / median raw.
2. Idle cost: the watch's CPU time over a quiet stretch, as a share of the wall time.
3. Memory: the watch's resident size after the 10th and after the last of many scheduled cycles
   (``--interval 1 --no-events``); their ratio says whether it grows with cycles.

Run by hand: .venv/bin/python benchmarks/watch.py [--rounds 3] [--cycles 60]
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from heal import REMEDIATE, ROOT, Raw, Sandbox, private_sandbox, table

SERVICE = "saga-orchestrator"


class Watch:
    """``remediate watch --json`` as a child; its records are read as they come."""

    def __init__(self, inventory: Path, *args: str) -> None:
        argv = [*REMEDIATE, "watch", "--json", "-i", str(inventory), *args]
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
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


def by_hand(box: Sandbox, raw: Raw, rounds: int) -> list[float]:
    """Per round: stop the service, then ``compose up -d`` it and poll until healthy (no watch running)."""
    times = []
    for _ in range(rounds):
        time.sleep(1.5)
        stopped = stop_service(raw, box.project)
        raw.compose("up", "-d", SERVICE)
        raw.wait([SERVICE], 60)
        times.append(time.perf_counter() - stopped)
    return times


def reaction(box: Sandbox, raw: Raw, debounce: float, rounds: int) -> list[float]:
    """Per round: the time from the stop to the watch's record of the healed cycle."""
    watch = Watch(box.inventory, "--interval", "600", "--debounce", str(debounce), "--breaker-window", "1")
    healed = []
    try:
        watch.next()  # the first cycle
        for _ in range(rounds):
            time.sleep(1.5)  # past the breaker window, and the stack at rest
            stopped = stop_service(raw, box.project)
            at, record = watch.next()
            keys = [s["finding"]["key"] for s in record.get("steps", ())]
            if not record.get("met") or f"service-not-running[service={SERVICE}]" not in keys:
                raise RuntimeError(f"the watch did not heal {SERVICE}: {record}")
            healed.append(at - stopped)
    finally:
        watch.stop()
    return healed


def idle_and_memory(box: Sandbox, quiet_s: float, cycles: int) -> dict[str, float]:
    watch = Watch(box.inventory, "--interval", "600")
    try:
        watch.next()
        time.sleep(1.0)
        cpu0, t0 = watch.cpu_s(), time.perf_counter()
        time.sleep(quiet_s)
        idle_share = (watch.cpu_s() - cpu0) / (time.perf_counter() - t0)
    finally:
        watch.stop()
    watch = Watch(box.inventory, "--no-events", "--interval", "1", "--max-cycles", str(cycles))
    rss_10 = 0.0
    try:
        for n in range(1, cycles + 1):
            watch.next()
            if n == 10:
                rss_10 = watch.rss_mb()
        rss_last = watch.rss_mb()
    finally:
        watch.stop()
    return {"idle_cpu_share": idle_share, "rss_10_mb": rss_10, "rss_last_mb": rss_last, "cycles": cycles}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="stops per debounce setting")
    parser.add_argument("--cycles", type=int, default=60, help="scheduled cycles for the memory figure")
    parser.add_argument("--quiet", type=float, default=10.0, help="seconds of idle watching measured")
    parser.add_argument("--port-offset", type=int, default=32000)
    args = parser.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.path.insert(0, str(ROOT))
    with private_sandbox("wbench", args.port_offset) as box:
        box.up()
        raw = Raw(box.workdir, box.project, {})
        raw_s = by_hand(box, raw, args.rounds)
        med_r = sorted(raw_s)[len(raw_s) // 2]
        rows = [["(by hand: compose up + wait)", " ".join(f"{x:.2f}" for x in raw_s), "1.00x"]]
        figures: dict[str, Any] = {"raw_s": raw_s}
        for debounce in (1.0, 0.0):
            healed = reaction(box, raw, debounce, args.rounds)
            figures[f"watch_debounce_{debounce:g}_s"] = healed
            med_w = sorted(healed)[len(healed) // 2]
            each = " ".join(f"{x:.2f}" for x in healed)
            rows.append([f"watch --debounce {debounce:g}", each, f"{med_w / med_r:.2f}x"])
        print()
        print("stop -> healthy again (s), each round")
        print(table(rows, ["who brings it back", "seconds, each round", "median / by hand"]))
        cost = idle_and_memory(box, args.quiet, args.cycles)
        figures["cost"] = cost
        print()
        print(f"idle: {cost['idle_cpu_share']:.2%} of one core over {args.quiet:g} s with nothing to do")
        print(
            f"memory: {cost['rss_10_mb']:.1f} MB after 10 cycles, {cost['rss_last_mb']:.1f} MB after {args.cycles} "
            f"({cost['rss_last_mb'] / cost['rss_10_mb']:.2f}x)"
        )
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
