"""Are heals trustworthy on a loaded machine? The report state healed N times beside CPU burners.

On a sandbox of its own (temporary work directory, project ``remediate-trust-<random>``, port offset
31000, torn down at the end, also on error or Ctrl-C), with ``--burners`` CPU-bound processes running
(3 by default, on this 2-core machine), each round:

1. ``sandbox up`` + ``break report``; the containers running now are noted;
2. ``remediate apply --until 1.0 --json``;
3. ``remediate check --json`` right after: the truth the apply's verdict must equal;
4. the containers that were running before and are not now (``lost``).

Goal: every round never worse (final >= initial), final = truth, nothing lost.

Run by hand: .venv/bin/python benchmarks/trust.py [--rounds 10] [--burners 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from heal import REMEDIATE, ROOT, Sandbox, private_sandbox, say


def running(project: str) -> set[str]:
    out = subprocess.run(
        ["docker", "ps", "--filter", f"label=com.docker.compose.project={project}", "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


def remediate_json(*args: str) -> tuple[int, dict]:
    proc = subprocess.run([*REMEDIATE, *args, "--json"], capture_output=True, text=True, cwd=ROOT, check=False)
    try:
        return proc.returncode, json.loads(proc.stdout)
    except ValueError:
        raise RuntimeError(f"remediate {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-2000:]}") from None


def burners(count: int) -> list[subprocess.Popen[bytes]]:
    code = "import os\nparent = os.getppid()\nwhile os.getppid() == parent: pass"
    return [subprocess.Popen([sys.executable, "-c", code]) for _ in range(count)]


def one_round(box: Sandbox, number: int) -> dict:
    box.reset("report")
    before = running(box.project)
    t0 = time.perf_counter()
    code, doc = remediate_json("apply", "--until", "1.0", "-i", str(box.inventory))
    wall = time.perf_counter() - t0
    _, truth = remediate_json("check", "-i", str(box.inventory))
    lost = sorted(before - running(box.project))
    row = {
        "round": number,
        "initial": doc["initial_rate"],
        "final": doc["final_rate"],
        "truth": truth["rate"],
        "lost": lost,
        "steps": len(doc["steps"]),
        "exit": code,
        "seconds": round(wall, 1),
        "never_worse": doc["final_rate"] >= doc["initial_rate"],
        "true": doc["final_rate"] == truth["rate"],
    }
    say(
        f"round {number}: {row['initial']:.1%} -> {row['final']:.1%} (check after: {row['truth']:.1%}), "
        f"{row['steps']} steps, {wall:.1f} s, lost: {', '.join(lost) or 'none'}"
    )
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--burners", type=int, default=3)
    args = ap.parse_args()
    load = burners(args.burners)
    rows = []
    try:
        with private_sandbox("trust", 31000) as box:
            for n in range(1, args.rounds + 1):
                rows.append(one_round(box, n))
    finally:
        for p in load:
            p.kill()
    print(f"{'round':>5} {'initial':>8} {'final':>8} {'check':>8} {'steps':>5} {'s':>6}  lost")
    for r in rows:
        print(
            f"{r['round']:>5} {r['initial']:>8.1%} {r['final']:>8.1%} {r['truth']:>8.1%} {r['steps']:>5} "
            f"{r['seconds']:>6.1f}  {', '.join(r['lost']) or '-'}"
        )
    worse = sum(not r["never_worse"] for r in rows)
    untrue = sum(not r["true"] for r in rows)
    lost = sum(bool(r["lost"]) for r in rows)
    print(
        f"{len(rows)} rounds beside {args.burners} CPU burners: never worse {len(rows) - worse}/{len(rows)}, "
        f"final = check after {len(rows) - untrue}/{len(rows)}, nothing lost {len(rows) - lost}/{len(rows)}"
    )
    return 0 if not (worse or untrue or lost) else 1


if __name__ == "__main__":
    raise SystemExit(main())
