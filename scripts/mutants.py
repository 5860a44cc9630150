"""The figures of the last ``mutmut run`` (``make mutate``): per module, how many mutants, how many the
engine-free tests killed, and every survivor not named as equivalent, with its diff.

A survivor counts as *equivalent* (no test can tell it from the original) when the line it changes,
or the line just above that, carries a ``# equivalent mutant: why`` comment: the reason stays next to
the code it is about and still holds when mutmut renumbers its mutants. mutmut keeps its verdicts in
``mutants/<module>.meta``; this reads those and asks mutmut for the diffs.

Exit status 1 when the score (killed / (mutants - equivalent)) is below ``--fail-under``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

MARK = "# equivalent mutant:"
KILLED = {1, 3, 36, 24, -24, 152, 255, 37}  # mutmut's exit codes that count as killed (timeouts included)
SURVIVED = {0}
NO_TESTS = {5, 33}


def _diff(name: str, path: str) -> str:
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    return get_diff_for_mutant(name, path=path)


def _code(line: str) -> str:
    return line.split("  #", 1)[0].strip()


def _equivalent(diff: str, source: list[str]) -> bool:
    """The changed line, or the line above it, says why this mutant is equivalent: in the diff, or in
    the module as it is now (a mark added after the run counts without mutating everything again)."""
    lines = diff.splitlines()[2:]  # skip the ---/+++ header
    for i, line in enumerate(lines):
        if line.startswith("-"):
            above = lines[i - 1] if i else ""
            if MARK in line or (MARK in above and not above.startswith("+")):
                return True
            code = _code(line[1:])
            for j, src in enumerate(source):
                if code and _code(src) == code and (MARK in src or (j and MARK in source[j - 1])):
                    return True
            return False
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fail-under", type=float, default=0.0, help="minimum score in percent")
    parser.add_argument("--quiet", action="store_true", help="the table only, no survivor diffs")
    args = parser.parse_args()

    metas = sorted(Path("mutants").rglob("*.py.meta"))
    if not metas:
        print("no mutmut results: run `make mutate` first", file=sys.stderr)
        return 2
    sys.path.insert(0, str(Path.cwd()))
    rows, survivors, equivalents = [], [], []
    totals: Counter[str] = Counter()
    for meta in metas:
        module = str(meta.relative_to("mutants"))[: -len(".meta")]
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        source = Path(module).read_text().splitlines() if Path(module).exists() else []
        if not codes:
            continue
        count: Counter[str] = Counter()
        for name, code in codes.items():
            if code in KILLED:
                count["killed"] += 1
            elif code in NO_TESTS:
                count["no tests"] += 1
            elif code in SURVIVED:
                diff = _diff(name, module)
                if _equivalent(diff, source):
                    count["equivalent"] += 1
                    changed = [line for line in diff.splitlines()[2:] if line.startswith("+")]
                    equivalents.append((name, changed[0] if changed else ""))
                else:
                    count["survived"] += 1
                    survivors.append((name, diff))
            else:
                count["other"] += 1  # not checked, suspicious, segfault
        count["mutants"] = len(codes)
        totals.update(count)
        rows.append((module, count))
    rows.append(("total", totals))

    print(f"{'module':34} {'mutants':>7} {'killed':>7} {'equiv.':>7} {'survived':>8} {'no tests':>8} {'score':>7}")
    for module, c in rows:
        judged = c["mutants"] - c["equivalent"]
        score = 100.0 * c["killed"] / judged if judged else 100.0
        print(
            f"{module:34} {c['mutants']:7} {c['killed']:7} {c['equivalent']:7} {c['survived']:8} "
            f"{c['no tests']:8} {score:6.1f}%"
        )
    if not args.quiet:
        for name, changed in equivalents:
            print(f"equivalent: {name}: {changed.strip()}")
        for name, diff in survivors:
            print(f"\n## survived: {name}\n{diff}")
    judged = totals["mutants"] - totals["equivalent"]
    score = 100.0 * totals["killed"] / judged if judged else 100.0
    return 1 if score < args.fail_under else 0


if __name__ == "__main__":
    sys.exit(main())
