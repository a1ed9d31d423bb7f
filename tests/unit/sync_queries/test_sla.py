"""The lead-response SLA timer over the hand-built funnel (see conftest)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from sync import sla
from sync.store.decisions import decisions_for
from sync.store.runs import RunKind, start_run

from .conftest import AS_OF, at

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
