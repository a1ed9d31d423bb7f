"""The connector exception tree: what went wrong, decided once, acted on everywhere.

A failure is classified *before* anything retries it (`connectors.http.classify`); the class is
the verdict, and the retry layer (`connectors.http.retry`) only reads it::

    ConnectorError                  system, operation, vendor code/message, HTTP status
    ├── ConfigError                 bad settings: names the setting and the fix; never retried
    ├── AuthError                   credentials rejected; never retried
    │   ├── SessionExpired          session/token expired: refresh once, then retry once (the
    │   │                           retry layer's signal: callers get a plain AuthError)
    │   └── WebhookRejected         an incoming webhook failed verification (signature, age,
    │                               organization id): answer 401, process nothing
    ├── RateLimited                 burst/concurrency limit: wait (Retry-After or backoff), retry
    ├── DailyLimitExhausted         the daily allocation is spent: NOT retried, ends the run loudly
    ├── TransientError              5xx, timeouts, connection errors, row locks (423,
    │                               UNABLE_TO_LOCK_ROW): retry with backoff
    ├── PermanentError              a 4xx that will not fix itself; never retried
    │   └── WebhookMalformed        an incoming webhook body that cannot be read (not JSON,
    │                               not XML, not the vendor's shape): answer 400, process nothing
    └── RecordRejected              one record of a batch refused (validation, duplicate...):
                                    becomes a dead letter upstream, never raised for a whole batch

`DailyLimitExhausted` is deliberately *not* a `RateLimited`: code that catches `RateLimited` to
wait and retry must never spin on the daily cap.

Every message is scrubbed of secrets when built (`str(err)` is safe to log or show), and the
vendor's own code and message are kept verbatim (minus secrets) so a dead letter can quote them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar, TypedDict, Unpack

from connectors._redact import redact
from connectors.records import System, WriteOutcome


class ErrorContext(TypedDict, total=False):
    """Where a failure happened; every error class accepts these keywords."""

    system: System | str | None
    operation: str | None
    vendor_code: str | None
    vendor_message: str | None
    status: int | None
    unprocessed: bool


class ConnectorError(Exception):
    """Base of every connector failure.

    Args:
        message: what happened, in words an operator can act on.
        system: which outside system answered (or should have).
        operation: what Baton was doing, e.g. "contacts.search" or "Lead.query".
        vendor_code: the system's own error code (`INVALID_SESSION_ID`, `VALIDATION_ERROR`...).
        vendor_message: the system's own message, verbatim minus secrets.
        status: the HTTP status, when there was a response.
        unprocessed: the system certainly did not act on the request (a 429, a lock, a
            connection never made), so even a non-idempotent write may be sent again.
    """

    retryable: ClassVar[bool] = False

    def __init__(self, message: str, **context: Unpack[ErrorContext]) -> None:
        self.message = redact(message)
        self.system: System | str | None = context.get("system")
        self.operation = context.get("operation")
        self.vendor_code = context.get("vendor_code")
        vendor_message = context.get("vendor_message")
        self.vendor_message = redact(vendor_message) if vendor_message else None
        self.status = context.get("status")
        self.unprocessed = context.get("unprocessed", False)
        super().__init__(self.message)

    def __str__(self) -> str:
        where = " ".join(str(p) for p in (self.system, self.operation) if p)
        text = f"{where}: {self.message}" if where else self.message
        tags = " ".join(str(p) for p in (self.status, self.vendor_code) if p)
        said = self.vendor_message if self.vendor_message not in (None, "", self.message) else ""
        if said and said in self.message:
            said = ""
        if tags or said:
            text += f" [{tags}{': ' if tags and said else ''}{said}]"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class ConfigError(ConnectorError):
    """A setting is missing or wrong; the message names the setting and how to fix it."""

    def __init__(
        self, message: str, *, setting: str, fix: str, **kwargs: Unpack[ErrorContext]
    ) -> None:
        self.setting = setting
        self.fix = fix
        super().__init__(f"{message} (setting {setting}: {fix})", **kwargs)


class AuthError(ConnectorError):
    """The system rejected the credentials (or they lack a scope); retrying cannot help."""


class SessionExpired(AuthError):
    """The session or access token expired: refresh the credentials once, then retry once.

    A signal to the retry layer, which refreshes and retries it itself; when that is spent (or
    there is nothing to refresh) it raises a plain `AuthError`. So it is not `retryable`: a
    caller that somehow sees one must end the run, not wait to retry later.
    """


class WebhookRejected(AuthError):
    """An incoming webhook failed verification; the receiver answers 401 and drops it."""


class RateLimited(ConnectorError):
    """A short-window limit was hit (HubSpot ten-secondly/secondly, Salesforce concurrency).

    `retry_after` is the server's instruction in seconds when it gave one (or a documented
    wait, e.g. HubSpot search's one second: then `documented_wait` is true, and the retry layer
    grows and jitters it instead of honouring it exactly); `policy` is the limit's name as the
    vendor gives it (`TEN_SECONDLY_ROLLING`, `SECONDLY`, `CONCURRENT`).
    """

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        policy: str | None = None,
        documented_wait: bool = False,
        **kwargs: Unpack[ErrorContext],
    ) -> None:
        self.retry_after = retry_after
        self.policy = policy
        self.documented_wait = documented_wait and retry_after is not None
        super().__init__(message, **kwargs)


class DailyLimitExhausted(ConnectorError):
    """The daily API allocation is spent. Never retried: the run ends and says so.

    The message names the system, the limit (when known) and when it resets, because "sync
    finished" must never hide "sync stopped half-way for lack of API calls".
    """

    def __init__(
        self,
        message: str,
        *,
        limit: int | None = None,
        remaining: int | None = None,
        resets: str | None = None,
        resets_at: datetime | None = None,
        policy: str | None = None,
        **kwargs: Unpack[ErrorContext],
    ) -> None:
        self.limit = limit
        self.remaining = remaining
        self.resets = resets
        self.resets_at = resets_at
        self.policy = policy
        parts = [message]
        if limit is not None:
            parts.append(f"daily limit {limit}")
        if remaining is not None:
            parts.append(f"{remaining} remaining")
        if resets_at is not None:
            parts.append(f"resets at {resets_at.isoformat()}")
        elif resets:
            parts.append(f"resets {resets}")
        super().__init__("; ".join(parts), **kwargs)


class TransientError(ConnectorError):
    """A failure that goes away by itself: 5xx, timeouts, dropped connections, row locks.

    `retry_after` carries a server or documented wait (HubSpot 423: the lock lasts 2 s).
    """

    retryable = True

    def __init__(
        self, message: str, *, retry_after: float | None = None, **kwargs: Unpack[ErrorContext]
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class PermanentError(ConnectorError):
    """A request the system will keep refusing (bad query, unknown field, not found...)."""


class WebhookMalformed(PermanentError):
    """An incoming webhook whose body cannot be read (after its signature, when it has one,
    verified): the receiver answers 400 (bad request), not 401, and drops it."""


class RecordRejected(ConnectorError):
    """One record in a batch was refused; carried as a value to become a dead letter.

    Writers return these inside per-record outcomes; they are raised only by callers that
    choose to (e.g. a single-record write), never for a whole batch.
    """

    def __init__(
        self,
        message: str,
        *,
        record_id: str | None = None,
        fields: Sequence[str] = (),
        transient: bool = False,
        **kwargs: Unpack[ErrorContext],
    ) -> None:
        self.record_id = record_id
        self.fields = tuple(fields)
        self.transient = transient
        super().__init__(message, **kwargs)

    @classmethod
    def from_outcome(
        cls, outcome: WriteOutcome, *, system: System | str, operation: str
    ) -> RecordRejected:
        """The rejection a failed `WriteOutcome` stands for (for dead letters and logs)."""
        if outcome.ok:
            raise ValueError("a successful outcome is not a rejection")
        key = outcome.patch.key
        return cls(
            f"{key.object} record {outcome.id or key.id or '(new)'} rejected",
            record_id=outcome.id or key.id or None,
            fields=outcome.error_fields,
            transient=outcome.retryable,
            system=system,
            operation=operation,
            vendor_code=outcome.error_code,
            vendor_message=outcome.error_message,
        )


__all__ = [
    "AuthError",
    "ConfigError",
    "ConnectorError",
    "DailyLimitExhausted",
    "ErrorContext",
    "PermanentError",
    "RateLimited",
    "RecordRejected",
    "SessionExpired",
    "TransientError",
    "WebhookMalformed",
    "WebhookRejected",
]
