"""How long and how much memory does `remediate validate` take on hostile files under 1 MB?

Each file is validated by the real CLI in a child process; the figures are its wall time, its CPU
time (user + system: on a shared machine the wall time also counts other people's work) and its peak
resident size. The files: billion-laughs bombs (498 bytes and a 600 KB one), nesting 900 deep, a
1 MB valid check file (about 6,700 checks), a 1 MB list of 330,000 wrong items and a 1 MB mapping of
110,000 keys. Goal (issue 11): every one answered within 1 s of CPU, in bounded memory, exit 2 for the
hostile ones, never a traceback.

Run: .venv/bin/python benchmarks/hostile_files.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def laughs(width: int, depth: int, use: str) -> str:
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, depth)]
    return "\n".join(lines) + f"\n{use.format(last=f'a{depth - 1}')}\n"


def big_suite() -> str:
    out, i = ["checks:"], 0
    while sum(map(len, out)) < 1_000_000 - 200:
        out.append(
            f"  - id: c{i}\n    category: health\n    name: check {i}\n"
            f"    probe: {{kind: http, url: 'http://127.0.0.1:1/x'}}\n    expect: {{status: 200}}"
        )
        i += 1
    return "\n".join(out) + "\n"


CASES = {
    "laughs, 498 bytes (9 x 9)": laughs(9, 9, "checks: *{last}"),
    "laughs in inventory vars": laughs(9, 9, "targets: {{t: {{vars: {{x: *{last}}}}}}}"),
    "laughs, 600 KB (12,000 x 10)": laughs(12_000, 10, "checks: *{last}"),
    "nesting 900 deep": "checks:" + " [" * 900 + " ]" * 900 + "\n",
    "valid checks, 1 MB": big_suite(),
    "330,000 wrong items, 660 KB": "checks: [" + ",".join(["1"] * 330_000) + "]\n",
    "110,000 keys, 1 MB": "checks: {" + ",".join(f"k{i}: 1" for i in range(110_000)) + "}\n",
}


def run(path: Path) -> tuple[int, float, float, float, str]:
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "remediator", "validate", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    stderr = proc.stderr.read() if proc.stderr else ""
    first = stderr.splitlines()[0] if stderr else ""
    code = os.waitstatus_to_exitcode(status)
    return code, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, first


def main() -> None:
    print(f"{'file':32} {'size':>9} {'exit':>4} {'wall s':>7} {'cpu s':>6} {'peak MB':>8}  first line")
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in CASES.items():
            path = Path(tmp) / "checks.yml"
            path.write_text(text)
            code, wall, cpu, peak, first = run(path)
            shown = first.replace(str(path), "checks.yml")[:90]
            print(f"{name:32} {len(text.encode()):>9} {code:>4} {wall:>7.2f} {cpu:>6.2f} {peak:>8.1f}  {shown}")
    _, wall, cpu, peak, _ = run(Path(os.devnull))
    print(f"{'(start-up: validate /dev/null)':32} {0:>9} {'':>4} {wall:>7.2f} {cpu:>6.2f} {peak:>8.1f}")


if __name__ == "__main__":
    main()
