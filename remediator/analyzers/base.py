"""What every analyzer returns, and the small readings of raw text they share.

A ``Diagnosis`` is plain data: who found it, about what, why in words, what to do in words, how
sure, on which evidence, which failing checks it explains, and at most one *safe* action. Only three
actions are ever proposed, because only they are safe on any stack: start a stopped service,
recreate a service whose running config drifted from its compose file, restart a dependent once its
dependency recovered. Everything else is advice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from ..results import PASSED
from ..secrets import MASK, MASKER

if TYPE_CHECKING:
    from ..backends.engine import ContainerState
    from ..facts import Facts

Confidence = Literal["high", "medium", "low"]
CONFIDENCE_RANK = {"high": 0, "medium": 1, "low": 2}


@dataclass(frozen=True)
class SafeAction:
    """One action that is safe on any stack: ``compose_up`` (start), ``compose_recreate``, ``compose_restart``."""

    action: Literal["compose_up", "compose_recreate", "compose_restart"]
    service: str

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "service": self.service}


@dataclass(frozen=True)
class Diagnosis:
    """One analyzer's conclusion about one subject, with the evidence it rests on."""

    analyzer: str  # e.g. "exit-code"
    subject: str  # a service, variable, port or file name
    subject_kind: Literal["service", "variable", "port", "file", "volume", "image"]
    title: str  # one line
    cause: str  # why, in words
    fix: str  # what to do, in words
    confidence: Confidence
    evidence: tuple[Mapping[str, Any], ...] = ()
    explains: frozenset[str] = frozenset()  # ids of the not-passed checks it accounts for
    action: SafeAction | None = None
    signature: str = ""  # the class of error seen (e.g. "missing-binary"), for playbook ``when`` leaves

    @property
    def key(self) -> str:
        """Identity across rounds: the same fault keeps the same key while it lasts."""
        return f"{self.analyzer}[{self.subject}]"

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "analyzer": self.analyzer,
            "key": self.key,
            "subject": self.subject,
            "subject_kind": self.subject_kind,
            "title": self.title,
            "cause": self.cause,
            "fix": self.fix,
            "confidence": self.confidence,
            "signature": self.signature,
            "evidence": [dict(e) for e in self.evidence],
            "explains": sorted(self.explains),
            "action": self.action.to_json() if self.action else None,
        }
        return MASKER.mask_data(doc)


# -- reading error text ------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorClass:
    """What a line of error text means: a kind, the detail that matters (a binary, a port), the line."""

    kind: str
    detail: str
    line: str


_CLASSES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("missing-binary", re.compile(r'exec: "?([^":]+)"?: (?:executable file not found|no such file or directory)')),
    ("missing-binary", re.compile(r"(?:^|\s|: )([\w./-]+): (?:command )?not found\b")),
    ("not-executable", re.compile(r'exec: "?([^":]+)"?: permission denied')),
    ("port-in-use", re.compile(r"Bind for \S+?:(\d+) failed: port is already allocated")),
    ("port-in-use", re.compile(r"(?:listen tcp|bind)\S* [\w.:\[\]]*?:(\d+):? .*address already in use", re.I)),
    ("port-in-use", re.compile(r"address already in use()", re.I)),
    ("mount-source-missing", re.compile(r"bind source path does not exist: (\S+)")),
    ("mount-source-missing", re.compile(r"(?:error while creating mount source path|mount source path) '?([^':]+)")),
    ("mount-source-missing", re.compile(r"error mounting \"([^\"]+)\".*(?:no such file|not a directory)", re.I)),
    ("missing-image", re.compile(
        r"No such image: (\S+)|pull access denied for ([^,\s]+)|manifest for (\S+) not found")),
    ("missing-module", re.compile(r"(?:ModuleNotFoundError|ImportError): No module named '?([\w.]+)")),
    ("timeout", re.compile(r"(Health check exceeded timeout|timed out|deadline exceeded)", re.I)),
    ("http-status", re.compile(r"HTTP Error (\d{3})|returned error: (\d{3})|\bstatus(?: code)?[ :=]+([45]\d\d)\b")),
    ("connection-refused", re.compile(r"(Connection refused|ECONNREFUSED|connection to server .* failed)", re.I)),
    ("name-resolution", re.compile(r"(Name or service not known|Temporary failure in name resolution|"
                                   r"could not translate host name|getaddrinfo failed|no such host)", re.I)),
)  # fmt: skip

_ERRORISH = re.compile(
    r"error|exception|fatal|panic|failed|refused|denied|not found|no such|cannot|can't|unable|invalid|traceback"
    r"|unsupported|missing",
    re.I,
)


def classify(text: str) -> ErrorClass | None:
    """The known class of error in ``text`` (a State.Error, a health output, a log line).

    A traceback's last line says what went wrong; the lines above it only say where (and may hold
    words such as ``timeout=2``), so the last non-empty line is read first.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    for part in (lines[-1], text) if len(lines) > 1 else (text,):
        for kind, pattern in _CLASSES:
            m = pattern.search(part)
            if m:
                detail = next((g for g in m.groups() if g), "")
                return ErrorClass(kind, detail, _clip(part))
    return None


def error_lines(lines: Iterable[str], limit: int = 3) -> list[str]:
    """The last ``limit`` lines that look like errors, oldest first; the last lines when none does."""
    lines = [line for line in lines if line.strip()]
    hits = [line for line in lines if _ERRORISH.search(line)]
    return [_clip(line) for line in (hits or lines)[-limit:]]


def classify_lines(lines: list[str]) -> ErrorClass | None:
    """The newest classified error among log lines."""
    for line in reversed(lines):
        found = classify(line)
        if found and found.kind not in ("timeout",):  # "timeout" in a log is too common a word to mean much
            return found
    return None


def describe(err: ErrorClass) -> str:
    """A reader's phrase for an error class."""
    return {
        "missing-binary": f"the executable {err.detail!r} is not in the image",
        "not-executable": f"{err.detail!r} is not executable (permission denied)",
        "port-in-use": f"host port {err.detail} is already taken by another container or process"
        if err.detail
        else "a port is already in use",
        "mount-source-missing": f"the mount source {err.detail!r} does not exist on the host",
        "missing-image": f"the image {err.detail!r} is not available",
        "missing-module": f"the module {err.detail!r} is not installed in the image",
        "timeout": "it timed out",
        "http-status": f"it answered HTTP {err.detail}",
        "connection-refused": "nothing accepted the connection",
        "name-resolution": "a host name did not resolve",
    }.get(err.kind, err.line)


def _clip(text: str, width: int = 300) -> str:
    text = MASKER.mask(" ".join(text.split()))
    return text if len(text) <= width else text[: width - 1] + "…"


# -- values that may be secret -------------------------------------------------------------------

_USERINFO = re.compile(r"(?P<scheme>\b[a-z][\w+.-]*://)(?P<user>[^:@/\s]*):(?P<pw>[^@/\s]+)@", re.I)


def shown(key: str, value: str) -> str:
    """A value safe to print: secret-like keys fully masked, passwords inside URLs masked."""
    from ..secrets import is_secret_name as is_secret_key

    if is_secret_key(key):
        return MASK if value else ""
    return MASKER.mask(_USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", value))


# -- facts helpers ------------------------------------------------------------------------------


def parse_time(text: str) -> datetime | None:
    """An engine timestamp (RFC 3339, nanoseconds) as a datetime; None for empty or year 1."""
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?", text or "")
    if not m or m.group(1).startswith("0001"):
        return None
    micro = (m.group(2) or "0")[:6].ljust(6, "0")
    tz = m.group(3) or "Z"
    return datetime.fromisoformat(f"{m.group(1)}.{micro}{'+00:00' if tz == 'Z' else tz}").astimezone(UTC)


def health_only_timed_out(st: ContainerState) -> bool:
    """Whether every failed health probe merely timed out: what a busy machine does to a healthy service.

    Such a container is unhealthy for real, but says nothing of a fault unless a check fails on it too.
    """
    failed = [h for h in st.health_log if h.get("ExitCode") != 0]
    return bool(failed) and all(
        h.get("ExitCode") == -1 and (not h.get("Output") or "timeout" in str(h.get("Output")).lower()) for h in failed
    )


def failing(facts: Facts) -> set[str]:
    """Ids of the checks that did not pass in the latest run."""
    return {r.id for r in facts.run.results if r.status != PASSED}


def explained(facts: Facts, services: Iterable[str]) -> frozenset[str]:
    """The not-passed checks about ``services`` (by probe, port or requires) and those behind them."""
    wanted = set(services)
    bad = failing(facts)
    direct = {cid for cid in bad if facts.service_of(cid) in wanted}
    return frozenset(facts.dependents(direct) & bad) if direct else frozenset()


def depends_on(service_config: Mapping[str, Any]) -> list[str]:
    """The services a service names under ``depends_on`` (list or mapping form)."""
    deps = service_config.get("depends_on") or {}
    return list(deps) if isinstance(deps, Mapping | list) else []


def environment(service_config: Mapping[str, Any]) -> dict[str, str]:
    """A resolved service's environment as strings (compose config may print list form or nulls)."""
    env = service_config.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}
