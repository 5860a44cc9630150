"""How does `remediate` scale with the size of a suite? 1,000 and 10,000 generated HTTP checks.

The suite and the local server are those of ``check_suite.py`` (each endpoint answers after 20 ms). For
each size, in the same run and as the real CLI in a child process:

  - ``remediate check --json``: wall time of the whole process, the run's own ``duration_s``, and peak
    resident memory (the child's ``ru_maxrss``);
  - ``remediate validate FILE``: wall time and peak memory.

The child's CPU time (user + system) is printed beside each wall time: on a shared machine the wall
time also counts other people's work, the CPU time much less so.

Goals (issue 14): at 10,000 checks ``check`` in at most 5 s and 150 MiB, ``validate`` in at most 2 s;
``check`` at 10,000 at most 10x its time at 1,000 (linear). The floor of the run is printed beside it:
10,000 requests of 20 ms at the default 64 in flight cannot take less than 10,000 / 64 x 20 ms = 3.1 s.

Run: .venv/bin/python benchmarks/scale.py [--sizes 1000,10000] [--runs 1] [--baseline OTHER/.venv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from check_suite import DELAY, _serve, _write_suite

CONCURRENCY = 64
GOALS = {"check_s": 5.0, "check_mib": 150.0, "validate_s": 2.0, "linear": 10.0}

# A child that runs one command and reports its wall time and peak RSS: ru_maxrss of RUSAGE_CHILDREN is
# the largest of *all* children waited for, so each measured command gets a fresh parent of its own.
_TIMER = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
p = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - t
use = resource.getrusage(resource.RUSAGE_CHILDREN)
rss, cpu = use.ru_maxrss / 1024, use.ru_utime + use.ru_stime
doc = {"wall": wall, "cpu": cpu, "mib": rss, "rc": p.returncode}
print(json.dumps({**doc, "stdout": p.stdout, "stderr": p.stderr[-2000:]}))
"""


def timed(*argv: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", _TIMER, *argv], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def check(inv: Path, python: str = sys.executable) -> dict[str, Any]:
    r = timed(python, "-m", "remediator", "check", "--json", "--inventory", str(inv))
    doc = json.loads(r["stdout"]) if r["stdout"].strip() else {}
    if not doc or doc["passed"] != doc["total"]:
        raise RuntimeError(f"check did not pass every check (exit {r['rc']}): {r['stderr']}")
    return {"wall": r["wall"], "cpu": r["cpu"], "mib": r["mib"], "run": doc["duration_s"]}


def validate(path: Path, python: str = sys.executable) -> dict[str, Any]:
    r = timed(python, "-m", "remediator", "validate", str(path))
    if r["rc"] != 0:
        raise RuntimeError(f"validate failed (exit {r['rc']}): {r['stderr']}")
    return {"wall": r["wall"], "cpu": r["cpu"], "mib": r["mib"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--runs", type=int, default=1, help="runs of each command per size (median reported)")
    ap.add_argument("--json", dest="json_out", type=Path, help="write the figures as JSON to this file")
    ap.add_argument(
        "--baseline",
        metavar="PYTHON",
        help="also time another installation's remediate (its python), interleaved with this one's",
    )
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    q: multiprocessing.Queue = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve, args=(q,), daemon=True)
    server.start()
    url = f"http://127.0.0.1:{q.get(timeout=20)}"
    figures: dict[str, Any] = {"load_before": [round(x, 1) for x in os.getloadavg()], "sizes": {}}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            invs = {n: _write_suite(Path(tmp), url, n) for n in sizes}
            check(invs[sizes[0]])  # warm-up: bytecode, page cache, the schema cache
            if args.baseline:
                check(invs[sizes[0]], args.baseline)
            for n in sizes:
                if args.baseline:
                    base_c = [check(invs[n], args.baseline) for _ in range(args.runs)]
                    base_v = [validate(Path(tmp) / f"checks{n}.yml", args.baseline) for _ in range(args.runs)]
                    print(
                        f"N={n:6d}  baseline: check {statistics.median(c['wall'] for c in base_c):7.2f} s"
                        f" (CPU {statistics.median(c['cpu'] for c in base_c):5.2f} s)"
                        f" {max(c['mib'] for c in base_c):6.1f} MiB   validate"
                        f" {statistics.median(v['wall'] for v in base_v):6.2f} s"
                        f" (CPU {statistics.median(v['cpu'] for v in base_v):5.2f} s)"
                        f" {max(v['mib'] for v in base_v):6.1f} MiB",
                        flush=True,
                    )
                checks = [check(invs[n]) for _ in range(args.runs)]
                valids = [validate(Path(tmp) / f"checks{n}.yml") for _ in range(args.runs)]
                fig = {
                    "check_s": statistics.median(c["wall"] for c in checks),
                    "run_s": statistics.median(c["run"] for c in checks),
                    "check_cpu_s": statistics.median(c["cpu"] for c in checks),
                    "check_mib": max(c["mib"] for c in checks),
                    "validate_s": statistics.median(v["wall"] for v in valids),
                    "validate_cpu_s": statistics.median(v["cpu"] for v in valids),
                    "validate_mib": max(v["mib"] for v in valids),
                    "floor_s": n / CONCURRENCY * DELAY,
                }
                figures["sizes"][n] = {k: round(v, 3) for k, v in fig.items()}
                print(
                    f"N={n:6d}  check {fig['check_s']:7.2f} s (CPU {fig['check_cpu_s']:5.2f} s,"
                    f" run {fig['run_s']:6.2f} s, floor {fig['floor_s']:.2f} s) {fig['check_mib']:6.1f} MiB   "
                    f"validate {fig['validate_s']:6.2f} s (CPU {fig['validate_cpu_s']:5.2f} s)"
                    f" {fig['validate_mib']:6.1f} MiB",
                    flush=True,
                )
    finally:
        server.terminate()
    figures["load_after"] = [round(x, 1) for x in os.getloadavg()]
    print(f"load average {figures['load_before']} -> {figures['load_after']} (1, 5, 15 min)")
    big, small = max(sizes), min(sizes)
    b = figures["sizes"][big]
    verdicts = [
        (f"check at {big}: {b['check_s']:.2f} s <= {GOALS['check_s']} s", b["check_s"] <= GOALS["check_s"]),
        (f"check at {big}: {b['check_mib']:.0f} MiB <= 150 MiB", b["check_mib"] <= GOALS["check_mib"]),
        (f"validate at {big}: {b['validate_s']:.2f} s <= 2 s", b["validate_s"] <= GOALS["validate_s"]),
    ]
    if big != small:
        growth = b["check_s"] / figures["sizes"][small]["check_s"]
        figures["growth"] = round(growth, 2)
        verdicts.append((f"check {big} / {small}: {growth:.1f}x <= {GOALS['linear']:.0f}x", growth <= GOALS["linear"]))
    for text, ok in verdicts:
        print(f"  {'met    ' if ok else 'NOT met'}  {text}")
    if args.json_out:
        args.json_out.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
