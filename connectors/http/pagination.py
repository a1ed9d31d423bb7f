"""Paginators: readers hand a fetch callable to `paginate` and never write a page loop.

A paginator is a tiny object with two steps: the token for the first request, and the token
for the next request given a page (None when there are no more). `paginate` runs the loop and
refuses a token it has already used: a server that hands back the same cursor twice would
otherwise loop forever, quietly spending the API budget.

Three styles cover both systems:

- `AfterCursor`: HubSpot `paging.next.after` (list, search, associations);
- `NextRecordsUrl`: Salesforce `done` / `nextRecordsUrl` (query, queryAll);
- `Offset`: offset/limit endpoints (e.g. HubSpot search's integer `after`, describe lists).

Pages may be plain mappings (httpx JSON) or SDK model objects (hubspot-api-client returns
objects with a `paging.next.after` attribute chain); both are read the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from connectors.errors import PermanentError
from connectors.records import System

P = TypeVar("P")
T = TypeVar("T", bound=Hashable)
P_contra = TypeVar("P_contra", contravariant=True)
ItemT = TypeVar("ItemT")


class Paginator(Protocol[P_contra, T]):
    """The two steps of a pagination style."""

    def first(self) -> T:
        """The token for the first request (None for "no cursor yet")."""
        ...

    def next(self, page: P_contra, token: T) -> T | None:
        """The token for the request after `page`, or None when `page` was the last."""
        ...


def dig(obj: object, *path: str) -> Any:
    """Follow `path` through mappings or attributes; None as soon as a step is missing."""
    current: Any = obj
    for step in path:
        if current is None:
            return None
        current = (
            current.get(step) if isinstance(current, Mapping) else getattr(current, step, None)
        )
    return current


@dataclass(frozen=True, slots=True)
class AfterCursor:
    """HubSpot style: the next cursor sits at `paging.next.after`; no `paging` = last page.
    `start` is a cursor from an earlier listing to continue from."""

    path: tuple[str, ...] = ("paging", "next", "after")
    start: str | None = None

    def first(self) -> str | None:
        return self.start

    def next(self, page: object, token: str | None) -> str | None:
        after = dig(page, *self.path)
        return str(after) if after not in (None, "") else None


@dataclass(frozen=True, slots=True)
class NextRecordsUrl:
    """Salesforce style: `done` false plus `nextRecordsUrl` (a server path used verbatim)."""

    def first(self) -> str | None:
        return None

    def next(self, page: object, token: str | None) -> str | None:
        if dig(page, "done") is True:
            return None
        url = dig(page, "nextRecordsUrl")
        return str(url) if url else None


@dataclass(frozen=True, slots=True)
class Offset:
    """Offset/limit style: stop on a short page, on `total` reached, or on an empty page."""

    page_size: int
    items_path: tuple[str, ...] = ("results",)
    total_path: tuple[str, ...] = ("total",)
    start: int = 0

    def first(self) -> int:
        return self.start

    def next(self, page: object, token: int) -> int | None:
        count = len(dig(page, *self.items_path) or ())
        following = token + count
        total = dig(page, *self.total_path)
        if not isinstance(total, int):
            total = None
        if count == 0 or count < self.page_size or (total is not None and following >= total):
            return None
        return following


def paginate(
    fetch: Callable[[T], P],
    paginator: Paginator[P, T],
    *,
    system: System | str,
    operation: str,
    max_pages: int | None = None,
) -> Iterator[P]:
    """Yield pages lazily: `fetch(token)` for the first token, then for each next token.

    Raises:
        PermanentError: the server handed back a token already used (names the token).
    """
    token = paginator.first()
    seen: set[T] = {token}
    pages = 0
    while True:
        page = fetch(token)
        pages += 1
        yield page
        following = paginator.next(page, token)
        if following is None or (max_pages is not None and pages >= max_pages):
            return
        if following in seen:
            raise PermanentError(
                f"the server returned the cursor {following!r} a second time after {pages} "
                "pages; stopping instead of looping",
                system=system,
                operation=operation,
            )
        seen.add(following)
        token = following


def items(pages: Iterable[P], select: Callable[[P], Sequence[ItemT] | None]) -> Iterator[ItemT]:
    """Flatten pages to their items, e.g. `items(pages, lambda p: p["records"])`."""
    for page in pages:
        yield from select(page) or ()
