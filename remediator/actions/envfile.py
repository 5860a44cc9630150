"""Env files read and written by compose's own rules, and edited line by line.

Compose (compose-go's ``dotenv`` package) is the reader that matters: what it reads is what the
containers get. python-dotenv, used before, disagrees with it in ways that broke heals: compose reads
``KEY: value`` and ``KEY = value`` (python-dotenv: unset), and a single-quoted value ending in a
backslash (``'C:\\temp\\'``) is an unterminated quote to compose. So this module parses as compose does
(checked against the real binary by ``tests/test_envfile.py``'s property test):

- a statement starts at the first non-space character; ``#`` there starts a comment line;
- ``export`` and spaces may precede the key; the key is letters, digits and ``_ . - [ ]``; it ends at
  ``=`` or ``:`` (spaces around either are dropped), or at the end of the line (a key alone
  inherits the variable from the environment);
- an unquoted value runs to the end of the line, is cut at the first `` #`` and trimmed on the right,
  then interpolated (``$$`` is ``$``, ``${X}`` another variable);
- a quoted value runs to the matching quote (across lines), a backslash escaping that quote. Single
  quotes keep everything else as it is. Double quotes then turn ``\\n \\r \\t \\\\ \\" \\$``... into the
  characters they name, and are interpolated.

Writing picks the form compose reads back exactly: the old line's quoting style when it can hold the
value, else single quotes (no escapes, no interpolation) when the value has no quote, backslash or
line break, else double quotes with ``\\ " $`` and line breaks escaped. ``set_key`` reads its result
back and refuses to return a text in which compose would see another value.

An edit changes only the edited binding's text: its leading blank lines, indentation, ``export``,
separator and spacing, and inline comment stay. Writing (atomic, fsynced, backed up) is
``backends.files``' job.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from ..errors import UserError

_SPACE = "\t\v\f\r \x85\xa0"  # compose's "space": not a line break
_KEY_PUNCT = "_.-[]"
_EXPORT = re.compile(r"export[\t\n\f\r ]+")
_PLAIN = re.compile(r"[A-Za-z0-9_./:@%+,=-]+")  # empty is not plain: a comment after it would be the value
_ESCAPE = re.compile(r"\\(?:[abcfnrtv$\"\\]|0[0-9]{0,3})")
_ESCAPES = {"a": "\a", "b": "\b", "c": "\\c", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_VAR = re.compile(r"\$(?:(\$)|\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_BRACED = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])(.*))?", re.DOTALL)


class EnvFileError(UserError):
    """A file compose would refuse, located where the mistake is (an unterminated quote: where it opens)."""

    def __init__(self, where: str, line: int, column: int, message: str) -> None:
        self.line, self.column = line, column
        super().__init__(f"{where}:{line}:{column}: {message}")


@dataclass(frozen=True)
class Binding:
    """One statement: the text it spans (``start``..``end``, its line break included) and its parts."""

    key: str
    start: int
    key_start: int  # where ``export`` or the name begins
    name_start: int
    value_start: int  # after the separator and its spaces
    value_end: int  # after the closing quote, or before `` #`` and trailing spaces
    end: int
    raw: str  # the value as written, quotes included
    inherited: bool = False


def _is_space(ch: str) -> bool:
    return ch in _SPACE


def _is_go_space(ch: str) -> bool:
    """Go's ``unicode.IsSpace``: Python's ``isspace`` less the four ASCII separators \x1c-\x1f."""
    # equivalent mutant: padding this set with other characters ("XX...XX") changes nothing, "X" is no space
    return ch.isspace() and ch not in "\x1c\x1d\x1e\x1f"


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1  # equivalent mutant: None for count/rfind's start is 0 (next line too)
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _key_char(ch: str) -> bool:
    # equivalent mutant: padding "LN" with "X" changes nothing, no Unicode category starts with X
    return ch in _KEY_PUNCT or unicodedata.category(ch)[0] in "LN"


def parse(text: str, where: str = "env file") -> list[Binding]:
    """Every binding of an env file, in order; an error compose would raise, at its line:column."""
    out: list[Binding] = []
    i, n = 0, len(text)
    while True:
        stmt = i
        while i < n and _is_go_space(text[i]):
            i += 1
        while i < n and text[i] == "#":  # a comment runs to the line break
            nl = text.find("\n", i)
            # equivalent mutant: nl <= 0 or nl < 1: nl is -1 or the break after the '#' at i, so never 0
            i = n if nl < 0 else nl
            while i < n and _is_go_space(text[i]):
                i += 1
        if i >= n:
            return out
        key_start = i
        if m := _EXPORT.match(text, i):
            i = m.end()
            while i < n and _is_space(text[i]):
                i += 1
        name_start = i
        while i < n and text[i] not in "=:\n":
            if not _is_space(text[i]) and not _key_char(text[i]):
                line, col = _position(text, i)
                raise EnvFileError(where, line, col, f"unexpected character {text[i]!r} in a variable name")
            i += 1
        # equivalent mutant: rstrip(None): the name holds only key characters and _SPACE, all whitespace
        key = text[name_start:i].rstrip(_SPACE)
        if not key:
            line, col = _position(text, name_start)
            raise EnvFileError(where, line, col, "a variable name is missing before '=' or ':'")
        # equivalent mutant: a changed `" " in key` test: " " is in _SPACE, so the any() after it sees it too
        if " " in key or any(_is_space(c) for c in key):
            line, col = _position(text, name_start)
            raise EnvFileError(where, line, col, f"a variable name cannot contain a space: {key!r}")
        if i >= n or text[i] == "\n":  # ``KEY`` alone: inherited from the environment
            end = min(i + 1, n)
            out.append(Binding(key, stmt, key_start, name_start, i, i, end, "", inherited=True))
            i = end
            continue
        i += 1
        while i < n and _is_space(text[i]):
            i += 1
        value_start = i
        if i < n and text[i] in "'\"":
            quote, j, escaped = text[i], i + 1, False
            while j < n and (text[j] != quote or escaped):
                escaped = not escaped and text[j] == "\\"
                j += 1
            if j >= n:
                line, col = _position(text, value_start)
                raise EnvFileError(
                    where, line, col, f"unterminated quoted value: the {quote} opened here is never closed"
                )
            value_end = j + 1
            rest = value_end
            while rest < n and _is_space(text[rest]):
                rest += 1
            if rest < n and text[rest] == "#":
                nl = text.find("\n", rest)
                rest = n if nl < 0 else nl
            end = rest + 1 if rest < n and text[rest] == "\n" else value_end
        else:
            nl = text.find("\n", i)
            line_end = n if nl < 0 else nl
            body = text[i:line_end]
            cut = body.find(" #")
            body = body[:cut] if cut >= 0 else body
            value_end = i + len(_rstrip_go(body))
            end = min(line_end + 1, n)
        out.append(Binding(key, stmt, key_start, name_start, value_start, value_end, end, text[value_start:value_end]))
        i = end


def _rstrip_go(text: str) -> str:
    end = len(text)
    while end and _is_go_space(text[end - 1]):
        end -= 1
    return text[:end]


def _unquote(raw: str, quote: str) -> str:
    """Compose's first pass over a quoted value: a backslash before the quote is dropped; any other
    backslash stays with the character after it."""
    out, escaped = [], False
    for ch in raw:
        if escaped:
            out.append(ch if ch == quote else "\\" + ch)
            # equivalent mutant: None for False, both falsy
            escaped = False
        elif ch == "\\":
            escaped = True
        else:
            out.append(ch)
    return "".join(out)


def _escape_sequence(m: re.Match[str]) -> str:
    """Compose's second pass over a double-quoted value: Go's escapes, ``\\$`` a literal dollar."""
    body = m.group()[1:]
    if body == "$":
        return "$$"  # a literal dollar, as the interpolation after this reads it
    if body[0] == "0":  # ``\\0ddd`` is an octal byte; otherwise compose drops the 0 and keeps the rest
        digits = body[1:]
        # equivalent mutant: padding "01234567" with "X" changes nothing, digits are [0-9] by _ESCAPE
        ok = len(digits) == 3 and all(c in "01234567" for c in digits) and int(digits, 8) < 256
        return chr(int(digits, 8)) if ok else "\\" + digits
    # equivalent mutant: the '"' entry: value_of's _unquote has already turned every \" into ", so no \" reaches here
    return {'"': '"', "\\": "\\"}.get(body) or _ESCAPES[body]


def _interpolate(value: str, scope: Mapping[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        if m.group(1):
            return "$"
        if m.group(3):
            # equivalent mutant: no default (None): re.sub takes a None replacement as ""
            return scope.get(m.group(3), "")
        braced = _BRACED.fullmatch(m.group(2))
        if not braced:
            return m.group()
        name, op, arg = braced.groups()
        have = scope.get(name)
        if op in (":-", "-"):
            return have if (have if op == ":-" else have is not None) else _interpolate(arg or "", scope)
        if op in (":+", "+"):
            return _interpolate(arg or "", scope) if (have if op == ":+" else have is not None) else ""
        return have or ""

    return _VAR.sub(sub, value)


def value_of(b: Binding, scope: Mapping[str, str]) -> str:
    """A binding's value as compose reads it, variables looked up in ``scope``."""
    raw = b.raw
    if raw[:1] == "'":
        return _unquote(raw[1:-1], "'")
    if raw[:1] == '"':
        # equivalent mutant: another quote for _unquote ('XX"XX', None) keeps \" and _ESCAPE reads it as "
        return _interpolate(_ESCAPE.sub(_escape_sequence, _unquote(raw[1:-1], '"')), scope)
    return _interpolate(raw, scope)


def values(text: str, where: str = "env file", environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every key's value as compose reads the file (later lines win; ``${X}`` sees earlier keys, then
    the environment; a key alone takes the environment's value, or is absent)."""
    environ = os.environ if environ is None else environ
    out: dict[str, str] = {}
    for b in parse(text, where):
        if b.inherited:
            if b.key in environ:
                out[b.key] = environ[b.key]
            continue
        out[b.key] = value_of(b, {**environ, **out})
    return out


def get(text: str, key: str, where: str = "env file") -> str | None:
    """The key's value as compose reads it (the last occurrence wins); None when absent."""
    return values(text, where).get(key)


def keys(text: str, where: str = "env file") -> list[str]:
    return [b.key for b in parse(text, where)]


def quote(value: str, style: str) -> str:
    """``value`` in the old line's quoting style when that style holds it exactly, else the safest form."""
    if "\0" in value:
        raise UserError("an env value cannot contain a NUL character")
    single_ok = not re.search(r"['\\\n\r]", value)
    # equivalent mutant: a changed test falls through to `style != '"' and single_ok`: the same quotes
    if style == "'" and single_ok:
        return f"'{value}'"
    if style == "" and _PLAIN.fullmatch(value):
        return value
    if style != '"' and single_ok:
        return f"'{value}'"
    escaped = (
        value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$").replace("\n", "\\n").replace("\r", "\\r")
    )
    return f'"{escaped}"'


def _pieces(text: str, where: str) -> Iterator[tuple[Binding | None, str]]:
    """The file cut into its bindings and what lies between them; the pieces concatenate to the file."""
    at = 0
    for b in parse(text, where):
        # equivalent mutant: bindings are contiguous (b.start == at), so this is never true; >= yields ""
        if b.start > at:
            yield None, text[at : b.start]
        yield b, text[b.start : b.end]
        at = b.end
    # equivalent mutant: <= yields an empty piece at most, which every caller joins away
    if at < len(text):
        yield None, text[at:]


def _rewrite(b: Binding, text: str, key: str | None = None, value: str | None = None) -> str:
    """One binding's text with a new key or value; everything else on its line as it was."""
    piece = text[b.start : b.end]
    head, tail = piece[: b.value_start - b.start], piece[b.value_end - b.start :]
    if key is not None:
        at = b.name_start - b.start
        head = head[:at] + key + head[at + len(b.key) :]
    if value is None:
        return head + b.raw + tail
    if b.inherited:  # ``KEY`` alone becomes ``KEY=value``
        return _rstrip_go(head) + "=" + quote(value, "") + tail
    return head + quote(value, b.raw[:1] if b.raw[:1] in "'\"" else "") + tail


def set_key(text: str, key: str, value: str, where: str = "env file") -> str:
    """Set ``key`` on every line that binds it, or append ``KEY=value``; compose must read back ``value``."""
    out, found = [], False
    for b, piece in _pieces(text, where):
        if b is not None and b.key == key:
            found = True
            piece = _rewrite(b, text, value=value)
        out.append(piece)
    new = "".join(out)
    if not found:
        if new and not new.endswith("\n"):
            new += "\n"
        new += f"{key}={quote(value, '')}\n"
    # equivalent mutant: environ (or where) cannot change key's read: no written value names a variable
    if values(new, where, environ={}).get(key) != value:
        raise UserError(f"{where}: {key}: no way to write this value so that compose reads it back unchanged")
    return new


def unset_key(text: str, key: str, where: str = "env file") -> str:
    """Remove every line that binds ``key`` (blank lines before it stay, as they belong to the layout)."""
    out = []
    for b, piece in _pieces(text, where):
        if b is not None and b.key == key:
            lead = piece[: b.key_start - b.start]
            piece = lead[: lead.rfind("\n") + 1]
        out.append(piece)
    return "".join(out)


def rename_key(text: str, old: str, new: str, where: str = "env file") -> str:
    """Rename ``old`` to ``new`` on its lines, value, quoting and comments untouched."""
    return "".join(
        _rewrite(b, text, key=new) if b is not None and b.key == old else piece for b, piece in _pieces(text, where)
    )
