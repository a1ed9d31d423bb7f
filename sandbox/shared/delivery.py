"""At-least-once push delivery on the sandbox clock (HubSpot webhooks, Salesforce outbound).

Items wait in a heap ordered by due time; `run()` sends due items in batches (per `group`, e.g.
one target URL), at most `concurrency` requests at a time, and on failure reschedules each item by
its `RetryPolicy` or drops it. Due times come from the sandbox `Clock`, so a test can skip a day of
retries with `clock.advance()`; the loop polls every `poll_s` because advancing the clock wakes
nobody. `enqueue` may be called from any thread (sync request handlers run in a thread pool).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import random
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sandbox.shared.clock import Clock

RECENT = 20  # how many recent errors and drops the status keeps


@dataclass(frozen=True)
class RetryPolicy:
    """Delay before retry n (1-based) = min(first_s * factor**(n-1), cap_s) ± jitter.

    `max_retries` None means "until `max_age_s`"; an item older than `max_age_s` when it comes due
    is dropped without another attempt.
    """

    first_s: float
    factor: float = 2.0
    cap_s: float = float("inf")
    max_retries: int | None = None
    jitter: float = 0.0
    max_age_s: float | None = None

    def delay(self, retry: int, rng: random.Random) -> float | None:
        """Seconds until retry number `retry`, or None when the policy gives up."""
        if self.max_retries is not None and retry > self.max_retries:
            return None
        base = min(self.first_s * self.factor ** (retry - 1), self.cap_s)
        if self.jitter:
            base *= 1 + self.jitter * rng.uniform(-1.0, 1.0)
        return max(base, 0.0)


@dataclass
class Delivery:
    """One queued item. `payload` is opaque here; `attempts` counts failed attempts so far."""

    id: str
    payload: Any
    group: Hashable
    created_at: float
    due_at: float
    key: Hashable | None = None
    attempts: int = 0
    version: int = 0


@dataclass(frozen=True)
class Outcome:
    """What one request achieved: `ok`, and for the status page the HTTP status or error."""

    ok: bool
    status: int | None = None
    error: str | None = None


Sender = Callable[[Sequence[Delivery]], Awaitable[Outcome]]


@dataclass
class _Counters:
    delivered: int = 0
    requests: int = 0
    failed_attempts: int = 0
    dropped: int = 0
    coalesced: int = 0
    last_errors: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=RECENT))
    last_dropped: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=RECENT))


class DeliveryQueue:
    """Queue + send loop. `send` gets one batch (same group, ≤ `batch_size` items)."""

    def __init__(
        self,
        clock: Clock,
        *,
        policy: RetryPolicy,
        batch_size: int = 100,
        concurrency: int = 10,
        attempt_timeout_s: float = 10.0,
        max_pending: int = 200_000,
        poll_s: float = 0.05,
        seed: int = 0,
    ) -> None:
        self.clock = clock
        self.policy = policy
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.attempt_timeout_s = attempt_timeout_s
        self.max_pending = max_pending
        self.poll_s = poll_s
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._clear()

    def _clear(self) -> None:
        self._items: dict[str, Delivery] = {}
        self._by_key: dict[Hashable, str] = {}
        self._heap: list[tuple[float, int, str, int]] = []
        self._seq = itertools.count()
        self._in_flight: set[str] = set()
        self._counters = _Counters()

    def reset(self) -> None:
        """Forget every item and counter (requests already on the wire finish unrecorded)."""
        with self._lock:
            self._clear()

    # Producing

    def enqueue(
        self, item_id: str, payload: Any, *, group: Hashable, key: Hashable | None = None
    ) -> Delivery | None:
        """Queue `payload` now; returns None if the queue is full.

        With `key`, a still-waiting item of that key takes the new payload instead (the receiver
        gets the latest data once) and, if it was backing off, is tried again now, as a fresh
        notification would be.
        """
        now = self.clock.now()
        with self._lock:
            if key is not None and (existing := self._waiting(key)) is not None:
                existing.payload = payload
                self._counters.coalesced += 1
                if existing.due_at > now:
                    self._schedule(existing, now)
                self._notify()
                return existing
            if len(self._items) >= self.max_pending:
                self._counters.dropped += 1
                self._record_drop_locked(item_id, group, 0, 0.0, "queue full")
                return None
            item = Delivery(item_id, payload, group, created_at=now, due_at=now, key=key)
            self._items[item_id] = item
            if key is not None:
                self._by_key[key] = item_id
            self._schedule(item, now)
            self._notify()
            return item

    def _waiting(self, key: Hashable) -> Delivery | None:
        item_id = self._by_key.get(key)
        if item_id is None or item_id in self._in_flight:
            return None
        return self._items.get(item_id)

    def _schedule(self, item: Delivery, due_at: float) -> None:
        item.due_at = due_at
        item.version += 1
        heapq.heappush(self._heap, (due_at, next(self._seq), item.id, item.version))

    def _notify(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            wake.set()
        else:
            with contextlib.suppress(RuntimeError):  # loop closed between the check and the call
                loop.call_soon_threadsafe(wake.set)

    # Sending

    async def run(self, send: Sender) -> None:
        """Send due batches forever; cancel to stop (requests in flight are cancelled too)."""
        self._loop = asyncio.get_running_loop()
        self._wake = wake = asyncio.Event()
        tasks: set[asyncio.Task[None]] = set()
        try:
            while True:
                wake.clear()
                for batch in self._take_due(self.concurrency - len(tasks)):
                    task = asyncio.create_task(self._attempt(send, batch))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    task.add_done_callback(lambda _: wake.set())
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                # that arrives just as the wake-up does, and then the loop never stops.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll_s):
                        await wake.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._loop = self._wake = None
            with self._lock:  # unanswered sends go again on the next run (at least once)
                now = self.clock.now()
                for item_id in self._in_flight:
                    if (item := self._items.get(item_id)) is not None:
                        self._schedule(item, now)
                self._in_flight.clear()

    def _take_due(self, slots: int) -> list[list[Delivery]]:
        """Pop due items (dropping expired ones) and cut them into at most `slots` batches."""
        if slots <= 0:
            return []
        now = self.clock.now()
        max_age = self.policy.max_age_s
        batches: list[list[Delivery]] = []
        open_batch: dict[Hashable, list[Delivery]] = {}
        with self._lock:
            while self._heap and self._heap[0][0] <= now:
                _, _, item_id, version = heapq.heappop(self._heap)
                item = self._items.get(item_id)
                if item is None or item.version != version or item_id in self._in_flight:
                    continue
                if max_age is not None and now - item.created_at >= max_age:
                    self._drop_locked(item, "expired")
                    continue
                batch = open_batch.get(item.group)
                if batch is None:
                    if len(batches) == slots:
                        heapq.heappush(self._heap, (item.due_at, next(self._seq), item_id, version))
                        break
                    batch = open_batch[item.group] = []
                    batches.append(batch)
                batch.append(item)
                self._in_flight.add(item_id)
                if len(batch) == self.batch_size:
                    del open_batch[item.group]
        return batches

    async def _attempt(self, send: Sender, batch: list[Delivery]) -> None:
        try:
            async with asyncio.timeout(self.attempt_timeout_s):
                outcome = await send(batch)
        except TimeoutError:
            outcome = Outcome(False, error=f"timed out after {self.attempt_timeout_s:g} s")
        except Exception as exc:  # any transport failure is a failed attempt, never a crash
            outcome = Outcome(False, error=f"{type(exc).__name__}: {exc}".strip())
        self._settle(batch, outcome)

    def _settle(self, batch: list[Delivery], outcome: Outcome) -> None:
        now = self.clock.now()
        with self._lock:
            batch = [item for item in batch if item.id in self._in_flight]
            if not batch:
                return  # reset() while the request was on the wire
            counters = self._counters
            counters.requests += 1
            if not outcome.ok:
                counters.failed_attempts += 1
                counters.last_errors.append(
                    {
                        "at": now,
                        "target": str(batch[0].group),
                        "status": outcome.status,
                        "error": outcome.error,
                        "items": len(batch),
                        "attempt": batch[0].attempts,
                    }
                )
            for item in batch:
                self._in_flight.discard(item.id)
                if outcome.ok:
                    counters.delivered += 1
                    self._forget_locked(item)
                    continue
                item.attempts += 1
                if item.key is not None and self._by_key.get(item.key) != item.id:
                    self._items.pop(item.id, None)  # a newer item carries this record's data
                    counters.coalesced += 1
                    continue
                delay = self.policy.delay(item.attempts, self._rng)
                if delay is None:
                    self._drop_locked(item, "retries exhausted")
                else:
                    self._schedule(item, now + delay)

    def _forget_locked(self, item: Delivery) -> None:
        self._items.pop(item.id, None)
        if item.key is not None and self._by_key.get(item.key) == item.id:
            del self._by_key[item.key]

    def _drop_locked(self, item: Delivery, reason: str) -> None:
        self._forget_locked(item)
        self._counters.dropped += 1
        age = self.clock.now() - item.created_at
        self._record_drop_locked(item.id, item.group, item.attempts, age, reason)

    def _record_drop_locked(
        self, item_id: str, group: Hashable, attempts: int, age: float, reason: str
    ) -> None:
        self._counters.last_dropped.append(
            {
                "id": item_id,
                "target": str(group),
                "attempts": attempts,
                "age_s": round(age, 3),
                "reason": reason,
            }
        )

    # Reporting

    def status(self) -> dict[str, Any]:
        with self._lock:
            counters = self._counters
            waiting = [i for i in self._items.values() if i.id not in self._in_flight]
            return {
                "pending": len(waiting),
                "in_flight": len(self._in_flight),
                "retrying": sum(1 for i in waiting if i.attempts),
                "next_due_in_s": (
                    round(max(min(i.due_at for i in waiting) - self.clock.now(), 0.0), 3)
                    if waiting
                    else None
                ),
                "delivered": counters.delivered,
                "requests": counters.requests,
                "failed_attempts": counters.failed_attempts,
                "dropped": counters.dropped,
                "coalesced": counters.coalesced,
                "last_errors": list(counters.last_errors),
                "last_dropped": list(counters.last_dropped),
            }
