"""People's funnel histories as the scorecard and the SLA timer read them.

One place states what counts as "reaching" a stage and as a "sales touch", because the
scorecard's conversion, velocity and lead-response figures and the SLA timer must agree:

- Reaching a stage: the first recorded entry into that stage *or any later stage*. A person who
  went from MQL straight to SQL (no SAL recorded) did pass MQL -> SAL; counting them as lost
  would punish sales for skipping a status.
- Passing a stage (a scorecard cohort): its first recorded entry; for a stage skipped (the
  engine records no entry it has no evidence for), the first entry past it, when the person was
  known at or before it: an earlier stage recorded, or an outcome given only there (recycled
  or disqualified at a lead stage, sql at the furthest; lost at sql or opportunity). So the
  MQL who went straight to SQL is in SAL's cohort too, and a deal won from an early stage puts
  its person among the opportunities that became customers: each step's converted people are
  the next step's cohort. A person first seen past a stage (a contact imported as a customer)
  entered the funnel there, and is in no earlier cohort: nothing before their first stage is
  invented.
- A sales touch: the first recorded entry into any sales-owned stage or outcome (`sal`, `sql`,
  `opportunity`, `customer`, `recycled`, `disqualified`, `lost`). Accepting, working, converting
  and rejecting a lead all mean a rep looked at it.
- The touch that answers an MQL: the first touch at or after the MQL. A touch before it answers
  it too (at zero: sales had the person first, the MQL is a stage stamped out of order), unless
  the person left the funnel before the MQL (`EXITS`: recycled, disqualified or lost): then the
  MQL is a re-qualification, a new handoff (recycled at inquiry, re-qualified by marketing
  later), and only a touch at or after it answers it.

- Handed off: the person has (or had) a Salesforce record linked. An MQL by HubSpot's lifecycle
  stage that never reached Salesforce (below the shared MQL definition, so no Lead was made; the
  engine notes why, rule `not_handed_off`) is no MQL sales could answer: the SLA timer and the
  scorecard count it apart ("not handed off"), never as a sales breach.

Only first entries exist (the store never rewrites them), so a person recycled twice counts once.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.orm import QueryableAttribute

from connectors.records import System
from mappings.model import REASON_REQUIRED, STAGES, Outcome, Stage
from mappings.stages import LEAD_STAGES, LOSABLE_STAGES
from sync.store._sql import Db, connection
from sync.store.schema import FunnelTransition, IdentityLink, Person

SALES_TOUCHES: frozenset[str] = frozenset(
    {
        Stage.SAL,
        Stage.SQL,
        Stage.OPPORTUNITY,
        Stage.CUSTOMER,
        Outcome.RECYCLED,
        Outcome.DISQUALIFIED,
        Outcome.LOST,
    }
)
REJECTIONS: tuple[Outcome, ...] = tuple(o for o in Outcome if o in REASON_REQUIRED)
#: Ways out of the funnel: an MQL after one of these is a re-qualification (a new handoff).
EXITS: frozenset[str] = frozenset(Outcome)
#: The furthest stage each outcome is given at (`mappings.stages`): a person with one was
#: known at or before that stage, so passes it, and every later one, on reaching past it.
OUTCOME_CEILINGS: Mapping[str, Stage] = {
    Outcome.RECYCLED: max(LEAD_STAGES),
    Outcome.DISQUALIFIED: max(LEAD_STAGES),
    Outcome.LOST: max(LOSABLE_STAGES),
}


@dataclass(frozen=True, slots=True)
class Entry:
    """The first time one person entered one stage or outcome."""

    stage: str
    entered_at: datetime
    source_system: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class History:
    """One person's recorded first entries, by stage or outcome name."""

    person_id: uuid.UUID
    email: str | None
    entries: Mapping[str, Entry] = field(default_factory=dict)
    handed_off: bool = True  # a Salesforce record is (or was) linked (see `handed_off`)

    def entered(self, stage: str, *, by: datetime | None = None) -> datetime | None:
        entry = self.entries.get(stage)
        if entry is None or (by is not None and entry.entered_at > by):
            return None
        return entry.entered_at

    def reached(self, stage: Stage, *, by: datetime | None = None) -> datetime | None:
        """When the person first got to `stage` or beyond (see the module docstring)."""
        times = [self.entered(s, by=by) for s in STAGES if s >= stage]
        return min((t for t in times if t is not None), default=None)

    def passed(self, stage: Stage, *, by: datetime | None = None) -> datetime | None:
        """When the person passed `stage`: entered it, or skipped it (see the module
        docstring); None when they did neither, or were first seen past it."""
        entered = self.entered(stage, by=by)
        if entered is not None:
            return entered
        reached = self.reached(stage, by=by)
        if reached is None:
            return None
        # Known earlier when they got past it: a re-qualification after, say, an import as an
        # SQL is no evidence they came up through the stage (nor should it rewrite a past
        # period's cohort).
        earlier = any(self.entered(s, by=reached) is not None for s in STAGES if s < stage) or any(
            self.entered(outcome, by=reached) is not None
            for outcome, ceiling in OUTCOME_CEILINGS.items()
            if ceiling <= stage
        )
        return reached if earlier else None

    def answered(self, *, by: datetime | None = None) -> datetime | None:
        """When sales answered the person's MQL (see the module docstring); None when no
        touch answers it (yet), or the person is no MQL."""
        mql_at = self.entered(Stage.MQL)
        if mql_at is None:
            return None
        requalified = any(at is not None and at < mql_at for at in (self.entered(s) for s in EXITS))
        times = [self.entered(s, by=by) for s in SALES_TOUCHES]
        return min(
            (t for t in times if t is not None and (t >= mql_at or not requalified)),
            default=None,
        )


def handed_off(person_id: QueryableAttribute[uuid.UUID]) -> ColumnElement[bool]:
    """Whether the person `person_id` names has, or had, a Salesforce record linked: sales got
    them (a Lead made at the handoff, or a record matched), so an untouched MQL is theirs."""
    return exists().where(
        IdentityLink.person_id == person_id, IdentityLink.system == System.SALESFORCE.value
    )


def load_histories(
    db: Db,
    *,
    stages: Collection[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[History]:
    """Whole histories of the people who entered one of `stages` (None: any) in [since, until).

    Two queries: the cohort's ids as a sub-select, then all their transitions with their email
    and whether they were handed off (`handed_off`).
    """
    cohort = select(FunnelTransition.person_id)
    if stages is not None:
        cohort = cohort.where(FunnelTransition.stage.in_(sorted(stages)))
    if since is not None:
        cohort = cohort.where(FunnelTransition.entered_at >= since)
    if until is not None:
        cohort = cohort.where(FunnelTransition.entered_at < until)
    rows = connection(db).execute(
        select(
            FunnelTransition.person_id,
            Person.email_normalized,
            FunnelTransition.stage,
            FunnelTransition.entered_at,
            FunnelTransition.source_system,
            FunnelTransition.reason,
            handed_off(Person.baton_id),
        )
        .join(Person, Person.baton_id == FunnelTransition.person_id)
        .where(FunnelTransition.person_id.in_(cohort.distinct()))
        .order_by(FunnelTransition.person_id, FunnelTransition.entered_at, FunnelTransition.id)
    )
    emails: dict[uuid.UUID, str | None] = {}
    entries: dict[uuid.UUID, dict[str, Entry]] = {}
    linked: dict[uuid.UUID, bool] = {}
    for person_id, email, stage, entered_at, source, reason, sales_got in rows:
        emails[person_id] = email
        linked[person_id] = bool(sales_got)
        entries.setdefault(person_id, {})[stage] = Entry(stage, entered_at, source, reason)
    return [History(pid, emails[pid], entries[pid], linked[pid]) for pid in entries]
