"""`status`: cursors with lag, runs with durations, errors by code, links, ambiguity, budget."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import Engine

from baton.cli.common import baton_command
from baton.cli.status import unfinished_line
from connectors.records import RecordKey, System
from sync.queries.status import (
    BudgetStatus,
    CursorStatus,
    ErrorGroup,
    LinkCount,
    ListingStatus,
    status,
)
from sync.store.budget import observe_budget
from sync.store.checkpoints import advance_checkpoint
from sync.store.dead_letters import Direction, add_dead_letter, drop_dead_letters
from sync.store.decisions import Decision, record_decisions
from sync.store.links import LinkReason, link, relink
from sync.store.people import add_person
from sync.store.positions import begin_listing, save_listing
from sync.store.runs import RunKind, RunStatus, beat, finish_run, start_run
from sync.store.transitions import record_transition

from .conftest import at

NOW = at("03-10 12:00")


def test_an_empty_store(store: Engine) -> None:
    with store.connect() as conn:
        report = status(conn, now=NOW)
    assert report.cursors == report.runs == report.open_errors == report.links == ()
    assert report.budgets == ()
    assert report.dead_letters == {"open": 0, "retried": 0, "dropped": 0}
    assert (report.people, report.ambiguous_people, report.ambiguous_last_run) == (0, 0, None)
    assert (report.sla, report.sla_overdue) == (timedelta(hours=24), 0)


def test_everything_status_reports(store: Engine) -> None:
    with store.begin() as conn:
        advance_checkpoint(conn, System.HUBSPOT, "contacts", at("03-10 11:55"), "901", at=NOW)
        advance_checkpoint(conn, System.SALESFORCE, "Lead", at("03-10 09:00"), "00Q1", at=NOW)
        old = start_run(conn, RunKind.BACKFILL, at=at("03-09 08:00"))
        finish_run(
            conn,
            old,
            RunStatus.SUCCEEDED,
            counts={"read": 10, "ambiguous": 2},
            at=at("03-09 08:10"),
        )
        failed = start_run(conn, RunKind.DAEMON, at=at("03-10 11:00"))
        finish_run(conn, failed, RunStatus.FAILED, error="daily cap reached", at=at("03-10 11:00"))
        running = start_run(conn, RunKind.DAEMON, at=at("03-10 11:58"))
        for record, code in (("1", "INVALID_EMAIL_ADDRESS"), ("2", "INVALID_EMAIL_ADDRESS")):
            add_dead_letter(
                conn,
                RecordKey(System.SALESFORCE, "Lead", record),
                Direction.TO_SALESFORCE,
                {"Email": "x"},
                code,
                "bad email",
                at=NOW,
            )
        add_dead_letter(
            conn,
            RecordKey(System.HUBSPOT, "contacts", "3"),
            Direction.TO_HUBSPOT,
            {},
            None,
            "refused",
            at=NOW,
        )
        add_dead_letter(
            conn,
            RecordKey(System.HUBSPOT, "contacts", "4"),
            Direction.TO_HUBSPOT,
            {},
            "X",
            "dropped one",
            at=NOW,
        )
        drop_dead_letters(conn, [4])
        first = add_person(conn, "a@example.com", at=NOW)
        second = add_person(conn, "b@example.com", at=NOW)
        link(conn, first, RecordKey(System.HUBSPOT, "contacts", "1"), LinkReason.EMAIL, at=NOW)
        link(conn, first, RecordKey(System.SALESFORCE, "Lead", "00Q1"), LinkReason.EMAIL, at=NOW)
        relink(conn, first, RecordKey(System.SALESFORCE, "Contact", "003A"), LinkReason.CONVERSION)
        link(conn, second, RecordKey(System.HUBSPOT, "contacts", "2"), LinkReason.CREATED, at=NOW)
        # handed off to sales (the SLA judges only MQLs sales got)
        link(conn, second, RecordKey(System.SALESFORCE, "Lead", "00Q2"), LinkReason.CREATED, at=NOW)
        record_decisions(
            conn,
            [
                # the records each note refused them (none of them theirs since)
                Decision(
                    first,
                    "identity",
                    "ambiguous:salesforce",
                    "poll",
                    NOW,
                    salesforce_old="salesforce:Lead:00Q9",
                ),
                Decision(
                    first,
                    "identity",
                    "ambiguous:hubspot",
                    "poll",
                    NOW,
                    hubspot_old="hubspot:contacts:9",
                ),
                Decision(
                    second,
                    "identity",
                    "ambiguous:salesforce",
                    "poll",
                    NOW,
                    salesforce_old="salesforce:Lead:00Q8",
                ),
                Decision(second, "identity", "email", "poll", NOW),
                Decision(second, "job_title", "ambiguous:x", "poll", NOW),
            ],
        )
        # first: MQL 25 h ago, untouched (overdue under 24 h); second: MQL 3 h ago
        record_transition(conn, first, "mql", NOW - timedelta(hours=25), System.HUBSPOT)
        record_transition(conn, second, "mql", NOW - timedelta(hours=3), System.HUBSPOT)
        observe_budget(conn, System.HUBSPOT, "daily", used=100, remaining=900, at=at("03-10 11:00"))
    with store.connect() as conn:
        report = status(conn, now=NOW, runs=5)
    assert report.cursors == (
        CursorStatus(
            "hubspot", "contacts", at("03-10 11:55"), "901", None, NOW, timedelta(minutes=5)
        ),
        CursorStatus(
            "salesforce", "Lead", at("03-10 09:00"), "00Q1", None, NOW, timedelta(hours=3)
        ),
    )
    assert [(r.id, r.kind, r.status, r.duration, r.error) for r in report.runs] == [
        (running, "daemon", "running", timedelta(minutes=2), None),
        (failed, "daemon", "failed", timedelta(0), "daily cap reached"),
        (old, "backfill", "succeeded", timedelta(minutes=10), None),
    ]
    assert report.runs[2].counts == {"read": 10, "ambiguous": 2}
    # the latest *finished* run (the failed one) reported no ambiguity
    assert report.ambiguous_last_run == 0
    assert report.dead_letters == {"open": 3, "retried": 0, "dropped": 1}
    assert report.open_errors == (
        ErrorGroup("salesforce", "INVALID_EMAIL_ADDRESS", 2),
        ErrorGroup("hubspot", None, 1),
    )
    assert report.people == 2
    assert report.ambiguous_people == 2
    assert report.sla_overdue == 1
    with store.connect() as conn:
        assert status(conn, now=NOW, sla=timedelta(hours=2)).sla_overdue == 2
    assert report.links == (
        LinkCount("hubspot", "contacts", 2, 0),
        LinkCount("salesforce", "Contact", 1, 0),
        LinkCount("salesforce", "Lead", 1, 1),
    )
    assert report.budgets == (
        BudgetStatus("hubspot", "daily", 100, 900, at("03-10 11:00"), timedelta(hours=1)),
    )


def test_ambiguous_comes_from_the_latest_finished_poll_or_backfill_in_people(
    store: Engine,
) -> None:
    """A reconcile reads linked records only and a retry its letters' people: neither meets
    the people left unlinked, so their 0 is not "the last run saw 0"."""
    with store.begin() as conn:
        for kind, start, counts in (
            (RunKind.BACKFILL, "03-10 08:00", {"ambiguous": 70, "ambiguous_people": 20}),
            (RunKind.DAEMON, "03-10 10:00", {"ambiguous": 9, "ambiguous_people": 4}),
            (RunKind.RECONCILE, "03-10 10:30", {"ambiguous": 0, "ambiguous_people": 0}),
            (RunKind.ONCE, "03-10 10:40", {"ambiguous": 0, "ambiguous_people": 0}),
        ):
            run = start_run(conn, kind, at=at(start))
            finish_run(conn, run, RunStatus.SUCCEEDED, counts=counts, at=at(start))
        start_run(conn, RunKind.DAEMON, at=at("03-10 11:00"))
    with store.connect() as conn:
        report = status(conn, now=NOW, runs=1)
    assert report.ambiguous_last_run == 4
    assert [r.status for r in report.runs] == ["running"]
    assert isinstance(report.runs[0].id, uuid.UUID)


def test_a_run_that_counted_records_only_is_not_read_as_people(store: Engine) -> None:
    with store.begin() as conn:
        run = start_run(conn, RunKind.DAEMON, at=at("03-10 10:00"))
        finish_run(conn, run, RunStatus.SUCCEEDED, counts={"ambiguous": 4}, at=at("03-10 10:01"))
    with store.connect() as conn:
        assert status(conn, now=NOW).ambiguous_last_run is None


def test_the_latest_run_of_each_kind_is_there_however_many_polls_came_after(
    store: Engine,
) -> None:
    with store.begin() as conn:
        backfill = start_run(conn, RunKind.BACKFILL, at=at("03-01 08:00"))
        finish_run(conn, backfill, RunStatus.SUCCEEDED, counts={"read": 9}, at=at("03-01 09:00"))
        reconcile = start_run(conn, RunKind.RECONCILE, at=at("03-09 03:00"))
        finish_run(conn, reconcile, RunStatus.FAILED, error="cap", at=at("03-09 03:01"))
        polls = []
        for minute in range(30):
            poll = start_run(conn, RunKind.DAEMON, at=at(f"03-10 11:{minute:02d}"))
            finish_run(conn, poll, RunStatus.SUCCEEDED, at=at(f"03-10 11:{minute:02d}"))
            polls.append(poll)
    with store.connect() as conn:
        report = status(conn, now=NOW, runs=5)
    assert {r.kind for r in report.runs} == {"daemon"}
    assert [(r.kind, r.id, r.status) for r in report.latest_by_kind] == [
        ("daemon", polls[-1], "succeeded"),
        ("backfill", backfill, "succeeded"),
        ("reconcile", reconcile, "failed"),
    ]
    assert report.latest_by_kind[1].duration == timedelta(hours=1)
    assert report.latest_by_kind[2].error == "cap"


def test_the_ambiguity_markers_are_the_engines() -> None:
    from connectors.records import System as Sys
    from sync.identity import IDENTITY_FIELD, ambiguous_rule
    from sync.queries import ambiguous as read_side

    assert read_side.IDENTITY_FIELD == IDENTITY_FIELD
    assert ambiguous_rule(Sys.HUBSPOT).startswith(read_side.AMBIGUOUS_RULE_PREFIX)


def test_a_running_runs_heartbeat_age_and_staleness(store: Engine) -> None:
    with store.begin() as conn:
        silent = start_run(conn, RunKind.BACKFILL, at=at("03-10 11:00"))
        beat(conn, silent, at=at("03-10 11:45"))  # 15 min ago: past the 10 min limit
        never = start_run(conn, RunKind.ONCE, at=at("03-10 11:40"))  # no beat: its start counts
        live = start_run(conn, RunKind.DAEMON, at=at("03-10 11:30"))
        beat(conn, live, at=at("03-10 11:59"))
        done = start_run(conn, RunKind.ONCE, at=at("03-10 09:00"))
        finish_run(conn, done, RunStatus.SUCCEEDED, at=at("03-10 09:01"))
    with store.connect() as conn:
        report = status(conn, now=NOW, runs=10)
    by_id = {run.id: run for run in report.runs}
    assert (by_id[silent].heartbeat_age, by_id[silent].stale) == (timedelta(minutes=15), True)
    assert by_id[silent].heartbeat_at == at("03-10 11:45")
    assert (by_id[never].heartbeat_age, by_id[never].stale) == (timedelta(minutes=20), True)
    assert (by_id[live].heartbeat_age, by_id[live].stale) == (timedelta(minutes=1), False)
    assert (by_id[done].heartbeat_age, by_id[done].stale) == (None, False)
    with store.connect() as conn:
        lenient = status(conn, now=NOW, runs=10, stale_after=timedelta(minutes=30))
    assert not any(run.stale for run in lenient.runs)


def test_an_interrupted_backfills_listings_and_how_far_each_got(store: Engine) -> None:
    began = at("03-10 09:00")
    with store.begin() as tx:
        begin_listing(tx, System.SALESFORCE, "Lead", began, at=began)
        begin_listing(tx, System.HUBSPOT, "contacts", began, at=began)
        save_listing(
            tx, System.SALESFORCE, "Lead", position=None, added=40, held=False, done=True, at=began
        )
        save_listing(
            tx, System.HUBSPOT, "contacts", position="501", added=500, held=False, at=began
        )
    with store.connect() as conn:
        report = status(conn, now=NOW)

    assert report.unfinished_backfill == (
        ListingStatus("hubspot", "contacts", 500, False, began),
        ListingStatus("salesforce", "Lead", 40, True, began),
    )
    line = unfinished_line(report.unfinished_backfill)
    assert "hubspot:contacts 500 listed so far" in line
    assert "salesforce:Lead listed" in line
    assert f"'{baton_command()} backfill' goes on from there" in line


def test_a_running_backfills_listings_are_in_progress_not_interrupted(store: Engine) -> None:
    began = at("03-10 11:50")
    with store.begin() as tx:
        start_run(tx, RunKind.BACKFILL, at=began)
        begin_listing(tx, System.HUBSPOT, "contacts", began, at=began)
    with store.connect() as conn:
        live = status(conn, now=NOW)
        silent = status(conn, now=NOW + timedelta(hours=1))  # its process died long ago

    assert live.backfill_running
    assert unfinished_line(live.unfinished_backfill, running=True).startswith(
        "Backfill in progress"
    )
    assert not silent.backfill_running
