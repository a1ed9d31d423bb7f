"""Which calls come second: a thread inside `background_calls()` spends only the API permits
no other call is waiting for (see `connectors.http.budget`). Read-ahead threads run there, so
a listing read ahead fills the gaps between the calls a caller waits on.

Such a thread reads for a caller who may go away (a stopped backfill closes its listing): once
one of its `abandoned` events is set its waits end and its calls are neither made nor retried
(`Abandoned`), so nothing is fetched, logged or retried for a page nobody will read. A
read-ahead started inside such a thread (HubSpot's listing reads its own pages ahead) takes
its creator's events too: giving up the outer reading gives up the inner one.

Inside `retries_end_on(stop)` (the daemon's loop) calls keep their first attempts but give up
waiting once `stop` is set (SIGTERM): a retry's back-off or a budget's hold ends at once
and no retry follows, so a stop is not kept waiting minutes on a vendor that refuses calls
(HubSpot's burst 429 waits 10 s, then longer each attempt), while the batch in hand can still
send its writes and commit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_STATE = threading.local()
_POLL_S = 0.1  # how often a wait on several events checks them
_STOPS: list[threading.Event] = []  # see `retries_end_on`


class Abandoned(Exception):
    """The caller this thread was reading for went away: the call was not made."""


@contextmanager
def background_calls(*abandoned: threading.Event) -> Iterator[None]:
    """Calls this thread makes inside the block yield the budget to everyone else's, and stop
    once one of `abandoned` is set."""
    before = in_background(), abandon_events()
    _STATE.background = True
    _STATE.abandoned = abandoned
    try:
        yield
    finally:
        _STATE.background, _STATE.abandoned = before


def in_background() -> bool:
    return bool(getattr(_STATE, "background", False))


def abandon_events() -> tuple[threading.Event, ...]:
    """The events that say this thread's caller, or its caller's, went away (none outside a
    `background_calls` block)."""
    events: tuple[threading.Event, ...] = getattr(_STATE, "abandoned", ())
    return events


def abandoned() -> bool:
    """Whether this thread's caller went away."""
    return any(event.is_set() for event in abandon_events())


def check_abandoned() -> None:
    """Raise `Abandoned` when this thread's caller went away: before a call or a wait."""
    if abandoned():
        raise Abandoned("the read ahead was given up: its caller went away")


@contextmanager
def retries_end_on(stop: threading.Event) -> Iterator[None]:
    """Within the block, once `stop` is set, no call of this process is retried nor waits
    out a back-off (`stop_requested`); first attempts are still made. Process-wide, not per
    thread: the calls a poll waits on run in read-ahead and write threads too."""
    _STOPS.append(stop)
    try:
        yield
    finally:
        _STOPS.remove(stop)


def stop_requested() -> bool:
    """Whether the work of this process was asked to stop (`retries_end_on`)."""
    return any(stop.is_set() for stop in _STOPS)


def pause(seconds: float, sleep: Callable[[float], None], *, stoppable: bool = False) -> None:
    """Wait `seconds` with `sleep`, or, in a thread whose caller can go away, until it does;
    `stoppable` (a retry's back-off, the sync's wait for the budget) also until a stop is
    asked for (`retries_end_on`). A read ahead's wait for a free permit is not: it would ask
    again at once, and again, until the permit came."""
    stops = _STOPS if stoppable else []
    events = (*abandon_events(), *stops)
    if not events:
        sleep(seconds)
        return
    deadline = time.monotonic() + seconds
    while not abandoned() and not any(stop.is_set() for stop in stops):
        left = deadline - time.monotonic()
        if left <= 0:
            return
        events[-1].wait(min(left, _POLL_S) if len(events) > 1 else left)
