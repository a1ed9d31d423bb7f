"""Turn a failed call into a verdict (an exception class from `connectors.errors`) before retrying.

The facts about each system live in one table of `Rule` rows, read top to bottom, first match
wins; the system's rows come before the generic ones. The retry layer never looks at status
codes: it only reads the class this module returns.

Matching on message text is a last resort (anti-pattern: control flow on English sentences);
the only rows that do it are Salesforce's REQUEST_LIMIT_EXCEEDED flavours (the code is shared by
the daily cap and the concurrency cap) and HubSpot 429s that arrive without a `policyName`.
Each has its own test.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

import httpx
import requests
import urllib3.exceptions

from connectors.errors import (
    AuthError,
    ConfigError,
    ConnectorError,
    DailyLimitExhausted,
    PermanentError,
    RateLimited,
    SessionExpired,
    TransientError,
)
from connectors.http.headers import (
    RETRY_AFTER,
    HeaderSource,
    lower_headers,
    parse_limit_headers,
    parse_retry_after,
)
from connectors.records import System


class Kind(Enum):
    """The verdict; each kind is one branch of the tree in `connectors.errors`."""

    AUTH = AuthError
    SESSION_EXPIRED = SessionExpired
    RATE_LIMITED = RateLimited
    DAILY_LIMIT = DailyLimitExhausted
    TRANSIENT = TransientError
    PERMANENT = PermanentError


@dataclass(frozen=True, slots=True)
class Rule:
    """One row: when `status` (and the vendor `code`, `policy`, message text) match, the verdict.

    `wait_s` is a documented wait used when the server sends no `Retry-After`; `reports_policy`
    names the limit in the error when the vendor body does not; `unprocessed` says the system
    refused the request before acting on it (so a non-idempotent write may be resent).
    Rate limits and expired sessions are always unprocessed.
    """

    status: int | range
    kind: Kind
    meaning: str
    code: str | None = None
    policy: str | None = None
    message_contains: str | None = None
    wait_s: float | None = None
    reports_policy: str | None = None
    unprocessed: bool = False

    def matches(self, status: int, vendor: VendorError) -> bool:
        if status not in (self.status if isinstance(self.status, range) else (self.status,)):
            return False
        if self.code is not None and self.code.lower() not in {c.lower() for c in vendor.codes}:
            return False
        if self.policy is not None and (vendor.policy or "").upper() != self.policy:
            return False
        return not (
            self.message_contains is not None
            and self.message_contains.lower() not in (vendor.message or "").lower()
        )


@dataclass(frozen=True, slots=True)
class SystemFacts:
    """Per-system facts the classifier needs besides the rules."""

    rules: tuple[Rule, ...]
    daily_resets: str
    #: The setting naming where the system is, per operation prefix ("" for the others).
    where: tuple[tuple[str, str], ...] = ()
    #: The setting naming the proxy calls go through, when the system has one.
    proxy_setting: str | None = None

    def setting_for(self, operation: str | None) -> str | None:
        return next((name for p, name in self.where if (operation or "").startswith(p)), None)


_5XX = range(500, 600)

# Evidence: shared/reference/hubspot-api.md §2, §4, §6, §7.
HUBSPOT = SystemFacts(
    daily_resets="at midnight in the HubSpot account's time zone",
    where=(("", "BATON_HUBSPOT_BASE_URL"),),
    rules=(
        # 429 bodies name the policy: {"errorType":"RATE_LIMIT","policyName":"DAILY",...}.
        Rule(429, Kind.DAILY_LIMIT, "HubSpot daily API limit reached", policy="DAILY"),
        Rule(
            429,
            Kind.RATE_LIMITED,
            "HubSpot ten-second burst limit reached",
            policy="TEN_SECONDLY_ROLLING",
            # the rolling window frees as calls age out of it: up to its 10 s, not the
            # retrier's first seconds of back-off (another client's burst failed our calls)
            wait_s=10.0,
        ),
        # Search is limited to 5 requests/s per account; its 429 says "secondly limit".
        Rule(
            429,
            Kind.RATE_LIMITED,
            "HubSpot per-second limit reached",
            policy="SECONDLY",
            wait_s=1.0,
        ),
        Rule(
            429,
            Kind.DAILY_LIMIT,
            "HubSpot daily API limit reached",
            message_contains="your daily limit",
            reports_policy="DAILY",
        ),
        Rule(
            429,
            Kind.RATE_LIMITED,
            "HubSpot per-second limit reached",
            message_contains="your secondly limit",
            wait_s=1.0,
            reports_policy="SECONDLY",
        ),
        Rule(429, Kind.RATE_LIMITED, "HubSpot rate limit reached"),
        # Expired OAuth access tokens answer 401; refresh once (private-app tokens cannot refresh,
        # and the retry layer then surfaces this as the AuthError it is).
        Rule(401, Kind.SESSION_EXPIRED, "HubSpot rejected the access token"),
        Rule(403, Kind.AUTH, "the HubSpot app lacks required scopes", code="MISSING_SCOPES"),
        # OAuth token endpoint: {"error":"invalid_grant","status":"BAD_REFRESH_TOKEN",...}.
        Rule(400, Kind.AUTH, "HubSpot refused the OAuth grant", code="invalid_grant"),
        Rule(400, Kind.AUTH, "HubSpot refused the OAuth client", code="invalid_client"),
        Rule(400, Kind.AUTH, "HubSpot refused the refresh token", code="BAD_REFRESH_TOKEN"),
        # High-volume writes lock a record for 2 s; "wait at least 2 seconds".
        Rule(
            423,
            Kind.TRANSIENT,
            "HubSpot record locked by concurrent writes",
            wait_s=2.0,
            unprocessed=True,
        ),
        # 477 Migration in Progress comes with Retry-After (seconds).
        Rule(477, Kind.TRANSIENT, "HubSpot account migration in progress"),
        Rule(400, Kind.PERMANENT, "HubSpot rejected the request", code="VALIDATION_ERROR"),
        Rule(404, Kind.PERMANENT, "HubSpot object not found", code="OBJECT_NOT_FOUND"),
        Rule(409, Kind.PERMANENT, "HubSpot conflict", code="CONFLICT"),
        Rule(_5XX, Kind.TRANSIENT, "HubSpot server error"),
    ),
)

# Evidence: shared/reference/salesforce-api.md §2.2, §2.3, §4, §5.
SALESFORCE = SystemFacts(
    daily_resets="as calls age out of Salesforce's rolling 24-hour window",
    # the token grant goes to the login URL; the API calls to the instance it answered with
    where=(
        ("oauth2.token", "BATON_SALESFORCE_LOGIN_URL"),
        ("", "BATON_SALESFORCE_INSTANCE_URL or BATON_SALESFORCE_LOGIN_URL"),
    ),
    proxy_setting="BATON_SALESFORCE_PROXY_URL",
    rules=(
        Rule(401, Kind.SESSION_EXPIRED, "Salesforce session expired", code="INVALID_SESSION_ID"),
        # One code, two limits: "TotalRequests Limit exceeded." is the daily allocation;
        # "ConcurrentRequests (Concurrent API Requests) Limit exceeded." is concurrency.
        Rule(
            403,
            Kind.DAILY_LIMIT,
            "Salesforce daily API request limit reached",
            code="REQUEST_LIMIT_EXCEEDED",
            message_contains="TotalRequests",
            reports_policy="DAILY",
        ),
        Rule(
            403,
            Kind.RATE_LIMITED,
            "Salesforce concurrent long-running request limit reached",
            code="REQUEST_LIMIT_EXCEEDED",
            message_contains="ConcurrentRequests",
            reports_policy="CONCURRENT",
        ),
        # An unknown flavour of the limit error: stop loudly rather than spin on a daily cap.
        Rule(
            403,
            Kind.DAILY_LIMIT,
            "Salesforce API request limit reached",
            code="REQUEST_LIMIT_EXCEEDED",
            reports_policy="DAILY",
        ),
        Rule(
            403,
            Kind.AUTH,
            "the Salesforce org has the API disabled for this user",
            code="API_DISABLED_FOR_ORG",
        ),
        # Row locks clear when the other transaction commits: retry.
        Rule(
            400,
            Kind.TRANSIENT,
            "Salesforce record locked",
            code="UNABLE_TO_LOCK_ROW",
            unprocessed=True,
        ),
        Rule(400, Kind.AUTH, "Salesforce refused the OAuth grant", code="invalid_grant"),
        Rule(400, Kind.AUTH, "Salesforce refused the OAuth client", code="invalid_client_id"),
        Rule(400, Kind.AUTH, "Salesforce refused the OAuth client", code="invalid_client"),
        Rule(401, Kind.AUTH, "Salesforce rejected the credentials"),
        Rule(503, Kind.TRANSIENT, "Salesforce server unavailable", code="SERVER_UNAVAILABLE"),
        Rule(_5XX, Kind.TRANSIENT, "Salesforce server error"),
    ),
)

# Any system, after its own rows.
GENERIC_RULES: tuple[Rule, ...] = (
    Rule(408, Kind.TRANSIENT, "request timed out"),
    Rule(429, Kind.RATE_LIMITED, "rate limited"),
    Rule(401, Kind.AUTH, "credentials rejected"),
    Rule(_5XX, Kind.TRANSIENT, "server error"),
    Rule(range(400, 500), Kind.PERMANENT, "request refused"),
)

FACTS: Mapping[System, SystemFacts] = {System.HUBSPOT: HUBSPOT, System.SALESFORCE: SALESFORCE}


@dataclass(frozen=True, slots=True)
class VendorError:
    """What a vendor error body says, in either system's shape.

    HubSpot: `{"category", "message", "errorType", "policyName", "errors":[{"code", "context"}]}`;
    OAuth (both): `{"error", "error_description"}`; Salesforce: `[{"errorCode", "message",
    "fields"}]` (per-record results use `statusCode`).
    """

    code: str | None = None
    message: str | None = None
    policy: str | None = None
    fields: tuple[str, ...] = ()
    codes: tuple[str, ...] = field(default=())


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _decode(body: object) -> object:
    if isinstance(body, bytes | bytearray):
        body = bytes(body).decode("utf-8", errors="replace")
    if isinstance(body, str):
        try:
            return json.loads(body)
        except ValueError:
            return body
    return body


def parse_vendor_error(body: object) -> VendorError:
    """Extract code, message, policy and fields from a raw or parsed error body."""
    data = _decode(body)
    if isinstance(data, list) and data and isinstance(data[0], Mapping):
        first: Mapping[str, Any] = data[0]
        code = _str(first.get("errorCode")) or _str(first.get("statusCode"))
        sf_fields = first.get("fields")
        return VendorError(
            code=code,
            message=_str(first.get("message")),
            fields=tuple(str(f) for f in sf_fields) if isinstance(sf_fields, list) else (),
            codes=(code,) if code else (),
        )
    if isinstance(data, Mapping):
        raw_details = data.get("errors")
        details: list[Any] = raw_details if isinstance(raw_details, list) else []
        detail_codes = [_str(d.get("code")) for d in details if isinstance(d, Mapping)]
        status = _str(data.get("status"))
        candidates = [
            _str(data.get("category")),
            _str(data.get("errorType")),
            _str(data.get("subCategory")),
            _str(data.get("error")),
            status if status and status != "error" else None,
            *detail_codes,
        ]
        codes = tuple(c for c in candidates if c)
        fields: list[str] = []
        for d in details:
            context = d.get("context") if isinstance(d, Mapping) else None
            if isinstance(context, Mapping):
                for names in context.values():
                    if isinstance(names, list):
                        fields.extend(str(n) for n in names)
        return VendorError(
            code=codes[0] if codes else None,
            message=_str(data.get("message")) or _str(data.get("error_description")),
            policy=_str(data.get("policyName")),
            fields=tuple(fields),
            codes=codes,
        )
    text = data.strip()[:500] if isinstance(data, str) else None
    return VendorError(message=text or None)


def _facts(system: System | str) -> SystemFacts | None:
    return FACTS.get(System(system)) if system in set(System) else None


def _rules_for(system: System | str) -> tuple[Rule, ...]:
    facts = _facts(system)
    return (facts.rules if facts else ()) + GENERIC_RULES


def match_rule(system: System | str, status: int, vendor: VendorError) -> Rule | None:
    return next((r for r in _rules_for(system) if r.matches(status, vendor)), None)


def classify_response(
    *,
    system: System | str,
    status: int,
    headers: HeaderSource | None = None,
    body: object = None,
    operation: str | None = None,
    now: Callable[[], float] = time.time,
) -> ConnectorError:
    """Classify one non-success response into the exception that says what to do about it."""
    vendor = parse_vendor_error(body)
    h = lower_headers(headers)
    rule = match_rule(system, status, vendor)
    context: dict[str, Any] = {
        "system": system,
        "operation": operation,
        "vendor_code": vendor.code,
        "vendor_message": vendor.message,
        "status": status,
        "unprocessed": rule is not None
        and (rule.unprocessed or rule.kind in (Kind.RATE_LIMITED, Kind.SESSION_EXPIRED)),
    }
    if rule is None:
        return PermanentError(f"unexpected HTTP status {status}", **context)
    retry_after = parse_retry_after(h.get(RETRY_AFTER), now=now)
    wait = retry_after if retry_after is not None else rule.wait_s
    policy = vendor.policy or rule.policy or rule.reports_policy
    match rule.kind:
        case Kind.RATE_LIMITED:
            return RateLimited(
                rule.meaning,
                retry_after=wait,
                policy=policy,
                documented_wait=retry_after is None,
                **context,
            )
        case Kind.TRANSIENT:
            return TransientError(rule.meaning, retry_after=wait, **context)
        case Kind.DAILY_LIMIT:
            limits = parse_limit_headers(h)
            facts = _facts(system)
            return DailyLimitExhausted(
                rule.meaning,
                limit=limits.daily_max,
                remaining=limits.daily_remaining,
                resets=facts.daily_resets if facts else None,
                policy=policy,
                **context,
            )
        case _:
            error: ConnectorError = rule.kind.value(rule.meaning, **context)
            return error


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    httpx.TransportError,
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.HTTPError,
    ConnectionError,
    TimeoutError,
)


# Failures before the request left this machine: the server cannot have acted on it.
_NOT_SENT_ERRORS: tuple[type[BaseException], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    requests.exceptions.ConnectTimeout,
    urllib3.exceptions.NewConnectionError,
    urllib3.exceptions.ConnectTimeoutError,
    ConnectionRefusedError,
)


def classify_exception(
    exc: BaseException,
    *,
    system: System | str,
    operation: str | None = None,
    proxy: str | None = None,
) -> ConnectorError | None:
    """Classify an exception raised by a call; None for anything that is not an I/O failure.

    Understands httpx and requests status errors, the SDKs' HTTP errors (by their `status`
    and `body`/`content` attributes), TLS verification failures (a `ConfigError`: the CA file)
    and transport failures. Programming errors are deliberately left unclassified so they
    propagate, unretried.

    `proxy` is the proxy URL the call went through (None: direct). A connection never made
    then means the proxy could not be reached: the failure names the proxy's host:port (never
    its credentials) and its setting, not the address the proxy was to reach.
    """
    if isinstance(exc, ConnectorError):
        return exc
    if isinstance(exc, httpx.HTTPStatusError):
        response = exc.response
        return classify_response(
            system=system,
            status=response.status_code,
            headers=response.headers,
            body=response.content,
            operation=operation,
        )
    if isinstance(exc, requests.exceptions.HTTPError) and exc.response is not None:
        return classify_response(
            system=system,
            status=exc.response.status_code,
            headers=exc.response.headers,
            body=exc.response.content,
            operation=operation,
        )
    # The SDKs' HTTP errors, by shape rather than by import (the SDKs stay inside their
    # connector): hubspot-api-client `ApiException(status, body, headers)`, simple-salesforce
    # `SalesforceError(status, content)` (no headers).
    sdk_status = getattr(exc, "status", None)
    if (
        isinstance(sdk_status, int)
        and 100 <= sdk_status < 600
        and (hasattr(exc, "body") or hasattr(exc, "content"))
    ):
        headers = getattr(exc, "headers", None)
        return classify_response(
            system=system,
            status=sdk_status,
            headers=headers if isinstance(headers, Mapping) else None,
            body=getattr(exc, "body", None) or getattr(exc, "content", None),
            operation=operation,
        )
    chain = _chain(exc)
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in chain):
        return ConfigError(
            "TLS certificate verification failed",
            setting="ca_file",
            fix="point the CA-file setting at the certificate that signs the server "
            "(the sandbox writes its own; corporate proxies need theirs)",
            system=system,
            operation=operation,
        )
    if any(isinstance(e, _TRANSPORT_ERRORS) for e in chain):
        name = type(exc).__name__
        address = _address(chain)
        unprocessed = any(isinstance(e, _NOT_SENT_ERRORS) for e in chain)
        facts = _facts(system)
        setting = facts.setting_for(operation) if facts else None
        via = _proxy_address(proxy) if proxy else None
        if via is not None and unprocessed:  # the proxy itself could not be reached
            address = f"the proxy {via}"
            setting = (facts.proxy_setting if facts else None) or setting
        elif via is not None and address:
            address += f" through the proxy {via}"
        message = f"connection failed ({name})" + (f" to {address}" if address else "")
        if unprocessed and setting:  # no connection at all: down, or the wrong address
            message += f": is it running, and is {setting} right?"
        return TransientError(message, system=system, operation=operation, unprocessed=unprocessed)
    return None


def _proxy_address(proxy: str) -> str | None:
    """`host:port` of a proxy URL, without the user and password it may carry."""
    try:
        parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default = {"http": 80, "https": 443}.get(parts.scheme, 1080)
    return f"{host}:{port or default}"


def _address(chain: list[BaseException]) -> str | None:
    """`host:port` of the connection that failed, from whichever HTTP stack raised."""
    for e in chain:
        if isinstance(e, httpx.RequestError):
            try:
                url = e.request.url
            except RuntimeError:  # raised without its request (as tests do)
                continue
            return f"{url.host}:{url.port or (443 if url.scheme == 'https' else 80)}"
        if isinstance(e, urllib3.exceptions.NewConnectionError):
            return f"{e.conn.host}:{e.conn.port}"
        if isinstance(e, urllib3.exceptions.PoolError) and e.pool is not None:
            return f"{e.pool.host}:{e.pool.port}"
    return None
