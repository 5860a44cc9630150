"""Fast YAML loading that remembers where every key and item came from.

Measured on this project's kind of machine, a 2000-check file loads in 0.43 s with PyYAML's libyaml
loader and in 6.8 s with ruamel.yaml's round-trip loader, so reading uses PyYAML (C) and only file
*edits* use ruamel.yaml (which keeps comments). PyYAML's defaults are unsafe for configuration in two
ways that ruamel.yaml's are not, and both are closed here: a duplicate key is an error instead of
silently keeping the last value, and only ``true``/``false`` are booleans (YAML 1.2), so ``yes``,
``no``, ``on`` and ``off`` stay strings.

Hostile files are bounded before anything is built from them. The node graph libyaml composes (it
refuses nesting deeper than 1000 itself) is walked without recursion before construction:
nesting deeper than ``MAX_DEPTH`` is refused (construction, validation and every later walk recurse),
an alias that contains itself is refused, and aliases may add at most ``max(ALIAS_BUDGET, nodes in
the file)`` nodes to the document once expanded, so a billion-laughs file of a few hundred bytes is an
error in milliseconds instead of gigabytes and minutes, while anchors used to share a block
(``<<: *defaults``) keep working.

Most files take a fast way first (``_try_fast``): yaml-rs, a YAML parser written in Rust, builds the
plain data about ten times faster than libyaml's composer plus PyYAML's constructor (1.6 MB, 10,000
checks: 0.1 s against 1.2-1.6 s of CPU, measured here). Its answer is used only when it is certainly
the careful loader's own: a file with anything on which the two could differ (anchors, aliases, tags,
merge keys, directives, several documents, characters libyaml refuses, an escaped NUL, numbers in
forms YAML 1.1 and 1.2 read differently, a string that PyYAML would read as another type, a key that
is not a string, nesting past ``MAX_DEPTH``), and every file yaml-rs refuses, goes the careful way,
which therefore makes every error message. The data of the fast way carries no positions; one asked
for (an error to report, a ``locate``d place shown) is read from libyaml's events, which stop once
it is found.
``tests/test_yamlio_fast.py`` holds both ways to the same answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from .errors import LoadError, Location
from .gcpause import paused

MAX_DEPTH = 64
ALIAS_BUDGET = 10_000

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class LocatedDict(dict):
    """A mapping that knows the (line, column) of itself and of each of its keys, 1-based."""

    __slots__ = ("key_pos", "pos")

    def __init__(self) -> None:
        super().__init__()
        self.pos: tuple[int, int] = (1, 1)
        self.key_pos: dict[Any, tuple[int, int]] = {}


class LocatedList(list):
    """A sequence that knows the (line, column) of itself and of each item, 1-based."""

    __slots__ = ("item_pos", "pos")

    def __init__(self) -> None:
        super().__init__()
        self.pos: tuple[int, int] = (1, 1)
        self.item_pos: list[tuple[int, int]] = []


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _LocatingLoader(_Loader):  # type: ignore[misc, valid-type]
    """Safe loader that records positions, rejects duplicate keys and reads YAML 1.2 booleans."""

    path = "<string>"

    def construct_yaml_map(self, node: yaml.MappingNode):  # type: ignore[override]
        data = LocatedDict()
        data.pos = _mark(node)
        yield data
        self.flatten_mapping(node)
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise LoadError(Location(self.path, *_mark(key_node)), "a mapping key must be a scalar") from None
            if key in data:
                first = data.key_pos[key]
                raise LoadError(
                    Location(self.path, *_mark(key_node)),
                    f"duplicate key {key!r} (first at line {first[0]}); each key may appear once",
                )
            data[key] = self.construct_object(value_node, deep=True)
            data.key_pos[key] = _mark(key_node)

    def construct_yaml_seq(self, node: yaml.SequenceNode):  # type: ignore[override]
        data = LocatedList()
        data.pos = _mark(node)
        yield data
        for item in node.value:
            data.append(self.construct_object(item, deep=True))
            data.item_pos.append(_mark(item))


_LocatingLoader.add_constructor("tag:yaml.org,2002:map", _LocatingLoader.construct_yaml_map)
_LocatingLoader.add_constructor("tag:yaml.org,2002:seq", _LocatingLoader.construct_yaml_seq)
# YAML 1.2 booleans: drop the 1.1 resolver (yes/no/on/off...) and add one for true/false only.
_LocatingLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in _Loader.yaml_implicit_resolvers.items()
}
_LocatingLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _offset_location(path: str, data: bytes, offset: int) -> Location:
    """The 1-based line and column (in characters) of byte ``offset`` of ``data``."""
    before = data[:offset]
    line_start = before.rfind(b"\n") + 1
    column = len(before[line_start:].decode("utf-8", errors="replace"))
    return Location(path, before.count(b"\n") + 1, column + 1)


def _node_location(path: str, node: yaml.Node) -> Location:
    return Location(path, *_mark(node))


_RECURSIVE = "an alias refers to a node that contains it; aliases may not recurse"


def _walk(root: yaml.Node, path: str) -> int:
    """Refuse nesting deeper than ``MAX_DEPTH`` and NUL characters; the number of distinct nodes.

    Iterative (the point is to stay off the recursion limit), and each collection is walked once
    even when aliases reach it again.
    """
    scalar, sequence = yaml.ScalarNode, yaml.SequenceNode
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    seen: set[int] = set()
    count = 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if node.__class__ is scalar:
            if "\x00" in node.value:
                raise LoadError(_node_location(path, node), "a NUL character (\\0) is not allowed in any value")
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        if depth > MAX_DEPTH:
            raise LoadError(_node_location(path, node), f"nested deeper than {MAX_DEPTH} levels")
        if node.__class__ is sequence:
            stack.extend((child, depth + 1) for child in node.value)
        else:
            stack.extend((child, depth + 1) for pair in node.value for child in pair)
    return count


def _check_aliases(root: yaml.Node, path: str, nodes: int) -> None:
    """Refuse an alias inside the node it names, and aliases that expand the document past its budget.

    Post-order over the node graph with each collection's expanded size remembered, so a reused
    anchor costs one look-up, not a walk of its expansion; stops as soon as the budget is exceeded.
    """
    budget = nodes + max(ALIAS_BUDGET, nodes)
    size: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        if isinstance(node, yaml.ScalarNode):
            continue
        children = node.value if isinstance(node, yaml.SequenceNode) else [c for pair in node.value for c in pair]
        key = id(node)
        if leaving:
            open_nodes.discard(key)
            size[key] = 1 + sum(size.get(id(c), 1) for c in children)
            if size[key] > budget:
                raise LoadError(
                    _node_location(path, node),
                    f"aliases expand this document past {budget} nodes (it has {nodes});"
                    " anchors and aliases may at most double a document",
                )
            continue
        if key in size:
            continue
        open_nodes.add(key)
        stack.append((node, True))
        for child in children:
            if id(child) in open_nodes:
                raise LoadError(_node_location(path, child), _RECURSIVE)
            if id(child) not in size:
                stack.append((child, False))


def _yaml_error(exc: yaml.YAMLError, path: str, data: bytes) -> LoadError:
    """One located line for a libyaml error: where the mistake is, and where it was noticed."""
    if isinstance(exc, yaml.reader.ReaderError):
        return LoadError(
            _offset_location(path, data, exc.position), f"invalid YAML: character {exc.character:#06x} is not allowed"
        )
    if not isinstance(exc, yaml.MarkedYAMLError):
        return LoadError(Location(path, 1, 1), "invalid YAML")
    problem = (exc.problem or exc.context or "invalid YAML").strip()
    context, cmark, pmark = exc.context, exc.context_mark, exc.problem_mark
    # An unclosed quote or bracket is the mistake; libyaml notices it only where the text stops making
    # sense, possibly many lines later: point at the opening and say where it was noticed.
    if context and cmark is not None and pmark is not None and (cmark.line, cmark.column) != (pmark.line, pmark.column):
        opened = context.removeprefix("while ").replace("parsing a ", "").replace("scanning a ", "")
        if re.search(r"flow|quoted|simple key|anchor|alias|tag|directive", context):
            return LoadError(
                Location(path, cmark.line + 1, cmark.column + 1),
                f"invalid YAML: {opened} starting here: {problem} (at line {pmark.line + 1} column {pmark.column + 1})",
            )
    mark = pmark or cmark
    where = Location(path, mark.line + 1, mark.column + 1) if mark else Location(path, 1, 1)
    return LoadError(where, f"invalid YAML: {problem}")


# -- the fast way --------------------------------------------------------------------------------

# Text the fast way does not take: tabs (PyYAML refuses them in places YAML 1.2 allows), characters
# libyaml refuses or reads as line breaks (NEL, U+2028/9),
# a byte-order mark, anchors, aliases, tags and complex keys (?) where a node may start, a
# scalar that starts with a colon, merge keys, an escaped NUL,
# and numbers that YAML 1.1 (PyYAML) and 1.2 (yaml-rs) read differently: leading zeros and 0o/0b/0x,
# a leading underscore, an exponent, a sign before a dot. Each match only costs the careful way. The
# look-behinds follow the character they qualify, so the scan skips ahead between candidates (0.36 s
# for 1.6 MB with them in front, 0.06 s so).
_NOT_FAST = re.compile(
    "[^\x0a\x0d\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
    r"|[&*!?](?<![^\s\[\]{},].)"
    r"|[\[{,]\s*:|:(?!\s)(?<![^\s\[\]{},]:)"
    r"|<<"
    r"|\\(?:0|x00|u0000|U00000000)"
    r"|0(?<![\w.\-]0)[0-9_oObBxX]|[-+](?<![\w.\-][-+])0[0-9_oObBxX]"
    r"|_(?<![\w.]_)_*[0-9]|[-+]_+[0-9]"
    r"|[eE](?<=[0-9.][eE])[-+]?[0-9]"
    r"|[-+]\.[0-9]"
    r"|\n(?:%|---|\.\.\.)"
    r"|\A(?:%|\.\.\.)",
)


def _fast_loads() -> Any:
    try:
        import yaml_rs
    except ImportError:  # then every file goes the careful way
        return None
    policy = yaml_rs.DuplicateKeyPolicy.Error
    return lambda text: yaml_rs.loads(text, parse_datetime=False, duplicate_key_policy=policy)


_FAST_LOADS: Any = False  # not looked up yet


def _plain_tag(value: str) -> str:
    """The tag the careful loader resolves a plain scalar of this text to (PyYAML's own rule)."""
    resolvers = _LocatingLoader.yaml_implicit_resolvers
    for tag, regexp in [*resolvers.get(value[0] if value else "", []), *resolvers.get(None, [])]:
        if regexp.match(value):
            return tag
    return "tag:yaml.org,2002:str"


_STR = "tag:yaml.org,2002:str"
_SCALARS = (int, float, bool, type(None))


def _same_as_careful(data: Any) -> bool:
    """Would the careful loader have built exactly this? False at the first doubt: a string it would
    read as another type (``1:20``, ``2001-12-14``, ``~``, ``=``: yaml-rs cannot say whether it was
    quoted), a key that is not a string, a value of another kind, nesting past ``MAX_DEPTH``."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    tag = _plain_tag
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return False
        if node.__class__ is dict:
            for key in node:
                if key.__class__ is not str or (key[:1] in _TYPED_FIRST and tag(key) != _STR) or not key:
                    return False
            values: Any = node.values()
        elif node.__class__ is list:
            values = node
        else:
            return False
        for value in values:  # a mapping's values and a list's items are judged alike
            if value.__class__ is str:
                if (not value or value[0] in _TYPED_FIRST) and tag(value) != _STR:
                    return False
            elif value.__class__ is dict or value.__class__ is list:
                stack.append((value, depth + 1))
            elif not isinstance(value, _SCALARS):
                return False
    return True


# First characters of a plain scalar that PyYAML may resolve to something other than a string.
_TYPED_FIRST = frozenset(k for k in _LocatingLoader.yaml_implicit_resolvers if k)


class _Source:
    """A file read the fast way: its text, and the positions looked up in it so far."""

    __slots__ = ("found", "path", "text")

    def __init__(self, text: str, path: str) -> None:
        self.text, self.path = text, path
        self.found: dict[tuple[Any, ...], tuple[int, int]] = {}

    def prefetch(self, paths: Iterable[Iterable[Any]]) -> None:
        """Look up the positions of these paths (and their prefixes) in one pass."""
        wanted = {tuple(p[:i]) for p in map(tuple, paths) for i in range(len(p) + 1)} - self.found.keys()
        if wanted:
            self.found.update(_stream_positions(self.text, wanted))

    def position(self, keys: Iterable[Any]) -> tuple[int, int, Any]:
        """What ``position`` answers for the careful tree: the key's place for a mapping's entry, the
        item's for a list's, of the deepest step that exists."""
        keys = tuple(keys)
        self.prefetch([keys])
        pos, last = self.found.get((), (1, 1)), None
        for i in range(1, len(keys) + 1):
            at = self.found.get(keys[:i])
            if at is None:
                break
            pos, last = at, keys[i - 1]
        return pos[0], pos[1], last


def _stream_positions(text: str, wanted: set[tuple[Any, ...]]) -> dict[tuple[Any, ...], tuple[int, int]]:
    """Positions of the ``wanted`` paths, from libyaml's events (no nodes, no values built), stopping as
    soon as all are found: an error about the first of 330,000 items costs microseconds, not a parse.
    The marks are those the careful loader's nodes get from the same events. Only for files read the
    fast way, so keys are plain strings and there are no aliases or merge keys."""
    found: dict[tuple[Any, ...], tuple[int, int]] = {}
    loader = _LocatingLoader(text)
    # frames: [path (None under a key that is not a scalar), is a mapping, key path awaiting its value
    # (mappings) or next index (sequences)]
    stack: list[list[Any]] = []
    starts = (yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent, yaml.AliasEvent)
    ends = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
    try:
        with paused():
            while len(found) < len(wanted) and loader.check_event():
                event = loader.get_event()
                if isinstance(event, ends):
                    stack.pop()
                    continue
                if not isinstance(event, starts):
                    continue
                mark = (event.start_mark.line + 1, event.start_mark.column + 1)
                if not stack:
                    path: tuple[Any, ...] | None = ()
                    if () in wanted:
                        found[()] = mark
                else:
                    top = stack[-1]
                    if top[1] and top[2] is None:  # a key
                        scalar = isinstance(event, yaml.ScalarEvent) and top[0] is not None
                        key_path = (*top[0], event.value) if scalar else None
                        if key_path is not None and key_path in wanted:
                            found[key_path] = mark
                        top[2] = key_path if key_path is not None else False
                        if isinstance(event, yaml.MappingStartEvent):  # a key that is a collection
                            stack.append([None, True, None])
                        elif isinstance(event, yaml.SequenceStartEvent):
                            stack.append([None, False, 0])
                        continue
                    if top[1]:  # a value: its place is its key's
                        path = top[2] or None
                        top[2] = None
                    else:
                        path = (*top[0], top[2]) if top[0] is not None else None
                        top[2] += 1
                        if path is not None and path in wanted:
                            found[path] = mark
                if isinstance(event, yaml.MappingStartEvent):
                    stack.append([path, True, None])
                elif isinstance(event, yaml.SequenceStartEvent):
                    stack.append([path, False, 0])
    except yaml.YAMLError:  # cannot happen for a file both ways read; what was found stands
        pass
    finally:
        loader.dispose()
    return found


class FastDict(dict):
    """The top mapping of a file read the fast way: plain data below, positions on request."""

    __slots__ = ("source",)


class _LazyLocation(Location):
    """A ``Location`` whose line and column are looked up when first shown (a careful parse)."""

    __slots__ = ("_keys", "_pos", "_source")

    def __init__(self, source: _Source, keys: tuple[Any, ...]) -> None:
        self.path, self._source, self._keys, self._pos = source.path, source, keys, None

    def _position(self) -> tuple[int, int]:
        if self._pos is None:
            line, column, _ = self._source.position(self._keys)
            self._pos = (line, column)
        return self._pos

    @property  # type: ignore[override]
    def line(self) -> int:
        return self._position()[0]

    @property  # type: ignore[override]
    def column(self) -> int:
        return self._position()[1]


def prefetch(root: Any, paths: Iterable[Iterable[Any]]) -> None:
    """Look up the positions of several paths of a file read the fast way in one pass (a no-op for a
    tree that knows its positions)."""
    if isinstance(root, FastDict):
        root.source.prefetch(paths)


def locate(root: Any, path: str, keys: list[Any] | tuple[Any, ...]) -> Location:
    """The ``Location`` of the node at ``keys`` of a parsed file (looked up only when shown, for a file
    read the fast way)."""
    if isinstance(root, FastDict):
        return _LazyLocation(root.source, tuple(keys))
    line, column, _ = position(root, keys)
    return Location(path, line, column)


def _try_fast(text: str, path: str) -> Any:
    """The fast way's data, or None when the careful way must answer."""
    global _FAST_LOADS
    if _FAST_LOADS is False:
        _FAST_LOADS = _fast_loads()
    if _FAST_LOADS is None or _NOT_FAST.search(text):
        return None
    try:
        data = _FAST_LOADS(text)
    except Exception:  # whatever yaml-rs refuses, the careful way explains
        return None
    if data.__class__ is not dict or not _same_as_careful(data):
        return None
    root = FastDict(data)
    root.source = _Source(text, path)
    return root


def load_text(text: str, path: str = "<string>", *, fast: bool = True) -> Any:
    """Parse one YAML document; a syntax error names file:line:column. With ``fast``, a mapping may come
    back as a ``FastDict`` (positions looked up on request), else the tree knows every position.

    The garbage collector is paused meanwhile (``gcpause``): libyaml's nodes and the located tree are
    millions of objects for a large suite and hold no cycles."""
    if fast:
        with paused():
            data = _try_fast(text, path)
        if data is not None:
            return data
    loader = _LocatingLoader(text)
    loader.path = path
    try:
        with paused():
            node = loader.get_single_node()
            if node is None:
                return None
            nodes = _walk(node, path)
            if "*" in text:  # no alias without an asterisk: the common file skips the second walk
                _check_aliases(node, path, nodes)
            return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, path, text.encode("utf-8", errors="surrogatepass")) from None
    finally:
        loader.dispose()


def decode(data: bytes, path: str) -> str:
    """UTF-8 text of a file; the first byte that is not UTF-8 is an error at its line:column."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.start + 1].hex()
        raise LoadError(
            _offset_location(path, data, exc.start), f"not UTF-8 text (byte 0x{bad}); save the file as UTF-8"
        ) from None


def load_file(path: Path) -> Any:
    """Read and parse a YAML file; a missing or unreadable file is a user error, not a traceback."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise LoadError(str(path), "no such file") from None
    except IsADirectoryError:
        raise LoadError(str(path), "is a directory, expected a YAML file") from None
    except OSError as exc:
        raise LoadError(str(path), f"cannot read: {exc.strerror or exc}") from None
    except ValueError:  # a NUL byte in the name
        raise LoadError(repr(str(path)), "not a valid file name") from None
    return load_text(decode(data, str(path)), str(path))


def position(root: Any, path: list[Any] | tuple[Any, ...]) -> tuple[int, int, Any]:
    """The (line, column) of the deepest node of ``path`` that exists, and that path element.

    A key's own position is used for mapping entries, so an error about a value points at its key,
    where a reader looks first. A file read the fast way is parsed the careful way for it, once.
    """
    if isinstance(root, FastDict):
        return root.source.position(path)
    node, pos, last = root, getattr(root, "pos", (1, 1)), None
    for step in path:
        if isinstance(node, LocatedDict) and step in node:
            pos, last, node = node.key_pos.get(step, pos), step, node[step]
        elif isinstance(node, LocatedList) and isinstance(step, int) and step < len(node):
            pos, last, node = node.item_pos[step], step, node[step]
        else:
            break
    return pos[0], pos[1], last


def plain(value: Any) -> Any:
    """Strip position bookkeeping: the model holds plain dicts and lists (scalars copied in the loop)."""
    if isinstance(value, dict):
        return {k: v if v.__class__ in _LEAVES else plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [v if v.__class__ in _LEAVES else plain(v) for v in value]
    return value


_LEAVES = frozenset({str, int, float, bool, type(None)})
