"""The classification table, row by row: (system, status, headers, body) -> verdict."""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest
import requests

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
from connectors.http.classify import classify_exception, classify_response, parse_vendor_error
from connectors.records import System

HS = System.HUBSPOT
SF = System.SALESFORCE


def hs_429(policy: str | None, message: str) -> str:
    body = {"status": "error", "message": message, "errorType": "RATE_LIMIT", "correlationId": "c"}
    if policy:
        body["policyName"] = policy
    return json.dumps(body)


def sf_error(code: str, message: str, fields: list[str] | None = None) -> str:
    item: dict[str, object] = {"errorCode": code, "message": message}
    if fields is not None:
        item["fields"] = fields
    return json.dumps([item])


HUBSPOT_VALIDATION = json.dumps(
    {
        "status": "error",
        "message": "Property values were not valid",
        "errors": [
            {"message": "bad", "code": "INVALID_INTEGER", "context": {"propertyName": ["score"]}}
        ],
        "category": "VALIDATION_ERROR",
        "correlationId": "c",
    }
)

CASES = [
    # HubSpot
    (HS, 429, hs_429("DAILY", "You have reached your daily limit."), DailyLimitExhausted),
    (
        HS,
        429,
        hs_429("TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit."),
        RateLimited,
    ),
    (HS, 429, hs_429("SECONDLY", "You have reached your secondly limit."), RateLimited),
    (HS, 429, hs_429(None, "You have reached your secondly limit."), RateLimited),
    (HS, 429, hs_429(None, "You have reached your daily limit."), DailyLimitExhausted),
    (HS, 429, "", RateLimited),
    (HS, 401, json.dumps({"category": "INVALID_AUTHENTICATION", "message": "x"}), SessionExpired),
    (HS, 403, json.dumps({"category": "MISSING_SCOPES", "message": "scopes"}), AuthError),
    (
        HS,
        400,
        json.dumps({"error": "invalid_grant", "status": "BAD_REFRESH_TOKEN", "message": "m"}),
        AuthError,
    ),
    (HS, 423, "", TransientError),
    (HS, 477, "", TransientError),
    (HS, 500, "oops", TransientError),
    (HS, 502, "", TransientError),
    (HS, 503, "", TransientError),
    (HS, 504, "", TransientError),
    (HS, 524, "", TransientError),
    (HS, 400, HUBSPOT_VALIDATION, PermanentError),
    (HS, 404, json.dumps({"category": "OBJECT_NOT_FOUND", "message": "m"}), PermanentError),
    (HS, 409, json.dumps({"category": "CONFLICT", "message": "exists"}), PermanentError),
    (HS, 414, "", PermanentError),
    # Salesforce
    (SF, 401, sf_error("INVALID_SESSION_ID", "Session expired or invalid"), SessionExpired),
    (SF, 401, json.dumps({"error": "invalid_token"}), AuthError),
    (
        SF,
        403,
        sf_error("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
        DailyLimitExhausted,
    ),
    (
        SF,
        403,
        sf_error(
            "REQUEST_LIMIT_EXCEEDED",
            "ConcurrentRequests (Concurrent API Requests) Limit exceeded.",
        ),
        RateLimited,
    ),
    (SF, 403, sf_error("REQUEST_LIMIT_EXCEEDED", "Something new"), DailyLimitExhausted),
    (SF, 403, sf_error("API_DISABLED_FOR_ORG", "API is not enabled"), AuthError),
    (SF, 403, sf_error("INSUFFICIENT_ACCESS", "no"), PermanentError),
    (
        SF,
        400,
        sf_error("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record"),
        TransientError,
    ),
    (SF, 503, sf_error("SERVER_UNAVAILABLE", "Server unavailable"), TransientError),
    (SF, 500, "<html>oops</html>", TransientError),
    (SF, 400, sf_error("MALFORMED_QUERY", "unexpected token"), PermanentError),
    (SF, 400, sf_error("INVALID_FIELD", "No such column 'foo'"), PermanentError),
    (SF, 404, sf_error("NOT_FOUND", "The requested resource does not exist"), PermanentError),
    (SF, 400, json.dumps({"error": "invalid_grant", "error_description": "auth"}), AuthError),
    (SF, 400, json.dumps({"error": "invalid_client_id", "error_description": "x"}), AuthError),
    (SF, 408, "", TransientError),
]


@pytest.mark.parametrize(("system", "status", "body", "expected"), CASES)
def test_given_a_vendor_failure_when_classified_then_the_verdict_is_its_row(
    system: System, status: int, body: str, expected: type[ConnectorError]
) -> None:
    error = classify_response(system=system, status=status, body=body, operation="op")

    assert type(error) is expected
    assert error.status == status
    assert error.system == system
    assert error.operation == "op"


def test_salesforce_daily_cap_names_system_limit_and_reset() -> None:
    error = classify_response(
        system=SF,
        status=403,
        headers={"Sforce-Limit-Info": "api-usage=15000/15000"},
        body=sf_error("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
        operation="Lead.query",
    )

    assert isinstance(error, DailyLimitExhausted)
    assert error.limit == 15000
    assert error.remaining == 0
    assert error.vendor_code == "REQUEST_LIMIT_EXCEEDED"
    text = str(error)
    assert text.startswith("salesforce Lead.query: Salesforce daily API request limit reached")
    assert "daily limit 15000" in text
    assert "rolling 24-hour" in text
    assert not error.retryable


def test_hubspot_daily_cap_reads_daily_headers_and_policy() -> None:
    error = classify_response(
        system=HS,
        status=429,
        headers={"X-HubSpot-RateLimit-Daily": "250000", "X-HubSpot-RateLimit-Daily-Remaining": "0"},
        body=hs_429("DAILY", "You have reached your daily limit."),
    )

    assert isinstance(error, DailyLimitExhausted)
    assert (error.limit, error.remaining, error.policy) == (250000, 0, "DAILY")
    assert "midnight" in str(error)


def test_rate_limit_carries_policy_and_retry_after_seconds() -> None:
    error = classify_response(
        system=HS,
        status=429,
        headers={"Retry-After": "7"},
        body=hs_429("TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit."),
    )

    assert isinstance(error, RateLimited)
    assert error.retry_after == 7.0
    assert error.policy == "TEN_SECONDLY_ROLLING"


def test_retry_after_as_http_date_is_converted_with_the_given_clock() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC), usegmt=True)

    error = classify_response(
        system=SF, status=503, headers={"retry-after": later}, body="", now=now.timestamp
    )

    assert isinstance(error, TransientError)
    assert error.retry_after == pytest.approx(30.0)


def test_documented_waits_apply_when_no_retry_after() -> None:
    locked = classify_response(system=HS, status=423, body="")
    search = classify_response(
        system=HS, status=429, body=hs_429("SECONDLY", "You have reached your secondly limit.")
    )
    concurrent = classify_response(
        system=SF,
        status=403,
        body=sf_error("REQUEST_LIMIT_EXCEEDED", "ConcurrentRequests Limit exceeded."),
    )

    assert isinstance(locked, TransientError)
    assert locked.retry_after == 2.0
    assert isinstance(search, RateLimited)
    assert search.retry_after == 1.0
    assert search.policy == "SECONDLY"
    assert isinstance(concurrent, RateLimited)
    assert concurrent.policy == "CONCURRENT"


def test_vendor_error_shapes_are_parsed() -> None:
    hs = parse_vendor_error(HUBSPOT_VALIDATION)
    sf = parse_vendor_error(sf_error("REQUIRED_FIELD_MISSING", "missing", ["LastName"]).encode())
    oauth = parse_vendor_error({"error": "invalid_grant", "error_description": "expired"})
    text = parse_vendor_error("<html>Bad gateway</html>")

    assert (hs.code, hs.fields) == ("VALIDATION_ERROR", ("score",))
    assert "INVALID_INTEGER" in hs.codes
    assert (sf.code, sf.message, sf.fields) == ("REQUIRED_FIELD_MISSING", "missing", ("LastName",))
    assert (oauth.code, oauth.message) == ("invalid_grant", "expired")
    assert (text.code, text.message) == (None, "<html>Bad gateway</html>")


def test_unknown_system_uses_generic_rows() -> None:
    assert type(classify_response(system="other", status=429)) is RateLimited
    assert type(classify_response(system="other", status=418)) is PermanentError
    assert type(classify_response(system="other", status=302)) is PermanentError


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        requests.exceptions.ConnectionError("reset"),
        requests.exceptions.ReadTimeout("slow"),
        TimeoutError("socket"),
        ConnectionResetError("reset"),
    ],
)
def test_transport_failures_are_transient(exc: BaseException) -> None:
    error = classify_exception(exc, system=SF, operation="Lead.query")

    assert isinstance(error, TransientError)
    assert error.operation == "Lead.query"


def test_tls_verification_failure_is_a_config_error_naming_the_ca_setting() -> None:
    try:
        try:
            raise ssl.SSLCertVerificationError("certificate verify failed")
        except ssl.SSLError as inner:
            raise httpx.ConnectError("tls") from inner
    except httpx.ConnectError as exc:
        error = classify_exception(exc, system=SF)

    assert isinstance(error, ConfigError)
    assert error.setting == "ca_file"


def test_programming_errors_are_not_classified() -> None:
    assert classify_exception(KeyError("x"), system=HS) is None


def test_http_status_error_is_classified_from_its_response() -> None:
    request = httpx.Request("POST", "https://example.test/services/oauth2/token")
    response = httpx.Response(
        400, json={"error": "invalid_grant", "error_description": "bad"}, request=request
    )
    exc = httpx.HTTPStatusError("400", request=request, response=response)

    assert isinstance(classify_exception(exc, system=SF, operation="token"), AuthError)


@pytest.mark.parametrize(
    ("system", "status", "body", "unprocessed"),
    [
        (HS, 429, hs_429("TEN_SECONDLY_ROLLING", "m"), True),
        (HS, 423, "", True),
        (HS, 401, "", True),
        (SF, 400, sf_error("UNABLE_TO_LOCK_ROW", "locked"), True),
        (HS, 500, "", False),
        (HS, 502, "", False),
        (SF, 400, sf_error("MALFORMED_QUERY", "bad"), False),
    ],
)
def test_failures_the_system_never_acted_on_are_marked_unprocessed(
    system: System, status: int, body: str, unprocessed: bool
) -> None:
    assert classify_response(system=system, status=status, body=body).unprocessed is unprocessed


def test_only_connections_never_made_are_unprocessed() -> None:
    refused = classify_exception(httpx.ConnectError("refused"), system=HS)
    no_answer = classify_exception(httpx.ReadTimeout("slow"), system=HS)

    assert refused is not None
    assert refused.unprocessed
    assert no_answer is not None
    assert not no_answer.unprocessed


class FakeUrllib3Response:
    """What hubspot-api-client hands to ApiException(http_resp=...)."""

    def __init__(self, status: int, data: bytes, headers: dict[str, str]) -> None:
        self.status = status
        self.reason = "reason"
        self.data = data
        self._headers = headers

    def getheaders(self) -> dict[str, str]:
        return self._headers


def test_hubspot_sdk_api_exception_is_classified_with_its_headers() -> None:
    from hubspot.crm.contacts import ApiException

    exc = ApiException(
        http_resp=FakeUrllib3Response(
            429,
            hs_429(
                "TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit."
            ).encode(),
            {"Retry-After": "3"},
        )
    )

    error = classify_exception(exc, system=HS, operation="contacts.batch_read")

    assert isinstance(error, RateLimited)
    assert (error.retry_after, error.policy) == (3.0, "TEN_SECONDLY_ROLLING")


def test_simple_salesforce_errors_are_classified_from_their_content() -> None:
    from simple_salesforce.exceptions import SalesforceExpiredSession, SalesforceRefusedRequest

    expired = SalesforceExpiredSession(
        "https://x/services/data/v59.0/query/",
        401,
        "query",
        [{"errorCode": "INVALID_SESSION_ID", "message": "Session expired or invalid"}],
    )
    refused = SalesforceRefusedRequest(
        "https://x/services/data/v59.0/query/",
        403,
        "query",
        [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}],
    )

    assert isinstance(classify_exception(expired, system=SF), SessionExpired)
    assert isinstance(classify_exception(refused, system=SF), DailyLimitExhausted)


def test_requests_http_error_is_classified_from_its_response() -> None:
    response = requests.Response()
    response.status_code = 503
    response._content = sf_error("SERVER_UNAVAILABLE", "down").encode()
    exc = requests.exceptions.HTTPError("503", response=response)

    assert isinstance(classify_exception(exc, system=SF), TransientError)


def test_a_ten_secondly_429_without_retry_after_waits_for_the_window_to_roll() -> None:
    """Its window frees as calls age out of it (up to 10 s): the retrier's first second of
    back-off would spend the attempts while another client's burst still fills it."""
    error = classify_response(
        system=HS,
        status=429,
        headers={},
        body=hs_429("TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit."),
    )

    assert isinstance(error, RateLimited)
    assert error.retry_after == 10.0


def _raised(call: Callable[[], object]) -> BaseException:
    try:
        call()
    except Exception as exc:
        return exc
    raise AssertionError("no failure")


def test_a_connection_never_made_names_the_address_and_the_setting() -> None:
    """Port 9 (discard) on 127.0.0.1: nothing listens, the connection is refused at once."""
    by_httpx = _raised(lambda: httpx.get("http://127.0.0.1:9/x", timeout=5))
    by_requests = _raised(lambda: requests.get("https://127.0.0.1:9/x", timeout=5))

    hubspot = classify_exception(by_httpx, system=HS, operation="contacts.search")
    login = classify_exception(by_requests, system=SF, operation="oauth2.token.jwt_bearer")
    api = classify_exception(by_requests, system=SF, operation="Lead.query")

    assert isinstance(hubspot, TransientError)
    assert hubspot.message == (
        "connection failed (ConnectError) to 127.0.0.1:9: is it running, and is "
        "BATON_HUBSPOT_BASE_URL right?"
    )
    assert login is not None
    assert login.message == (
        "connection failed (ConnectionError) to 127.0.0.1:9: is it running, and is "
        "BATON_SALESFORCE_LOGIN_URL right?"
    )
    assert api is not None
    assert api.message.endswith(
        "is BATON_SALESFORCE_INSTANCE_URL or BATON_SALESFORCE_LOGIN_URL right?"
    )


PROXY = "http://puser:proxypass99@127.0.0.1:9"


def test_a_proxy_never_reached_is_named_not_the_address_behind_it() -> None:
    """Through a proxy, a connection never made is one to the proxy: its host:port and its
    setting are named (never its user or password), not the login or instance URL."""
    proxies = {"https": PROXY}
    by_httpx = _raised(
        lambda: httpx.Client(proxy=PROXY).post("https://login.example.invalid/token", timeout=5)
    )
    by_requests = _raised(
        lambda: requests.get("https://inst.example.invalid/x", proxies=proxies, timeout=5)
    )

    login = classify_exception(by_httpx, system=SF, operation="oauth2.token.jwt", proxy=PROXY)
    api = classify_exception(by_requests, system=SF, operation="Lead.query", proxy=PROXY)

    for error in (login, api):
        assert isinstance(error, TransientError)
        assert error.unprocessed
        assert error.message.endswith(
            "to the proxy 127.0.0.1:9: is it running, and is BATON_SALESFORCE_PROXY_URL right?"
        )
        assert "example.invalid" not in error.message
        assert "puser" not in str(error)
        assert "proxypass99" not in str(error)


def test_a_proxy_refusing_the_tunnel_names_the_address_and_the_proxy() -> None:
    """The proxy answered (502 to CONNECT): the address it could not reach is named, and the
    proxy it went through."""
    request = httpx.Request("POST", "https://login.example.invalid/services/oauth2/token")
    refused = httpx.ProxyError("502 Bad Gateway", request=request)

    error = classify_exception(refused, system=SF, operation="oauth2.token.jwt", proxy=PROXY)

    assert error is not None
    assert error.message == (
        "connection failed (ProxyError) to login.example.invalid:443 through the proxy 127.0.0.1:9"
    )


def test_a_connection_dropped_after_sending_names_the_address_only() -> None:
    request = httpx.Request("GET", "https://api.hubapi.com/crm/v3/objects/contacts")
    error = classify_exception(httpx.ReadTimeout("slow", request=request), system=HS)
    assert error is not None
    assert error.message == "connection failed (ReadTimeout) to api.hubapi.com:443"
