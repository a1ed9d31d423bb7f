"""A backfill plans with the Salesforce records its first pass read, instead of reading them
again by id, while they are fresh and within the cache's size."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest

from connectors import pagecodec
from connectors.records import ListedPage, RecordKey, SourceRecord, System
from sync.store.links import find_links
from sync.twins import TwinCache
from tests.unit.sync.conftest import World
from tests.unit.sync.fakes import START, FakeClock


def _record(n: int) -> SourceRecord:
    return SourceRecord(RecordKey(System.SALESFORCE, "Lead", f"00Q{n:015d}"), {}, START)


def test_a_kept_record_is_handed_out_once_while_fresh() -> None:
    clock = FakeClock()
    cache = TwinCache(limit=10, max_age=timedelta(minutes=5), now=clock)
    cache.keep([_record(1), _record(2)])
    clock.advance(60)
    assert set(cache.take([_record(1).key, _record(3).key])) == {_record(1).key}
    assert cache.take([_record(1).key]) == {}  # once
    clock.advance(300)
    assert cache.take([_record(2).key]) == {}  # too old: read again instead
    assert (cache.served, cache.expired, len(cache)) == (1, 1, 0)


def test_a_kept_record_comes_back_exactly() -> None:
    cache = TwinCache(limit=10, max_age=timedelta(minutes=5), now=FakeClock())
    plain = SourceRecord(
        RecordKey(System.SALESFORCE, "Lead", "00Q000000000000001"),
        {
            "Email": "a@x.com",
            "IsConverted": False,
            "NumberOfEmployees": 12,
            "Score": 1.5,
            "X": None,
        },
        START,
        merged_into="00Q000000000000009",
        other_emails=("b@x.com",),  # a HubSpot contact's in life; kept whatever the record
    )
    dated = SourceRecord(
        RecordKey(System.SALESFORCE, "Lead", "00Q000000000000002"), {"At": START}, START
    )
    cache.keep([plain, dated])
    back = cache.take([plain.key, dated.key])
    assert back[plain.key] == plain
    assert back[dated.key] == dated
    assert type(back[dated.key].fields["At"]) is type(START)


def test_a_full_cache_keeps_no_more() -> None:
    cache = TwinCache(limit=2, max_age=timedelta(minutes=5), now=FakeClock())
    cache.keep([_record(n) for n in range(5)])
    assert len(cache) == 2
    assert set(cache.take([_record(n).key for n in range(5)])) == {
        _record(0).key,
        _record(1).key,
    }


def _seed(world: World, people: int) -> None:
    for n in range(people):
        email = f"p{n}@example.com"
        world.hs.put("contacts", {"email": email, "lifecyclestage": "lead", "jobtitle": "CTO"})
        world.sf.put(
            "Lead",
            {"Email": email, "LastName": f"P{n}", "Company": "Acme", "IsConverted": False},
        )
    for n in range(3):  # Salesforce-only people: the creation pass needs their records too
        world.sf.put(
            "Lead",
            {"Email": f"sf{n}@example.com", "LastName": "S", "Company": "A", "IsConverted": False},
        )


def _count_reads(world: World, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    asked: list[str] = []
    real = world.sf.read_by_ids

    def counting(obj: str, ids: list[str]) -> list[SourceRecord]:
        asked.extend(ids)
        return real(obj, ids)

    monkeypatch.setattr(world.sf, "read_by_ids", counting)
    return asked


@pytest.mark.parametrize("kept", [50_000, 0])
def test_a_first_backfill_reads_each_salesforce_record_once_and_agrees_all_the_same(
    world: World, monkeypatch: pytest.MonkeyPatch, kept: int
) -> None:
    _seed(world, 6)
    world.clock.advance(10)
    asked = _count_reads(world, monkeypatch)
    report = world.engine(twin_cache_records=kept).backfill()
    sf_only = {k for k, f in world.sf.objects["Lead"].items() if f.fields["Email"].startswith("sf")}
    if kept:  # only the creation pass reads again, so a record deleted meanwhile is not made
        assert set(asked) == sf_only
    else:  # nothing kept: every twin is read again by id
        assert len(asked) == 9
    assert report.dead_letters == 0
    titles = {f["Email"]: f.get("Title") for f in world.sf.live("Lead").values()}
    assert {titles[f"p{n}@example.com"] for n in range(6)} == {"CTO"}
    emails = {f["email"] for f in world.hs.live("contacts").values()}
    assert {f"sf{n}@example.com" for n in range(3)} <= emails
    world.clock.advance(10)
    before = world.writes()
    world.engine().backfill()
    assert world.writes() == before  # the cached plan left nothing to do


def _hubspot_listed_before_salesforce(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Salesforce's listing starts only once HubSpot's was read to its end (ahead, in the
    backfill's read-ahead thread), as a rate-limited org with a fast Salesforce would see."""
    listed = threading.Event()
    hs_all, sf_all = world.hs.list_all, world.sf.list_all

    def hubspot_listing(obj: str, start: str | None = None) -> Iterator[ListedPage]:
        yield from hs_all(obj, start)
        listed.set()

    def salesforce_listing(obj: str, start: str | None = None) -> Iterator[ListedPage]:
        assert listed.wait(5)
        yield from sf_all(obj, start)

    monkeypatch.setattr(world.hs, "list_all", hubspot_listing)
    monkeypatch.setattr(world.sf, "list_all", salesforce_listing)


def test_a_hubspot_record_read_ahead_before_our_write_is_read_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The HubSpot listing runs ahead during the Salesforce pass; a contact that pass then
    writes to must not be planned from the copy read before (it would undo the write)."""
    hs_id = world.hs.put(
        "contacts",
        {"email": "a@example.com", "firstname": "A", "lastname": "Z", "jobtitle": "Old"},
    )
    sf_id = world.sf.put(
        "Contact", {"Email": "a@example.com", "LastName": "Z", "FirstName": "A", "Title": "Old"}
    )
    world.clock.advance(10)
    world.engine().backfill()
    world.clock.advance(10)
    world.sf.put("Contact", {"Title": "New"}, id=sf_id)  # a Salesforce user's edit
    world.clock.advance(10)
    _hubspot_listed_before_salesforce(world, monkeypatch)
    world.engine(backfill_page_size=1, prefetch_records=10).backfill()
    assert world.hs.get("contacts", hs_id)["jobtitle"] == "New"
    assert world.sf.get("Contact", sf_id)["Title"] == "New"  # not undone by the stale copy


def test_a_hubspot_listing_waiting_on_disk_is_synced_like_one_read_on_demand(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages read ahead beyond the in-memory depth wait on disk; they come back whole, in
    order, and a copy our Salesforce pass made stale is still read again."""
    for n in range(6):
        world.hs.put(
            "contacts",
            {
                "email": f"p{n}@example.com",
                "firstname": "P",
                "lastname": f"L{n}",
                "jobtitle": "Old",
            },
        )
    sf_id = world.sf.put(
        "Contact", {"Email": "p5@example.com", "LastName": "L5", "FirstName": "P", "Title": "New"}
    )
    world.clock.advance(10)
    spilled: list[int] = []
    encode = pagecodec.encode_page

    def counted(page: list[SourceRecord]) -> bytes:
        spilled.append(len(page))
        return encode(page)

    monkeypatch.setattr(pagecodec, "encode_page", counted)
    _hubspot_listed_before_salesforce(world, monkeypatch)
    world.engine(backfill_page_size=1, prefetch_records=1).backfill()
    assert sum(spilled) >= 4  # pages beyond the first waited on disk
    keys = [RecordKey(System.HUBSPOT, "contacts", ident) for ident in world.hs.live("contacts")]
    linked = find_links(world.read(), keys)
    assert len({link.person_id for link in linked.values() if link.active}) == 6  # each once
    assert world.sf.get("Contact", sf_id)["Title"] == "New"  # the stale copy was read again
    twin = next(f for f in world.hs.live("contacts").values() if f["email"] == "p5@example.com")
    assert twin["jobtitle"] == "New"
