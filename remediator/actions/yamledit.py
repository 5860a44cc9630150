"""Set or unset one key of a YAML document so that only that key's lines change.

ruamel.yaml's round trip keeps comments and order, but re-emits the whole document with its own
indentation and spacing before comments, so a plain dump can touch lines nobody edited. Two measures
keep the rest byte-identical: the indentation is chosen as the one whose round trip of the *unedited*
document is closest to the original, and the edit is spliced back into the original text: only the
lines where the edited dump differs from the unedited dump are taken from ruamel, every other line
comes from the original. If the splice does not read back as the edited data (an unusual layout),
ruamel's full dump is used instead: correct, if less tidy.
"""

from __future__ import annotations

import difflib
import io
from collections.abc import Sequence
from typing import Any

from ..errors import UserError
from ..yamlio import plain

_INDENTS = ((2, 2, 0), (2, 4, 2), (4, 4, 0), (4, 6, 2), (4, 4, 2), (3, 3, 0))
_MISSING = object()


def parse_path(path: str | Sequence[Any]) -> list[str | int]:
    """``services.api.environment.KEY`` or a list (for keys that contain dots); digits index lists."""
    parts = path.split(".") if isinstance(path, str) else list(path)
    if not parts or any(p == "" for p in parts):
        raise UserError(f"path {path!r}: expected dotted keys such as services.api.environment.KEY")
    return [int(p) if isinstance(p, str) and p.isdigit() else p for p in parts]


def _yaml(indent: tuple[int, int, int]) -> Any:
    from ruamel.yaml import YAML

    y = YAML()  # round trip, YAML 1.2
    y.preserve_quotes = True
    y.width = 1 << 16  # never re-wrap a long line
    y.indent(mapping=indent[0], sequence=indent[1], offset=indent[2])
    return y


def _dump(y: Any, data: Any) -> str:
    out = io.StringIO()
    y.dump(data, out)
    return out.getvalue()


def _load(text: str, where: str) -> tuple[Any, Any]:
    """(data, a YAML instance whose round trip matches ``text`` best)."""
    from ruamel.yaml import YAMLError

    best: tuple[int, Any, Any] | None = None
    for indent in _INDENTS:
        y = _yaml(indent)
        try:
            data = y.load(text)
        except YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise UserError(f"{where}{at}: invalid YAML: {problem}") from None
        differing = sum(a != b for a, b in zip(text.splitlines(), _dump(y, data).splitlines(), strict=False))
        differing += abs(len(text.splitlines()) - len(_dump(y, data).splitlines()))
        if best is None or differing < best[0]:
            best = (differing, data, y)
        if differing == 0:
            break
    assert best is not None
    return best[1], best[2]


def _node(value: Any) -> Any:
    """A ruamel node for a new value; a list of scalars is written ``["CMD", "..."]`` as compose docs do."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    if isinstance(value, dict):
        return CommentedMap((k, _node(v)) for k, v in value.items())
    if isinstance(value, list):
        if all(not isinstance(v, dict | list) for v in value):
            seq = CommentedSeq(DoubleQuotedScalarString(v) if isinstance(v, str) else v for v in value)
            seq.fa.set_flow_style()
            return seq
        return CommentedSeq(_node(v) for v in value)
    return value


def _has(node: Any, step: Any) -> bool:
    if isinstance(node, dict):
        return step in node
    return isinstance(node, list) and isinstance(step, int) and step < len(node)


def _is_env_list(node: Any, key: Any) -> bool:
    return isinstance(node, list) and isinstance(key, str) and all(isinstance(i, str) for i in node)


def _env_index(node: list[str], key: str) -> int | None:
    for i, item in enumerate(node):
        if item.split("=", 1)[0] == key:
            return i
    return None


def get(data: Any, path: list[str | int]) -> Any:
    """The value at ``path`` (list-style environments read as ``KEY=VALUE``), or ``_MISSING``."""
    node = data
    for i, step in enumerate(path):
        last = i == len(path) - 1
        if _has(node, step):
            node = node[step]
        elif last and _is_env_list(node, step) and (idx := _env_index(node, str(step))) is not None:
            item = node[idx]
            return item.split("=", 1)[1] if "=" in item else None
        else:
            return _MISSING
    return plain(node)


def _parent(data: Any, path: list[str | int], create: bool, where: str) -> Any:
    from ruamel.yaml.comments import CommentedMap

    node = data
    for step in path[:-1]:
        if isinstance(node, dict):
            if step not in node or node[step] is None:
                if not create:
                    return None
                node[step] = CommentedMap()
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int) and step < len(node):
            node = node[step]
        else:
            if not create:
                return None
            raise UserError(f"{where}: {'.'.join(map(str, path))}: {step!r} is not a key of a mapping there")
    return node


def _edit(text: str, where: str, change: Any) -> str:
    data, y = _load(text, where)
    if data is None:
        from ruamel.yaml.comments import CommentedMap

        data = CommentedMap()
    before = _dump(y, data)
    change(data)
    after = _dump(y, data)
    spliced = _splice(text, before, after)
    return spliced if plain(y.load(spliced)) == plain(data) else after


def set_value(text: str, path: list[str | int], value: Any, where: str = "<yaml>") -> str:
    """The document with ``value`` at ``path`` (parents created); unchanged text if it is there already."""

    def change(data: Any) -> None:
        parent, key = _parent(data, path, True, where), path[-1]
        if _is_env_list(parent, key) and not isinstance(value, dict | list):
            entry = f"{key}={'' if value is None else value}"
            idx = _env_index(parent, str(key))
            if idx is None:
                parent.append(entry)
            else:
                parent[idx] = entry
        elif isinstance(parent, dict) or _has(parent, key):
            parent[key] = _node(value)
        else:
            raise UserError(f"{where}: {'.'.join(map(str, path))}: cannot set a key inside a {type(parent).__name__}")

    if get(_load(text, where)[0], path) == value:
        return text
    return _edit(text, where, change)


def unset(text: str, path: list[str | int], where: str = "<yaml>") -> str:
    """The document without the key at ``path``; unchanged text when it is absent."""

    def change(data: Any) -> None:
        parent, key = _parent(data, path, False, where), path[-1]
        if isinstance(parent, dict):
            del parent[key]
        elif _is_env_list(parent, key):
            del parent[_env_index(parent, str(key))]
        else:
            del parent[key]

    if get(_load(text, where)[0], path) is _MISSING:
        return text
    return _edit(text, where, change)


def _splice(original: str, before: str, after: str) -> str:
    """Apply the ``before`` -> ``after`` change to ``original``, which ``before`` only approximates."""
    o, b, a = (s.splitlines(keepends=True) for s in (original, before, after))
    b_to_o: dict[int, str] = {}
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, o, b, autojunk=False).get_opcodes():
        if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1):
            b_to_o.update({j1 + k: o[i1 + k] for k in range(j2 - j1)})
    out: list[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, b, a, autojunk=False).get_opcodes():
        out += [b_to_o.get(i, b[i]) for i in range(i1, i2)] if tag == "equal" else a[j1:j2]
    return "".join(out)
