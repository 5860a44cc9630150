"""The HTML report of `remediate apply`, opened in a real headless Chromium at 1280 and 390 px.

The page is made from a recorded apply result (tests/fixtures/apply_history.json: the sandbox's
"history" scenario, healed on the real engine, with rollbacks, failures and diffs), so no engine is
needed. Chromium is driven over its DevTools protocol (on 127.0.0.1, through aiohttp's websocket
client): the window-size flag cannot make a window narrower than 500 px, while device-metrics
emulation gives a true 390 px phone viewport (the viewport meta then matters, as on a phone). Every
<details> is opened (evidence and diffs are the widest content), then nothing may be wider than the
viewport. Full-page screenshots of each width are kept under reports/html-report/ (path printed).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from remediator.html_report import render_html, write_html
from remediator.secrets import MASKER, fingerprint

from .support import ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "apply_history.json"
ARTEFACTS = ROOT / "reports" / "html-report"
META = {
    "date": "2026-11-25T16:37:52+00:00",
    "command": "remediate apply -i stack/inventory.yml --report reports/heal.html",
    "duration_s": 290.5,
    "target": "sandbox (compose project remediate-cliux-rec in /tmp/cliux-rec/stack)",
}

# Opens every <details> and reports the layout: widths, and any element whose box ends past the viewport.
MEASURE = """(() => {
  for (const d of document.querySelectorAll("details")) d.open = true;
  const root = document.documentElement, width = root.clientWidth;
  const wide = [...document.querySelectorAll("body *")]
    .filter((e) => e.getClientRects().length && e.getBoundingClientRect().right > width + 0.5)
    .map((e) => e.tagName.toLowerCase() + (typeof e.className === "string" && e.className ? "." + e.className : ""));
  return {innerWidth: window.innerWidth, clientWidth: width, scrollWidth: root.scrollWidth,
          scrollHeight: root.scrollHeight, overflowing: wide.slice(0, 12)};
})()"""


def _doc() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())


def _chromium() -> str:
    """The browser; missing, the test fails in CI (scripts/chromium.sh installs it) and skips elsewhere."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    message = "no chromium: run 'bash scripts/chromium.sh' (make test does)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


async def _open(port: int, url: str, width: int, shot: Path) -> dict[str, Any]:
    """Load ``url`` in a ``width`` px viewport (a phone's below 600), measure it, screenshot the whole page."""
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/json/list") as response:
            page = next(t for t in await response.json() if t["type"] == "page")
        async with http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            ids = iter(range(1, 1_000_000))

            async def call(method: str, until_event: str | None = None, **params: Any) -> dict[str, Any]:
                number = next(ids)
                await ws.send_json({"id": number, "method": method, "params": params})
                result = None
                while True:
                    message = await ws.receive_json(timeout=60)
                    if message.get("id") == number:
                        assert "error" not in message, message
                        result = message["result"]
                    elif until_event and message.get("method") == until_event:
                        until_event = None
                    if result is not None and until_event is None:
                        return result

            mobile = width < 600
            await call(
                "Emulation.setDeviceMetricsOverride", width=width, height=900, deviceScaleFactor=1, mobile=mobile
            )
            await call("Page.enable")
            await call("Page.navigate", until_event="Page.loadEventFired", url=url)
            measured = await call("Runtime.evaluate", expression=MEASURE, returnByValue=True)
            m = measured["result"]["value"]
            height = min(max(900, m["scrollHeight"]), 16000)
            image = await call(
                "Page.captureScreenshot",
                format="png",
                captureBeyondViewport=True,
                clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
            )
            shot.write_bytes(base64.b64decode(image["data"]))
            return m


def _in_chromium(url: str, width: int, shot: Path, profile: Path) -> dict[str, Any]:
    argv = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        f"--user-data-dir={profile}",
        "about:blank",
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        active = profile / "DevToolsActivePort"  # chromium writes its port here once it listens
        deadline = time.monotonic() + 60
        while not (active.exists() and active.read_text().strip()):
            assert proc.poll() is None, f"chromium exited {proc.returncode}: {proc.stderr.read()[-2000:]}"
            assert time.monotonic() < deadline, "chromium did not open its DevTools port in 60 s"
            time.sleep(0.1)
        port = int(active.read_text().splitlines()[0])
        return asyncio.run(_open(port, url, width, shot))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("width", [1280, 390])
def test_report_fits_the_viewport_in_chromium(tmp_path: Path, width: int) -> None:
    report = tmp_path / "report.html"
    write_html(_doc(), report, META)
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTEFACTS / f"report-{width}.png"
    m = _in_chromium(report.as_uri(), width, shot, tmp_path / "profile")
    assert m["innerWidth"] == width == m["clientWidth"], m  # the viewport really is this wide
    assert m["scrollWidth"] <= width, f"cut off at {width} px: {m}"
    assert m["overflowing"] == [], f"wider than {width} px: {m}"
    assert shot.stat().st_size > 10_000
    print(f"screenshot at {width} px (evidence open, {m['scrollHeight']} px tall): {shot}")


def test_report_says_what_ran_and_tells_predicted_from_measured() -> None:
    doc = _doc()
    page = render_html(doc, META)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    for value in (
        "2026-11-25T16:37:52+00:00",
        "remediate apply -i stack/inventory.yml",
        "290.5 s",
        "remediate-cliux-rec",
    ):
        assert value in page
    # every step's duration, and the subject that tells apart two rows of one entry
    for step in doc["steps"]:
        assert f"{step['duration_s']:.1f} s" in page
    assert page.count("service=airtable-gateway") >= 2 and "key=API_KEY" in page
    # one chart for a wide page, one for a phone; each: a hollow square per prediction, a dot per
    # measurement (start + steps), and the final full run as its own point
    n = len(doc["steps"])
    assert page.count('stroke="#c26a00" stroke-width="2"><title>step') == 2 * n
    assert page.count(" measured: ") + page.count("<title>start: ") == 2 * (n + 1)
    assert page.count(f"<title>final full run: {doc['final_rate']:.1%}</title>") == 2
    # evidence pretty-printed (indented JSON, a body's JSON unpacked), diffs coloured by line
    assert "<pre>{\n  &#34;check&#34;: &#34;airtable.list-tables&#34;" in page
    assert "&#34;body&#34;: {\n    &#34;detail&#34;: &#34;Invalid API key&#34;" in page
    assert '<span class="del">-      test: [&#34;CMD&#34;, &#34;curl&#34;' in page
    assert '<span class="add">+      test: [&#34;CMD&#34;, &#34;python3&#34;' in page


def test_secrets_show_as_fingerprints_that_tell_values_apart() -> None:
    old, new = "sk-old-" + "a1" * 12, "sk-new-" + "b2" * 12
    MASKER.add(old)
    MASKER.add(new)
    doc = _doc()
    step = doc["steps"][1]
    step["actions"][0]["diff"] = f"--- a/.env\n+++ b/.env\n@@ -1 +1 @@\n-API_KEY={old}\n+API_KEY={new}\n"
    step["evidence"].append({"env": "API_KEY", "value": old, "expected": new})
    meta = {**META, "command": f"remediate apply --token {new}"}
    page = render_html(doc, meta)
    assert old not in page and new not in page
    assert re.fullmatch(r"\*\*\*\(sha256:[0-9a-f]{4}\)", fingerprint(old))
    assert fingerprint(old) != fingerprint(new)
    assert f'<span class="del">-API_KEY={fingerprint(old)}</span>' in page
    assert f'<span class="add">+API_KEY={fingerprint(new)}</span>' in page
    assert f"remediate apply --token {fingerprint(new)}" in page
