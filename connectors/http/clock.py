"""A vendor's clock as its responses tell it: the `Date` header (RFC 9110 §6.6.1).

Checkpoints compare Baton's bounds with the vendor's own modification stamps, so the sync
engine must know how far the vendor's clock is from ours. Every response carries `Date`, an
HTTP-date with one-second resolution, which the response hooks feed to a `VendorClock`.

The estimate errs towards the vendor being behind: `Date` is truncated to the second and
stamped before the response travelled, so `Date - local time at receipt` is at most the true
offset (by up to a second plus the latency). An upper bound derived from it is never ahead of
the vendor's clock: the worst case reads an edit twice, never skips it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from connectors.http.headers import HeaderSource, lower_headers

DATE = "date"


class VendorClock:
    """The offset of one vendor's clock from ours (vendor minus local), from `Date` headers.

    Thread-safe. Estimates within `jitter_s` of the kept one are taken as the same clock read
    at another phase of its second, and the largest (tightest) is kept; one further off is a
    clock that moved (a correction on either side) and replaces it.

    Args:
        now: local epoch seconds (injectable for tests).
        jitter_s: how far two readings of an unchanged clock may differ (resolution, latency).
    """

    def __init__(self, *, now: Callable[[], float] = time.time, jitter_s: float = 2.0) -> None:
        self._now = now
        self._jitter_s = jitter_s
        self._offset_s: float | None = None
        self._lock = threading.Lock()

    def observe_headers(self, headers: HeaderSource | None) -> None:
        """Learn from one response's headers; a missing or malformed `Date` is ignored."""
        received = self._now()
        value = lower_headers(headers).get(DATE)
        if not value:
            return
        try:
            stamped = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return
        if stamped.tzinfo is None:  # "-0000": an HTTP-date is always GMT
            stamped = stamped.replace(tzinfo=UTC)
        estimate = stamped.timestamp() - received
        with self._lock:
            kept = self._offset_s
            if kept is None or abs(estimate - kept) > self._jitter_s:
                self._offset_s = estimate
            else:
                self._offset_s = max(kept, estimate)

    def now(self) -> datetime | None:
        """The vendor's clock now, as its last responses told it (on its own clock, whatever
        ours says: a test's frozen clock, a host running ahead); None until one was seen."""
        with self._lock:
            kept = self._offset_s
        return None if kept is None else datetime.fromtimestamp(self._now() + kept, UTC)

    def offset(self) -> timedelta | None:
        """Vendor time minus local time (negative: the vendor is behind); None until a
        response with a `Date` header was seen."""
        with self._lock:
            kept = self._offset_s
        return None if kept is None else timedelta(seconds=kept)
