"""Secret sources and the masker that keeps their values out of every output.

A secret is read from an environment variable, a file, or a command's stdout (argv, no shell). Once
read, its value is registered with the process-wide ``MASKER``; every printer, log processor, journal
and report passes text through ``MASKER.mask`` so the value shows as ``***(sha256:1a2b)`` wherever it
would appear: masked, yet a reader can tell two values apart (the old and the new token in a diff),
or check a value they hold against it, from 4 hex digits of its SHA-256 (16 bits: no way back to it).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .errors import UserError
from .model import SecretSource

MASK = "***"
# The last word of a name says whether its value is secret: API_KEY, AIRTABLE_TOKEN, JWT_SECRET,
# POSTGRES_PASSWORD, accessToken, SENTRY_DSN, GITHUB_PAT are; PASSWORD_HASH_ROUNDS, MONKEY, record_id are not.
_SECRET_WORDS = frozenset(
    {"KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASS", "PWD", "CREDENTIAL", "CREDENTIALS", "PAT", "DSN", "APIKEY"}
)
_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_MIN_LEN = 4  # shorter values would mask ordinary words; such a value is refused as a secret


def is_secret_name(name: str) -> bool:
    """Whether a variable, env key or capture of this name holds a secret: the one rule for all three."""
    words = _WORDS.findall(name)
    return bool(words) and words[-1].upper() in _SECRET_WORDS


def fingerprint(value: str) -> str:
    """What a masked value shows instead of itself: ``***(sha256:`` and 4 hex digits ``)``."""
    return f"{MASK}(sha256:{hashlib.sha256(value.encode()).hexdigest()[:4]})"


class Masker:
    """Replaces registered secret values in text and in nested data by their fingerprints."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        # (values longest first, one pattern of them): swapped whole, so a reader never sees half
        self._state: tuple[list[str], re.Pattern[str] | None] = ([], None)
        self._lock = threading.Lock()

    def add(self, value: str) -> None:
        value = value.strip()
        if len(value) < _MIN_LEN or value in self._values:
            return
        with self._lock:
            self._values.add(value)
            # longest first, so a secret that contains another is masked whole; one pass, so a
            # fingerprint just written is never itself taken for a secret
            ordered = sorted(self._values, key=len, reverse=True)
            self._state = (ordered, re.compile("|".join(map(re.escape, ordered))))

    def mask(self, text: str) -> str:
        ordered, pattern = self._state
        if pattern is None or not any(value in text for value in ordered):
            return text
        return pattern.sub(lambda m: fingerprint(m.group(0)), text)

    def mask_data(self, data: Any) -> Any:
        if isinstance(data, str):
            return self.mask(data)
        if isinstance(data, Mapping):
            return {k: self.mask_data(v) for k, v in data.items()}
        if isinstance(data, list | tuple):
            return [self.mask_data(v) for v in data]
        return data

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._state = ([], None)


MASKER = Masker()


def read(source: SecretSource) -> str:
    """The secret's value (stripped of surrounding whitespace), registered with the masker."""
    if source.kind == "env":
        value = os.environ.get(str(source.ref))
        if value is None:
            raise UserError(f"secret source env {source.ref!r}: the variable is not set")
    elif source.kind == "file":
        path = Path(str(source.ref))
        path = path if path.is_absolute() else source.base / path
        try:
            value = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UserError(f"secret source file {path}: {exc.strerror or exc}") from None
    elif source.kind == "command":
        argv = list(source.ref)
        try:
            proc = subprocess.run(argv, cwd=source.base, capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise UserError(f"secret source command {argv[0]!r}: {exc}") from None
        if proc.returncode != 0:
            raise UserError(f"secret source command {argv[0]!r} exited {proc.returncode}")
        value = proc.stdout
    else:  # the schema admits no other kind
        raise UserError(f"unknown secret source kind {source.kind!r}")
    value = value.strip()
    MASKER.add(value)
    return value


def read_all(sources: Mapping[str, SecretSource]) -> dict[str, str]:
    """Every secret of a target by name."""
    return {name: read(src) for name, src in sources.items()}


def register(values: Iterable[str]) -> None:
    """Mask values that are secret by nature but come from elsewhere (e.g. env file keys)."""
    for v in values:
        MASKER.add(v)


def validate_with(probe: Mapping[str, Any], candidate: str, context: Mapping[str, Any]) -> tuple[bool, str]:
    """Try a candidate secret before it is written: (passed, reason), the reason already masked.

    ``probe`` is ``{http: {url, method, headers, json, expect_status, timeout}}`` whose strings may use
    ``{{ candidate }}`` (e.g. ``Authorization: Bearer {{ candidate }}``). The candidate is registered
    with the masker first, so neither a URL nor an error that echoes it can leak it.
    """
    from .backends.http import HttpError, Request, request
    from .templating import render

    MASKER.add(candidate)
    spec = render(dict(probe["http"]), {**context, "candidate": candidate})
    expect = spec.get("expect_status", [200])
    expect = expect if isinstance(expect, list) else [expect]
    req = Request(
        spec.get("method", "GET"),
        spec["url"],
        headers=spec.get("headers") or {},
        json=spec.get("json"),
        timeout=float(spec.get("timeout", 10)),
    )
    try:
        response = request(req)
    except HttpError as exc:
        return False, MASKER.mask(f"validation request to {spec['url']} failed: {exc}")
    if response.status in expect:
        return True, MASKER.mask(f"{spec['url']} answered {response.status} to the candidate")
    want = " or ".join(map(str, expect))
    return False, MASKER.mask(f"{spec['url']} answered {response.status} to the candidate (expected {want})")
