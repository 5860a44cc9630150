"""``remediate status``: what the watch's guards remember and its last figures, read from its file.

It reads ``.remediate/guards.sqlite`` of the target, the file a running or stopped watch keeps, so it
answers without the watch (and without the engine): which findings were tried how often, with what
outcome, which are no longer taken and why, and the metrics of the last cycle.
"""

from __future__ import annotations

import time
from typing import Any

from .guardstore import GuardStore, store_path
from .journal import target_base
from .model import Target


def status_doc(target: Target, release: str | None = None) -> dict[str, Any]:
    """The status of one target as plain data; ``release`` lifts that finding's exclusion first."""
    path = store_path(target_base(target))
    if not path.exists():
        return {"target_name": target.name, "file": str(path), "watched": False, "findings": [], "metrics": None}
    store = GuardStore(path)
    try:
        released = store.release(release) if release else None
        rows = store.findings()
        doc = {
            "target_name": target.name,
            "file": str(path),
            "watched": True,
            "watch": store.get_state("watch"),
            "findings": [
                {
                    "key": r["key"],
                    "attempts": r["attempts_total"],
                    "last_try": r["last_try"],
                    "last_outcome": r["last_outcome"],
                    "last_reason": r["last_reason"],
                    "succeeded": bool(r["succeeded"]),
                    "state": "quarantined" if r["quarantined"] else ("open" if r["excluded_why"] else "armed"),
                    "excluded_why": r["excluded_why"],
                    "exclusions": r["exclusions"],
                }
                for r in rows
            ],
            "metrics": store.get_state("metrics"),
            "last_cycle": store.get_state("last_cycle"),
        }
        if release:
            doc["released"] = {"key": release, "done": bool(released)}
        return doc
    finally:
        store.close()


def _ago(t: float | None, now: float) -> str:
    if not t:
        return "never"
    s = max(0, int(now - t))
    return f"{s} s ago" if s < 120 else (f"{s // 60} min ago" if s < 7200 else f"{s // 3600} h ago")


def format_status(doc: dict[str, Any], now: float | None = None) -> str:
    """The text ``remediate status`` prints."""
    now = time.time() if now is None else now
    lines = [f"{doc['target_name']}: {doc['file']}"]
    if not doc["watched"]:
        return lines[0] + "\n  no watch has run on this target yet\n"
    watch = doc.get("watch") or {}
    lines.append(f"  watch: running since {_ago(watch['since'], now)}, pid {watch['pid']}" if watch.get("pid")
                 else f"  watch: stopped {_ago(watch.get('stopped'), now)}")  # fmt: skip
    if watch.get("url"):
        lines.append(f"  endpoint: {watch['url']}/metrics")
    m = doc.get("metrics")
    if m:
        rate = "?" if m.get("rate") is None else f"{m['rate'] * 100:.1f} %"
        checks = ", ".join(f"{n} {s}" for s, n in m["checks"].items())
        cycles = ", ".join(f"{n} {r}" for r, n in m["cycles"].items())
        steps = ", ".join(f"{n} {o}" for o, n in m["steps"].items() if n) or "none"
        lines.append(f"  rate: {rate} (checks: {checks})")
        lines.append(f"  cycles: {cycles}; steps: {steps}")
        lines.append(f"  last heal: {_ago(m.get('last_heal'), now)}")
        open_ = sum(1 for s in m["breaker"].values() if s == "open")
        quarantined = sum(1 for s in m["breaker"].values() if s == "quarantined")
        lines.append(f"  breaker: {open_} open, {quarantined} quarantined")
    last = doc.get("last_cycle")
    if last and last.get("failing_before"):
        lines.append(f"  last cycle {last['cycle']} ({last['trigger']}): failing {', '.join(last['failing_before'])}")
    if doc.get("released"):
        r = doc["released"]
        lines.append(f"  released: {r['key']}" if r["done"] else f"  not excluded, nothing to release: {r['key']}")
    if doc["findings"]:
        lines.append("  findings:")
        for f in doc["findings"]:
            outcome = f" last {f['last_outcome']}" if f["last_outcome"] else ""
            lines.append(f"    {f['state']:<11} {f['key']}: {f['attempts']} attempt(s), last {_ago(f['last_try'], now)}"
                         f"{outcome}")  # fmt: skip
            if f["excluded_why"]:
                lines.append(f"                {f['excluded_why']}")
    return "\n".join(lines) + "\n"
