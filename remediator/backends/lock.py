"""One heal per target at a time: ``apply`` and each ``watch`` cycle hold the target's heal lock.

The lock is ``filelock``'s (an OS file lock, released by the kernel when its process dies, so a lock
left by a killed process is free again and simply taken over). Beside it, ``heal.lock.json`` says who
holds it (pid, command, since) so that a second heal can say who it waits for; ``plan`` and ``check``
take no lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import Busy
from ..secrets import MASKER
from .files import STATE_DIR, atomic_write


def lock_dir(base: Path) -> Path:
    return Path(base) / STATE_DIR / "locks"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def holder(base: Path) -> dict[str, object] | None:
    """Who says they hold the heal lock (None when nobody wrote it, or it does not parse)."""
    try:
        return json.loads((lock_dir(base) / "heal.lock.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _describe(info: dict[str, object] | None) -> str:
    if not info:
        return "another remediate process"
    return f"pid {info.get('pid')} ({info.get('command')}) since {info.get('since')}"


@contextlib.contextmanager
def heal_lock(
    base: Path, target: str, timeout: float = 0.0, notify: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Hold ``target``'s heal lock (under ``base``/.remediate/locks) for the duration; wait at most
    ``timeout`` seconds for it, else raise ``Busy`` naming the holder."""
    from filelock import FileLock, Timeout

    directory = lock_dir(base)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock = FileLock(str(directory / "heal.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        info = holder(base)
        if timeout <= 0:
            raise Busy(
                f"target {target} is being healed by {_describe(info)}; "
                "wait for it with --lock-timeout SECONDS, or try again later"
            ) from None
        if notify:
            notify(f"waiting up to {timeout:g} s for the heal of {_describe(info)} to end")
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise Busy(f"target {target} is still being healed by {_describe(info)} after {timeout:g} s") from None
    try:
        previous = holder(base)
        if previous and isinstance(previous.get("pid"), int) and not _alive(int(previous["pid"])) and notify:
            notify(f"took over the heal lock left by {_describe(previous)}, which is no longer running")
        me = {
            "pid": os.getpid(),
            "command": MASKER.mask(" ".join(Path(sys.argv[0]).name if i == 0 else a for i, a in enumerate(sys.argv))),
            "since": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        atomic_write(directory / "heal.lock.json", json.dumps(me).encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            (directory / "heal.lock.json").unlink()
        lock.release()
