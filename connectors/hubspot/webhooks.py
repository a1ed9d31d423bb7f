"""HubSpot webhook deliveries: verify the signature, then turn events into change hints.

Signatures (hubspot-api.md §10, "Validating requests"):

- v3 (`X-HubSpot-Signature-v3`): base64(HMAC-SHA256(client_secret, method + uri + body +
  timestamp)), where `uri` has `%3A %2F %3F %40 %21 %24 %27 %28 %29 %2A %2C %3B` decoded and
  `timestamp` is `X-HubSpot-Request-Timestamp` (ms). Older than 5 minutes (or as far in the
  future: a clock that far off is not to be trusted either) is refused.
- v2 (`X-HubSpot-Signature-Version: v2`): hex(SHA-256(secret + method + uri + body)).
- v1 (`X-HubSpot-Signature-Version: v1`): hex(SHA-256(secret + body)).

v3 is checked whenever its header is present; v1/v2 carry no timestamp (replayable), so they are
accepted only when `accept_legacy` is on. Every comparison is constant-time.

Events are hints, not data (they arrive late, twice, out of order): each becomes a `ChangeHint`
naming the record to re-read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import orjson

from connectors.errors import WebhookMalformed, WebhookRejected
from connectors.hubspot.convert import parse_time
from connectors.hubspot.objects import OBJECTS, ObjectSpec
from connectors.records import (
    ChangeHint,
    ChangeKind,
    RecordKey,
    System,
    WebhookReceipt,
    WebhookRequest,
)

log = logging.getLogger(__name__)

SIGNATURE_V3 = "x-hubspot-signature-v3"
SIGNATURE = "x-hubspot-signature"
SIGNATURE_VERSION = "x-hubspot-signature-version"
TIMESTAMP = "x-hubspot-request-timestamp"
MAX_AGE_S = 300.0

_DECODED_IN_URI = {
    "%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'",
    "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";",
}  # fmt: skip
_ESCAPES = re.compile("|".join(_DECODED_IN_URI), re.IGNORECASE)

_KINDS: Mapping[str, ChangeKind] = {
    "creation": ChangeKind.CREATED,
    "propertyChange": ChangeKind.UPDATED,
    "associationChange": ChangeKind.UPDATED,
    "deletion": ChangeKind.DELETED,
    "privacyDeletion": ChangeKind.PURGED,
    "restore": ChangeKind.RESTORED,
    "merge": ChangeKind.MERGED,
}
_BY_PREFIX: Mapping[str, ObjectSpec] = {s.singular: s for s in OBJECTS}
_BY_TYPE_ID: Mapping[str, ObjectSpec] = {s.type_id: s for s in OBJECTS}


def signing_uri(url: str) -> str:
    """The URI as HubSpot signs it: only the listed escapes decoded, nothing else touched."""
    return _ESCAPES.sub(lambda match: _DECODED_IN_URI[match.group().upper()], url)


def sign_v3(secret: str, *, method: str, uri: str, body: bytes, timestamp: str) -> str:
    message = method.upper().encode() + signing_uri(uri).encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def sign_v2(secret: str, *, method: str, uri: str, body: bytes) -> str:
    return hashlib.sha256(
        secret.encode() + method.upper().encode() + uri.encode() + body
    ).hexdigest()


def sign_v1(secret: str, *, body: bytes) -> str:
    return hashlib.sha256(secret.encode() + body).hexdigest()


def _reject(reason: str) -> WebhookRejected:
    return WebhookRejected(reason, system=System.HUBSPOT, operation="webhook")


def _malformed(reason: str) -> WebhookMalformed:
    return WebhookMalformed(reason, system=System.HUBSPOT, operation="webhook")


class HubSpotWebhooks:
    """Verifies deliveries with the app's client secret and parses them into hints.

    Args:
        client_secret: the HubSpot app's client secret (the signing key).
        accept_legacy: also accept deliveries signed only with v1/v2 (no timestamp: a captured
            one can be replayed at will); HubSpot signs every delivery with v3 as well.
        public_url: the URL HubSpot posts to (the app's target URL), when a proxy in front of
            Baton changes the scheme, host or path: signatures that cover the URI are checked
            against it, not the URL the request arrived at. Written with a query string, it is
            taken as the whole target URL; without one, the query the request came with is
            added to it.
        clock: wall-clock seconds; injectable for tests.
    """

    def __init__(
        self,
        client_secret: str,
        *,
        accept_legacy: bool = False,
        public_url: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = client_secret
        self.accept_legacy = accept_legacy
        self.public_url = public_url.rstrip("?") if public_url else None
        self._clock = clock

    def _uri(self, request: WebhookRequest) -> str:
        """The URI HubSpot signed: the public one if set, else the one the request arrived at.
        A public URL with its own query is the target URL as configured in HubSpot, query
        included: the request's query (the same one, or none if the proxy dropped it) is not
        added again."""
        if self.public_url is None:
            return request.url
        if urlsplit(self.public_url).query:
            return self.public_url
        query = urlsplit(request.url).query
        return f"{self.public_url}?{query}" if query else self.public_url

    def verify(self, request: WebhookRequest) -> WebhookReceipt:
        """Check the signature, then parse: `WebhookRejected` when the signature does not
        verify, `WebhookMalformed` when a signed body cannot be read."""
        self.check_signature(request)
        hints, skipped = read_events(request.body)
        return WebhookReceipt(hints=tuple(hints), skipped=skipped)

    def check_headers(self, headers: Mapping[str, str]) -> None:
        """Refuse what the headers alone condemn, before the body is read (the receiver calls
        this first, so an unsigned or stale delivery costs no body): no signature header, a v3
        timestamp missing or more than `MAX_AGE_S` off, or a v1/v2 signature not accepted.

        Raises:
            WebhookRejected: the delivery cannot verify, whatever its body.
        """
        lowered = {name.lower(): value for name, value in headers.items()}
        if lowered.get(SIGNATURE_V3) is not None:
            stamp = lowered.get(TIMESTAMP)
            if stamp is None or not stamp.strip().isdigit():
                raise _reject("v3 signature without a valid X-HubSpot-Request-Timestamp")
            age = self._clock() - int(stamp) / 1000
            if abs(age) > MAX_AGE_S:
                raise _reject(
                    f"request timestamp is {age:.0f} s off; the limit is {MAX_AGE_S:.0f} s"
                )
            return
        if lowered.get(SIGNATURE) is None:
            raise _reject("no X-HubSpot-Signature-v3 or X-HubSpot-Signature header")
        if not self.accept_legacy:
            raise _reject("v1/v2 signatures are not accepted; HubSpot must sign with v3")
        version = (lowered.get(SIGNATURE_VERSION) or "v1").lower()
        if version not in ("v1", "v2"):
            raise _reject(f"unknown signature version {version!r}")

    def check_signature(self, request: WebhookRequest) -> None:
        self.check_headers(request.headers)
        v3 = request.header(SIGNATURE_V3)
        if v3 is not None:
            expected = sign_v3(
                self._secret,
                method=request.method,
                uri=self._uri(request),
                body=request.body,
                timestamp=(request.header(TIMESTAMP) or "").strip(),
            )
            if not hmac.compare_digest(expected.encode(), v3.strip().encode()):
                raise _reject("v3 signature does not match")
            return
        legacy = request.header(SIGNATURE) or ""
        version = (request.header(SIGNATURE_VERSION) or "v1").lower()
        if version == "v1":
            expected = sign_v1(self._secret, body=request.body)
        else:
            expected = sign_v2(
                self._secret, method=request.method, uri=self._uri(request), body=request.body
            )
        if not hmac.compare_digest(expected.encode(), legacy.strip().lower().encode()):
            raise _reject(f"{version} signature does not match")


def _spec_of(event: Mapping[str, Any]) -> tuple[ObjectSpec | None, str]:
    kind = str(event.get("subscriptionType") or event.get("eventType") or "")
    prefix, _, action = kind.partition(".")
    if prefix == "object":
        return _BY_TYPE_ID.get(str(event.get("objectTypeId", ""))), action
    return _BY_PREFIX.get(prefix), action


def _record_id(value: object) -> str:
    """A HubSpot record id (a whole number, sent as a JSON number or string) as a key's id.
    Anything else is a field of the wrong type: the event is skipped, not a key queued for
    HubSpot's batch read beside the rest of the queue."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return value
    raise TypeError(f"a record id is a {type(value).__name__}, not a whole number")


def _hints(event: Mapping[str, Any]) -> Iterator[ChangeHint]:
    spec, action = _spec_of(event)
    kind = _KINDS.get(action)
    if spec is None or kind is None:
        return
    when = parse_time(event.get("occurredAt"))

    def key(ident: object) -> RecordKey:
        return RecordKey(System.HUBSPOT, spec.name, _record_id(ident))

    if kind is ChangeKind.MERGED:
        survivor = event.get("newObjectId") or event.get("primaryObjectId") or event.get("objectId")
        losers = event.get("mergedObjectIds") or []
        if not isinstance(losers, list):
            raise TypeError(f"mergedObjectIds is a {type(losers).__name__}, not a list")
        # A merge that made a new record (`newObjectId` not the primary) merged the primary away
        # as well.
        primary = event.get("primaryObjectId")
        into = key(survivor).id if survivor is not None else None
        for loser in [*losers, primary] if primary is not None else losers:
            if key(loser).id != into:
                yield ChangeHint(key(loser), ChangeKind.MERGED, when, merged_into=into)
        if into is not None:
            yield ChangeHint(key(into), ChangeKind.UPDATED, when)
        return
    ident = event.get("objectId") or event.get("fromObjectId")
    if ident is None:
        return
    name = event.get("propertyName")
    fields = (str(name),) if name else ()
    yield ChangeHint(key(ident), kind, when, fields)


def parse_events(body: bytes) -> list[ChangeHint]:
    """`read_events`' hints alone."""
    return read_events(body)[0]


def read_events(body: bytes) -> tuple[list[ChangeHint], int]:
    """A delivery (a JSON array of events) as hints, exact duplicates dropped, order kept, and
    how many of its events could not be read.

    Raises `WebhookMalformed` for a body that is not a JSON array (or object) of events.
    Unknown object or event types are skipped (an app may subscribe to more than Baton reads),
    and so is an event Baton cannot read (not an object, or a field of the wrong type): that
    one is logged (its eventId and the reason, none of its values) and counted, the rest of the
    batch is still hinted, and the polls read what the skipped one was about.
    """
    try:
        events = orjson.loads(body) if body else []
    except orjson.JSONDecodeError as exc:
        raise _malformed(f"body is not JSON: {exc}") from None
    if isinstance(events, dict):
        events = [events]
    if not isinstance(events, list):
        raise _malformed("body is not a JSON array of events")
    seen: set[ChangeHint] = set()
    hints: list[ChangeHint] = []
    skipped = 0
    for event in events:
        if not isinstance(event, Mapping):
            skipped += 1
            _skipped(None, f"an event is a JSON {type(event).__name__}, not an object")
            continue
        try:
            found = list(_hints(event))
        except (TypeError, ValueError, AttributeError) as exc:
            skipped += 1  # one malformed event: not a reason to refuse the others
            _skipped(event.get("eventId"), f"{type(exc).__name__}: {exc}")
            continue
        for hint in found:
            if hint not in seen:
                seen.add(hint)
                hints.append(hint)
    return hints, skipped


def _skipped(event_id: object, reason: str) -> None:
    """One line per event skipped: its id (HubSpot's, to find it in the app's delivery log)
    and why, cut short; never the event's values."""
    shown = event_id if isinstance(event_id, int | str) else None
    log.warning(
        "webhook event skipped",
        extra={
            "kv": {
                "system": System.HUBSPOT.value,
                "event_id": str(shown)[:40] if shown is not None else "-",
                "reason": " ".join(reason.split())[:200],
            }
        },
    )
