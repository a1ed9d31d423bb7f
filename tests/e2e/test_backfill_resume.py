"""An interrupted backfill against both sandboxes (real SDKs, real sockets), then the backfill
that goes on from where it stopped: it lists only what is left, and both systems agree."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from connectors.records import RecordKey, System
from sync.store.checkpoints import get_checkpoint
from sync.store.dead_letters import list_dead_letters
from sync.store.positions import get_listings
from tests.e2e.stack import Stack, agree, open_stack

PAGE = 100  # the engine's backfill page: one HubSpot list page, so each one keeps a position


class StopAfter:
    """Progress that stops the run, as Ctrl-C does, once `pages` pages committed."""

    def __init__(self, pages: int) -> None:
        self.pages = pages

    def start(self, label: str, total: int | None, done: int = 0) -> None: ...

    def advance(self, label: str, count: int) -> None:
        self.pages -= 1
        if self.pages == 0:
            raise KeyboardInterrupt

    def finish(self, label: str) -> None: ...


def _hubspot_list_calls(stack: Stack) -> int:
    return sum(
        n
        for route, n in stack.hs_box.stats.by_route.items()
        if route.startswith("GET") and route.rstrip("/").endswith("/objects/{object_type}")
    )


def _stack(directory: Path) -> AbstractContextManager[Stack]:
    return open_stack(
        directory, contacts=300, leads=100, backfill_page_size=PAGE, prefetch_records=0
    )


def _outcome(stack: Stack) -> tuple[set[RecordKey], int, set[RecordKey]]:
    """Who is linked across both systems (by Salesforce key), how many writes were refused,
    and whose two records still disagree (those refused writes' people)."""
    pairs = stack.pairs()
    with stack.read() as conn:
        refused = len(list_dead_letters(conn))
    differ = {key for hs_id, key in pairs if agree(stack, hs_id, key)}
    return {key for _, key in pairs}, refused, differ


def test_an_interrupted_backfill_goes_on_where_it_stopped(tmp_path: Path) -> None:
    with _stack(tmp_path / "whole") as whole:
        whole.engine.backfill()
        expected = _outcome(whole)
    with _stack(tmp_path / "resumed") as stack:
        began = stack.engine.now() - stack.engine.policy.settle
        # The Leads' page, the Salesforce Contacts' page, then the first HubSpot page.
        with pytest.raises(KeyboardInterrupt):
            stack.engine.backfill(progress=StopAfter(pages=3))
        stack.later(600)
        before = _hubspot_list_calls(stack)

        report = stack.engine.backfill()

        assert _hubspot_list_calls(stack) - before == 2  # pages two and three of three
        assert report.resumed["hubspot:contacts"] == PAGE
        assert report.read["hubspot:contacts"] == 300 - PAGE
        assert report.resumed["salesforce:Lead"] == 100  # listed to its end before the stop
        assert not report.read["salesforce:Lead"]
        checkpoint = get_checkpoint(stack.read(), System.HUBSPOT, "contacts")
        assert checkpoint is not None
        assert checkpoint.cursor == began  # what the first run listed was read as of then
        with stack.read() as conn:
            assert get_listings(conn) == {}
        # The same people linked, the same writes refused, as by one whole backfill; and
        # everyone else's two records agree.
        assert _outcome(stack) == expected
        assert len(expected[0]) > len(expected[2])
        pairs = stack.pairs()
        assert len({hs_id for hs_id, _ in pairs}) == len(pairs)  # no one linked twice

        writes = stack.writes()
        stack.later(60)
        stack.engine.backfill()  # a new backfill, from the start: nothing is left to write
        assert stack.writes() == writes
