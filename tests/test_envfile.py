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
from remediator.errors import UserError
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


# --- compose's rules, pinned as tables (each expected value read from compose itself) ------------

READS_AS_COMPOSE_DOES = {
    # statements, comments and separators
    "comment lines, indented or not, between bindings": ("A=1\n#c\n  # d\n\tB=2\n", {"A": "1", "B": "2"}),
    "KEY: value and KEY = value": ("A:1\nB : 2\nC =3\n", {"A": "1", "B": "2", "C": "3"}),
    "export then tabs or a vertical tab before the key": ("export\tB=1\nexport \vA=1\n", {"B": "1", "A": "1"}),
    "key characters: letters, digits, _ . - [ ]": ("a.b-c[0]=1\nK2é=2\n", {"a.b-c[0]": "1", "K2é": "2"}),
    # unquoted values
    "only ' and \" open a quote": ("B=Xy # c\nC=a'b\n", {"B": "Xy", "C": "a'b"}),
    "unquoted: cut at ' #', a '#' inside stays": ("A=x #y\nB=x#y\nC= \n", {"A": "x", "B": "x#y", "C": ""}),
    "unquoted: trailing spaces trimmed, \\x1c is no space": ("A=x \t\nB=x\x1c\n", {"A": "x", "B": "x\x1c"}),
    # quoted values and what follows them on the line
    "a comment after a closing quote": ("A=\"x\"  # c\nB='y'\t#c\nC=3\n", {"A": "x", "B": "y", "C": "3"}),
    "a quoted value ends its line": ("A='x'\nB=2\n", {"A": "x", "B": "2"}),
    "single quotes keep backslashes but for the quote": ("Q='a\\'b\\n'\n", {"Q": "a'b\\n"}),
    "double quotes keep a backslash before a single quote": ('Q="a\\\'b"\n', {"Q": "a\\'b"}),
}


@pytest.mark.parametrize(("text", "want"), READS_AS_COMPOSE_DOES.values(), ids=READS_AS_COMPOSE_DOES.keys())
def test_values_follow_compose_s_statement_and_quoting_rules(text: str, want: dict[str, str]) -> None:
    assert envfile.values(text, environ={}) == want


DOUBLE_QUOTED_ESCAPES = {
    "Go's letter escapes; \\c stays as written": (
        '"\\a|\\b|\\c|\\f|\\n|\\r|\\t|\\v|\\$|\\"|\\\\"',
        '\a|\b|\\c|\f|\n|\r|\t|\v|$|"|\\',
    ),
    "\\0ddd is an octal byte below 256, else the 0 is dropped": (
        '"\\0101|\\0400|\\0377|\\08|\\0|\\01234|\\0777"',
        "A|\\400|\xff|\\8|\\|S4|\\777",
    ),
    "\\$ is a literal dollar, never a variable": ('"\\$A|\\${A}|x\\$"', "$A|${A}|x$"),
}


@pytest.mark.parametrize(("raw", "want"), DOUBLE_QUOTED_ESCAPES.values(), ids=DOUBLE_QUOTED_ESCAPES.keys())
def test_double_quotes_turn_escapes_into_the_characters_they_name(raw: str, want: str) -> None:
    assert envfile.values(f"E={raw}\n", environ={"A": "set"}) == {"E": want}


INTERPOLATION = {
    "$X and ${X}, an unset one empty": ("B=$A$A_x${A}y|$U|${U}\n", "11y||"),
    "$$ is a dollar": ("B=$$A|a$$\n", "$A|a$"),
    ":- when unset or empty, - when unset": ("B=${A:-d}|${U:-d}|${E:-d}|${E-d}|${U-d}|${A-d}|${U:-}\n", "1|d|d||d|1|"),
    ":+ when set and not empty, + when set": (
        "B=${A:+s}|${U:+s}|${E:+s}|${E+s}|${U+s}|${A+s}|${U:+}|${A:+}|${A+}\n",
        "s|||s||s|||",
    ),
    "a default or alternative is interpolated itself": ("B=${U:-$A}|${A:+<$A>}|${U-$$}|${A+$A}\n", "1|<1>|$|1"),
    "? and :? give the value when there is one": ("B=${A?err}|${A:?e}|${E?e}\n", "1|1|"),
}


@pytest.mark.parametrize(("line", "want"), INTERPOLATION.values(), ids=INTERPOLATION.keys())
def test_unquoted_and_double_quoted_values_are_interpolated(line: str, want: str) -> None:
    assert envfile.values("E=\nA=1\n" + line, environ={})["B"] == want
    key, _, value = line.rstrip("\n").partition("=")
    quoted = '"' + value + '"'  # double quotes interpolate just the same
    assert envfile.values(f"E=\nA=1\n{key}={quoted}\n", environ={})["B"] == want
    assert envfile.values(f"E=\nA=1\n{key}='{value}'\n", environ={})["B"] == value  # single quotes do not


def test_parse_locates_each_statement_its_name_value_and_line_break() -> None:
    B = envfile.Binding
    assert envfile.parse('export  A=1 # c\n  BARE  \nQ = "x"  # q\nZ') == [
        B("A", start=0, key_start=0, name_start=8, value_start=10, value_end=11, end=16, raw="1"),
        B("BARE", start=16, key_start=18, name_start=18, value_start=24, value_end=24, end=25, raw="", inherited=True),
        B("Q", start=25, key_start=25, name_start=25, value_start=29, value_end=32, end=38, raw='"x"'),
        B("Z", start=38, key_start=38, name_start=38, value_start=39, value_end=39, end=39, raw="", inherited=True),
    ]
    assert envfile.parse('A="\n"\n') == [B("A", 0, 0, 0, value_start=2, value_end=5, end=6, raw='"\n"')]


ENDS_OF_FILE = {
    "an empty value": ("A=", {"A": ""}),
    "an empty value after spaces": ("A= ", {"A": ""}),
    "a comment": ("A=1\n# last", {"A": "1"}),
    "a quoted value": ("A='x'", {"A": "x"}),
}


@pytest.mark.parametrize(("text", "want"), ENDS_OF_FILE.values(), ids=ENDS_OF_FILE.keys())
def test_a_file_may_end_anywhere_without_a_line_break(text: str, want: dict[str, str]) -> None:
    assert envfile.values(text, environ={}) == want


def test_a_key_alone_takes_the_environment_s_value_or_is_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    assert envfile.keys("A=1\nBARE") == ["A", "BARE"]  # also last, with no line break (compose-go: {"": "BARE"})
    text = "A\nB=${X}\nC\nD=4\n"
    assert envfile.values(text, environ={"A": "a", "X": "x"}) == {"A": "a", "B": "x", "D": "4"}
    monkeypatch.delenv("A", raising=False)
    monkeypatch.delenv("C", raising=False)
    monkeypatch.setenv("X", "from-os")
    assert envfile.values(text, environ={"C": "c"}) == {"B": "", "C": "c", "D": "4"}  # the given environ only
    assert envfile.values(text) == {"B": "from-os", "D": "4"}  # none given: the process's own


ERRORS = {
    "a character no name may hold": ("A=1\n  B!C=2\n", 2, 4, "unexpected character '!' in a variable name"),
    "a separator with no name": ("A=1\n\n  =x\n", 3, 3, "a variable name is missing before '=' or ':'"),
    "export and nothing after it": ("A=1\nexport ", 2, 8, "a variable name is missing before '=' or ':'"),
    "a space inside a name": ("A=1\nexport  B C=2\n", 2, 9, "a variable name cannot contain a space: 'B C'"),
    "a no-break space inside a name": ("B\xa0C=1\n", 1, 1, "a variable name cannot contain a space: 'B\\xa0C'"),
    "a quote never closed, at its opening": (
        "A=1\nB = 'x\n",
        2,
        5,
        "unterminated quoted value: the ' opened here is never closed",
    ),
    "line and column after a leading blank line": ("\n  B!=1\n", 2, 4, "unexpected character '!' in a variable name"),
}


@pytest.mark.parametrize(("text", "line", "column", "message"), ERRORS.values(), ids=ERRORS.keys())
def test_a_file_compose_refuses_is_reported_at_line_and_column(text: str, line: int, column: int, message: str) -> None:
    with pytest.raises(envfile.EnvFileError) as raised:
        envfile.parse(text, ".env")
    assert (raised.value.line, raised.value.column, str(raised.value)) == (
        line,
        column,
        f".env:{line}:{column}: {message}",
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda t: envfile.values(t, ".env"),
        lambda t: envfile.get(t, "A", ".env"),
        lambda t: envfile.keys(t, ".env"),
        lambda t: envfile.set_key(t, "A", "1", ".env"),
        lambda t: envfile.unset_key(t, "A", ".env"),
        lambda t: envfile.rename_key(t, "A", "Z", ".env"),
    ],
    ids=["values", "get", "keys", "set_key", "unset_key", "rename_key"],
)
def test_every_reader_and_editor_names_the_file_in_its_errors(call) -> None:
    with pytest.raises(envfile.EnvFileError, match=r"^\.env:1:2: unexpected character '!'"):
        call("A!=1\n")


@pytest.mark.parametrize(
    "call",
    [
        envfile.parse,
        envfile.values,
        lambda t: envfile.get(t, "A"),
        envfile.keys,
        lambda t: envfile.set_key(t, "A", "1"),
        lambda t: envfile.unset_key(t, "A"),
        lambda t: envfile.rename_key(t, "A", "Z"),
    ],
    ids=["parse", "values", "get", "keys", "set_key", "unset_key", "rename_key"],
)
def test_a_file_not_named_is_called_env_file_in_errors(call) -> None:
    with pytest.raises(envfile.EnvFileError, match=r"^env file:1:2: unexpected character '!'"):
        call("A!=1\n")


QUOTED = {
    "plain stays plain": ("abc_1.2:3@x/y", "", "abc_1.2:3@x/y"),
    "plain in single quotes stays single": ("abc", "'", "'abc'"),
    "plain in double quotes stays double": ("abc", '"', '"abc"'),
    "a space: single quotes": ("a b", "", "'a b'"),
    "empty is never plain": ("", "", "''"),
    "a dollar: single quotes, no interpolation": ("a$b", "", "'a$b'"),
    "a dollar in double quotes doubled": ("a$b", '"', '"a$$b"'),
    "a single quote: double quotes": ("it's", "'", '"it\'s"'),
    "a backslash and a double quote escaped": ('a\\b"c', "", '"a\\\\b\\"c"'),
    "line breaks escaped": ("a\nb\rc", "'", '"a\\nb\\rc"'),
}


@pytest.mark.parametrize(("value", "style", "written"), QUOTED.values(), ids=QUOTED.keys())
def test_quote_keeps_the_old_style_when_it_holds_the_value_else_the_safest(
    value: str, style: str, written: str
) -> None:
    assert envfile.quote(value, style) == written
    assert envfile.values(f"K={written}\n", environ={}) == {"K": value}


def test_a_nul_character_cannot_be_written() -> None:
    with pytest.raises(UserError, match=r"^an env value cannot contain a NUL character$"):
        envfile.quote("a\0b", "")


def test_setting_a_key_alone_gives_it_a_separator_and_keeps_its_line() -> None:
    assert envfile.set_key("A=1\nexport BARE \t\nC=3", "BARE", "x") == "A=1\nexport BARE=x\nC=3"


@pytest.mark.parametrize(
    ("line", "written"),
    [("K=Xold\n", "K=new\n"), ("K='Xold'\n", "K='new'\n"), ('K="Xold"\n', 'K="new"\n'), ("K=\n", "K=new\n")],
)
def test_set_key_writes_in_the_old_value_s_quoting_style(line: str, written: str) -> None:
    assert envfile.set_key(line, "K", "new") == written


def test_edits_keep_the_file_s_comments_whole() -> None:
    assert envfile.set_key("# only a comment", "A", "1") == "# only a comment\nA=1\n"
    assert envfile.unset_key("# c\nA='x' # about A\nB=2\n", "A") == "# c\nB=2\n"
    assert envfile.rename_key("A='x' # about A\n", "A", "Z") == "Z='x' # about A\n"
