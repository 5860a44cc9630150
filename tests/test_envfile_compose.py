"""The env editor judged by compose itself: whatever value ``set_key`` writes, into a line of whatever
quoting style, ``docker compose config`` reads back exactly that value. And the editor's line handling
(unset, rename, append, keys, get) on small texts. Needs the compose binary, no engine.

Found open by mutation testing (``make mutate``): a value with a backslash, a double quote or a newline
could be written wrongly and no test would have told.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from remediator.actions import envfile
from remediator.backends.compose import find_command
from remediator.model import ComposeProject

VALUES = {
    "PLAIN": "abc_1.2:3@x/y",
    "SPACE": "a b",
    "DOLLAR": "a$b",
    "HASH": "a #b",
    "SQUOTE": "it's",
    "DQUOTE": 'say "hi"',
    "BACKSLASH": "a\\b",
    "NEWLINE": "a\nb",
    "MIXED": 'it\'s $HOME "x" \\',
    "EMPTY": "",
}
STYLES = {"plain": "old", "single": "'old'", "double": '"old"'}


def compose_reads(directory: Path, text: str) -> dict[str, str]:
    """The environment compose gives a service whose env_file is ``text``."""
    (directory / "app.env").write_text(text)
    (directory / "compose.yml").write_text("services:\n  s:\n    image: x\n    env_file: [app.env]\n")
    project = ComposeProject(project="remediate-envread", directory=directory)
    argv = [*find_command(project), "-f", str(directory / "compose.yml"), "config", "--format", "json"]
    out = subprocess.run(argv, cwd=directory, capture_output=True, text=True, timeout=120, check=True).stdout
    environment = json.loads(out)["services"]["s"]["environment"]
    return {k: v.replace("$$", "$") for k, v in environment.items()}  # config's output escapes $ again


def test_every_value_reads_back_as_written_whatever_the_old_line_s_quoting(tmp_path: Path) -> None:
    text = "".join(f"{name}_{style}={old}\n" for name in VALUES for style, old in STYLES.items())
    text = text.rstrip("\n")  # a file without a final newline: appended keys start a line of their own
    want = {}
    for name, value in VALUES.items():
        for style in STYLES:
            text = envfile.set_key(text, f"{name}_{style}", value)
            want[f"{name}_{style}"] = value
        text = envfile.set_key(text, f"{name}_new", value)  # appended, in the safest style
        want[f"{name}_new"] = value
    assert compose_reads(tmp_path, text) == want


def test_a_comment_or_export_on_the_line_stays_and_does_not_leak_into_the_value(tmp_path: Path) -> None:
    text = "export A=1 # one\nB='2'   # two\nC=3\n"
    for key in "ABC":
        text = envfile.set_key(text, key, f"new {key}")
    assert text == "export A='new A' # one\nB='new B'   # two\nC='new C'\n"
    assert compose_reads(tmp_path, text) == {"A": "new A", "B": "new B", "C": "new C"}


def test_unset_removes_the_key_s_lines_and_keeps_the_blank_lines_before_them() -> None:
    text = "A=1\n\n\n  B=2\nC=3\nB=4\n"
    assert envfile.unset_key(text, "B") == "A=1\n\n\nC=3\n"


def test_rename_changes_only_the_key_of_its_own_lines() -> None:
    assert envfile.rename_key("A=1\n# A=0\nB=2\nexport A='x' # c\n", "A", "Z") == "Z=1\n# A=0\nB=2\nexport Z='x' # c\n"


def test_set_appends_to_a_file_without_a_final_newline_on_a_line_of_its_own() -> None:
    assert envfile.set_key("A=1", "B", "2") == "A=1\nB=2\n"
    assert envfile.set_key("", "B", "2") == "B=2\n"


def test_keys_lists_every_binding_in_order_and_get_reads_the_last() -> None:
    text = "A=1\n# a comment\nexport B=2\nA=3\nBARE\n"
    assert envfile.keys(text) == ["A", "B", "A", "BARE"]
    assert envfile.get(text, "A") == "3"
    assert envfile.get(text, "BARE") is None  # as compose reads it: a key without "=" takes the environment's value
    assert envfile.get(text, "C") is None


def test_the_pure_tables_expectations_are_what_compose_reads(tmp_path: Path) -> None:
    """tests/test_envfile.py pins compose's rules as tables; here compose itself confirms every row."""
    from tests import test_envfile as pure

    rows = [*pure.READS_AS_COMPOSE_DOES.values(), *pure.ENDS_OF_FILE.values()]
    rows += [(f"E={raw}\n", {"E": want}) for raw, want in pure.DOUBLE_QUOTED_ESCAPES.values()]
    rows += [("E=\nA=1\n" + line, {"E": "", "A": "1", "B": want}) for line, want in pure.INTERPOLATION.values()]
    rows += [(f"K={written}\n", {"K": value}) for value, _, written in pure.QUOTED.values()]
    for text, want in rows:
        assert compose_reads(tmp_path, text) == want, text
