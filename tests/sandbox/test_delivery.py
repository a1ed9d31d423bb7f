"""DeliveryQueue: batching, bounded concurrency, retries on the sandbox clock, drops, coalescing."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest

from sandbox.shared.clock import Clock
from sandbox.shared.delivery import Delivery, DeliveryQueue, Outcome, RetryPolicy

QUICK = RetryPolicy(first_s=10.0, factor=2.0, max_retries=2)


class Recorder:
    """A sender that records each batch and answers from a script (then succeeds)."""

    def __init__(self, answers: Sequence[bool] = ()) -> None:
        self.answers = list(answers)
        self.batches: list[list[tuple[str, Any, int]]] = []
        self.changed = asyncio.Event()

    async def __call__(self, batch: Sequence[Delivery]) -> Outcome:
        self.batches.append([(item.id, item.payload, item.attempts) for item in batch])
        self.changed.set()
        ok = self.answers.pop(0) if self.answers else True
        return Outcome(ok, status=200 if ok else 503, error=None if ok else "unavailable")


async def until(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    """Yield to the loop until `predicate` holds (the queue polls every few ms in these tests)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


def scenario(
    queue: DeliveryQueue, send: Callable[[Sequence[Delivery]], Awaitable[Outcome]]
) -> Callable[[Callable[[], Awaitable[None]]], None]:
    """Run `body` on a fresh event loop with `queue.run(send)` in the background."""

    def runner(body: Callable[[], Awaitable[None]]) -> None:
        async def main() -> None:
            loop_task = asyncio.create_task(queue.run(send))
            try:
                await body()
            finally:
                loop_task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await loop_task

        asyncio.run(main())

    return runner


def make_queue(clock: Clock, **kw: Any) -> DeliveryQueue:
    kw.setdefault("policy", QUICK)
    kw.setdefault("poll_s", 0.01)
    return DeliveryQueue(clock, **kw)


def test_due_items_go_out_in_batches_per_group() -> None:
    clock = Clock()
    queue = make_queue(clock, batch_size=100)
    for n in range(250):
        queue.enqueue(f"a{n}", n, group="https://a.example/hook")
    for n in range(30):
        queue.enqueue(f"b{n}", n, group="https://b.example/hook")
    sender = Recorder()

    async def body() -> None:
        await until(lambda: queue.status()["delivered"] == 280)

    scenario(queue, sender)(body)
    sizes = sorted(len(batch) for batch in sender.batches)
    assert sizes == [30, 50, 100, 100]
    for batch in sender.batches:
        assert len({item_id[0] for item_id, _, _ in batch}) == 1  # never mixes groups
    status = queue.status()
    assert status["pending"] == 0
    assert status["requests"] == 4
    assert status["failed_attempts"] == 0


def test_never_more_requests_in_flight_than_concurrency() -> None:
    clock = Clock()
    queue = make_queue(clock, batch_size=1, concurrency=2)
    release = asyncio.Event()
    in_flight = 0
    peak = 0

    async def slow_send(batch: Sequence[Delivery]) -> Outcome:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await release.wait()
        in_flight -= 1
        return Outcome(True, status=200)

    for n in range(6):
        queue.enqueue(str(n), n, group="g")

    async def body() -> None:
        await until(lambda: in_flight == 2)
        assert queue.status()["in_flight"] == 2
        assert queue.status()["pending"] == 4
        release.set()
        await until(lambda: queue.status()["delivered"] == 6)

    scenario(queue, slow_send)(body)
    assert peak == 2


def test_failures_are_retried_on_the_sandbox_clock_then_dropped() -> None:
    clock = Clock()
    queue = make_queue(clock)
    sender = Recorder(answers=[False, False, False])
    queue.enqueue("only", {"x": 1}, group="https://down.example/hook")

    async def body() -> None:
        await until(lambda: queue.status()["failed_attempts"] == 1)
        status = queue.status()
        assert status["pending"] == 1
        assert status["retrying"] == 1
        assert 9.0 < status["next_due_in_s"] <= 10.0
        clock.advance(10.5)
        await until(lambda: queue.status()["failed_attempts"] == 2)
        clock.advance(15.0)  # second retry is due 20 s later: not yet
        await asyncio.sleep(0.05)
        assert len(sender.batches) == 2
        clock.advance(5.5)
        await until(lambda: queue.status()["dropped"] == 1)

    scenario(queue, sender)(body)
    assert [batch[0][2] for batch in sender.batches] == [0, 1, 2]
    status = queue.status()
    assert status["pending"] == 0
    assert status["delivered"] == 0
    assert status["failed_attempts"] == 3
    assert status["last_errors"][-1]["status"] == 503
    assert status["last_errors"][-1]["target"] == "https://down.example/hook"
    (drop,) = status["last_dropped"]
    assert drop["id"] == "only"
    assert drop["reason"] == "retries exhausted"
    assert drop["attempts"] == 3


def test_items_older_than_max_age_are_dropped_without_another_attempt() -> None:
    clock = Clock()
    policy = RetryPolicy(first_s=60.0, factor=2.0, cap_s=120.0, max_age_s=300.0)
    queue = make_queue(clock, policy=policy)
    sender = Recorder(answers=[False] * 10)
    queue.enqueue("old", 1, group="g")

    async def body() -> None:
        await until(lambda: queue.status()["failed_attempts"] == 1)
        clock.advance(301.0)
        await until(lambda: queue.status()["dropped"] == 1)

    scenario(queue, sender)(body)
    assert len(sender.batches) == 1
    assert queue.status()["last_dropped"][0]["reason"] == "expired"


def test_a_slow_or_crashing_sender_is_a_failed_attempt() -> None:
    clock = Clock()
    queue = make_queue(clock, attempt_timeout_s=0.05, batch_size=1)
    calls: list[str] = []

    async def bad_send(batch: Sequence[Delivery]) -> Outcome:
        calls.append(batch[0].id)
        if batch[0].id == "slow":
            await asyncio.sleep(5)
        raise ConnectionError("refused")

    queue.enqueue("slow", 1, group="g")
    queue.enqueue("crash", 2, group="g")

    async def body() -> None:
        await until(lambda: queue.status()["failed_attempts"] == 2)

    scenario(queue, bad_send)(body)
    errors = {error["error"] for error in queue.status()["last_errors"]}
    assert errors == {"timed out after 0.05 s", "ConnectionError: refused"}
    assert queue.status()["pending"] == 2


def test_a_newer_payload_for_a_waiting_key_replaces_it() -> None:
    clock = Clock()
    queue = make_queue(clock)
    queue.enqueue("n1", {"Status": "Open"}, group="g", key="00Q1")
    queue.enqueue("n2", {"Status": "Working"}, group="g", key="00Q1")
    queue.enqueue("n3", {"Status": "Open"}, group="g", key="00Q2")
    sender = Recorder()

    async def body() -> None:
        await until(lambda: queue.status()["delivered"] == 2)

    scenario(queue, sender)(body)
    (batch,) = sender.batches
    assert sorted(batch) == [("n1", {"Status": "Working"}, 0), ("n3", {"Status": "Open"}, 0)]
    assert queue.status()["coalesced"] == 1


def test_a_change_while_in_flight_is_sent_afterwards_and_supersedes_a_failed_send() -> None:
    clock = Clock()
    queue = make_queue(clock)
    release = asyncio.Event()
    sent: list[tuple[str, Any]] = []

    async def send(batch: Sequence[Delivery]) -> Outcome:
        sent.extend((item.id, item.payload) for item in batch)
        if len(sent) == 1:
            await release.wait()
            return Outcome(False, status=500)
        return Outcome(True, status=200)

    queue.enqueue("n1", "v1", group="g", key="k")

    async def body() -> None:
        await until(lambda: queue.status()["in_flight"] == 1)
        queue.enqueue("n2", "v2", group="g", key="k")
        release.set()
        await until(lambda: queue.status()["delivered"] == 1)

    scenario(queue, send)(body)
    assert sent == [("n1", "v1"), ("n2", "v2")]
    status = queue.status()
    assert status["pending"] == 0  # the failed n1 was superseded, not retried
    assert status["dropped"] == 0


def test_enqueue_from_another_thread_wakes_the_loop() -> None:
    clock = Clock()
    queue = make_queue(clock, poll_s=30.0)  # only the wake-up can deliver in time
    sender = Recorder()

    async def body() -> None:
        await asyncio.sleep(0.02)  # let the loop start waiting
        thread = threading.Thread(target=queue.enqueue, args=("t", 1), kwargs={"group": "g"})
        thread.start()
        thread.join()
        await asyncio.wait_for(sender.changed.wait(), 2.0)

    scenario(queue, sender)(body)
    assert sender.batches == [[("t", 1, 0)]]


def test_a_full_queue_refuses_and_counts_a_drop() -> None:
    queue = make_queue(Clock(), max_pending=2)
    assert queue.enqueue("1", 1, group="g") is not None
    assert queue.enqueue("2", 2, group="g") is not None
    assert queue.enqueue("3", 3, group="g") is None
    status = queue.status()
    assert status["pending"] == 2
    assert status["dropped"] == 1
    assert status["last_dropped"][0]["reason"] == "queue full"


def test_reset_forgets_items_and_counters() -> None:
    queue = make_queue(Clock(), max_pending=1)
    queue.enqueue("1", 1, group="g")
    queue.enqueue("2", 2, group="g")
    queue.reset()
    status = queue.status()
    assert (status["pending"], status["dropped"], status["next_due_in_s"]) == (0, 0, None)


def test_retry_policy_grows_caps_jitters_and_gives_up() -> None:
    rng = random.Random(1)
    capped = RetryPolicy(first_s=15.0, factor=2.0, cap_s=7200.0)
    assert [capped.delay(n, rng) for n in (1, 2, 3, 9, 10, 30)] == [
        15.0,
        30.0,
        60.0,
        3840.0,
        7200.0,
        7200.0,
    ]
    limited = RetryPolicy(first_s=10.0, max_retries=3, jitter=0.5)
    delays = [limited.delay(n, rng) for n in (1, 2, 3)]
    assert all(
        d is not None and 0.5 * b <= d <= 1.5 * b for d, b in zip(delays, [10, 20, 40], strict=True)
    )
    assert limited.delay(4, rng) is None


def test_sends_cut_short_by_stopping_go_again_on_the_next_run() -> None:
    clock = Clock()
    queue = make_queue(clock)
    started = asyncio.Event()

    async def hang(batch: Sequence[Delivery]) -> Outcome:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    queue.enqueue("x", 1, group="g")

    async def body() -> None:
        await started.wait()

    scenario(queue, hang)(body)
    assert queue.status()["pending"] == 1
    sender = Recorder()

    async def again() -> None:
        await until(lambda: queue.status()["delivered"] == 1)

    scenario(queue, sender)(again)
    assert sender.batches == [[("x", 1, 0)]]
