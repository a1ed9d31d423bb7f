"""The cyclic garbage collector around the engine's work, which allocates in bursts.

Reference counting frees almost everything the engine makes; the collector only ever finds the
few cycles left behind, yet each collection it starts walks the objects it tracks. Two rules
keep that walk off the hot path:

- `paused`: during one unit of work (tens of thousands of short-lived records, people and
  values) the collector is off; whatever cycles the unit leaves are collected after it.
- `cycle_heap_only`: during a whole cycle (a poll, a backfill), the objects alive when it
  started (caches, the SQLAlchemy and HTTP machinery; in tests and benches, both imitation
  systems) are left out of the collections its reading triggers (`gc.freeze`), which would
  otherwise walk them all, tens of milliseconds each time, for objects that outlive the cycle
  anyway. They are handed back (`gc.unfreeze`) when the last cycle in progress ends. Handed
  back, they sit in the oldest generation, which only a full collection sweeps, and a daemon
  idle between cycles rarely starts one before the next cycle freezes them again. So the last
  cycle to end runs one itself once `FULL_COLLECTION_EVERY` has passed since the last: garbage
  frozen with a cycle is collected by the first cycle to end after that interval (a long
  backfill keeps its own until it ends). Cycles may overlap (a webhook's sync beside a poll):
  the first to start freezes, the last to end unfreezes.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from time import monotonic

#: Seconds between the full collections the end of a cycle runs (see the module docstring).
FULL_COLLECTION_EVERY = 300.0

_lock = threading.Lock()
_cycles = 0  # cycles in progress, process-wide (the collector is)
_collected_at = monotonic()  # the last full collection a cycle's end ran


@contextmanager
def paused() -> Iterator[None]:
    """The collector off for one unit of work, and back on after only if it was on."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def cycle_heap_only() -> Iterator[None]:
    """Collections during the cycle walk only the objects it made (see the module docstring)."""
    global _cycles, _collected_at
    with _lock:
        _cycles += 1
        if _cycles == 1:
            gc.freeze()
    try:
        yield
    finally:
        with _lock:
            _cycles -= 1
            if _cycles == 0:
                gc.unfreeze()
                if monotonic() - _collected_at >= FULL_COLLECTION_EVERY:
                    gc.collect()
                    _collected_at = monotonic()
