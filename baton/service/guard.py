"""Failed webhook verifications counted per sender address; past a limit, that address waits.

A HubSpot signature is an HMAC and an Outbound Message's token has 16 characters or more, so
guessing either over HTTP is hopeless; what a stream of bad guesses does cost is a verification
(an XML parse, off the event loop) and a warning line each. An address whose deliveries failed
verification `limit` times within `WINDOW_S` is answered 429 with Retry-After for `BLOCK_S`,
before its body is read; other addresses are not touched, and a delivery that verifies counts
nothing. HubSpot and Salesforce retry a 429 (for about a day).

Only public addresses are counted. A reverse proxy on this machine's network (loopback or a
private range) makes every delivery come from its address, and counting that address would let
anyone hold up the real deliveries with a few bad guesses; uvicorn puts the sender's own address
in its place where the proxy is trusted (FORWARDED_ALLOW_IPS). IPv6 senders are counted per /64,
the block one host usually holds. The table is capped at `max_addresses`: past it the address
heard from least recently is forgotten, so memory stays bounded whatever the spread of senders.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

WINDOW_S = 60.0  # failures older than this are forgotten
BLOCK_S = 300.0  # how long an address that reached the limit is answered 429
MAX_ADDRESSES = 10_000  # entries kept (an entry is a few hundred bytes)


@dataclass
class _Entry:
    window_began: float
    failures: int = 0
    blocked_until: float = 0.0


def sender(host: str | None) -> str | None:
    """The key an address is counted under: itself (IPv4), its /64 (IPv6); None, not counted,
    for a host that is not a public address (a proxy on this network, a test client)."""
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if not address.is_global:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class VerificationGuard:
    """Per-sender counts of failed verifications, and which senders wait (thread-safe: the
    routes run on the event loop, `/metrics` in a worker thread)."""

    def __init__(
        self,
        *,
        limit: int,
        window_s: float = WINDOW_S,
        block_s: float = BLOCK_S,
        max_addresses: int = MAX_ADDRESSES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.block_s = block_s
        self.max_addresses = max_addresses
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, key: str | None) -> int | None:
        """Whole seconds `key` must wait before it is heard again, or None."""
        if key is None:
            return None
        with self._lock:
            entry = self._entries.get(key)
            left = entry.blocked_until - self._clock() if entry is not None else 0.0
        return math.ceil(left) if left > 0 else None

    def failed(self, key: str | None) -> bool:
        """Count a failed verification from `key`; True when it makes `key` wait."""
        if key is None:
            return False
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                while len(self._entries) >= self.max_addresses:
                    self._entries.popitem(last=False)
                entry = self._entries[key] = _Entry(window_began=now)
            self._entries.move_to_end(key)
            if now - entry.window_began > self.window_s:
                entry.window_began, entry.failures = now, 0
            entry.failures += 1
            if entry.failures < self.limit:
                return False
            entry.blocked_until = now + self.block_s
            entry.window_began, entry.failures = now, 0
            return True

    def waiting(self) -> int:
        """How many senders are answered 429 now."""
        now = self._clock()
        with self._lock:
            return sum(1 for entry in self._entries.values() if entry.blocked_until > now)
