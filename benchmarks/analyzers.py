"""How often the built-in analyzers name the true cause, and how often they name something that is not
wrong: issue 12's seven faults made by hand on a private sandbox, and the healthy sandbox.

    .venv/bin/python benchmarks/analyzers.py [--port-offset N] [--healthy-rounds 3]

For each fault: the sandbox is brought up healthy (``sandbox.py up`` restores every file), the fault
is made as a user would (an edit of compose.yml or .env, then compose), the suite is run, the facts
gathered and the analyzers asked, as the planner does each round. A fault counts as named when a
diagnosis of the expected analyzer and subject is there. Every other diagnosis is listed, by
confidence, for a person to judge (most are consequences: a stopped service's dependents fail too).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from heal import Sandbox, private_sandbox, say

from remediator import templating
from remediator.analyzers import Diagnosis, analyze
from remediator.analyzers.observe import observe
from remediator.backends.compose import Compose
from remediator.backends.engine import Engine
from remediator.context import base_context
from remediator.facts import Facts, gather
from remediator.loader import load_inventory, load_suite
from remediator.runner import run_suite


def diagnose(inventory: Path) -> tuple[float, list[Diagnosis], dict[str, float]]:
    """The suite's rate and the analyzers' diagnoses, observed as the planner does each round."""
    (target,) = load_inventory(inventory).targets.values()
    suite = load_suite(target.checks)
    run = run_suite(target, suite, suite.checks)
    context = base_context(target)
    rendered = {}
    for c in suite.checks:
        try:
            rendered[c.id] = templating.render(c.probe, context)
        except Exception:  # a capture of another check: its aim is unknown, as in the planner
            rendered[c.id] = {}
    engine = Engine(target.docker)
    try:
        t0 = time.perf_counter()
        stack = observe(Compose(target.compose, target.docker), engine)
        t1 = time.perf_counter()
        facts = gather(target, run, suite.by_id(), rendered, context, engine=engine) if stack.services else None
        facts = facts or Facts(run=run, checks=suite.by_id(), rendered=rendered)
        facts.stack = stack
        t2 = time.perf_counter()
        found = analyze(facts)
        t3 = time.perf_counter()
    finally:
        engine.close()
    return run.rate, found, {"observe_s": t1 - t0, "analyze_s": t3 - t2}


def edit(box: Sandbox, name: str, old: str, new: str) -> None:
    path = box.workdir / name
    text = path.read_text()
    if old not in text:
        raise RuntimeError(f"{old!r} not in {name}")
    path.write_text(text.replace(old, new, 1))


def compose(box: Sandbox, *args: str) -> None:
    (target,) = load_inventory(box.workdir / "inventory.yml").targets.values()
    Compose(target.compose).run(*args, timeout=180)


def redis_url(box: Sandbox) -> None:
    edit(box, "compose.yml", "REDIS_URL: redis://:${REDIS_PASSWORD}@redis:6379/1", "REDIS_URL: redis://redis:6379/1")
    compose(box, "up", "-d", "llm-orchestrator")


def jwt(box: Sandbox) -> None:
    edit(
        box,
        "compose.yml",
        "      SERVICE_NAME: api-gateway\n",
        "      SERVICE_NAME: api-gateway\n      JWT_SECRET: older-0123456\n",
    )
    compose(box, "up", "-d", "api-gateway")


def binary(box: Sandbox) -> None:
    edit(box, "compose.yml", 'command: ["python3", "/app/saga_orchestrator.py"]', 'command: ["uvicorn", "main:app"]')
    compose(box, "up", "-d", "saga-orchestrator")


def port(box: Sandbox) -> None:
    old = 8000 + box.offset
    edit(box, ".env", f"GATEWAY_PORT={old}\n", f"GATEWAY_PORT={old + 50}\n")


def port_recreated(box: Sandbox) -> None:
    port(box)
    compose(box, "up", "-d", "--no-deps", "api-gateway", "frontend")


def volume(box: Sandbox) -> None:
    compose(box, "rm", "-s", "-f", "postgres")
    subprocess.run(["docker", "volume", "rm", f"{box.project}_pgdata"], capture_output=True, check=True)
    compose(box, "up", "-d", "--no-deps", "postgres")
    time.sleep(8)  # its first start initialises the empty volume


def env_quote(box: Sandbox) -> None:
    text = (box.workdir / ".env").read_text()
    line = next(x for x in text.splitlines() if x.startswith("CORS_ORIGINS="))
    edit(box, ".env", line, line.replace("=", '="', 1))


def at_quote_line(found: list[Diagnosis], box: Sandbox) -> bool:
    """The env file named at the line whose quote never closes."""
    lines = (box.workdir / ".env").read_text().splitlines()
    line = 1 + next(i for i, x in enumerate(lines) if x.startswith("CORS_ORIGINS="))
    return any(d.analyzer == "env-file-unreadable" and d.subject == f"{box.workdir / '.env'}:{line}" for d in found)


def two(box: Sandbox) -> None:
    redis_url(box)
    binary(box)


def has(analyzer: str, subject: str | Callable[[str], bool]) -> Callable[[list[Diagnosis], Sandbox], bool]:
    def named(found: list[Diagnosis], box: Sandbox) -> bool:
        ok = subject if callable(subject) else (lambda s: s == subject)
        return any(d.analyzer == analyzer and ok(d.subject) for d in found)

    return named


FAULTS: list[tuple[str, Callable[[Sandbox], None], list[Callable[[list[Diagnosis], Sandbox], bool]]]] = [
    ("Redis URL without its password", redis_url, [has("url-credentials", "llm-orchestrator.REDIS_URL")]),
    ("two JWT secrets", jwt, [has("shared-secret-differs", "JWT_SECRET")]),
    ("command naming a missing binary", binary, [has("exit-code", "saga-orchestrator")]),
    ("changed published port (.env edited)", port, [has("drift", "api-gateway")]),
    ("changed published port (recreated)", port_recreated, [has("unpublished-port", lambda s: s.isdigit())]),
    ("database volume removed", volume, [has("fresh-volume", lambda s: s.endswith("_pgdata"))]),
    ("env file with an unterminated quote", env_quote, [at_quote_line]),
    (
        "two at once (Redis URL + missing binary)",
        two,
        [has("url-credentials", "llm-orchestrator.REDIS_URL"), has("exit-code", "saga-orchestrator")],
    ),
]


def up(box: Sandbox) -> None:
    """``sandbox.py up``, asked again when a loaded machine makes postgres's initdb outlast its health budget."""
    for attempt in (1, 2, 3):
        try:
            box.up()
            return
        except RuntimeError:
            if attempt == 3:
                raise
            time.sleep(20)


def show(found: list[Diagnosis]) -> str:
    return "; ".join(f"{d.confidence}:{d.analyzer}[{d.subject}]" for d in found) or "-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port-offset", type=int, default=24000)
    parser.add_argument("--healthy-rounds", type=int, default=3)
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    with private_sandbox("analyzers", args.port_offset) as box:
        up(box)
        inventory = box.workdir / "inventory.yml"
        for i in range(args.healthy_rounds):
            rate, found, cost = diagnose(inventory)
            above_low = [d for d in found if d.confidence != "low"]
            say(f"healthy round {i + 1}: rate {rate:.2f}, medium/high {len(above_low)}: {show(above_low)}")
            say(f"  low: {show([d for d in found if d.confidence == 'low'])}; {cost}")
        for name, make, expected in FAULTS:
            up(box)  # healthy again: every file restored, what changed recreated
            files = {p: p.read_text() for p in (box.workdir / ".env", box.workdir / "compose.yml")}
            make(box)
            rate, found, cost = diagnose(inventory)
            named = all(e(found, box) for e in expected)
            for path, text in files.items():
                path.write_text(text)
            rows.append({"fault": name, "named": named, "rate": rate})
            say(f"{'NAMED ' if named else 'MISSED'} {name}: rate {rate:.2f}; observe {cost['observe_s']:.2f} s")
            say(f"  {show([d for d in found if d.confidence != 'low'])}")
            say(f"  low: {show([d for d in found if d.confidence == 'low'])}")
    say(f"named {sum(r['named'] for r in rows)} of {len(rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
