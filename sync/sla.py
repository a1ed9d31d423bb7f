"""The lead-response SLA timer: MQLs that sales has not touched within the agreed hours.

The handoff is where leads die: in the HBR audit of 2,241 companies (Oldroyd et al., 2011) the
average first response to a web lead took 42 hours and 23 % never got one, while a lead contacted
within an hour was about 7x as likely to qualify. So the daemon asks, on every cycle, which MQLs
are still waiting past the SLA (`open_breaches`) and records each one once in the decision log
(`record_breaches`), where `baton why <email>` and the dashboard show it.

"Touched" means an entry into a sales-owned stage or outcome that answers the MQL: at or after
it, or before it when the person did not leave the funnel in between (a re-qualified MQL needs
a touch of its own; see `sync.queries.history`), the definition the scorecard's lead-response
figures use.

A touch can be recorded late (its Salesforce page was held back, the daemon was down), so each
tick also squares the log with what is recorded by then (`settle`), as the scorecard does: a
breach logged for someone sales in fact touched within the SLA is withdrawn, and a touch after
the SLA that no breach was logged for is logged as a late one. Each once per person.

Only MQLs handed off to sales count (`sync.queries.history.handed_off`: a Salesforce record is
or was linked): a contact HubSpot calls an MQL that fell short of the shared MQL definition got
no Lead, so sales never had it to touch; the engine notes why (rule `not_handed_off`), and the
scorecard shows such people apart.
Pure over the store: the caller passes `now` and owns the transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select, true
from sqlalchemy.orm import aliased

from mappings.model import Stage
from sync.queries.history import EXITS, SALES_TOUCHES, handed_off
from sync.store._sql import Db, chunked, connection
from sync.store.decisions import Decision, record_decisions
from sync.store.locks import SLA_CHECKS, hold
from sync.store.schema import Decision as DecisionRow
from sync.store.schema import FunnelTransition, Person

DEFAULT_SLA = timedelta(hours=24)
#: The decision-log field a breach is recorded under (one entry per person, ever).
BREACH_FIELD = "lead_response_sla"
BREACH_TRIGGER = "sla_timer"
#: The rule of the entry that withdraws a breach (the other breach rules name the SLA).
WITHDRAWN_RULE = "sla_withdrawn"
#: How far back `settle` looks for newly recorded touches (the timer ticks every minute).
SETTLE_WINDOW = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class SlaBreach:
    """An MQL still untouched by sales after the SLA: who, since when, and by how much late."""

    person_id: uuid.UUID
    email: str | None
    mql_at: datetime
    overdue_by: timedelta


def rule_name(sla: timedelta) -> str:
    """The decision-log rule of a breach, naming the SLA it broke (e.g. `sla_24h`)."""
    return f"sla_{sla / timedelta(hours=1):g}h"


def open_breaches(db: Db, *, now: datetime, sla: timedelta = DEFAULT_SLA) -> list[SlaBreach]:
    """MQLs handed off to sales, entered more than `sla` before `now`, with no sales touch
    recorded; most overdue first.

    One query: MQL entries past the deadline without a sales touch that answers them.
    """
    rows = connection(db).execute(
        _overdue(now, sla).order_by(FunnelTransition.entered_at, FunnelTransition.person_id)
    )
    return [
        SlaBreach(person_id, email, mql_at, now - mql_at - sla) for person_id, email, mql_at in rows
    ]


def count_open_breaches(db: Db, *, now: datetime, sla: timedelta = DEFAULT_SLA) -> int:
    """How many MQLs `open_breaches` would return (for status lines and metrics)."""
    overdue = _overdue(now, sla).subquery()
    return int(connection(db).execute(select(func.count()).select_from(overdue)).scalar_one())


def _overdue(now: datetime, sla: timedelta) -> Select[uuid.UUID, str | None, datetime]:
    if sla <= timedelta(0):
        raise ValueError("the SLA must be a positive duration")
    touch = aliased(FunnelTransition)
    mql = FunnelTransition
    return (
        select(mql.person_id, Person.email_normalized, mql.entered_at)
        .join(Person, Person.baton_id == mql.person_id)
        .where(
            mql.stage == Stage.MQL.value,
            mql.entered_at < now - sla,
            handed_off(mql.person_id),
            ~exists().where(_answers(touch, mql, now)),
        )
    )


def _answers(
    touch: type[FunnelTransition], mql: type[FunnelTransition], now: datetime
) -> ColumnElement[bool]:
    """`touch` is a sales touch recorded by `now` that answers the person's `mql`: at or after
    it, or before it when the person did not leave the funnel (`EXITS`) before the MQL, i.e.
    the MQL is not a re-qualification (`sync.queries.history`)."""
    exit_ = aliased(FunnelTransition)
    requalified = (
        exists()
        .where(
            exit_.person_id == mql.person_id,
            exit_.stage.in_(sorted(EXITS)),
            exit_.entered_at < mql.entered_at,
        )
        .correlate(mql)  # two levels down: auto-correlation only reaches the enclosing select
    )
    return and_(
        touch.person_id == mql.person_id,
        touch.stage.in_(sorted(SALES_TOUCHES)),
        touch.entered_at <= now,
        or_(touch.entered_at >= mql.entered_at, ~requalified),
    )


def record_breaches(
    db: Db,
    breaches: Sequence[SlaBreach],
    *,
    now: datetime,
    sla: timedelta = DEFAULT_SLA,
    run_id: uuid.UUID | None = None,
) -> list[SlaBreach]:
    """Log each breach once in the decision log; returns the ones newly recorded.

    Idempotent: a person with a breach already logged is skipped, so the timer can run every
    cycle (`check` makes two daemons' ticks take turns). The entry carries the MQL time as
    `hubspot_modified_at` (marketing's handoff) and the rule names the SLA, e.g. `sla_24h`.
    """
    if not breaches:
        return []
    conn = connection(db)
    ids = sorted({b.person_id for b in breaches})
    logged: set[uuid.UUID] = set()
    for chunk in chunked(ids):
        logged.update(
            conn.execute(
                select(DecisionRow.person_id).where(
                    DecisionRow.field == BREACH_FIELD, DecisionRow.person_id.in_(chunk)
                )
            ).scalars()
        )
    fresh: list[SlaBreach] = []
    for breach in breaches:
        if breach.person_id not in logged:
            logged.add(breach.person_id)
            fresh.append(breach)
    record_decisions(
        db,
        [
            Decision(
                person_id=breach.person_id,
                field=BREACH_FIELD,
                rule=rule_name(sla),
                trigger=BREACH_TRIGGER,
                decided_at=now,
                hubspot_modified_at=breach.mql_at,
                run_id=run_id,
            )
            for breach in fresh
        ],
    )
    return fresh


@dataclass(frozen=True, slots=True)
class SlaSettled:
    """A correction `settle` logged: a breach `withdrawn` (sales touched within the SLA after
    all), or a late touch logged as the breach it was."""

    person_id: uuid.UUID
    mql_at: datetime
    touched_at: datetime
    withdrawn: bool


def settle(
    db: Db,
    *,
    now: datetime,
    sla: timedelta = DEFAULT_SLA,
    run_id: uuid.UUID | None = None,
    whole: bool = False,
) -> list[SlaSettled]:
    """Square the breach log with the touches recorded by `now`; returns what it logged.

    Only people with an MQL or a touch recorded in the last `SETTLE_WINDOW` are asked about
    (found by the `recorded_at` index): an entry changes nothing once squared, and the timer
    ticks every minute, so the query is the size of the recent news, not of the whole funnel.
    `whole`: every person, for a process's first tick, since no timer may have ticked for
    longer than the window (the daemon down, a backfill recording touches meanwhile).
    """
    conn = connection(db)
    news = aliased(FunnelTransition)
    recent = (  # people with an MQL or a touch recorded lately (by the recorded_at index)
        select(news.person_id)
        .where(
            news.recorded_at >= now - SETTLE_WINDOW,
            news.stage.in_(sorted({*SALES_TOUCHES, Stage.MQL.value})),
        )
        .scalar_subquery()
    )
    touch = aliased(FunnelTransition)
    mql = aliased(FunnelTransition)
    answered = (  # each recent MQL with the first touch that answers it
        select(
            mql.person_id,
            mql.entered_at.label("mql_at"),
            func.min(touch.entered_at).label("touched_at"),
        )
        .join(touch, _answers(touch, mql, now))
        .where(
            mql.stage == Stage.MQL.value,
            true() if whole else mql.person_id.in_(recent),
            handed_off(mql.person_id),
        )
        .group_by(mql.person_id, mql.entered_at)
        .subquery()
    )
    entry = aliased(DecisionRow)
    withdrawn = aliased(DecisionRow)
    rows = conn.execute(
        select(answered.c.person_id, answered.c.mql_at, answered.c.touched_at, entry.id)
        .outerjoin(
            entry,
            and_(
                entry.person_id == answered.c.person_id,
                entry.field == BREACH_FIELD,
                entry.rule != WITHDRAWN_RULE,
            ),
        )
        .where(
            ~exists().where(
                and_(
                    withdrawn.person_id == answered.c.person_id,
                    withdrawn.field == BREACH_FIELD,
                    withdrawn.rule == WITHDRAWN_RULE,
                )
            ),
        )
        .order_by(answered.c.mql_at, answered.c.person_id)
    )
    found: dict[uuid.UUID, SlaSettled] = {}  # one per person (two racing workers' entries)
    for person_id, mql_at, touched_at, logged in rows:
        in_time = touched_at <= mql_at + sla
        if logged is not None and in_time:
            found[person_id] = SlaSettled(person_id, mql_at, touched_at, withdrawn=True)
        elif logged is None and not in_time:
            found[person_id] = SlaSettled(person_id, mql_at, touched_at, withdrawn=False)
    settled = list(found.values())
    record_decisions(
        db,
        [
            Decision(
                person_id=s.person_id,
                field=BREACH_FIELD,
                rule=WITHDRAWN_RULE if s.withdrawn else rule_name(sla),
                trigger=BREACH_TRIGGER,
                decided_at=now,
                hubspot_modified_at=s.mql_at,
                salesforce_modified_at=s.touched_at,
                run_id=run_id,
            )
            for s in settled
        ],
    )
    return settled


def check(
    db: Db,
    *,
    now: datetime,
    sla: timedelta = DEFAULT_SLA,
    run_id: uuid.UUID | None = None,
    whole: bool = False,
) -> tuple[list[SlaBreach], list[SlaBreach]]:
    """One timer tick: (every open breach, the ones newly logged by this tick), after the
    log is squared with the touches recorded since the last tick (`settle`; `whole`: with
    every touch, for a process's first tick). Ticks of two daemons on one store take turns
    (`SLA_CHECKS`): each reads the log before adding to it."""
    hold(connection(db), SLA_CHECKS)
    settle(db, now=now, sla=sla, run_id=run_id, whole=whole)
    found = open_breaches(db, now=now, sla=sla)
    return found, record_breaches(db, found, now=now, sla=sla, run_id=run_id)
