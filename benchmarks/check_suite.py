"""How fast is `remediate check`? N HTTP checks against a local server whose endpoints answer after 20 ms.

For each N (35, 500, 2000) it measures, in the same run:
  - the floor: the slowest single probe (one request, measured alone);
  - `remediate check` run concurrently (the default), as the real CLI in a child process: the run's own
    duration (``duration_s`` of its JSON) and the process's wall time (Python start-up and imports included);
  - the same checks one after another (``--concurrency 1``).
Goals: at 35 checks the run within 1.5x the floor plus 100 ms; at 2000 checks at least 20x faster than one
after another. A side measurement compares the HTTP clients the probe engine could use (aiohttp, the
httptools transport it uses, httpx) on the same 500 requests at the same concurrency, to keep the choice
honest (in one process, after the others: import costs, the reason against aiohttp, are not in it).

Run: .venv/bin/python benchmarks/check_suite.py [--sizes 35,500,2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DELAY = 0.020


def _serve(port_q: multiprocessing.Queue) -> None:
    from aiohttp import web

    async def handle(_: web.Request) -> web.Response:
        await asyncio.sleep(DELAY)
        return web.json_response({"status": "healthy"})

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        port_q.put(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        await asyncio.Event().wait()

    asyncio.run(main())


def _write_suite(root: Path, url: str, n: int) -> Path:
    lines = ["checks:"]
    for i in range(n):
        lines += [
            f"  - id: bench.c{i}",
            "    category: bench",
            f"    name: check {i}",
            f'    probe: {{kind: http, url: "{{{{ urls.api }}}}/c/{i}"}}',
            "    expect: {status: 200, json: {status: healthy}}",
        ]
    (root / f"checks{n}.yml").write_text("\n".join(lines) + "\n")
    inv = root / f"inventory{n}.yml"
    inv.write_text(f'targets:\n  bench:\n    urls: {{api: "{url}"}}\n    checks: [checks{n}.yml]\n')
    return inv


def _check(inv: Path, *extra: str) -> tuple[float, float, dict]:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "remediator", "check", "--json", "--inventory", str(inv), *extra],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    doc = json.loads(proc.stdout)
    assert doc["passed"] == doc["total"], proc.stderr[-500:]
    return doc["duration_s"], wall, doc


async def _floor(url: str) -> float:
    import aiohttp

    async with aiohttp.ClientSession() as s:
        await (await s.get(url)).read()  # warm the connection, as the runner's pool is
        worst = 0.0
        for _ in range(5):
            t = time.perf_counter()
            async with s.get(url) as r:
                await r.read()
            worst = max(worst, time.perf_counter() - t)
    return worst


async def _clients(url: str, n: int = 500, concurrency: int = 64) -> dict[str, float]:
    import aiohttp
    import httpx

    out = {}
    sem = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:

        async def one_a(i: int) -> None:
            async with sem, s.get(f"{url}/x/{i}") as r:
                await r.read()

        t = time.perf_counter()
        await asyncio.gather(*(one_a(i) for i in range(n)))
        out["aiohttp"] = time.perf_counter() - t
    from remediator.backends.http import Request, StreamTransport

    ours = StreamTransport(concurrency)

    async def one_r(i: int) -> None:
        async with sem:
            await ours.send(Request("GET", f"{url}/x/{i}", timeout=30))

    t = time.perf_counter()
    await asyncio.gather(*(one_r(i) for i in range(n)))
    out["httptools on asyncio streams (remediator's)"] = time.perf_counter() - t
    await ours.close()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(30, pool=30)) as c:

        async def one_h(i: int) -> None:
            async with sem:
                (await c.get(f"{url}/x/{i}")).read()

        t = time.perf_counter()
        await asyncio.gather(*(one_h(i) for i in range(n)))
        out["httpx"] = time.perf_counter() - t
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="35,500,2000")
    args = ap.parse_args()
    q: multiprocessing.Queue = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve, args=(q,), daemon=True)
    server.start()
    url = f"http://127.0.0.1:{q.get(timeout=20)}"
    try:
        floor = asyncio.run(_floor(url + "/floor"))
        print(f"floor (slowest single probe): {floor * 1000:.1f} ms")
        with tempfile.TemporaryDirectory() as tmp:
            for n in (int(s) for s in args.sizes.split(",")):
                inv = _write_suite(Path(tmp), url, n)
                _check(inv)  # warm caches (bytecode, page cache) so every figure below is a warm run
                run_s, wall_s, _ = _check(inv)
                seq_s, _, _ = _check(inv, "--concurrency", "1")
                goal = 1.5 * floor + 0.100
                print(
                    f"N={n:5d}  concurrent run {run_s * 1000:8.1f} ms (process {wall_s * 1000:7.1f} ms)  "
                    f"one after another {seq_s * 1000:9.1f} ms  speed-up {seq_s / run_s:5.1f}x  "
                    f"run/floor {run_s / floor:6.1f}x"
                )
                if n == 35:
                    print(
                        f"        goal at 35: run <= 1.5 x floor + 100 ms = {goal * 1000:.1f} ms -> "
                        f"{'met' if run_s <= goal else 'NOT met'}"
                    )
                if n >= 2000:
                    print(
                        f"        goal at {n}: >= 20x faster than one after another -> "
                        f"{'met' if seq_s / run_s >= 20 else 'NOT met'}"
                    )
        clients = asyncio.run(_clients(url))
        print(
            "HTTP clients, 500 requests of a 20 ms endpoint at 64 concurrent: "
            + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in clients.items())
            + f"  (httpx / aiohttp = {clients['httpx'] / clients['aiohttp']:.1f}x)"
        )
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
