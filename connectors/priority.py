"""Which calls come second: a thread inside `background_calls()` spends only the API permits
no other call is waiting for (see `connectors.http.budget`). Read-ahead threads run there, so
a listing read ahead fills the gaps between the calls a caller waits on."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_STATE = threading.local()


@contextmanager
def background_calls() -> Iterator[None]:
    """Calls this thread makes inside the block yield the budget to everyone else's."""
    before = in_background()
    _STATE.background = True
    try:
        yield
    finally:
        _STATE.background = before


def in_background() -> bool:
    return bool(getattr(_STATE, "background", False))
