"""The one loader: YAML in, validated against the JSON Schemas shipped in the package, model out.

Every error names ``file:line:column``, the offending key and what was expected; the CLI prints it
as one line and exits 2. Nothing after the loader validates again.

Validation runs twice only when it fails: fastjsonschema (schemas compiled to Python code) answers
"valid" for 2000 checks in 0.16 s where jsonschema takes 2.0 s (measured here), and jsonschema then
explains an invalid document key by key. The schemas are draft-07, which both implement.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from . import scopes, templating, validation, yamlio
from .errors import LoadError, Location, TemplateError, UserError, shown
from .gcpause import paused
from .model import (
    Check,
    ComposeProject,
    DiagnosticProbe,
    DockerEndpoint,
    Entry,
    ExternalSource,
    Inventory,
    SecretSource,
    Suite,
    Target,
)

KINDS = ("inventory", "checks", "playbooks")
MAX_ERRORS = 20  # per file


def _dotted(path: Iterable[Any]) -> str:
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out or "(top level)"


def _describe(error: Any) -> tuple[list[Any], str]:
    """The path to point at and a message that says what was expected there (values quoted short)."""
    path = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        extra = [k for k in error.instance if k not in allowed]
        if extra:
            expected = f"; expected one of: {', '.join(allowed)}" if allowed else ""
            return [*path, extra[0]], f"unknown key {shown(extra[0])}{expected}"
    if error.validator == "required":
        return path, error.message.replace("is a required property", "is required here")
    if error.validator == "enum":
        return (
            path,
            f"{shown(error.instance)} is not allowed; expected one of: {', '.join(map(str, error.validator_value))}",
        )
    if error.validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        got = (
            shown(error.instance)
            if isinstance(error.instance, dict | list)
            else f"{type(error.instance).__name__} {shown(error.instance)}"
        )
        return path, f"expected {expected}, got {got}"
    message = error.message.replace(repr(error.instance), shown(error.instance))
    return path, message if len(message) <= 200 else message[:197] + "..."


def _leaf_errors(errors: Iterable[Any]) -> Iterator[Any]:
    """Descend into anyOf/oneOf so the message is about the key, not the combinator."""
    for error in errors:
        if error.context and error.validator in ("anyOf", "oneOf"):
            deepest = max(error.context, key=lambda e: len(e.absolute_path))
            if len(deepest.absolute_path) > len(error.absolute_path):
                yield from _leaf_errors([deepest])
                continue
        yield error


def schema_errors(kind: str, data: Any, path: str) -> list[LoadError]:
    """All schema violations of one document, in file order, each located.

    Errors are described in batches of as many as may still be listed, and each batch is located in
    one pass over the file (``yamlio.prefetch``: for a file read the fast way, its positions are read
    then), so the first 20 of 330,000 wrong items cost no more than the items before them."""
    if validation.is_valid(kind, data):
        return []
    found: list[tuple[tuple[int, int], LoadError]] = []
    seen: set[tuple[int, int, str]] = set()
    errors = iter(_leaf_errors(validation.explainer(kind).iter_errors(data)))
    while True:
        batch = [_describe(e) for e in itertools.islice(errors, MAX_ERRORS - len(found) + 1)]
        yamlio.prefetch(data, [where for where, _ in batch])
        for where, message in batch:
            if len(found) == MAX_ERRORS:  # a list of 300,000 wrong items needs its first lines, not all of them
                more = LoadError(path, f"more errors not shown (the first {MAX_ERRORS} are listed)")
                found.append(((1 << 62, 0), more))
                return [e for _, e in sorted(found, key=lambda item: item[0])]
            line, column, _ = yamlio.position(data, where)
            key = (line, column, message)
            if key not in seen:
                seen.add(key)
                found.append(((line, column), LoadError(Location(path, line, column), f"{_dotted(where)}: {message}")))
        if not batch:
            return [e for _, e in sorted(found, key=lambda item: item[0])]


def _load(kind: str, path: Path) -> Any:
    data = yamlio.load_file(path)
    if data is None:
        data = yamlio.LocatedDict()
    if not isinstance(data, dict):
        raise LoadError(Location(str(path), 1, 1), f"expected a mapping at the top of a {kind} file")
    errors = schema_errors(kind, data, str(path))
    if errors:
        raise errors[0]
    return data


def kind_of(data: Any) -> str | None:
    """Which of the three document kinds a parsed file is, by its top-level keys."""
    if not isinstance(data, dict):
        return None
    if "targets" in data or "groups" in data:
        return "inventory"
    if "checks" in data or "sources" in data:
        return "checks"
    if "entries" in data:
        return "playbooks"
    return None


def yaml_files(paths: Iterable[Path]) -> list[Path]:
    """Files named, and *.yml / *.yaml files of directories named, in a stable order."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted([*p.glob("*.yml"), *p.glob("*.yaml")]))
        elif p.exists():
            out.append(p)
        else:
            raise LoadError(str(p), "no such file or directory")
    return out


# -- inventory ----------------------------------------------------------------------------------


def load_inventory(path: Path) -> Inventory:
    """Read an inventory file; relative paths in it are relative to the file's directory."""
    raw = _load("inventory", path)
    base = path.resolve().parent
    targets = {name: _target(name, spec, base, path, raw) for name, spec in raw["targets"].items()}
    groups = {}
    for group, members in raw.get("groups", {}).items():
        for i, member in enumerate(members):
            if member not in targets:
                line, col, _ = yamlio.position(raw, ["groups", group, i])
                raise LoadError(Location(str(path), line, col), f"groups.{group}: no target {member!r}")
        groups[group] = tuple(members)
    return Inventory(path=path, targets=targets, groups=groups)


def _target(name: str, spec: dict[str, Any], base: Path, path: Path, raw: Any) -> Target:
    compose = None
    write_roots = tuple((base / p).resolve() for p in spec.get("write_roots", []))
    if "compose" in spec:
        c = spec["compose"]
        directory = (base / c["directory"]).resolve()
        if not any(directory.is_relative_to(r) for r in (base, *write_roots)):
            line, col, _ = yamlio.position(raw, ["targets", name, "compose", "directory"])
            raise LoadError(
                Location(str(path), line, col),
                f"targets.{name}.compose.directory: {c['directory']!r} is {directory}, outside the inventory's"
                " directory; actions write there, so list it under write_roots to allow it",
            )
        compose = ComposeProject(
            project=c["project"],
            directory=directory,
            files=tuple(directory / f for f in c.get("files", [])),
            env_files=tuple(directory / f for f in c.get("env_files", [])),
            command=tuple(c["command"]) if "command" in c else None,
        )
    urls = _render_urls(spec, path, ["targets", name], raw)
    secret_base = compose.directory if compose else base
    secrets = {
        key: SecretSource(kind=kind, ref=tuple(ref) if isinstance(ref, list) else ref, base=secret_base)
        for key, source in spec.get("secrets", {}).items()
        for kind, ref in source.items()
    }
    docker = spec.get("docker", {})
    return Target(
        name=name,
        inventory=path,
        compose=compose,
        docker=DockerEndpoint(host=docker.get("host"), context=docker.get("context")),
        vars=yamlio.plain(spec.get("vars", {})),
        urls=urls,
        secrets=secrets,
        checks=tuple(base / p for p in spec.get("checks", ["checks"])),
        playbooks=tuple(base / p for p in spec.get("playbooks", ["playbooks"])),
        write_roots=write_roots,
    )


def _render_urls(spec: dict[str, Any], path: Path, at: list[Any], raw: Any) -> dict[str, str]:
    """The target's URLs, rendered now with what ``context.base_context`` gives them (its variables and
    the environment), so a URL that cannot render or is not http(s) is a load error at its line."""
    import os

    variables = yamlio.plain(spec.get("vars", {}))
    scope = {**variables, "vars": variables, "env": dict(os.environ)}
    urls = {}
    for key, url in spec.get("urls", {}).items():
        where = yamlio.locate(raw, str(path), [*at, "urls", key])
        try:
            rendered = templating.render_str(url, scope)
        except TemplateError as exc:
            raise LoadError(where, f"{_dotted([*at, 'urls', key])}: {exc}") from None
        if problem := scopes.url_scheme_error(rendered):
            raise LoadError(where, f"{_dotted([*at, 'urls', key])}: {problem}")
        urls[key] = url
    return urls


# -- checks -------------------------------------------------------------------------------------


def _items(
    raw: Any, key: str, path: Path, what: str, first_seen: dict[str, Location]
) -> Iterator[tuple[int, Any, Location]]:
    """Each item of the list under ``key`` with its index and place; an id already seen (in this file or
    an earlier one) is an error that names both places."""
    for i, item in enumerate(raw.get(key, [])):
        where = yamlio.locate(raw, str(path), [key, i])
        if item["id"] in first_seen:
            raise LoadError(where, f"duplicate {what} id {item['id']!r} (first at {first_seen[item['id']]})")
        first_seen[item["id"]] = where
        yield i, item, where


def _http_urls(probe: Any, where: Location, what: str) -> None:
    """A check's URL must be http(s): ``file:///etc/passwd`` is refused wherever the text shows it."""
    url = probe.get("url") if isinstance(probe, dict) and probe.get("kind") == "http" else None
    if isinstance(url, str) and (problem := scopes.url_scheme_error(url)):
        raise LoadError(where, f"{what}.probe.url: {problem}")


def load_suite(paths: Iterable[Path], target: Target | None = None) -> Suite:
    """Read check files (or directories of them) into one suite with unique ids and acyclic requires;
    every template compiles, and with ``target`` names only what its scope will hold (``scopes``)."""
    files = yaml_files(paths)
    with paused():
        return build_suite(((path, _load("checks", path)) for path in files), files, target)


def build_suite(parsed: Iterable[tuple[Path, Any]], files: list[Path], target: Target | None) -> Suite:
    """The suite of check files already parsed and schema-checked (``validate`` parses each file once)."""
    checks: list[Check] = []
    sources: list[ExternalSource] = []
    first_seen: dict[str, Location] = {}
    for path, raw in parsed:
        for _, c, where in _items(raw, "checks", path, "check", first_seen):
            _http_urls(c["probe"], where, c["id"])
            checks.append(
                Check(
                    id=c["id"],
                    category=c["category"],
                    name=c["name"],
                    probe=yamlio.plain(c["probe"]),
                    expect=yamlio.plain(c.get("expect", {})),
                    requires=tuple(c.get("requires", [])),
                    after=tuple(c.get("after", [])),
                    capture=yamlio.plain(c.get("capture", {})),
                    exclusive=bool(c.get("exclusive", False)),
                    where=where,
                )
            )
        for i, s in enumerate(raw.get("sources", [])):
            base = path.resolve().parent
            sources.append(
                ExternalSource(
                    id=s["id"],
                    format=s["format"],
                    results=base / s["results"],
                    command=tuple(s["command"]) if "command" in s else None,
                    cwd=base / s["cwd"] if "cwd" in s else base,
                    timeout=float(s.get("timeout", 600)),
                    category=s.get("category"),
                    where=yamlio.locate(raw, str(path), ["sources", i]),
                )
            )
    _check_requires(checks)
    suite = Suite(checks=tuple(checks), sources=tuple(sources), files=tuple(files))
    scopes.check_suite(suite, target)
    return suite


def _check_requires(checks: list[Check]) -> None:
    ids = {c.id: c for c in checks}
    for c in checks:
        for key, refs in (("requires", c.requires), ("after", c.after)):
            for r in refs:
                if r not in ids:
                    raise LoadError(c.where or "?", f"{c.id}.{key}: no check {r!r}")
                if ids[r].exclusive and not c.exclusive:
                    raise LoadError(
                        c.where or "?",
                        f"{c.id}.{key}: {r!r} is exclusive (runs after all others), so {c.id!r} must be exclusive too",
                    )
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(c: Check, trail: list[str]) -> None:
        if state.get(c.id) == 2:
            return
        if state.get(c.id) == 1:
            cycle = " -> ".join([*trail[trail.index(c.id) :], c.id])
            raise LoadError(c.where or "?", f"requires form a cycle: {cycle}")
        state[c.id] = 1
        for r in (*c.requires, *c.after):
            visit(ids[r], [*trail, c.id])
        state[c.id] = 2

    for c in checks:
        visit(c, [])


# -- playbooks ----------------------------------------------------------------------------------


def load_playbooks(paths: Iterable[Path], suite: Suite | None = None, target: Target | None = None) -> list[Entry]:
    """Read playbook files into entries: ids unique, ``after`` known, every action spec valid; with the
    ``suite`` and ``target`` they will run against, ``verify`` ids, secrets and templates too (``scopes``)."""
    from .actions import build_action

    entries: list[Entry] = []
    first_seen: dict[str, Location] = {}
    for path in yaml_files(p for p in paths if p.exists()):
        raw = _load("playbooks", path)
        for i, e, where in _items(raw, "entries", path, "entry", first_seen):
            for j, spec in enumerate(e.get("actions", [])):
                try:
                    build_action(yamlio.plain(spec))
                except UserError:  # again, to say where (a position may cost a careful parse: only now)
                    aline, acol, _ = yamlio.position(raw, ["entries", i, "actions", j])
                    build_action(yamlio.plain(spec), where=f"{path}:{aline}:{acol}: entries[{i}].actions[{j}]")
                    raise
            probes = []
            for j, p in enumerate(e.get("probes", [])):
                probe_errors = schema_errors(
                    "checks",
                    {
                        "checks": [
                            {
                                "id": "probe",
                                "category": "probe",
                                "name": p["name"],
                                "probe": p["probe"],
                                "expect": p.get("expect", {}),
                            }
                        ]
                    },
                    str(path),
                )
                probe_at = yamlio.locate(raw, str(path), ["entries", i, "probes", j])
                if probe_errors:
                    detail = str(probe_errors[0]).split(": ", 2)[-1]
                    raise LoadError(probe_at, f"entries[{i}].probes[{j}]: {detail}")
                _http_urls(p["probe"], probe_at, f"entries[{i}].probes[{j}]")
                probes.append(DiagnosticProbe(p["name"], yamlio.plain(p["probe"]), yamlio.plain(p.get("expect", {}))))
            entries.append(
                Entry(
                    id=e["id"],
                    name=e["name"],
                    when=yamlio.plain(e["when"]),
                    description=e.get("description", ""),
                    group_by=tuple(e.get("group_by", [])),
                    probes=tuple(probes),
                    actions=tuple(yamlio.plain(a) for a in e.get("actions", [])),
                    suite=bool(e.get("suite", False)),
                    verify=tuple(e["verify"]) if "verify" in e else None,
                    after=tuple(e.get("after", [])),
                    max_attempts=int(e.get("max_attempts", 2)),
                    cooldown=float(e.get("cooldown", 0)),
                    confirm=bool(e.get("confirm", False)),
                    where=where,
                )
            )
    ids = {e.id for e in entries}
    for e in entries:
        for a in e.after:
            if a not in ids:
                raise LoadError(e.where or "?", f"{e.id}.after: no entry {a!r}")
    scopes.check_playbooks(entries, suite, target)
    return entries
