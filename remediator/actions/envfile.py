"""A line-preserving env-file editor: only the edited key's line changes.

python-dotenv's ``set_key`` rewrites the edited line from scratch: it drops an ``export`` prefix and an
inline comment and does not fsync. So this module uses only dotenv's *parser* (which splits a file into
bindings, each with its exact original text, multi-line quoted values included) and rewrites the one
binding by hand, keeping its leading blank lines, indentation, ``export``, spacing around ``=``,
quoting style and inline comment. Writing (atomic, fsynced, backed up) is ``backends.files``' job.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

_LINE = re.compile(
    r"(?P<lead>(?:[ \t]*\n)*[ \t]*)(?P<export>export[ \t]+)?(?P<key>[^=\s]+)(?P<eq>[ \t]*=[ \t]*)"
    r"(?P<value>'(?:\\'|[^'])*'|\"(?:\\.|[^\"\\])*\"|.*?)(?P<tail>[ \t]+#[^\n]*)?(?P<nl>\n?)",
    re.DOTALL,
)
_PLAIN = re.compile(r"[A-Za-z0-9_./:@%+,=-]*")


def _bindings(text: str) -> Iterator[tuple[str | None, str]]:
    """(key or None, original text) for each piece of the file; the pieces concatenate to the file."""
    from dotenv.parser import parse_stream

    for b in parse_stream(io.StringIO(text)):
        yield (None if b.error else b.key), b.original.string


def get(text: str, key: str) -> str | None:
    """The key's value as compose reads it (the last occurrence wins); None when absent."""
    from dotenv.parser import parse_stream

    found = None
    for b in parse_stream(io.StringIO(text)):
        if b.key == key and not b.error:
            found = b.value if b.value is not None else ""
    return found


def keys(text: str) -> list[str]:
    return [k for k, _ in _bindings(text) if k]


def quote(value: str, style: str) -> str:
    """``value`` in the old line's quoting style when that style can hold it, else the safest one.

    Unquoted and double-quoted values are interpolated by compose (``$VAR``), single-quoted ones are
    not; a value with ``$``, spaces or ``#`` therefore goes into single quotes unless it contains one.
    """
    if style == "'" and "'" not in value:
        return f"'{value}'"
    if style == '"' and not re.search(r'[$"\\\n]', value):
        return f'"{value}"'
    if style == "" and _PLAIN.fullmatch(value):
        return value
    if "'" not in value and "\n" not in value:
        return f"'{value}'"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("$", "$$")
    return f'"{escaped}"'


def _rewrite(original: str, key: str | None = None, value: str | None = None) -> str:
    m = _LINE.fullmatch(original)
    if m is None:  # dotenv parsed it as a binding, so this does not happen; keep the line rather than guess
        return original
    old = m["value"]
    style = old[0] if old[:1] in ("'", '"') else ""
    new_value = old if value is None else quote(value, style)
    return f"{m['lead']}{m['export'] or ''}{key or m['key']}{m['eq']}{new_value}{m['tail'] or ''}{m['nl']}"


def set_key(text: str, key: str, value: str) -> str:
    """Set ``key`` on every line that binds it, or append ``KEY=value`` at the end."""
    pieces, found = [], False
    for k, original in _bindings(text):
        if k == key:
            found = True
            original = _rewrite(original, value=value)
        pieces.append(original)
    out = "".join(pieces)
    if not found:
        if out and not out.endswith("\n"):
            out += "\n"
        out += f"{key}={quote(value, '')}\n"
    return out


def unset_key(text: str, key: str) -> str:
    """Remove every line that binds ``key`` (blank lines before it stay, as they belong to the layout)."""
    out = []
    for k, original in _bindings(text):
        if k == key:
            m = _LINE.fullmatch(original)
            lead = m["lead"] if m else ""
            original = lead[: lead.rfind("\n") + 1]
        out.append(original)
    return "".join(out)


def rename_key(text: str, old: str, new: str) -> str:
    """Rename ``old`` to ``new`` on its lines, value, quoting and comments untouched."""
    return "".join(_rewrite(o, key=new) if k == old else o for k, o in _bindings(text))
