"""`remediate check` against the same suite written as an Ansible playbook, side by side in one run.

The peer is what a team would write by hand with ansible-core alone: the suite of the target (by default
``checks/pyairtable.yml`` on a private sandbox) turned into one playbook by this script, with

  - a ``command`` task per container check (``docker ps`` filtered by the compose labels),
  - a ``uri`` task per HTTP check (``failed_when`` for the expectations, ``status_code`` for the status),
  - ``register`` + ``when`` for ``requires`` (a check runs only if what it requires passed) and the
    registered results for ``capture`` (the login's token, the created record's id, ...),
  - ``async`` + ``async_status`` for the load checks (N requests in flight at once), judged by ``assert``,
  - ``ignore_errors`` so that, like the suite, a failing check does not stop the others.

Both sides are whole processes, timed wall to wall (Python start-up, imports, loading, every check) and
by CPU (user + system of the process and its children), interleaved run by run so that the load of the
machine hits both alike; one warm-up run each is not counted. Each run must see every check pass on both
sides (else the figures compare unequal work and the script stops). Goal: remediate at least 50x faster.

ansible-core lives in a virtual environment of its own (``make bench-ansible-env`` creates
``.venv-ansible`` from PyPI); without it only remediate is measured and the script says so.

Run: .venv/bin/python benchmarks/ansible.py [--runs 5] [--inventory INV] [--baseline OTHER_TREE]
(no --inventory: a private sandbox is brought up at --port-offset and torn down afterwards; --baseline:
another source tree's ``remediate check``, e.g. main's, timed in the same runs, interleaved)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

GOAL = 50.0
ANSIBLE_VENV = ROOT / ".venv-ansible"
POLL_S = 0.05  # async_status polling: as tight as Ansible allows, to be fair to it


def say(msg: str) -> None:
    print(f"[ansible-bench] {msg}", file=sys.stderr, flush=True)


# -- the playbook ---------------------------------------------------------------------------------

_TEMPLATE = re.compile(r"\{\{\s*(.*?)\s*\}\}")


def _var(check_id: str) -> str:
    return "r_" + re.sub(r"\W", "_", check_id)


def _jinja_path(path: str) -> str:
    """A JMESPath of the suite's simple kind (``a.b``, ``a[0].b``) as a Jinja expression on ``.json``."""
    return "".join(f"[{p!r}]" if not p.startswith("[") else p for p in re.findall(r"[^.\[\]]+|\[\d+\]", path))


def _templated(text: str, captures: dict[str, str]) -> str:
    """remediate's template names in Ansible's: ``secrets.x`` and the captures become play variables."""

    def one(m: re.Match[str]) -> str:
        expr = m.group(1)
        head = expr.split(".")[0].split("|")[0].strip()
        if head in captures:
            expr = captures[head] + expr[len(head) :]
        return "{{ " + expr + " }}"

    return _TEMPLATE.sub(one, text)


def _value(value: Any, captures: dict[str, str]) -> Any:
    if isinstance(value, str):
        return _templated(value, captures)
    if isinstance(value, dict):
        return {k: _value(v, captures) for k, v in value.items()}
    if isinstance(value, list):
        return [_value(v, captures) for v in value]
    return value


def _status_test(value: str, expected: Any) -> str:
    """A Jinja test that ``value`` (a status) is NOT what the suite expects: 200, [200, 201] or "2xx"."""
    if expected is None or isinstance(expected, str):
        return f"({value} | int) // 100 != {int(expected[0]) if expected else 2}"
    wanted = [int(s) for s in expected] if isinstance(expected, list) else [int(expected)]
    return f"{value} not in {wanted}"


def _literal(text: str, captures: dict[str, str]) -> str:
    """A string of the suite (possibly templated) as a Jinja expression."""
    parts = []
    pos = 0
    for m in _TEMPLATE.finditer(text):
        if m.start() > pos:
            parts.append(json.dumps(text[pos : m.start()]))
        parts.append("(" + _templated(m.group(0), captures)[3:-3] + ")")
        pos = m.end()
    if pos < len(text):
        parts.append(json.dumps(text[pos:]))
    return " ~ ".join(parts) or '""'


def _http_failed_when(reg: str, expect: dict[str, Any], captures: dict[str, str]) -> list[str]:
    conds = [_status_test(f"{reg}.status", expect.get("status"))]
    for path, want in (expect.get("json") or {}).items():
        conds.append(f"({reg}.json | default({{}})){_jinja_path(path)} | default(none) != {json.dumps(want)}")
    for path in expect.get("json_exists") or []:
        conds.append(f"({reg}.json | default({{}})){_jinja_path(path)} | default(none) is none")
    for text in [expect["body_contains"]] if isinstance(expect.get("body_contains"), str) else []:
        conds.append(f"({_literal(text, captures)}) not in ({reg}.content | default(''))")
    for text in [expect["body_not_contains"]] if isinstance(expect.get("body_not_contains"), str) else []:
        conds.append(f"({_literal(text, captures)}) in ({reg}.content | default(''))")
    if expect.get("latency_ms") is not None:
        conds.append(f"{reg}.elapsed * 1000 > {expect['latency_ms']}")
    return conds


def _uri(probe: dict[str, Any], captures: dict[str, str], reg: str, expect: dict[str, Any]) -> dict[str, Any]:
    args: dict[str, Any] = {
        "url": _value(probe["url"], captures),
        "method": probe.get("method", "GET"),
        "timeout": int(probe.get("timeout", 10)),
        "return_content": True,
    }
    status = expect.get("status")
    if isinstance(status, (int, list)):
        args["status_code"] = status if isinstance(status, list) else [status]
    if probe.get("headers"):
        args["headers"] = _value(probe["headers"], captures)
    if probe.get("json") is not None:
        args["body_format"] = "json"
        args["body"] = _value(probe["json"], captures)
    if probe.get("files"):
        args["body_format"] = "form-multipart"
        args["body"] = {
            name: {
                "filename": _value(f["filename"], captures),
                "content": _value(f["content"], captures),
                "mime_type": f.get("content_type", "application/octet-stream"),
            }
            for name, f in probe["files"].items()
        }
    return args


def _when(check: Any) -> list[str]:
    return [f"{_var(r)} is succeeded and {_var(r)} is not skipped" for r in check.requires]


def _container_task(check: Any, project: str) -> dict[str, Any]:
    reg = _var(check.id)
    svc = check.probe["service"]
    state = check.expect.get("state", "running")
    conds = [f"{reg}.stdout.split(' ')[0] | default('') != {json.dumps(state)}"]
    if check.expect.get("health"):
        conds.append(f"'({check.expect['health']})' not in {reg}.stdout")
    return {
        "name": check.id,
        "command": {
            "argv": [
                "docker",
                "ps",
                "--all",
                "--filter",
                f"label=com.docker.compose.project={project}",
                "--filter",
                f"label=com.docker.compose.service={svc}",
                "--format",
                "{% raw %}{{.State}} {{.Status}}{% endraw %}",
            ]
        },
        "register": reg,
        "changed_when": False,
        "failed_when": conds,
    }


def _load_tasks(check: Any, captures: dict[str, str]) -> list[dict[str, Any]]:
    """N requests in flight at once: ``async`` with ``poll: 0``, collected by ``async_status``, judged."""
    reg = _var(check.id)
    n = int(check.probe.get("concurrency", 1))
    args = _uri(check.probe, captures, reg, check.expect)
    share = float(check.expect.get("share", 1.0))
    status = check.expect.get("status")
    if isinstance(status, (int, list)):
        wanted = str(status if isinstance(status, list) else [status])
    else:
        base = int(status[0]) * 100 if status else 200
        wanted = f"range({base}, {base + 100}) | list"
    met = f"{reg}.results | selectattr('status', 'defined') | selectattr('status', 'in', {wanted})"
    if check.expect.get("latency_ms") is not None:
        met += f" | selectattr('elapsed', 'le', {check.expect['latency_ms'] / 1000})"
    return [
        {
            "name": f"{check.id} (start {n} requests)",
            "uri": args,
            "loop": f"{{{{ range({n}) | list }}}}",
            "async": 60,
            "poll": 0,
            "register": f"{reg}_jobs",
        },
        {
            "name": f"{check.id} (collect)",
            "async_status": {"jid": "{{ item.ansible_job_id }}"},
            "loop": f"{{{{ {reg}_jobs.results }}}}",
            "register": reg,
            "until": f"{reg} is finished",
            "retries": 600,
            "delay": POLL_S,
            "failed_when": False,
        },
        {
            "name": check.id,
            "assert": {"that": [f"({met} | list | length) >= {n} * {share}"], "quiet": True},
        },
    ]


def playbook(target: Any, checks: list[Any], secrets: dict[str, Path]) -> list[dict[str, Any]]:
    """The suite as one play on localhost; the number of judged tasks equals the number of checks."""
    from remediator.context import base_context

    context = base_context(target)
    captures: dict[str, str] = {}
    for c in checks:
        for name, path in c.capture.items():
            captures[name] = f"{_var(c.id)}.json{_jinja_path(path)}"
    play_vars: dict[str, Any] = {
        "urls": {k: str(v) for k, v in context["urls"].items()},
        "secrets": {name: f"{{{{ lookup('file', {str(p)!r}) }}}}" for name, p in secrets.items()},
    }
    play_vars.update({k: v for k, v in (context.get("vars") or {}).items() if isinstance(v, (str, int, float))})
    tasks: list[dict[str, Any]] = [
        {"name": "run id", "set_fact": {"run_id": "{{ 1000000000 | random }}"}},
    ]
    project = target.compose.project if target.compose else ""
    for c in _ordered(checks):
        if c.kind == "container":
            task = _container_task(c, project)
            found = [task]
        elif c.kind == "http" and int(c.probe.get("concurrency", 1)) > 1:
            found = _load_tasks(c, captures)
        elif c.kind == "http":
            reg = _var(c.id)
            found = [
                {
                    "name": c.id,
                    "uri": _uri(c.probe, captures, reg, c.expect),
                    "register": reg,
                    "failed_when": _http_failed_when(reg, c.expect, captures),
                }
            ]
        else:
            raise SystemExit(f"{c.id}: probe kind {c.kind!r} has no Ansible counterpart in this benchmark")
        for task in found:
            if c.requires:
                task["when"] = _when(c)
            task["ignore_errors"] = True
        tasks.extend(found)
    return [{"name": "the suite", "hosts": "localhost", "connection": "local", "gather_facts": False,
             "vars": play_vars, "tasks": tasks}]  # fmt: skip


def _ordered(checks: list[Any]) -> list[Any]:
    """Suite order, moved only as far as ``requires``/``after`` need (a playbook runs top to bottom),
    exclusive checks last (as remediate runs them)."""
    by_id = {c.id: c for c in checks}
    out: list[Any] = []
    seen: set[str] = set()

    def visit(c: Any) -> None:
        if c.id in seen:
            return
        seen.add(c.id)
        for r in (*c.requires, *c.after):
            visit(by_id[r])
        out.append(c)

    for c in [*(c for c in checks if not c.exclusive), *(c for c in checks if c.exclusive)]:
        visit(c)
    return out


# -- the runs -------------------------------------------------------------------------------------


def timed(
    argv: list[str], env: dict[str, str] | None = None, tree: Path = ROOT
) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall and CPU seconds (the process and everything it started) of one command; ``tree``: the
    working directory, whose ``remediator`` ``python -m`` imports first (to time another version)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=tree, env=env, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc


def run_remediate(inventory: Path, tree: Path = ROOT) -> tuple[float, float, dict[str, Any]]:
    argv = [sys.executable, "-m", "remediator", "check", "--json", "-i", str(inventory.resolve())]
    wall, cpu, proc = timed(argv, tree=tree)
    if not proc.stdout.strip():
        raise RuntimeError(f"remediate check exited {proc.returncode}:\n{proc.stderr[-800:]}")
    doc = json.loads(proc.stdout)
    failing = [f"{c['id']}: {c['reason']}" for c in doc["checks"] if c["status"] != "passed"]
    if failing:  # a loaded machine can fail a latency check; the figures say so rather than hide it
        say(f"remediate: {len(failing)} of {doc['total']} checks did not pass: {failing}")
    return wall, cpu, doc


_RECAP = re.compile(r"localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)"
                    r"\s+rescued=(\d+)\s+ignored=(\d+)")  # fmt: skip


def run_ansible(ansible: Path, book: Path, env: dict[str, str]) -> tuple[float, float, dict[str, int]]:
    wall, cpu, proc = timed([str(ansible), "-i", "localhost,", str(book)], env)
    m = _RECAP.search(proc.stdout)
    if proc.returncode != 0 or not m:
        raise RuntimeError(f"ansible-playbook exited {proc.returncode}:\n{proc.stdout[-2000:]}\n{proc.stderr[-1000:]}")
    keys = ("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored")
    recap = dict(zip(keys, map(int, m.groups()), strict=True))
    if recap["ignored"] or recap["skipped"] or recap["failed"]:
        failing = re.findall(r"TASK \[([^\]]+)\] \**\n(?:(?!TASK)[^\n]*\n)*?fatal:", proc.stdout)
        say(f"ansible-playbook: not everything passed ({recap}); failing: {failing}")
    return wall, cpu, recap


def run_plan(inventory: Path) -> tuple[float, float]:
    wall, cpu, proc = timed([sys.executable, "-m", "remediator", "plan", "--json", "-i", str(inventory)])
    if proc.returncode not in (0, 1) or not proc.stdout.strip():
        raise RuntimeError(f"remediate plan exited {proc.returncode}:\n{proc.stderr[-800:]}")
    return wall, cpu


def run_help() -> tuple[float, float]:
    wall, cpu, proc = timed([sys.executable, "-m", "remediator", "--help"])
    if proc.returncode != 0:
        raise RuntimeError(f"remediate --help exited {proc.returncode}:\n{proc.stderr[-800:]}")
    return wall, cpu


def _secrets(target: Any) -> dict[str, Path]:
    return {name: src.base / str(src.ref) for name, src in target.secrets.items() if src.kind == "file"}


def _load_avg() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def measure(inventory: Path, runs: int, ansible: Path | None, baseline: Path | None = None) -> dict[str, Any]:
    from remediator.loader import load_inventory, load_suite

    target = load_inventory(inventory).select()[0]
    suite = load_suite(target.checks)
    checks = list(suite.checks)
    figures: dict[str, Any] = {"checks": len(checks), "runs": runs, "load_before": _load_avg()}
    rem: list[tuple[float, float]] = []
    ans: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory(prefix="remediate-ansible-") as tmp:
        env = None
        book = Path(tmp) / "suite.yml"
        if ansible is not None:
            import yaml

            book.write_text(yaml.safe_dump(playbook(target, checks, _secrets(target)), sort_keys=False, width=1000))
            env = {
                **os.environ,
                "ANSIBLE_LOCAL_TEMP": str(Path(tmp) / "local"),
                "ANSIBLE_HOME": str(Path(tmp) / "home"),
                "ANSIBLE_PYTHON_INTERPRETER": str(ansible.parent / "python"),
                "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_RETRY_FILES_ENABLED": "0",
                "ANSIBLE_DEPRECATION_WARNINGS": "0",
                "ANSIBLE_LOCALHOST_WARNING": "0",
            }
            say(f"playbook of {len(checks)} checks written: {book}")
        run_remediate(inventory)  # warm-up: bytecode, page cache, the schema cache
        if baseline is not None:
            run_remediate(inventory, baseline)
        if ansible is not None:
            run_ansible(ansible, book, env or {})
        for i in range(runs):
            w, c, doc = run_remediate(inventory)
            rem.append((w, c))
            figures.setdefault("remediate_passed", []).append(doc["passed"])
            line = f"run {i + 1}/{runs}: remediate {w:.2f} s (CPU {c:.2f} s, {doc['passed']}/{doc['total']} passed)"
            if baseline is not None:
                w, c, doc = run_remediate(inventory, baseline)
                figures.setdefault("baseline_wall_s", []).append(round(w, 3))
                figures.setdefault("baseline_cpu_s", []).append(round(c, 3))
                line += f", baseline {w:.2f} s (CPU {c:.2f} s)"
            if ansible is not None:
                w, c, recap = run_ansible(ansible, book, env or {})
                ans.append((w, c))
                figures.setdefault("ansible_failed", []).append(recap["ignored"] + recap["skipped"])
                line += f", ansible-playbook {w:.2f} s (CPU {c:.2f} s, {recap['ok']} tasks ok)"
            w, c = run_plan(inventory)
            figures.setdefault("plan_wall_s", []).append(round(w, 3))
            w, c = run_help()
            figures.setdefault("help_wall_s", []).append(round(w, 3))
            say(line + f", plan {figures['plan_wall_s'][-1]:.2f} s, --help {w:.2f} s")
    figures["load_after"] = _load_avg()
    figures["remediate_wall_s"] = [round(w, 3) for w, _ in rem]
    figures["remediate_cpu_s"] = [round(c, 3) for _, c in rem]
    if ans:
        figures["ansible_wall_s"] = [round(w, 3) for w, _ in ans]
        figures["ansible_cpu_s"] = [round(c, 3) for _, c in ans]
    return figures


def report(fig: dict[str, Any]) -> None:
    r_wall, r_cpu = statistics.median(fig["remediate_wall_s"]), statistics.median(fig["remediate_cpu_s"])
    print(f"\n{fig['checks']} checks, {fig['runs']} runs each, interleaved; load average {fig['load_before']} -> "
          f"{fig['load_after']} (1, 5, 15 min)")  # fmt: skip
    print(f"  remediate check      median {r_wall:7.2f} s wall  {r_cpu:6.2f} s CPU  (runs: {fig['remediate_wall_s']})")
    if "baseline_wall_s" in fig:
        b_wall, b_cpu = statistics.median(fig["baseline_wall_s"]), statistics.median(fig["baseline_cpu_s"])
        fig.update(baseline_ratio_wall=round(b_wall / r_wall, 2), baseline_ratio_cpu=round(b_cpu / r_cpu, 2))
        print(f"  baseline check       median {b_wall:7.2f} s wall  {b_cpu:6.2f} s CPU  ({fig['baseline']}): this tree "
              f"{b_wall / r_wall:.2f}x faster (CPU {b_cpu / r_cpu:.2f}x)")  # fmt: skip
    p_wall, h_wall = statistics.median(fig["plan_wall_s"]), statistics.median(fig["help_wall_s"])
    fig.update(plan_ratio=round(p_wall / r_wall, 2))
    print(
        f"  remediate plan       median {p_wall:7.2f} s wall: {p_wall / r_wall:.2f}x a check (goal <= 1.5x: "
        f"{'MET' if p_wall / r_wall <= 1.5 else 'NOT MET'})"
    )
    met = "MET" if h_wall <= 0.25 else "NOT MET"
    print(f"  remediate --help     median {h_wall:7.2f} s wall (goal <= 0.25 s: {met})")
    if "ansible_wall_s" not in fig:
        print("  ansible-playbook     not measured: no ansible-core (make bench-ansible-env sets it up)")
        return
    a_wall, a_cpu = statistics.median(fig["ansible_wall_s"]), statistics.median(fig["ansible_cpu_s"])
    print(f"  ansible-playbook     median {a_wall:7.2f} s wall  {a_cpu:6.2f} s CPU  (runs: {fig['ansible_wall_s']})")
    ratio = a_wall / r_wall
    fig.update(ratio_wall=round(ratio, 1), ratio_cpu=round(a_cpu / r_cpu, 1), goal=GOAL, met=ratio >= GOAL)
    print(f"  remediate is {ratio:.1f}x faster (CPU {a_cpu / r_cpu:.1f}x); goal >= {GOAL:.0f}x: "
          f"{'MET' if ratio >= GOAL else 'NOT MET'}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--inventory", type=Path, help="an inventory whose (healthy) target to use as it is")
    parser.add_argument(
        "--port-offset",
        type=int,
        default=12000,
        help="added to the sandbox's ports; they stay below Linux's ephemeral range (32768-60999), where an "
        "outgoing connection can hold a port first",
    )
    parser.add_argument("--ansible-playbook", type=Path, default=ANSIBLE_VENV / "bin" / "ansible-playbook")
    parser.add_argument("--write-playbook", type=Path, help="only write the playbook for --inventory and stop")
    parser.add_argument("--json", dest="json_out", type=Path, help="write the figures as JSON to this file")
    parser.add_argument(
        "--baseline", type=Path, metavar="DIR", help="another source tree whose check is timed too, interleaved"
    )
    args = parser.parse_args()
    ansible = args.ansible_playbook if args.ansible_playbook.exists() else None
    if ansible is None:
        say(f"no {args.ansible_playbook}: measuring remediate alone (make bench-ansible-env sets ansible-core up)")
    if args.write_playbook:
        import yaml

        from remediator.loader import load_inventory, load_suite

        target = load_inventory(args.inventory).select()[0]
        book = playbook(target, list(load_suite(target.checks).checks), _secrets(target))
        args.write_playbook.write_text(yaml.safe_dump(book, sort_keys=False, width=1000))
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the sandbox is torn down
    if args.inventory:
        fig = measure(args.inventory, args.runs, ansible, args.baseline)
    else:
        from heal import private_sandbox

        with private_sandbox("ansible", args.port_offset) as box:
            box.up()
            fig = measure(box.inventory, args.runs, ansible, args.baseline)
    fig["baseline"] = str(args.baseline) if args.baseline else None
    report(fig)
    if args.json_out:
        args.json_out.write_text(json.dumps(fig, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
