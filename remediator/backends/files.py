"""Safe edits of configuration files: a lock, a backup of the original, an atomic replace.

Every edit that remediator makes to a file goes through ``edit``:

- a lock (``filelock``) so two remediators never edit one file at once;
- a backup of the file as it was *before the first change of the run*, kept in
  ``.remediate/backups/`` beside the file (mode 0700: an env file's backup holds its secrets). It is
  named ``<file name>.<run id>`` and created exclusively, so a later change in the same run never
  overwrites it and a rollback restores the original, not an intermediate state. A directory rather
  than ``FILE.bak`` keeps the compose directory clean and leaves room for the backups of several runs;
- an atomic replace: the new bytes go to a temporary file in the same directory (same file system,
  so ``rename`` is atomic), which gets the original's mode and owner, is fsynced, renamed over the
  original, and then the directory is fsynced so the rename itself survives a crash. A reader (or a
  crash) sees the old file or the new one, never a partial one.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import signal
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ..errors import UserError

STATE_DIR = ".remediate"
LOCK_TIMEOUT_S = 30.0
KEEP_BACKUPS = 50  # per file: weeks of ``watch`` must not fill the disk; 50 runs back is plenty to restore from
TMP_SUFFIX = ".remediate-tmp"
_RUN_ID = re.compile(r"\d{8}T\d{6}-\d+-[0-9a-f]{6}(-step\d+)?")  # actions.base.new_run_id, per step
# Test hook: the crash tests set it to "mid-write" or "before-rename" in a child process, which then
# SIGKILLs itself at that point, so the atomicity claim is tested by a real kill, not by a mock.
CRASH_HOOK_ENV = "REMEDIATOR_TEST_CRASH_AT"


def _crash_point(name: str) -> None:
    if os.environ.get(CRASH_HOOK_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _tmp_prefix(path: Path) -> str:
    return f".{path.name}."


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` atomically, keeping the existing file's mode and owner."""
    path = Path(path)
    try:
        st: os.stat_result | None = path.stat()
    except FileNotFoundError:
        st = None
    fd, tmp_name = tempfile.mkstemp(prefix=_tmp_prefix(path), suffix=TMP_SUFFIX, dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            if os.environ.get(CRASH_HOOK_ENV) == "mid-write":
                fh.write(data[: len(data) // 2])
                fh.flush()
                _crash_point("mid-write")
            fh.write(data)
            fh.flush()
            if st is not None:
                os.fchmod(fh.fileno(), st.st_mode & 0o7777)
                if (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()):
                    with contextlib.suppress(PermissionError):
                        os.fchown(fh.fileno(), st.st_uid, st.st_gid)
            os.fsync(fh.fileno())
        _crash_point("before-rename")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _state_dir(path: Path, sub: str) -> Path:
    d = path.parent / STATE_DIR / sub
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    return d


def backup_path(path: Path, run_id: str) -> Path:
    """Where the run's backup of ``path`` lives (it may not exist yet)."""
    return path.parent / STATE_DIR / "backups" / f"{path.name}.{run_id}"


def backup(path: Path, run_id: str) -> Path:
    """Copy ``path`` to its backup for this run unless one exists already; returns the backup's path."""
    target = _state_dir(path, "backups") / f"{path.name}.{run_id}"
    if target.exists():
        return target
    data = path.read_bytes()
    mode = path.stat().st_mode & 0o7777
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        os.fsync(fh.fileno())
    _fsync_dir(target.parent)
    return target


def restore(path: Path, run_id: str) -> bool:
    """Put the run's backup of ``path`` back (atomically, under the lock); False when there is none."""
    source = backup_path(Path(path), run_id)
    if not source.exists():
        return False
    with locked(Path(path)):
        atomic_write(Path(path), source.read_bytes())
        os.chmod(path, source.stat().st_mode & 0o7777)
    return True


@contextlib.contextmanager
def locked(path: Path, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the edit lock of ``path``; another remediator waits up to ``timeout`` seconds."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(_state_dir(Path(path), "locks") / f"{Path(path).name}.lock"))
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise UserError(f"{path}: another remediator is editing it (lock held for more than {timeout:g} s)") from None
    try:
        yield
    finally:
        lock.release()


def is_inside(path: Path, root: Path) -> bool:
    """Whether ``path`` (symbolic links and ``..`` resolved) is ``root`` or lies under it."""
    return Path(path).resolve().is_relative_to(Path(root).resolve())


def confine(path: Path, roots: Iterable[Path]) -> Path:
    """``path`` resolved, when it lies inside one of ``roots``; else a ``UserError``.

    An action writes only inside its target's compose directory (or a root the inventory lists under
    ``write_roots``): a playbook's ``file: ../../x.env``, an absolute path or a symbolic link out of
    the directory is refused before anything, ``.remediate/`` included, is created.
    """
    resolved, roots = Path(path).resolve(), [Path(r).resolve() for r in roots]
    if any(resolved.is_relative_to(r) for r in roots):
        return resolved
    allowed = ", ".join(map(str, roots)) or "none"
    raise UserError(f"{path}: outside the target's compose directory ({allowed}); list its root under write_roots")


def read(path: Path) -> bytes:
    """A file's bytes; a missing or unreadable file is a user error that names it."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror or exc}") from None


def edit(path: Path, change: Callable[[bytes], bytes], run_id: str) -> tuple[bytes, bytes]:
    """Apply ``change`` to the file under its lock; back up and write only if the bytes differ.

    Returns (before, after). ``change`` sees the bytes read under the lock, so a concurrent editor's
    change is never lost; it may raise to refuse the edit, and then nothing is written.
    """
    path = Path(path)
    with locked(path):
        before = read(path)
        after = change(before)
        if after != before:
            backup(path, run_id)
            atomic_write(path, after)
            tidy(path)
    return before, after


def tidy(path: Path, keep: int = KEEP_BACKUPS) -> None:
    """Under the file's lock: remove what a killed writer left beside it and all but its newest
    ``keep`` backups.

    A temp file of ``atomic_write`` outlives its process only when that process was killed between
    creating and renaming it; under the lock no live writer of this file has one open. Backups are
    named ``<file>.<run id>``; the oldest by modification time go first.
    """
    path = Path(path)
    # mkstemp's names: prefix + 8 random characters + suffix (so ``.env.local``'s never match ``.env``'s)
    prefix = _tmp_prefix(path)
    own_tmp = re.compile(re.escape(prefix) + r"[a-z0-9_]{8}" + re.escape(TMP_SUFFIX))
    debris = [p for p in path.parent.glob(f"{glob.escape(prefix)}*{TMP_SUFFIX}") if own_tmp.fullmatch(p.name)]
    stored = (path.parent / STATE_DIR / "backups").glob(f"{glob.escape(path.name)}.*")
    mine = [p for p in stored if _RUN_ID.fullmatch(p.name[len(path.name) + 1 :])]
    backups = sorted(mine, key=lambda p: (p.stat().st_mtime_ns, p.name))
    for p in debris + backups[: max(0, len(backups) - keep)]:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def append_line(path: Path, line: str) -> None:
    """Append one line (a journal record) and fsync it, so the record is on disk before the next step
    acts: a killed run leaves every record it wrote whole, and at most the line being written torn."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line.rstrip("\n") + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
