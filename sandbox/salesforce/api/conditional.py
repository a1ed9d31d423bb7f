"""Weak conditional GETs: `If-Modified-Since` → 304, `If-Unmodified-Since` → 412.

Salesforce compares the header with the resource's last modified date; HTTP dates carry whole
seconds, so the stamp is truncated before comparing (else a re-sent date never matches).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from sandbox.salesforce.api.base import Reply
from sandbox.salesforce.errors import SalesforceError


def header_date(headers: Mapping[str, str], name: str) -> datetime | None:
    """The header's HTTP date; None when absent or unparsable (HTTP says: ignore it on GET)."""
    raw = headers.get(name)
    if not raw:
        return None
    try:
        parsed = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def check(headers: Mapping[str, str], modified: datetime | None) -> Reply | None:
    """A 304 reply when not modified since; raises 412 when modified since; else None."""
    if modified is None:
        return None
    stamp = modified.replace(microsecond=0)
    unmodified_since = header_date(headers, "if-unmodified-since")
    if unmodified_since is not None and stamp > unmodified_since:
        raise SalesforceError(
            412,
            "PRECONDITION_FAILED",
            "The requested resource has been modified since "
            + unmodified_since.strftime("%a, %d %b %Y %H:%M:%S GMT"),
        )
    modified_since = header_date(headers, "if-modified-since")
    if modified_since is not None and stamp <= modified_since:
        return Reply(304)
    return None
