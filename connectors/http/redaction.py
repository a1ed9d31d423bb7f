"""Secrets out of every log line: a logging filter over `connectors._redact.redact`.

The filter renders each record's message with its args, masks secrets, and stores the result
back (args cleared), so no handler or formatter downstream can re-render the raw values. It
also masks the formatted exception and stack text.

Where to install it: a filter on a *logger* only sees records logged on that very logger, not
those propagating from children. `install_redaction` therefore also puts the filter on the
logger's handlers; install it on the root logger (the default) to cover everything that
reaches the root handlers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from connectors._redact import (
    SecretLike,
    forget_secrets,
    redact,
    register_secrets,
    registered_secrets,
)

__all__ = [
    "RedactingFilter",
    "forget_secrets",
    "install_redaction",
    "redact",
    "register_secrets",
    "registered_secrets",
]


class RedactingFilter(logging.Filter):
    """Masks registered secrets, the filter's own `secrets` and secret shapes in each record."""

    def __init__(self, secrets: Iterable[str | SecretLike] = ()) -> None:
        super().__init__()
        self.secrets = tuple(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # malformed %-args: keep the template, drop the args
            message = f"{record.msg} {record.args!r}"
        record.msg = redact(message, self.secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        return True


def install_redaction(
    logger: logging.Logger | None = None, secrets: Iterable[str | SecretLike] = ()
) -> RedactingFilter:
    """Register `secrets` process-wide and filter `logger` (root by default) and its handlers.

    Idempotent per logger/handler: an existing `RedactingFilter` there is not doubled.
    """
    register_secrets(*secrets)
    target = logger or logging.getLogger()
    redacting = RedactingFilter()
    for filterer in (target, *target.handlers):
        if not any(isinstance(f, RedactingFilter) for f in filterer.filters):
            filterer.addFilter(redacting)
    return redacting
