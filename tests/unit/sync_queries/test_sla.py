"""The lead-response SLA timer over the hand-built funnel (see conftest)."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, Engine

from connectors.records import System
from sync import sla
from sync.store.decisions import decisions_for
from sync.store.people import add_person
from sync.store.runs import RunKind, start_run
from sync.store.transitions import record_transition

from .conftest import AS_OF, at, hand_off

H = timedelta(hours=1)


def test_untouched_mqls_past_the_sla_are_breaches(
    store: Engine, funnel: dict[str, uuid.UUID]
) -> None:
    with store.connect() as conn:
        found = sla.open_breaches(conn, now=AS_OF)
    # carol is the only MQL nobody touched; gina's 24 h are not over (2 h so far)
    assert found == [
        sla.SlaBreach(
            funnel["carol"], "carol@example.com", at("03-04 09:00"), AS_OF - at("03-05 09:00")
        )
    ]


def test_a_touch_after_now_does_not_count_yet(store: Engine, funnel: dict[str, uuid.UUID]) -> None:
    with store.connect() as conn:
        found = sla.open_breaches(conn, now=at("03-04 10:00"))
    # bob became an MQL 03-03 09:00; his SAL (03-04 15:00) is still to come: 1 h overdue.
    # hank (MQL 02-27) is disqualified only on 03-10: most overdue, so listed first.
    assert [(b.email, b.mql_at, b.overdue_by) for b in found] == [
        ("hank@example.com", at("02-27 09:00"), timedelta(days=4, hours=1)),
        ("bob@example.com", at("03-03 09:00"), H),
    ]


def test_the_sla_hours_decide_who_is_overdue(store: Engine, funnel: dict[str, uuid.UUID]) -> None:
    with store.connect() as conn:
        found = sla.open_breaches(conn, now=AS_OF, sla=H)
    assert [(b.email, b.overdue_by) for b in found] == [
        ("carol@example.com", AS_OF - at("03-04 09:00") - H),
        ("gina@example.com", H),
    ]
    with store.connect() as conn, pytest.raises(ValueError, match="positive"):
        sla.open_breaches(conn, now=AS_OF, sla=timedelta(0))


def test_breaches_are_logged_once_per_person(store: Engine, funnel: dict[str, uuid.UUID]) -> None:
    with store.begin() as conn:
        run_id = start_run(conn, RunKind.DAEMON, at=AS_OF)
        found, fresh = sla.check(conn, now=AS_OF, run_id=run_id)
    assert [b.email for b in found] == [b.email for b in fresh] == ["carol@example.com"]
    later = AS_OF + 2 * H
    with store.begin() as conn:
        found, fresh = sla.check(conn, now=later, sla=H)
    # carol is already logged; gina is newly overdue under the 1 h SLA
    assert [b.email for b in found] == ["carol@example.com", "gina@example.com"]
    assert [b.email for b in fresh] == ["gina@example.com"]
    with store.begin() as conn:
        assert sla.check(conn, now=later, sla=H)[1] == []
        carol = decisions_for(conn, funnel["carol"], sla.BREACH_FIELD)
        gina = decisions_for(conn, funnel["gina"], sla.BREACH_FIELD)
    assert len(carol) == 1
    assert len(gina) == 1
    assert (carol[0].rule, carol[0].trigger, carol[0].decided_at) == ("sla_24h", "sla_timer", AS_OF)
    assert carol[0].hubspot_modified_at == at("03-04 09:00")
    assert carol[0].run_id == run_id
    assert (gina[0].rule, gina[0].decided_at) == ("sla_1h", later)


def test_the_count_agrees_with_the_list(store: Engine, funnel: dict[str, uuid.UUID]) -> None:
    with store.connect() as conn:
        for now, sla_ in ((AS_OF, 24 * H), (AS_OF, H), (at("03-04 10:00"), 24 * H)):
            expected = len(sla.open_breaches(conn, now=now, sla=sla_))
            assert sla.count_open_breaches(conn, now=now, sla=sla_) == expected
        assert sla.count_open_breaches(conn, now=AS_OF, sla=H) == 2


def test_recording_nothing_writes_nothing(store: Engine) -> None:
    with store.begin() as conn:
        assert sla.record_breaches(conn, [], now=AS_OF) == []


def _person(
    conn: Connection, name: str, *entries: tuple[str, str, str], handed_off: bool = True
) -> uuid.UUID:
    """A person with (stage, entered, recorded) entries: a touch may be recorded late.
    `handed_off`: linked to a Salesforce Lead (else HubSpot's MQL never reached sales)."""
    pid = add_person(conn, f"{name}@example.com", at=at("03-01 00:00"))
    if handed_off:
        hand_off(conn, pid, name)
    for stage, entered, recorded in entries:
        system = System.HUBSPOT if stage == "mql" else System.SALESFORCE
        record_transition(conn, pid, stage, at(entered), system, at=at(recorded))
    return pid


def _entries(conn: Connection, pid: uuid.UUID) -> list[tuple[str, object, object]]:
    return [
        (d.rule, d.hubspot_modified_at, d.salesforce_modified_at)
        for d in decisions_for(conn, pid, sla.BREACH_FIELD)
    ]


def test_the_log_is_squared_with_touches_recorded_late(store: Engine) -> None:
    with store.begin() as conn:
        late = _person(conn, "late", ("mql", "03-10 09:00", "03-10 09:00"))
        early = _person(conn, "early", ("mql", "03-10 09:00", "03-10 09:00"))
        settled_long_ago = _person(  # a late touch recorded days ago: squared then, not now
            conn,
            "old",
            ("mql", "03-01 09:00", "03-01 09:00"),
            ("sal", "03-03 09:00", "03-03 09:00"),
        )
        prompt = _person(
            conn,
            "prompt",
            ("mql", "03-10 09:00", "03-10 09:00"),
            ("sal", "03-10 10:00", "03-10 10:00"),
        )
    with store.begin() as conn:  # a day on, neither late nor early is touched yet: two breaches
        found, fresh = sla.check(conn, now=at("03-11 10:00"))
    assert {b.person_id for b in fresh} == {late, early}
    with store.begin() as conn:
        # The daemon was down: both touches are recorded now, one made after the SLA ran out,
        # the other (its Salesforce page held back) two hours after the MQL, well within it.
        record_transition(
            conn, late, "sal", at("03-11 15:00"), System.SALESFORCE, at=at("03-11 16:00")
        )
        record_transition(
            conn, early, "sal", at("03-10 11:00"), System.SALESFORCE, at=at("03-11 16:00")
        )
        fresh_late = _person(
            conn,
            "unseen",
            ("mql", "03-09 09:00", "03-11 16:00"),
            ("sal", "03-11 12:00", "03-11 16:00"),
        )
    with store.begin() as conn:
        settled = sla.settle(conn, now=at("03-11 16:01"))
        assert sla.settle(conn, now=at("03-11 16:02")) == []  # each once
        found, fresh = sla.check(conn, now=at("03-11 16:03"))
    assert found == fresh == []
    assert {(s.person_id, s.withdrawn) for s in settled} == {(early, True), (fresh_late, False)}
    with store.connect() as conn:
        assert _entries(conn, late) == [("sla_24h", at("03-10 09:00"), None)]  # still breached
        assert _entries(conn, early) == [
            ("sla_24h", at("03-10 09:00"), None),
            ("sla_withdrawn", at("03-10 09:00"), at("03-10 11:00")),
        ]
        assert _entries(conn, fresh_late) == [("sla_24h", at("03-09 09:00"), at("03-11 12:00"))]
        assert _entries(conn, prompt) == []
        assert _entries(conn, settled_long_ago) == []


def test_a_touch_before_a_requalified_mql_does_not_answer_it(store: Engine) -> None:
    with store.begin() as conn:
        # disqualified at inquiry, re-qualified by marketing later: a new handoff, a new clock
        again = _person(
            conn,
            "again",
            ("disqualified", "03-01 09:00", "03-01 09:00"),
            ("mql", "03-10 09:00", "03-10 09:00"),
        )
        _person(  # recycled, re-qualified, and accepted an hour after the new MQL
            conn,
            "answered",
            ("recycled", "03-01 09:00", "03-01 09:00"),
            ("mql", "03-10 09:00", "03-10 09:00"),
            ("sal", "03-10 10:00", "03-10 10:00"),
        )
        _person(  # sales accepted before marketing's MQL, nothing rejected: answered at zero
            conn,
            "ahead",
            ("sal", "03-09 09:00", "03-09 09:00"),
            ("mql", "03-10 09:00", "03-10 09:00"),
        )
        rejoined = _person(  # accepted after the exit, yet before the re-qualifying MQL
            conn,
            "rejoined",
            ("disqualified", "03-01 09:00", "03-01 09:00"),
            ("sal", "03-05 09:00", "03-05 09:00"),
            ("mql", "03-10 10:00", "03-10 10:00"),
        )
    now = at("03-12 10:00")
    with store.connect() as conn:
        found = sla.open_breaches(conn, now=now)
        assert sla.count_open_breaches(conn, now=now) == 2
    assert [(b.person_id, b.mql_at, b.overdue_by) for b in found] == [
        (again, at("03-10 09:00"), timedelta(days=1, hours=1)),
        (rejoined, at("03-10 10:00"), timedelta(days=1)),
    ]


def test_settling_ignores_touches_before_a_requalified_mql(store: Engine) -> None:
    with store.begin() as conn:
        again = _person(
            conn,
            "again",
            ("disqualified", "03-01 09:00", "03-01 09:00"),
            ("mql", "03-10 09:00", "03-10 09:00"),
        )
    with store.begin() as conn:
        assert [b.person_id for b in sla.check(conn, now=at("03-11 10:00"))[1]] == [again]
    with store.begin() as conn:
        # accepted after the SLA ran out (recorded late): the breach stands, it is not withdrawn
        record_transition(
            conn, again, "sal", at("03-11 15:00"), System.SALESFORCE, at=at("03-11 16:00")
        )
        unseen = _person(  # recycled long ago, re-qualified, accepted late, all recorded now
            conn,
            "unseen",
            ("recycled", "03-01 09:00", "03-01 09:00"),
            ("mql", "03-09 09:00", "03-11 16:00"),
            ("sal", "03-11 12:00", "03-11 16:00"),
        )
    with store.begin() as conn:
        settled = sla.settle(conn, now=at("03-11 16:01"))
    assert [(s.person_id, s.touched_at, s.withdrawn) for s in settled] == [
        (unseen, at("03-11 12:00"), False)
    ]
    with store.connect() as conn:
        assert _entries(conn, again) == [("sla_24h", at("03-10 09:00"), None)]


def test_an_mql_never_handed_off_is_no_sales_breach(store: Engine) -> None:
    """HubSpot calls them MQLs, but they fell short of the shared definition: no Lead was made,
    so sales never had them. No open breach, and a touch recorded late (HubSpot moved to SQL
    by hand) is no late breach either; a handed-off MQL beside them still is."""
    with store.begin() as conn:
        kept = _person(conn, "kept", ("mql", "03-10 09:00", "03-10 09:00"), handed_off=False)
        moved = _person(
            conn,
            "moved",
            ("mql", "03-09 09:00", "03-11 16:00"),
            ("sql", "03-11 12:00", "03-11 16:00"),
            handed_off=False,
        )
        sales = _person(conn, "sales", ("mql", "03-10 09:00", "03-10 09:00"))
    with store.begin() as conn:
        found, fresh = sla.check(conn, now=at("03-11 16:01"))
        assert sla.count_open_breaches(conn, now=at("03-11 16:01")) == 1
    assert [b.person_id for b in found] == [b.person_id for b in fresh] == [sales]
    with store.connect() as conn:
        assert _entries(conn, kept) == _entries(conn, moved) == []


def test_two_daemons_ticking_together_log_a_breach_once(
    store: Engine, funnel: dict[str, uuid.UUID]
) -> None:
    """Two daemons on one store (a rolling deploy) run the timer side by side: the second tick
    waits for the first's transaction, then finds carol's breach logged (on PostgreSQL it read
    the log before the first committed, and logged her again)."""
    go, checked = threading.Event(), threading.Event()
    fresh: dict[str, list[sla.SlaBreach]] = {}

    def tick(name: str, hold_open: bool) -> None:
        with store.begin() as conn:
            fresh[name] = sla.check(conn, now=AS_OF)[1]
            if hold_open:
                checked.set()
                assert go.wait(30)

    first = threading.Thread(target=tick, args=("first", True))
    first.start()
    assert checked.wait(30)
    second = threading.Thread(target=tick, args=("second", False))
    second.start()
    second.join(1.0)  # it finishes in far less unless it waits for the first
    go.set()
    first.join(30)
    second.join(30)
    assert [b.email for b in fresh["first"]] == ["carol@example.com"]
    assert fresh["second"] == []
    with store.connect() as conn:
        assert len(decisions_for(conn, funnel["carol"], sla.BREACH_FIELD)) == 1


def test_a_daemons_first_tick_squares_touches_recorded_while_none_ran(store: Engine) -> None:
    """The daemon logged pat's breach, then was down for two days, while a backfill recorded
    the rep's touch, made within the SLA after all. A tick looks only at the last day's news,
    so a later one would never withdraw it; the first tick of a process looks at all."""
    from baton.wiring import sla_timer

    now = datetime.now(UTC)
    mql_at = now - 60 * H
    with store.begin() as conn:
        pid = add_person(conn, "pat@example.com", at=mql_at)
        hand_off(conn, pid, "pat")
        record_transition(conn, pid, "mql", mql_at, System.HUBSPOT, at=mql_at)
    with store.begin() as conn:  # the daemon's last tick before it stopped
        assert [b.email for b in sla.check(conn, now=mql_at + 25 * H)[1]] == ["pat@example.com"]
    with store.begin() as conn:  # the backfill, over a day before the daemon is back
        record_transition(conn, pid, "sal", mql_at + H, System.SALESFORCE, at=mql_at + 26 * H)
    with store.connect() as conn:
        assert sla.settle(conn, now=now) == []  # beyond a later tick's window
    sla_timer(store, hours=24, every_s=60).run()
    with store.connect() as conn:
        logged = decisions_for(conn, pid, sla.BREACH_FIELD)
    assert [d.rule for d in logged] == ["sla_24h", sla.WITHDRAWN_RULE]
