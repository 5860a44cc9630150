"""Analyzers of configuration as compose resolves it: unset variables, unreadable env files,
secrets that should be shared but differ, URLs missing the credentials their siblings carry.

Compose's own interpolation is the judge: its warnings and errors are read (``facts.stack``), never
re-derived, except to point at the line an error really starts on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .base import Diagnosis, environment, explained, shown

if TYPE_CHECKING:
    from ..facts import Facts

_UNSET = re.compile(r'The "?([A-Za-z_]\w*)"? variable is not set\. Defaulting to a blank string')
_REQUIRED = re.compile(r"required variable (\w+) is missing a value(?::\s*(.*))?")
_READ = re.compile(r"failed to read (\S+?): line (\d+): (.+)")
_NOT_FOUND = re.compile(r"env file (\S+) not found")
_SHARED_HINT = re.compile(r"JWT|SIGN|SHARED|INTERNAL|HMAC", re.I)
_SERVICE_LINE = re.compile(r"^  ([A-Za-z0-9][\w.-]*):\s*(#.*)?$")


def _lines_by_service(compose_text: str) -> Iterator[tuple[int, str, str]]:
    """(line number, the service whose block it is in or "", the line) of a compose text."""
    service, in_services = "", False
    for n, line in enumerate(compose_text.splitlines(), 1):
        if re.match(r"^\S", line):
            in_services, service = line.startswith("services:"), ""
        elif in_services and (m := _SERVICE_LINE.match(line)):
            service = m.group(1)
            continue
        yield n, service, line


def _references(compose_text: str, name: str) -> list[dict[str, Any]]:
    """Where the compose text uses ``${name}``: line numbers and the service each line belongs to."""
    pattern = re.compile(r"\$\{" + re.escape(name) + r"(?=[}:?\-+])|\$" + re.escape(name) + r"\b")
    return [
        {"line": n, "service": service, "text": line.strip()[:160]}
        for n, service, line in _lines_by_service(compose_text)
        if pattern.search(line) and not line.lstrip().startswith("#")
    ]


def service_lines(compose_text: str, service: str) -> list[str]:
    """The lines of ``service``'s block in the compose text (where its ``${VAR}`` references are)."""
    return [line for _, s, line in _lines_by_service(compose_text) if s == service]


def unset_variable(facts: Facts) -> list[Diagnosis]:
    """A ``${VAR}`` the compose file uses that nothing sets: compose substitutes a blank string."""
    stack = facts.stack
    if stack is None:
        return []
    names = [m.group(1) for w in stack.config_warnings if (m := _UNSET.search(w))]
    required = _REQUIRED.search(stack.config_error)
    if required:
        names.append(required.group(1))
    out = []
    for name in dict.fromkeys(names):
        refs = _references(facts.compose_text, name)
        services = sorted({r["service"] for r in refs if r["service"]})
        where = ", ".join(f"line {r['line']}" + (f" ({r['service']})" if r["service"] else "") for r in refs[:3])
        is_required = required is not None and required.group(1) == name
        cause = (
            f"compose refuses the project: {name} is required and unset"
            if is_required
            else f"{name} is set neither in the env files nor in the environment, so compose puts a blank string"
        )
        out.append(
            Diagnosis(
                analyzer="unset-variable",
                subject=name,
                subject_kind="variable",
                title=f"${{{name}}} is not set" + (f" (compose file {where})" if where else ""),
                cause=cause,
                fix=f"set {name} in the project's .env (or the env file compose reads), or give it a default "
                f"(${{{name}:-value}})",
                confidence="high",
                evidence=({"variable": name, "compose": required.group(0) if is_required else "not set"}, *refs[:3]),
                explains=explained(facts, services),
                signature="required-variable" if is_required else "unset-variable",
            )
        )
    return out


def _unclosed_quote_line(text: str) -> int | None:
    """The line whose quoted value is never closed (compose reports the file's end instead)."""
    open_at: tuple[int, str] | None = None
    for n, line in enumerate(text.splitlines(), 1):
        if open_at is None:
            body = line.strip()
            if not body or body.startswith("#") or "=" not in body:
                continue
            value = body.partition("=")[2].lstrip()
            if value[:1] in ("'", '"') and not re.search(r"(?<!\\)" + value[0], value[1:]):
                open_at = (n, value[0])
        elif re.search(r"(?<!\\)" + open_at[1], line):
            open_at = None
    return open_at[0] if open_at else None


def env_file_unreadable(facts: Facts) -> list[Diagnosis]:
    """An env file compose cannot read, at the line the fault really is."""
    stack = facts.stack
    if stack is None or not stack.config_error:
        return []
    error = stack.config_error
    m = _READ.search(error)
    if m:
        path, reported, what = m.group(1), int(m.group(2)), m.group(3).strip()
        line = reported
        if "unterminated" in what:
            line = _unclosed_quote_line(stack.error_files.get(path, "")) or reported
        text_lines = stack.error_files.get(path, "").splitlines()
        key = text_lines[line - 1].partition("=")[0].strip() if 0 < line <= len(text_lines) else ""
        detail = f"{path}:{line}: {_no_value(what)}"
        return [
            Diagnosis(
                analyzer="env-file-unreadable",
                subject=f"{path}:{line}",
                subject_kind="file",
                title=f"compose cannot read {Path(path).name}: line {line}" + (f" ({key})" if key else ""),
                cause=f"{detail}; compose reported line {reported}, where the file ends inside the value"
                if line != reported
                else detail,
                fix=f"close the quote (or remove it) on line {line} of {path}"
                if "unterminated" in what
                # the line content is never shown: it may hold a secret
                else f"fix line {line} of {path} so that it reads KEY=value",
                confidence="high",
                evidence=(
                    {"file": path, "line": line, "reported_line": reported, "key": key, "compose": _no_value(what)},
                ),
                explains=frozenset(r.id for r in facts.run.results if r.status != "passed"),
                signature="env-file-syntax",
            )
        ]
    m = _NOT_FOUND.search(error)
    if m:
        return [
            Diagnosis(
                analyzer="env-file-unreadable",
                subject=m.group(1),
                subject_kind="file",
                title=f"env file {m.group(1)} does not exist",
                cause="a service's env_file (or --env-file) names a file that is not there",
                fix=f"create {m.group(1)} (often from a .env.example) or fix the path",
                confidence="high",
                evidence=({"file": m.group(1), "compose": error[:300]},),
                explains=frozenset(r.id for r in facts.run.results if r.status != "passed"),
                signature="env-file-missing",
            )
        ]
    return []


def _no_value(what: str) -> str:
    """Compose's message without the value it quotes (``unterminated quoted value "s3cr...``)."""
    return re.sub(r"(value)\s+.*$", r"\1", what)


def _env_views(facts: Facts) -> list[tuple[str, dict[str, dict[str, str]]]]:
    """Each service's environment as the compose file resolves it, and as its container really runs."""
    config = {s: environment(c) for s, c in facts.services.items()}
    running = {s: dict(st.env) for s, st in facts.containers.items() if st.state == "running" and st.env}
    return [("compose config", config), ("running containers", running)]


def shared_secret_differs(facts: Facts) -> list[Diagnosis]:
    """A secret-like key that several services carry with different values (one signs, one verifies)."""
    from ..secrets import is_secret_name as is_secret_key

    out: dict[str, Diagnosis] = {}
    for view, envs in _env_views(facts):
        holders: dict[str, dict[str, list[str]]] = {}  # key -> value -> services
        for service, env in envs.items():
            for key, value in env.items():
                if value and is_secret_key(key):
                    holders.setdefault(key, {}).setdefault(value, []).append(service)
        for key, values in holders.items():
            if len(values) < 2 or key in out:
                continue
            groups = sorted(sorted(v) for v in values.values())
            label = " vs ".join("/".join(g) for g in groups)
            everyone = sorted(s for g in groups for s in g)
            out[key] = Diagnosis(
                analyzer="shared-secret-differs",
                subject=key,
                subject_kind="variable",
                title=f"{key} differs between {label}",
                cause=f"{len(everyone)} services carry {key} ({view}), with {len(groups)} different values: "
                "tokens one signs, another rejects",
                fix=f"give every service the same {key} (one ${{{key}}} in .env), "
                "then recreate those whose value changed",
                confidence="high" if _SHARED_HINT.search(key) else "medium",
                evidence=tuple(
                    {"view": view, "value": f"#{i + 1} (masked)", "services": g} for i, g in enumerate(groups)
                ),
                explains=explained(facts, everyone),
                signature="secret-mismatch",
            )
    return list(out.values())


def _urls(envs: Mapping[str, Mapping[str, str]]) -> list[tuple[str, str, Any]]:
    out = []
    for service, env in envs.items():
        for key, value in env.items():
            if "://" not in value:
                continue
            try:
                parts = urlsplit(value.strip())
                _ = parts.port
            except ValueError:
                continue
            if parts.hostname:
                out.append((service, key, parts))
    return out


def url_lacks_credentials(facts: Facts) -> list[Diagnosis]:
    """A URL variable pointing where its siblings point, without the password they carry (or another one)."""
    config = {s: environment(c) for s, c in facts.services.items()}
    groups: dict[tuple[str, str, int | None], list[tuple[str, str, Any]]] = {}
    for service, key, parts in _urls(config):
        groups.setdefault((parts.scheme.lower(), parts.hostname.lower(), parts.port), []).append((service, key, parts))
    out = []
    for (scheme, host, port), members in groups.items():
        with_pw = [m for m in members if m[2].password]
        if not with_pw:
            continue
        passwords = {m[2].password for m in with_pw}
        for service, key, parts in members:
            if parts.password and len(passwords) == 1:
                continue
            if parts.password:  # several passwords for one server: say which ones disagree
                title = f"{service}'s {key} carries a different password for {host} than its siblings"
                cause = f"{len(passwords)} different passwords are used for {scheme}://{host}"
                signature = "url-credentials-differ"
            else:
                title = f"{service}'s {key} has no credentials for {host}"
                cause = (
                    f"{key} reaches {scheme}://{host}" + (f":{port}" if port else "") + " without a password, "
                    "while other services' URLs to the same server carry one"
                )
                signature = "url-missing-credentials"
            siblings = [(s, k) for s, k, _ in with_pw if (s, k) != (service, key)][:3]
            out.append(
                Diagnosis(
                    analyzer="url-credentials",
                    subject=f"{service}.{key}",
                    subject_kind="variable",
                    title=title,
                    cause=cause,
                    fix=f"write {key} with the same credentials as {', '.join(f'{s}.{k}' for s, k in siblings)}",
                    confidence="high",
                    evidence=(
                        {"service": service, "variable": key, "value": shown(key, parts.geturl())},
                        *({"sibling": f"{s}.{k}", "value": shown(k, config[s][k])} for s, k in siblings),
                    ),
                    explains=explained(facts, [service]),
                    signature=signature,
                )
            )
    return out
