"""A person's funnel history: the first time each stage or outcome was entered, from evidence.

The scorecard's conversion, velocity and lead-response figures are only as good as these times,
so each one comes from the best evidence the two systems keep, strongest first:

1. a date the system stamped when the stage was entered: HubSpot's "Became a <stage> date"
   (`hs_lifecyclestage_<stage>_date`, read through the dictionary's `entered.<stage>` maps),
   Salesforce's `MQL_Date__c` (also `entered.mql`), a converted Lead's `ConvertedDate` (the
   converted stage, sql) and a closed Opportunity's `CloseDate` (customer, or lost). Both
   systems' dates are merged, earliest first;
2. the record's creation time (`createdate`, `CreatedDate`) for the person's entry stage: the
   stage they are at when nothing earlier is known, neither dated nor recorded before;
3. otherwise the time Baton observed the move: the modification time of the record saying it.

Only stages the person is known to have passed are recorded: a dated stage, the current stage
and the current outcome (with its reason). Stages skipped over (inquiry -> sql) are not invented;
the scorecard counts a skipped stage as passed. A stage dated after the entry into a further
stage is a later stamp (HubSpot dates Baton's own write moving a contact), not a first entry,
and is left out. A date-only value (a Salesforce `date`, the org's day) is refined by the
record's modification time when that falls on the same day in some time zone. No time is ever
later than now, and the store never rewrites a first entry (insert-if-absent).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from operator import itemgetter, ne
from typing import Any

from connectors.records import FieldValue, SourceRecord, System
from mappings.apply import converted_lead
from mappings.model import ENTERED_PREFIX, FUNNEL_STAGE, REASON_REQUIRED, Outcome, Person, Stage
from mappings.transforms import parse_datetime
from sync.store.transitions import Explanation, Transition
from sync.values import OUTCOME, STAGE, Values

#: When each system says a record was created.
CREATED_FIELD: Mapping[System, str] = {
    System.HUBSPOT: "createdate",
    System.SALESFORCE: "CreatedDate",
}
#: Salesforce's date of a Lead conversion, and of an Opportunity's close (both `date` fields).
CONVERTED_DATE = "ConvertedDate"
CLOSE_DATE = "CloseDate"
#: How far a calendar day reaches past its UTC bounds: it begins 14 hours earlier at UTC+14
#: (Kiribati's Line Islands) and ends 12 hours later at UTC-12, the ends of the Earth's zones.
DAY_SPANS: tuple[timedelta, timedelta] = (timedelta(hours=14), timedelta(hours=12))
#: The outcomes that come with a reason (recycled, disqualified), as the history names them.
REJECTIONS: tuple[str, ...] = tuple(str(o) for o in Outcome if o in REASON_REQUIRED)
#: The canonical values a person's history is learnt from, besides the `entered.*` dates.
_HISTORY_VALUES = (STAGE, OUTCOME, FUNNEL_STAGE, "outcome_reason")


def history_values(canonical: Iterable[str]) -> tuple[str, ...]:
    """Which of these canonical value names a person's history is learnt from: its position,
    the position's reason, and the stage dates."""
    dates = tuple(name for name in canonical if name.startswith(ENTERED_PREFIX))
    return (*_HISTORY_VALUES, *dates)


def history_changed(values: Values, snapshot: Values | None, names: tuple[str, ...]) -> bool:
    """Whether a record's values say more about the funnel than its snapshot did, comparing
    the `history_values` `names`. Other fields (a job title) teach the history nothing, and
    what the snapshot said was recorded when it was taken. (Asked for every record whose
    values changed: the names are picked in one call per side.)"""
    if snapshot is None:
        return True
    pick = _PICKERS.get(names)
    if pick is None:
        pick = _PICKERS[names] = itemgetter(*names, *names[:1])  # a tuple, even of one name
    try:
        return bool(pick(values) != pick(snapshot))
    except KeyError:  # a snapshot taken before the dictionary mapped one of them
        return any(map(ne, map(values.get, names), map(snapshot.get, names)))


_PICKERS: dict[tuple[str, ...], itemgetter[Any]] = {}


@dataclass(frozen=True, slots=True)
class Dated:
    """A stage's entry time as one system dated it."""

    at: datetime
    system: System


@dataclass(frozen=True, slots=True)
class FunnelFacts:
    """What a plan knows about one person's funnel: the position both sides will say, who said
    it and when, and every dated entry and creation time the person's records carry."""

    stage: Stage | None
    outcome: Outcome | None
    reason: str | None
    observed_at: datetime
    observed_by: System
    dated: Mapping[str, Dated]
    created: Dated | None
    passed: frozenset[str] = frozenset()  # stages the records themselves are at (lagging sides)


def created_at(record: SourceRecord) -> datetime | None:
    return _moment(record.fields.get(CREATED_FIELD[record.key.system]))


def day_at(value: FieldValue, record: SourceRecord) -> datetime | None:
    """A Salesforce `date` as a moment: the record's modification time on that very day, else
    the start of the day (UTC).

    The day is the org's (its user's), in a time zone Baton does not know: a Lead converted at
    18:00 in San Francisco carries that day, already the next one in UTC. So a modification
    at a time that is on that day somewhere (`DAY_SPANS`) is taken as on it."""
    moment = _moment(value)
    if moment is None:
        return None
    start = datetime.combine(moment.date(), time(), tzinfo=UTC)
    earliest, latest = DAY_SPANS
    if start - earliest <= record.modified_at < start + timedelta(days=1) + latest:
        return record.modified_at
    return start


def _moment(value: FieldValue) -> datetime | None:
    if value is None or value == "":
        return None
    return parse_datetime(value)


def merge_dated(into: dict[str, Dated], stage: str, at: datetime | None, system: System) -> None:
    """Keep the earliest dated entry per stage across records and systems."""
    if at is None:
        return
    current = into.get(stage)
    if current is None or at < current.at:
        into[stage] = Dated(at, system)


def person_dates(into: dict[str, Dated], person: Person, system: System) -> None:
    for stage, at in person.entered.items():
        merge_dated(into, str(stage), at, system)


def first_entries(
    person_id: uuid.UUID,
    facts: FunnelFacts,
    recorded: Mapping[str, datetime],
    *,
    now: datetime,
) -> list[Transition]:
    """The transitions to record for one person, given when they first entered the stages
    already recorded for them."""
    out: list[Transition] = []

    def add(stage: str, at: datetime, system: System, reason: str | None = None) -> None:
        if stage not in recorded:
            out.append(Transition(person_id, stage, min(at, now), system, reason))

    for stage, dated in facts.dated.items():
        add(stage, dated.at, dated.system, facts.reason if stage == facts.outcome else None)
    observed = min(facts.observed_at, now)
    known = {s for s in (*facts.dated, *facts.passed) if s in _RANK}
    if facts.stage is not None:
        known.add(str(facts.stage))
    entry = min(known, key=_RANK.__getitem__, default=None)
    created = facts.created
    by_creation = (
        entry is not None
        and entry not in facts.dated
        and not recorded
        and created is not None
        and created.at <= observed
    )
    if by_creation and entry is not None and created is not None:
        add(entry, created.at, created.system)  # where the person entered the funnel
    current = str(facts.stage) if facts.stage is not None else None
    undated = current is not None and current not in facts.dated
    if current is not None and undated and not (by_creation and entry == current):
        add(current, observed, facts.observed_by)
    if facts.outcome is not None and str(facts.outcome) not in facts.dated:
        add(str(facts.outcome), observed, facts.observed_by, facts.reason)
    return _in_funnel_order(out, recorded)


def explanation(
    person_id: uuid.UUID,
    facts: FunnelFacts,
    recorded: Mapping[str, datetime],
    unexplained: str | None,
    *,
    still_rejected: bool,
) -> Explanation | None:
    """The reason for a rejection recorded without one (`unexplained`, the person's latest such
    row), when `facts` now give it: a rep who sets the status in one save and the reason in the
    next (or weeks later, tidying up) made one rejection, whose reason also tells recycled
    from disqualified.

    Only the same rejection is completed: nothing may be recorded after it, and a record of
    the person must have still said it, without a reason, when Baton last read it
    (`still_rejected`). A person re-qualified in between, which a history of first entries does
    not always show, is rejected anew: recorded apart. None also when the facts give no
    reason, or their outcome is already recorded apart (an earlier rejection, with its own)."""
    if not still_rejected or unexplained is None:
        return None
    if facts.reason is None or facts.outcome not in REASON_REQUIRED:
        return None
    rejected_at = recorded.get(unexplained)
    if rejected_at is None or any(at > rejected_at for at in recorded.values()):
        return None
    outcome = str(facts.outcome)
    if outcome != unexplained and outcome in recorded:
        return None
    return Explanation(person_id, unexplained, outcome, facts.reason)


def _in_funnel_order(found: list[Transition], recorded: Mapping[str, datetime]) -> list[Transition]:
    """Drop a stage first entered *after* a further stage: stages only move forward, so such a
    time is a later stamp (HubSpot dates a stage when Baton's own write moves a contact there,
    or on a re-entry), not the first entry. The scorecard counts the stage as passed anyway."""
    times = {s: at for s, at in recorded.items() if s in _RANK}
    for t in found:
        if t.stage in _RANK:
            times.setdefault(t.stage, t.entered_at)
    return [
        t
        for t in found
        if t.stage not in _RANK
        or not any(_RANK[s] > _RANK[t.stage] and at < t.entered_at for s, at in times.items())
    ]


_RANK: Mapping[str, int] = {str(stage): stage.rank for stage in Stage}


def evidence(
    records: Sequence[tuple[SourceRecord, Person | None]],
    *,
    converted_stage: Stage | None,
) -> tuple[dict[str, Dated], Dated | None]:
    """Dated entries and the earliest creation time over a person's records (`Person` None
    for records that are not person records, e.g. an Opportunity)."""
    dated: dict[str, Dated] = {}
    created: Dated | None = None
    for record, person in records:
        system = record.key.system
        if person is not None:
            person_dates(dated, person, system)
            made = created_at(record)
            if made is not None and (created is None or made < created.at):
                created = Dated(made, system)
        if converted_stage is not None and converted_lead(record):
            converted = day_at(record.fields.get(CONVERTED_DATE), record)
            merge_dated(dated, str(converted_stage), converted, system)
    return dated, created
