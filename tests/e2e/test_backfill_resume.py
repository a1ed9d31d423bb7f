"""An interrupted backfill against both sandboxes (real SDKs, real sockets), then the backfill
that goes on from where it stopped: it lists only what is left, and both systems agree."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from connectors.records import ListedPage, RecordKey, System
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


def _listed_by(connector: Any) -> list[int]:
    """Counts, as the connector hands them out, of each listing page's records."""
    sizes: list[int] = []
    list_all = connector.list_all

    def counted(obj: str, start: str | None = None) -> Iterator[ListedPage]:
        for page in list_all(obj, start):
            sizes.append(len(page.records))
            yield page

    connector.list_all = counted
    return sizes


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
        # The Leads' page, the Salesforce Contacts' page, then the first HubSpot page.
        with pytest.raises(KeyboardInterrupt):
            stack.engine.backfill(progress=StopAfter(pages=3))
        stack.later(600)
        listed = _listed_by(stack.hubspot)
        listed_leads = _listed_by(stack.salesforce)
        began = stack.engine.now() - stack.engine.policy.settle

        report = stack.engine.backfill()

        assert listed == [PAGE, PAGE]  # pages two and three of three, from the position
        assert report.resumed["hubspot:contacts"] == PAGE
        # The rest of the listing, then what changed since the first run began (read before
        # the creation pass, as a poll would).
        assert report.read["hubspot:contacts"] >= 300 - PAGE
        assert report.resumed["salesforce:Lead"] == 100  # listed to its end before the stop
        assert listed_leads == []
        # Not listed again: only what changed since the first run began is read (its own
        # writes among them), after the listings, as a poll would read it.
        assert report.read["salesforce:Lead"] < 100
        lead_checkpoint = get_checkpoint(stack.read(), System.SALESFORCE, "Lead")
        assert lead_checkpoint is not None
        assert lead_checkpoint.cursor == began
        checkpoint = get_checkpoint(stack.read(), System.HUBSPOT, "contacts")
        assert checkpoint is not None
        # The first run's listing was read as of its start; what changed since, before the
        # creation pass: read up to this run's start.
        assert checkpoint.cursor == began
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
