"""What each template will see, and every template checked against it before anything runs.

A misspelt ``{{ urls.wbe }}`` used to surface as a failing check (28.6 % on a healthy stack) and a
``verify`` id that names no check as a correct fix rolled back on every attempt. Both are mistakes in
the suite, and both are visible in the files alone, so they are load errors (file:line:column, exit 2)
like any other bad input.

Scopes, as ``context.base_context`` and the runner build them:

- an inventory URL sees the target's variables, ``vars`` and ``env`` (its URLs are rendered here, at
  load time, with exactly what they will see later, so a URL that cannot render is a load error);
- a check sees those, ``urls``, ``secrets``, ``run_id``, ``target`` and the captures of the suite;
- a playbook entry sees the same plus what its conditions bind (``service``, ``check``...), which is
  known only when they match; its free names are therefore not checked, but ``urls.X``, ``vars.X``
  and ``secrets.X``, ``value_from: {secret: X}``, ``probe: {name: X}`` and ``verify`` ids are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from . import templating
from .errors import LoadError, Location, TemplateError, UserError, shown
from .model import Entry, Suite, Target

BASE_NAMES = frozenset({"vars", "env", "urls", "secrets", "run_id", "target"})
_HTTP = re.compile(r"https?://", re.IGNORECASE)


def url_scheme_error(url: str) -> str | None:
    """Why ``url`` is not an http(s) URL, judged on its text before the first template; None if it may be."""
    static = re.split(r"\{[{%]", url, maxsplit=1)[0]
    low = static.lower()
    templated = static != url  # then the text may still be completed into http(s)://
    if _HTTP.match(static) or (templated and ("https://".startswith(low) or "http://".startswith(low))):
        return None
    return f"{shown(url)} is not an http:// or https:// URL"


def _keyed(target: Target) -> dict[str, Mapping[str, Any]]:
    return {"urls": target.urls, "vars": target.vars, "secrets": target.secrets}


def _check_template(source: str, target: Target | None, free_ok: set[str] | None) -> None:
    """Raise ``TemplateError`` for a syntax error, a free name outside ``free_ok`` (None: any), or a
    ``urls``/``vars``/``secrets`` key the target (when known) does not have."""
    free, keys = templating.names(source)
    if free_ok is not None:
        for name in sorted(free - free_ok):
            known = ", ".join(sorted(free_ok))
            raise TemplateError(f"template {shown(source)}: {name!r} is not defined here (known: {known})")
    for root, key in sorted(keys) if target is not None else ():
        known_keys = _keyed(target).get(root)
        if known_keys is not None and key not in known_keys:
            have = ", ".join(sorted(known_keys)) or "none"
            raise TemplateError(f"template {shown(source)}: the target has no {root}.{key} (its {root}: {have})")


def _located(where: Location | str | None, what: str, exc: TemplateError) -> LoadError:
    return LoadError(where or "?", f"{what}: {exc}")


def check_suite(suite: Suite, target: Target | None) -> None:
    """Every template of every check against the scope the runner will give it (without a target,
    only that it compiles)."""
    captures = {name for c in suite.checks for name in c.capture}
    free_ok = set(BASE_NAMES) | set(target.vars) | captures if target is not None else None
    for c in suite.checks:
        for place, source in templating.strings({"probe": c.probe, "expect": c.expect}):
            try:
                _check_template(source, target, free_ok)
            except TemplateError as exc:
                raise _located(c.where, f"{c.id}.{place}", exc) from None


def _conditions(cond: Any) -> Iterator[tuple[str, Any]]:
    """Every leaf ``(operator, arguments)`` of a ``when`` tree."""
    if not isinstance(cond, Mapping):
        return
    for op, args in cond.items():
        if op in ("all", "any"):
            for sub in args or []:
                yield from _conditions(sub)
        elif op == "not":
            yield from _conditions(args)
        else:
            yield op, args


def _secret_refs(value: Any) -> Iterator[str]:
    """Names in ``value_from: {secret: NAME}`` anywhere inside an action."""
    if isinstance(value, Mapping):
        source = value.get("value_from")
        if isinstance(source, Mapping) and isinstance(source.get("secret"), str):
            yield source["secret"]
        for v in value.values():
            yield from _secret_refs(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _secret_refs(v)


def _check_files(e: Entry, target: Target) -> None:
    """A literal ``file:`` of an action must lie inside the target's write roots (templated ones are
    checked when the action runs)."""
    from pathlib import Path

    from .backends.files import confine

    base = target.compose.directory if target.compose else Path(target.inventory).resolve().parent
    for j, action in enumerate(e.actions):
        for name, args in action.items():
            file = args.get("file") if isinstance(args, Mapping) else None
            if isinstance(file, str) and "{{" not in file and "{%" not in file:
                try:
                    confine(base / file, (base, *target.write_roots))
                except UserError as exc:
                    raise LoadError(e.where or "?", f"{e.id}.actions[{j}].{name}.file: {exc}") from None


def check_playbooks(entries: Iterable[Entry], suite: Suite | None, target: Target | None) -> None:
    """Ids, probe names and secret names an entry refers to exist; its templates compile and name only
    URLs, variables and secrets the target has."""
    check_ids = {c.id for c in suite.checks} if suite is not None else None
    for e in entries:
        if check_ids is not None and not suite.sources:  # external sources bring ids known only after they run
            for vid in e.verify or ():
                if vid not in check_ids:
                    raise LoadError(e.where or "?", f"{e.id}.verify: no check {vid!r} in the suite")
        probe_names = {p.name for p in e.probes}
        for op, args in _conditions(e.when):
            if op == "probe" and isinstance(args, Mapping) and args.get("name") not in probe_names:
                known = ", ".join(sorted(probe_names)) or "none"
                raise LoadError(e.where or "?", f"{e.id}.when: no probe {args.get('name')!r} (its probes: {known})")
        bodies = {"actions": list(e.actions), "probes": [dict(p.probe) for p in e.probes], "when": e.when}
        for place, source in templating.strings(bodies):
            try:
                _check_template(source, target, None)
            except TemplateError as exc:
                raise _located(e.where, f"{e.id}.{place}", exc) from None
        if target is None:
            continue
        for name in _secret_refs(list(e.actions)):
            if name not in target.secrets:
                have = ", ".join(sorted(target.secrets)) or "none"
                raise LoadError(e.where or "?", f"{e.id}.actions: target {target.name} has no secret {name!r} ({have})")
        _check_files(e, target)
