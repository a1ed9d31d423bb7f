"""Read ahead: fetch the next pages of a listing in a thread while the caller works on this one.

A backfill alternates between waiting (for the API budget's next permit, for the network) and
computing (mapping, planning, committing). One thread doing both leaves the rate limit unused
while it computes, so a full read under a rate limit runs well below the ceiling. `read_ahead`
keeps up to `depth` pages fetched ahead, so permits are spent while the caller computes. The
thread starts at once, so a caller can start a listing early (the engine starts HubSpot's while
it works through Salesforce).

Pages beyond `depth` can wait on disk instead (`Spill`): encoded to a private temporary file,
up to a byte limit, so a long head start (HubSpot's listing during every Salesforce pass)
spends the rate limit without holding the listing in memory. The file is emptied whenever the
caller has caught up with it, and deleted with the stream.

The producer spends the same shared `ApiBudget` as every other call (it is thread-safe), in
the background (`priority.background_calls`: permits nobody else is waiting for), stops
when the consumer is closed or garbage-collected (a call in flight then ends the thread,
neither retried nor logged, and a wait for a permit or a retry ends at once), and re-raises
its error in the consumer at the point the failed page would have been.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Generic, TypeVar

from connectors.priority import abandon_events, background_calls

T = TypeVar("T")

log = logging.getLogger(__name__)
_DONE = object()
_POLL_S = 0.1  # how often a blocked producer checks whether the consumer went away


@dataclass(frozen=True)
class Spill(Generic[T]):
    """How pages beyond the in-memory depth wait on disk: their codec, and the most bytes the
    spill file may hold before the producer waits for the caller to catch up."""

    encode: Callable[[T], bytes]
    decode: Callable[[bytes], T]
    limit_bytes: int


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class _SpillFile:
    """One private, already-unlinked temporary file of pages; closed once all were read."""

    def __init__(self) -> None:
        self.file: IO[bytes] = tempfile.TemporaryFile(prefix="baton-read-ahead-")  # noqa: SIM115
        self.size = 0  # bytes written
        self.unread = 0  # pages written and not read yet

    def append(self, encoded: bytes) -> int:
        """Write `encoded` at the end (every byte, or OSError); returns its offset."""
        offset = self.size
        view = memoryview(encoded)
        while view:
            written = os.pwrite(self.file.fileno(), view, offset + len(encoded) - len(view))
            view = view[written:]
        self.size += len(encoded)
        self.unread += 1
        return offset

    def read(self, offset: int, size: int) -> bytes:
        self.unread -= 1
        return os.pread(self.file.fileno(), size, offset)


@dataclass(frozen=True, slots=True)
class _OnDisk:
    file: _SpillFile
    offset: int
    size: int


class _Channel:
    """What the producer thread shares with its consumer: one queue of pages in order, each
    held in memory or on disk. The thread never holds the consumer itself, so a consumer
    dropped without `close` is collected and stops it.

    Pages on disk go to a file of at most a quarter of the spill's limit, then to a new one;
    a file is closed once its pages were read (the one being written starts over instead), so
    the pages waiting never exceed the limit and the disk holds at most a quarter more."""

    def __init__(self, depth: int, spill: Spill[object] | None) -> None:
        self.depth = depth
        self.spill = spill  # None once the disk refused: new pages wait for memory then
        self.decode = spill.decode if spill is not None else None
        self.entries: deque[object] = deque()
        self.in_memory = 0
        self.waiting_bytes = 0  # encoded pages on disk, not read yet
        self.writing: _SpillFile | None = None
        self.files: list[_SpillFile] = []  # open, oldest first
        self.changed = threading.Condition()
        self.stop = threading.Event()

    def put(self, item: object) -> bool:
        """Queue `item` in memory while there is room (end markers always fit), else on disk
        while the spill has room, else wait; False when the consumer went away."""
        encoded: bytes | None = None
        final = item is _DONE or isinstance(item, _Failure)
        with self.changed:
            while not self.stop.is_set():
                if final or self.in_memory < self.depth:
                    self.entries.append(item)
                    self.in_memory += 1
                    self.changed.notify_all()
                    return True
                if self.spill is not None:
                    if encoded is None:
                        self.changed.release()  # encode without holding up the consumer
                        try:
                            encoded = self.spill.encode(item)
                        finally:
                            self.changed.acquire()
                        continue  # the queue may have changed meanwhile
                    if self.waiting_bytes + len(encoded) <= self.spill.limit_bytes:
                        if self._spilled(encoded):
                            self.changed.notify_all()
                            return True
                        continue  # the disk refused: wait for room in memory instead
                self.changed.wait(_POLL_S)
        return False

    def _spilled(self, encoded: bytes) -> bool:
        """Append `encoded` to the spill (a new file when this one is full); on a disk error,
        stop spilling (the page waits for room in memory) and say so once."""
        assert self.spill is not None
        try:
            target = self.writing
            if target is None or target.size + len(encoded) > max(
                self.spill.limit_bytes // 4, len(encoded)
            ):
                target = self.writing = _SpillFile()
                self.files.append(target)
            offset = target.append(encoded)
        except OSError as exc:
            log.warning("read-ahead stops spilling to disk: %s", exc)
            self.spill = None
            return False
        self.entries.append(_OnDisk(target, offset, len(encoded)))
        self.waiting_bytes += len(encoded)
        return True

    def get(self) -> object:
        with self.changed:
            while not self.entries:
                self.changed.wait()
            item = self.entries.popleft()
            if not isinstance(item, _OnDisk):
                self.in_memory -= 1
                self.changed.notify_all()
                return item
            data = item.file.read(item.offset, item.size)
            self.waiting_bytes -= item.size
            self._release(item.file)
            self.changed.notify_all()
        assert self.decode is not None  # a page went to disk, so there is a codec
        return self.decode(data)

    def _release(self, spilled: _SpillFile) -> None:
        """A file whose pages were all read: closed, or, if it is the one being written,
        emptied to start over."""
        if spilled.unread:
            return
        if spilled is self.writing:
            spilled.file.truncate(0)
            spilled.size = 0
            return
        spilled.file.close()
        self.files.remove(spilled)

    def close(self) -> None:
        self.stop.set()
        with self.changed:
            self.entries.clear()
            for spilled in self.files:
                spilled.file.close()
            self.files.clear()
            self.writing = None
            self.waiting_bytes = 0
            self.changed.notify_all()


def _produce(
    pages: Iterator[object], channel: _Channel, inherited: tuple[threading.Event, ...]
) -> None:
    try:
        with background_calls(*inherited, channel.stop):
            for page in pages:
                if not channel.put(page):
                    return
    except BaseException as exc:  # handed to the consumer, raised there
        channel.put(_Failure(exc))
        return
    finally:  # a listing given up must not read on (its own read-ahead included)
        close = getattr(pages, "close", None)
        if close is not None:
            close()
    channel.put(_DONE)


class ReadAhead(Iterator[T], Generic[T]):
    """`pages`, in order, with up to `depth` of them fetched in advance by a daemon thread
    (started on construction; `depth` 0 reads on demand, in the caller's thread), and more
    waiting on disk with a `spill`."""

    def __init__(
        self,
        pages: Iterable[T],
        depth: int,
        *,
        name: str = "read-ahead",
        spill: Spill[T] | None = None,
    ) -> None:
        self._pages = iter(pages)
        self._channel: _Channel | None = None
        self._finished = False
        if depth >= 1:
            self._channel = _Channel(depth, spill)  # type: ignore[arg-type]
            # Started within a read-ahead thread (a listing reading its own pages ahead), it is
            # given up with that thread's reading too.
            threading.Thread(
                target=_produce,
                args=(self._pages, self._channel, abandon_events()),
                name=name,
                daemon=True,
            ).start()

    def __next__(self) -> T:
        if self._finished:
            raise StopIteration
        if self._channel is None:
            return next(self._pages)
        try:
            item = self._channel.get()
        except BaseException:  # a page that cannot be decoded: the stream ends here
            self.close()
            raise
        if item is _DONE:
            self.close()
            raise StopIteration
        if isinstance(item, _Failure):
            self.close()
            raise item.error
        return item  # type: ignore[return-value]

    def close(self) -> None:
        """Stop the producer (it ends at its next page), delete the spill file and end the
        iteration."""
        self._finished = True
        if self._channel is not None:
            self._channel.close()

    def __del__(self) -> None:
        if self._channel is not None:
            self._channel.close()


def read_ahead(
    pages: Iterable[T], depth: int, *, name: str = "read-ahead", spill: Spill[T] | None = None
) -> ReadAhead[T]:
    """`pages`, in order, with up to `depth` of them fetched in advance by a daemon thread
    (and, with `spill`, more of them waiting on disk)."""
    return ReadAhead(pages, depth, name=name, spill=spill)
