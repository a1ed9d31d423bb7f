"""Every secret shape is masked in log messages, log args, exception text and error str()."""

from __future__ import annotations

import logging
import string
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from connectors.errors import AuthError, TransientError
from connectors.http.redaction import (
    RedactingFilter,
    forget_secrets,
    install_redaction,
    redact,
    register_secrets,
    registered_secrets,
)

JWT = (
    "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJjb25zdW1lciIsInN1YiI6InVAZXhhbXBsZS5jb20ifQ."
    "c2lnbmF0dXJlLWJ5dGVz"
)
SF_SESSION = "00D5g000004AbCd!AQ8AQFh3.Xq_9kLmNoPqRsTuVwXyZ-abcdef"
HS_TOKEN = "pat-na1-0a1b2c3d-4e5f-6789-abcd-ef0123456789"

SHAPES = [
    ("Authorization: Bearer abc.DEF-123_xyz", "abc.DEF-123_xyz"),
    ("Authorization: Basic Y2xpZW50OnNlY3JldA==", "Y2xpZW50OnNlY3JldA=="),
    (f"assertion={JWT}&grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer", JWT),
    (f"token in text {JWT} here", JWT),
    ("GET /x?access_token=tok_live_123456&limit=10", "tok_live_123456"),
    ("grant_type=refresh_token&refresh_token=rt-987654321&client_id=abc", "rt-987654321"),
    ("client_id=abc&client_secret=cs-shhh-123456", "cs-shhh-123456"),
    ("username=u%40x.com&password=hunter2hunter2", "hunter2hunter2"),
    ('{"access_token": "00Dxx!tokenvalue123", "instance_url": "https://x"}', "tokenvalue123"),
    ("{'refresh_token': 'rt-in-a-repr-12345'}", "rt-in-a-repr-12345"),
    (f"instance session {SF_SESSION} expired", SF_SESSION),
    (f"HubSpot(access_token={HS_TOKEN!r})", HS_TOKEN),
    (f"private app token {HS_TOKEN}", HS_TOKEN),
    ("<n1:password>p&amp;wTOKEN123</n1:password>", "p&amp;wTOKEN123"),
    ("<sessionId>00Dabc!xyz-session</sessionId>", "00Dabc!xyz-session"),
    ("https://h/services/oauth2/token?code=aPrxAuthCode123&state=1", "aPrxAuthCode123"),
    ("Unknown scheme for proxy URL URL('http://ops:PROXYPASSzzz@127.0.0.1:3128')", "PROXYPASSzzz"),
    ("could not connect to postgresql://baton:pg-Secret99@db:5432/baton", "pg-Secret99"),
]


@pytest.fixture
def registry() -> Iterator[None]:
    before = registered_secrets()
    yield
    forget_secrets(*(registered_secrets() - before))


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    log = logging.getLogger("tests.redaction")
    yield log
    for f in list(log.filters):
        log.removeFilter(f)


@pytest.mark.parametrize(("text", "secret"), SHAPES)
def test_every_secret_shape_is_masked(text: str, secret: str) -> None:
    masked = redact(text)

    assert secret not in masked
    assert "***" in masked


def test_vendor_error_codes_stay_readable() -> None:
    body = '{"errors":[{"code":"INVALID_INTEGER"}],"category":"VALIDATION_ERROR"}'

    assert redact(body) == body
    assert redact('[{"errorCode":"INVALID_SESSION_ID"}]') == '[{"errorCode":"INVALID_SESSION_ID"}]'


def test_registered_secrets_are_masked_raw_and_url_encoded(registry: None) -> None:
    register_secrets(SecretStr("s3cr3t/with+chars=="), None, "tiny")

    masked = redact("raw s3cr3t/with+chars== and encoded s3cr3t%2Fwith%2Bchars%3D%3D")

    assert "s3cr3t" not in masked
    assert "tiny" not in registered_secrets()  # too short to mask safely


def test_given_secrets_are_masked_longest_first() -> None:
    masked = redact("key abcdefgh-long and abcdefgh", ["abcdefgh", "abcdefgh-long"])

    assert masked == "key *** and ***"


def test_filter_masks_message_and_args(
    logger: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    install_redaction(logger, secrets=[SecretStr("my-client-secret-value")])

    with caplog.at_level(logging.INFO, logger=logger.name):
        logger.info(
            "token %s for %s", "Bearer abc123def456", {"password": "my-client-secret-value"}
        )
        logger.info("count %d", 3)

    first, second = (r.getMessage() for r in caplog.records)
    assert "abc123def456" not in first
    assert "my-client-secret-value" not in first
    assert second == "count 3"
    assert caplog.records[0].args is None


def test_filter_masks_exception_text(
    logger: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    install_redaction(logger)

    with caplog.at_level(logging.ERROR, logger=logger.name):
        try:
            raise RuntimeError(f"login failed with {SF_SESSION}")
        except RuntimeError:
            logger.exception("call failed")

    assert SF_SESSION not in caplog.text
    assert "login failed with ***" in caplog.text


def test_filter_masks_stack_info(logger: logging.Logger, caplog: pytest.LogCaptureFixture) -> None:
    install_redaction(logger)

    with caplog.at_level(logging.INFO, logger=logger.name):
        logger.info("with stack refresh_token=rt-stack-123456", stack_info=True)

    assert "rt-stack-123456" not in caplog.text


def test_install_is_idempotent(logger: logging.Logger) -> None:
    install_redaction(logger)
    install_redaction(logger)

    assert sum(isinstance(f, RedactingFilter) for f in logger.filters) == 1


def test_install_covers_the_loggers_handlers(registry: None) -> None:
    log = logging.getLogger("tests.redaction.handlers")
    handler = logging.Handler()
    log.addHandler(handler)
    try:
        install_redaction(log, secrets=["handler-secret-1"])
        assert any(isinstance(f, RedactingFilter) for f in handler.filters)
        record = logging.LogRecord(
            "child", logging.INFO, __file__, 1, "x %s", ("handler-secret-1",), None
        )
        handler.filter(record)
        assert record.getMessage() == "x ***"
    finally:
        log.removeHandler(handler)
        for f in list(log.filters):
            log.removeFilter(f)


def test_malformed_args_do_not_break_logging(
    logger: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    install_redaction(logger)

    with caplog.at_level(logging.INFO, logger=logger.name):
        logger.info("two %s %s", "password=abcdefgh1")

    assert "abcdefgh1" not in caplog.text


def test_connector_errors_never_carry_secrets(registry: None) -> None:
    register_secrets("registered-refresh-token-1")
    error = AuthError(
        "token refresh failed for refresh_token=registered-refresh-token-1",
        vendor_message=f"bad assertion {JWT}",
        system="salesforce",
        operation="oauth.token",
        status=400,
    )

    text = f"{error} {error!r} {error.args}"
    assert "registered-refresh-token-1" not in text
    assert JWT not in text
    assert error.vendor_message == "bad assertion ***"


def test_error_str_names_system_operation_status_code_and_vendor_message() -> None:
    error = TransientError(
        "Salesforce record locked",
        system="salesforce",
        operation="Lead.update",
        status=400,
        vendor_code="UNABLE_TO_LOCK_ROW",
        vendor_message="unable to obtain exclusive access to this record",
    )

    assert str(error) == (
        "salesforce Lead.update: Salesforce record locked "
        "[400 UNABLE_TO_LOCK_ROW: unable to obtain exclusive access to this record]"
    )


@settings(max_examples=100, deadline=None)
@given(
    secret=st.text(alphabet=string.ascii_letters + string.digits + "-_.", min_size=6, max_size=40),
    before=st.text(max_size=40),
    after=st.text(max_size=40),
)
def test_property_a_given_secret_never_survives(secret: str, before: str, after: str) -> None:
    masked = redact(f"{before}{secret}{after}?password={secret}", [secret])

    assert secret not in masked


@pytest.mark.parametrize(
    "text",
    [
        "basic validation failed",
        "Bearer token expired; refresh it",
        '{"token_type": "Bearer", "expires_in": 1800}',
        "no file at 'https://login.salesforce.com/services/oauth2/token'",
        "mailto:ann@example.com, http://proxy.example.com:3128",
    ],
)
def test_ordinary_words_are_not_mistaken_for_credentials(text: str) -> None:
    assert redact(text) == text


def test_authorization_header_values_are_masked_whatever_they_look_like() -> None:
    assert redact("Authorization: Bearer plainletters") == "Authorization: Bearer ***"
    assert redact("{'Authorization': 'Basic dXNlcjpwYXNz'}") == "{'Authorization': 'Basic ***'}"


def test_registered_secrets_are_masked_as_a_repr_quotes_them(registry: None) -> None:
    """httpx quotes a bad header as bytes (`b'...\\r'`); the secret is masked in that form too,
    and without the stray whitespace a token file gave it."""
    register_secrets("rt-opaque-0123456789\r\n")
    header = b"Bearer-ish rt-opaque-0123456789\r\n"
    masked = redact(f"Invalid header value {header!r}")
    assert masked == "Invalid header value b'Bearer-ish ***'"
    assert redact("refresh rt-opaque-0123456789 refused") == "refresh *** refused"
