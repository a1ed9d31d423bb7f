"""Secret scrubbing for text: the one place that knows what a secret looks like.

Lives outside `connectors.http` so that `connectors.errors` (which `sync` may import) can scrub
its own messages without pulling in the HTTP layer. `connectors.http.redaction` builds the logging
filter on top of it.

Two kinds of secret are masked:

- registered values (tokens, client secrets, passwords from `SecretStr` settings), exactly and in
  their URL-encoded form, because they show up in query strings and form bodies;
- secret *shapes* that need no registration: `Bearer ...` / `Basic ...` credentials, JWTs,
  `access_token=` / `client_secret=` / `refresh_token=` / `password=` style pairs (query strings,
  forms, JSON), a URL's `user:password@`, Salesforce session ids (`00D...!...`), HubSpot
  private-app tokens (`pat-na1-...`) and SOAP `<sessionId>` / `<password>` elements.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Protocol, runtime_checkable
from urllib.parse import quote, quote_plus

MASK = "***"

# Registered values shorter than this are ignored: masking "a" or "42" would shred every message.
MIN_SECRET_LENGTH = 6

_SENSITIVE_NAMES = (
    "access_token|refresh_token|client_secret|client_assertion|assertion|password|passwd"
    "|security_token|session_id|sessionid|id_token|hapikey|api_key|apikey|private_key"
    "|privatekey|token|secret"
)
# In query strings and forms `code` is an OAuth authorization code; in JSON bodies it is a
# vendor error code (HubSpot `errors[].code`), which must stay readable.
_FORM_NAMES = _SENSITIVE_NAMES + "|code"

# Order matters: the structured shapes first, then the generic key=value pairs.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization header values: "Bearer abc1", "Basic Zm9vOmJhcg==". A credential has a
    # digit or punctuation in it, so English ("bearer token", "basic validation") is left alone.
    (
        re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(bearer|basic)\s+[^\s\"',;]+"),
        rf"\1\2 {MASK}",
    ),
    (
        re.compile(r"\b([Bb]earer|BEARER|Basic)\s+(?=[^\s\"',;]*[0-9._~+/=!:-])[^\s\"',;]+"),
        rf"\1 {MASK}",
    ),
    # JWTs (header.payload.signature, base64url; the header always starts with '{"' -> eyJ).
    (re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), MASK),
    # Salesforce session ids / access tokens: org id prefix, '!', opaque tail.
    (re.compile(r"\b00D[A-Za-z0-9]{12,15}![A-Za-z0-9._-]+"), MASK),
    # HubSpot private-app and OAuth tokens: pat-na1-<uuid>, CJ...-style tokens are JWT-like.
    (re.compile(r"\bpat-[a-z]{2,4}\d*-[A-Za-z0-9-]{8,}"), MASK),
    # SOAP / XML elements carrying secrets (login request and response).
    (
        re.compile(r"(?is)(<(?:\w+:)?(sessionId|password)>)(.*?)(</(?:\w+:)?\2>)"),
        rf"\1{MASK}\4",
    ),
    # A URL's password: scheme://user:password@host (a proxy's, a database's).
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s/:@'\"]*:)[^\s/@'\"]+(@)"), rf"\1{MASK}\2"),
    # JSON pairs: "access_token": "value".
    (
        re.compile(rf'(?i)("(?:{_SENSITIVE_NAMES})"\s*:\s*")((?:[^"\\]|\\.)*)(")'),
        rf"\1{MASK}\3",
    ),
    # Python reprs of dicts: 'access_token': 'value'.
    (
        re.compile(rf"(?i)('(?:{_SENSITIVE_NAMES})'\s*:\s*')((?:[^'\\]|\\.)*)(')"),
        rf"\1{MASK}\3",
    ),
    # Query strings and form bodies: access_token=value (up to &, whitespace, quote or bracket).
    (
        re.compile(rf"(?i)(?<![A-Za-z0-9_])((?:{_FORM_NAMES})=)[^&\s\"'<>,;)\]}}]+"),
        rf"\1{MASK}",
    ),
)


@runtime_checkable
class SecretLike(Protocol):
    """Anything with pydantic's `SecretStr` interface; pydantic itself is not imported here."""

    def get_secret_value(self) -> str: ...


_registry: set[str] = set()
_registry_lock = threading.Lock()


def _value(secret: str | SecretLike) -> str:
    return secret.get_secret_value() if isinstance(secret, SecretLike) else secret


def register_secrets(*secrets: str | SecretLike | None) -> None:
    """Remember secret values process-wide so every later log line and error text masks them."""
    values = {_value(s) for s in secrets if s is not None}
    with _registry_lock:
        _registry.update(v for v in values if len(v) >= MIN_SECRET_LENGTH)


def forget_secrets(*secrets: str | SecretLike) -> None:
    """Drop registered values (tests, and rotated credentials that no longer matter)."""
    with _registry_lock:
        _registry.difference_update(_value(s) for s in secrets)


def registered_secrets() -> frozenset[str]:
    with _registry_lock:
        return frozenset(_registry)


def _variants(value: str) -> set[str]:
    """The value as written, URL-encoded, as a Python repr shows it (`b'...\\r'` in an error
    about a header) and without surrounding whitespace (a token file's trailing newline)."""
    forms = {value, quote(value, safe=""), quote_plus(value), repr(value)[1:-1], value.strip()}
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


def redact(text: str, secrets: Iterable[str | SecretLike] = ()) -> str:
    """Return `text` with every registered or given secret and every secret shape masked."""
    if not text:
        return text
    values = set(registered_secrets())
    values.update(v for v in (_value(s) for s in secrets) if len(v) >= MIN_SECRET_LENGTH)
    # Longest first, so a secret that contains another is masked whole.
    for value in sorted({v for s in values for v in _variants(s)}, key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
