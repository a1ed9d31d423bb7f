"""HubSpot search shows writes after a delay (hubspot-api.md §5): polls that read changes by
search, through the real connectors against both sandboxes, still carry an edit the index had
not shown yet, on a later poll (the window's lookback reads below the last bound again), and
carry it once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.stack import Stack, open_stack

LAG_S = 5.0


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with open_stack(tmp_path, contacts=20, leads=10) as built:
        built.engine.backfill()
        built.later()
        yield built


def _title(stack: Stack, lead_id: str) -> object:
    [lead] = stack.sf_box.find("Lead", equals={"Id": lead_id})
    return lead.get("Title")


def test_an_edit_the_search_index_shows_late_is_carried_by_a_later_poll(stack: Stack) -> None:
    hs_id, lead = next(p for p in stack.pairs() if p[1].object == "Lead")
    url = stack.hubspot.settings.base_url
    assert httpx.put(url + "/_sandbox/search", json={"index_lag_s": LAG_S}).status_code == 200
    stack.hs_box.update("contacts", hs_id, {"jobtitle": "Seen Late"})
    edited = stack.clock.now()
    writes = stack.sf_box.stats.writes
    carried_at = None
    for _ in range(15):  # a poll every second, for longer than the lag and the settle
        stack.later(1)
        stack.engine.poll()
        if carried_at is None and _title(stack, lead.id) == "Seen Late":
            carried_at = stack.clock.now() - edited
    assert carried_at is not None  # never skipped
    # not before the index showed it (without a lag, the poll 3 s after the edit carries it)
    assert carried_at >= LAG_S
    assert stack.sf_box.stats.writes == writes + 1  # carried once
    stack.later(130)  # past the lookback: still nothing more to carry
    stack.engine.poll()
    assert stack.sf_box.stats.writes == writes + 1
