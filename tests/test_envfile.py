"""Env-file edits: only the key's line changes, atomically, with a backup and a way back."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from remediator.actions import ActionContext, build_action, envfile
from remediator.backends import files
from remediator.model import ComposeProject, Target

ORIGINAL = textwrap.dedent(
    """\
    # settings of the stack

    export API_KEY="old-key"   # shared with the gateway
    PASSWORD_HASH_ROUNDS=12
    # the token, single-quoted
    AIRTABLE_TOKEN='pat-old'

    LOG_LEVEL = info # spaces around =
    """
)


def _ctx(directory: Path) -> ActionContext:
    project = ComposeProject(project="remediate-envtest", directory=directory)
    return ActionContext.for_target(Target(name="t", inventory=directory / "inventory.yml", compose=project))


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    path = tmp_path / ".env"
    path.write_text(ORIGINAL)
    path.chmod(0o600)
    return path


def _changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    a, b = before.splitlines(), after.splitlines()
    assert len(a) == len(b), "lines were added or removed"
    return [(x, y) for x, y in zip(a, b, strict=True) if x != y]


def test_env_set_changes_only_the_keys_line_keeps_mode_backs_up_and_restores(env_file: Path):
    ctx = _ctx(env_file.parent)
    action = build_action({"env_set": {"file": ".env", "key": "API_KEY", "value": "new-key"}})

    seen = action.inspect(ctx)
    assert seen.would_change and '+export API_KEY="new-key"   # shared with the gateway' in seen.diff
    assert env_file.read_text() == ORIGINAL  # inspect changed nothing

    result = action.apply(ctx)
    assert result.status == "changed"
    after = env_file.read_text()
    assert _changed_lines(ORIGINAL, after) == [
        ('export API_KEY="old-key"   # shared with the gateway', 'export API_KEY="new-key"   # shared with the gateway')
    ]
    assert env_file.stat().st_mode & 0o777 == 0o600
    backup = files.backup_path(env_file, ctx.run_id)
    assert backup.read_text() == ORIGINAL and backup.stat().st_mode & 0o777 == 0o600

    assert action.apply(ctx).status == "ok"  # a second apply changes nothing
    assert not action.inspect(ctx).would_change

    # a later change in the same run keeps the original backup, so rollback gives the original bytes
    build_action({"env_set": {"file": ".env", "key": "PASSWORD_HASH_ROUNDS", "value": "4"}}).apply(ctx)
    assert backup.read_text() == ORIGINAL
    assert action.rollback(ctx).status == "changed"
    assert env_file.read_bytes() == ORIGINAL.encode()
    assert env_file.stat().st_mode & 0o777 == 0o600


def test_quoting_style_is_kept_where_it_can_hold_the_value(env_file: Path):
    text = env_file.read_text()
    assert "AIRTABLE_TOKEN='pat-new'" in envfile.set_key(text, "AIRTABLE_TOKEN", "pat-new")
    assert "LOG_LEVEL = debug # spaces around =" in envfile.set_key(text, "LOG_LEVEL", "debug")
    # a $ would be interpolated by compose unquoted or in double quotes: single quotes keep it literal
    assert "PASSWORD_HASH_ROUNDS='a$b c'" in envfile.set_key(text, "PASSWORD_HASH_ROUNDS", "a$b c")
    assert envfile.set_key(text, "NEW", "x").endswith(ORIGINAL.splitlines()[-1] + "\nNEW=x\n")


def test_env_unset_and_env_rename(env_file: Path):
    ctx = _ctx(env_file.parent)
    unset = build_action({"env_unset": {"file": ".env", "key": "PASSWORD_HASH_ROUNDS"}})
    assert unset.inspect(ctx).would_change
    assert unset.apply(ctx).status == "changed"
    assert "PASSWORD_HASH_ROUNDS" not in env_file.read_text()
    assert unset.apply(ctx).status == "ok"

    rename = build_action({"env_rename": {"file": ".env", "from": "AIRTABLE_TOKEN", "to": "AIRTABLE_PAT"}})
    assert rename.apply(ctx).status == "changed"
    assert "AIRTABLE_PAT='pat-old'" in env_file.read_text()
    assert rename.apply(ctx).status == "ok"
    assert not rename.inspect(ctx).would_change
    assert env_file.stat().st_mode & 0o777 == 0o600


def test_validate_with_refuses_a_candidate_that_fails(env_file: Path):
    from .support import http_server

    def handler(req):
        ok = req.headers.get("Authorization") == "Bearer good-token"
        return (200 if ok else 401), {}, b""

    with http_server(handler) as url:
        probe = {"http": {"url": f"{url}/whoami", "headers": {"Authorization": "Bearer {{ candidate }}"}}}
        ctx = _ctx(env_file.parent)
        bad = build_action(
            {"env_set": {"file": ".env", "key": "API_KEY", "value": "bad-token", "validate_with": probe}}
        )
        result = bad.apply(ctx)
        assert result.status == "failed" and "401" in result.message
        assert env_file.read_text() == ORIGINAL

        good = build_action(
            {"env_set": {"file": ".env", "key": "API_KEY", "value": "good-token", "validate_with": probe}}
        )
        assert good.apply(ctx).status == "changed"
        assert 'API_KEY="good-token"' in env_file.read_text()


_CRASHER = """
import sys
from pathlib import Path
from remediator.backends.files import atomic_write
atomic_write(Path(sys.argv[1]), Path(sys.argv[2]).read_bytes())
"""


@pytest.mark.parametrize("point", ["mid-write", "before-rename"])
def test_a_crash_while_writing_leaves_the_old_file_never_a_partial_one(env_file: Path, tmp_path: Path, point: str):
    new = tmp_path / "new-content"
    new.write_text(envfile.set_key(ORIGINAL, "API_KEY", "x" * 50_000))  # large, so half of it is partial
    proc = subprocess.run(
        [sys.executable, "-c", _CRASHER, str(env_file), str(new)],
        env={**os.environ, files.CRASH_HOOK_ENV: point},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == -9  # really killed at the write point
    assert env_file.read_bytes() == ORIGINAL.encode()
    assert env_file.stat().st_mode & 0o777 == 0o600
    # and without the crash the same write lands whole
    subprocess.run([sys.executable, "-c", _CRASHER, str(env_file), str(new)], check=True, timeout=60)
    assert env_file.read_bytes() == new.read_bytes()
    assert env_file.stat().st_mode & 0o777 == 0o600


def test_the_edit_lock_makes_a_second_editor_wait(env_file: Path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from remediator.backends.files import locked\n"
            "with locked(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(3)",
            str(env_file),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        from remediator.errors import UserError

        with pytest.raises(UserError, match="another remediator is editing it"), files.locked(env_file, timeout=0.5):
            pass
    finally:
        holder.wait(timeout=30)


def test_an_edit_tidies_only_its_own_debris_and_old_backups(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("A=1\n")
    (tmp_path / ".env.local").write_text("B=1\n")
    backups = tmp_path / ".remediate" / "backups"
    backups.mkdir(parents=True)
    for i in range(60):  # 60 older runs' backups of .env, oldest first
        old = backups / f".env.20260101T0000{i:02d}-1-abcdef"
        old.write_text(f"A={i}\n")
        os.utime(old, ns=(1_700_000_000_000_000_000 + i, 1_700_000_000_000_000_000 + i))
    others = [backups / ".env.local.20260101T000000-1-abcdef", backups / ".env.notes"]
    for p in others:
        p.write_text("keep\n")
    debris = tmp_path / "..env.k3j9x_2q.remediate-tmp"  # atomic_write's temp name; its writer was killed
    debris.write_text("A=half")
    live = tmp_path / "..env.local.k3j9x_2q.remediate-tmp"  # .env.local's, not .env's: not ours to remove
    live.write_text("B=")

    files.edit(env, lambda b: b.replace(b"A=1", b"A=2"), "20261125T000000-2-123456-step1")

    kept = sorted(p.name for p in backups.glob(".env.2026*"))
    assert len(kept) == files.KEEP_BACKUPS
    assert ".env.20261125T000000-2-123456-step1" in kept  # this run's own backup, the newest
    assert ".env.20260101T000000-1-abcdef" not in kept and ".env.20260101T000059-1-abcdef" in kept
    assert all(p.exists() for p in [*others, live]) and not debris.exists()
    assert env.read_text() == "A=2\n"


# --- compose's own rules: the real compose binary is the oracle ----------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from remediator.backends.compose import find_command  # noqa: E402

ENV_EXAMPLES = int(os.environ.get("REMEDIATOR_ENV_EXAMPLES", "15"))


def compose_reads(text: str) -> dict[str, str]:
    """What compose itself reads from an env file: ``compose config`` of a service with ``env_file``."""
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "compose.yml").write_text("services:\n  s:\n    image: busybox\n    env_file: [f.env]\n")
        (d / "f.env").write_bytes(text.encode())
        command = find_command(ComposeProject(project="remediate-envoracle", directory=d))
        proc = subprocess.run(
            [*command, "-f", str(d / "compose.yml"), "config", "--format", "json"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={k: v for k, v in os.environ.items() if k not in ("A", "B", "K0", "K1")},
        )
    if proc.returncode != 0:
        raise AssertionError(f"compose refuses the file: {proc.stderr.strip()}\n{text!r}")
    environment = json.loads(proc.stdout)["services"]["s"].get("environment") or {}
    return {k: v.replace("$$", "$") for k, v in environment.items()}  # compose config prints $ as $$


TRICKY = [
    "API_KEY: from-colon\nOTHER = spaced  # comment\nexport X=1\n",
    'A="x\\\\y$$z\\"q"\nB=\'C:\\temp\\x\'\nD = w#x\nE="a\\nb\\0101\\01\\c\\t"\nK= # c\n',
    "G=${A:-dflt}x\nA=1\nH=${A}\nI='$A'\nJ=\"${A}$$\"\nL='a\\'b'\nM=\"a\\\\\\\\\"\nN='C:\\\\'\n",
    "  # indented comment\n\n\tQ=  spaced  value   \nR='one\ntwo' # multi-line\nS=\"x\" T=2\n",
]


@pytest.mark.parametrize("text", TRICKY)
def test_the_reader_reads_what_compose_reads(text: str) -> None:
    assert envfile.values(text, environ={}) == compose_reads(text)


def test_an_unterminated_quote_is_reported_at_its_opening_line() -> None:
    text = "A=1\n" * 25 + 'B="never closed\n' + "C=2\n" * 29
    with pytest.raises(envfile.EnvFileError, match=r"^\.env:26:3: unterminated quoted value"):
        envfile.values(text, ".env")
    with pytest.raises(AssertionError, match="unterminated quoted value"):  # compose refuses it too (at line 55)
        compose_reads(text)


VALUES = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=24) | st.sampled_from(
    ["C:\\temp\\", "it's", 'say "hi"', "a # b", " padded ", "$HOME", "${X:-y}", "$$", "\\", "'", '"', "\n", "é ☃ 𝄞"]
)


@settings(max_examples=ENV_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(
    new=st.lists(VALUES, min_size=2, max_size=2),
    styles=st.lists(st.sampled_from(["", "'", '"', None]), min_size=2, max_size=2),
)
def test_compose_reads_back_every_value_written(new: list[str], styles: list[str | None]) -> None:
    """Set K0 and K1 (over an unquoted, single- or double-quoted old value, or none) and ask compose."""
    text = "# settings\n" + "".join(f"K{i}={s}old{s}  # keep me\n" for i, s in enumerate(styles) if s is not None)
    for i, value in enumerate(new):
        text = envfile.set_key(text, f"K{i}", value)
    want = {f"K{i}": v for i, v in enumerate(new)}
    assert envfile.values(text, environ={}) == want
    assert compose_reads(text) == want, text
    assert text.count("# keep me") == sum(s is not None for s in styles)
