"""The scorecard both teams read: volume, conversion, velocity, lead response, rejections.

Every figure is computed from the funnel transitions (the first time each person entered each
stage or outcome), over a period [since, until) and as of a moment `as_of`. The definitions,
which the CLI prints under the figures (`DEFINITIONS`), are:

- Volume: people who first entered each stage or outcome during the period.
- Conversion A -> B: the cohort is the people who passed A during the period: entered it, or
  skipped it (known at an earlier stage, then first seen past A: passed when they got past it;
  `sync.queries.history`); the rate is the share of that cohort who reached B or any later
  stage by `as_of`. Skipping a stage passes it on both sides of a step, so the people one step
  converts are the next step's cohort (a deal won from an early stage is an opportunity that
  became a customer). A person first seen past A (imported as a customer) entered the funnel
  there: in no cohort of A. Cohorts are by passing the earlier stage, so a rate can still rise
  while recent entrants move on.
- Velocity A -> B: over the converted people of that cohort who entered A (one who skipped A
  spent no time in it), the time from entering A to reaching B; median (the middle value,
  mean of the two middle ones for an even count) and p90 (nearest rank: the ceil(0.9 n)-th
  shortest). Negative times (B recorded before A) are left out.
- Lead response: the cohort is the people who became MQLs during the period; the response time
  is from MQL to the first sales touch (the first entry into sal, sql, opportunity, customer,
  recycled, disqualified or lost) that answers it: the first at or after the MQL. A touch
  recorded before the MQL counts as zero, unless the person left the funnel (recycled,
  disqualified, lost) before the MQL: that MQL is a re-qualification, answered only by a touch
  at or after it (`sync.queries.history`). Within SLA: touched within the SLA hours.
  Breaches: touched late, or still untouched once the SLA has run out. Pending (untouched, SLA
  still running) is left out of the share. The buckets follow the lead-response research (5
  minutes, 1 hour, 24 hours: Oldroyd et al., HBR 2011, where the average first response was 42
  hours). Not handed off: MQLs with no Salesforce record ever linked (HubSpot calls them MQLs,
  yet they fell short of the shared MQL definition, so no Lead was made): sales never had
  them, so they are counted apart and left out of the share, the times and the breaches
  (`sync.queries.history`; `baton why` says why each was kept back).
- Rejections: recycled and disqualified entries during the period, by outcome and reason, each
  with its share of all rejections. Only first entries are kept, so a person recycled twice
  counts once; a rejection saved before its reason is completed by the reason, not counted again
  (`sync.store.transitions.explain_rejections`).
"""

from __future__ import annotations

import math
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from mappings.model import STAGES, Outcome, Stage
from sync.queries.history import REJECTIONS, History, load_histories
from sync.store._sql import Db

DEFAULT_SLA = timedelta(hours=24)

#: The stage pairs the scorecard converts: each waterfall step, then the handoff end to end.
PAIRS: tuple[tuple[Stage, Stage], ...] = (
    *pairwise(STAGES),
    (Stage.MQL, Stage.CUSTOMER),
)

#: Response-time buckets (upper bounds, inclusive), as in the lead-response studies.
BUCKETS: tuple[tuple[str, timedelta], ...] = (
    ("<= 5 min", timedelta(minutes=5)),
    ("5 min - 1 h", timedelta(hours=1)),
    ("1 h - 24 h", timedelta(hours=24)),
    ("> 24 h", timedelta.max),
)
UNTOUCHED = "not touched yet"
NOT_HANDED_OFF = "not handed off"  # no Salesforce record: sales never had the MQL


def sla_hours(sla: timedelta) -> str:
    """The SLA as printed: hours to at most 2 decimals, trailing zeros dropped ("24 h", "2.5 h");
    a setting's further digits ("2.12346 h") mean nothing to a reader. One too small for that
    keeps two significant digits rather than read as "0 h"."""
    hours = sla / timedelta(hours=1)
    text = f"{hours:.2f}".rstrip("0").rstrip(".")
    if text == "0":
        text = f"{hours:.2g}"
    return f"{text} h"


def definitions(sla: timedelta = DEFAULT_SLA) -> tuple[tuple[str, str], ...]:
    """The figures' definitions, in words both teams sign off (printed under the scorecard)."""
    hours = sla_hours(sla)
    return (
        ("period", "[since, until): since inclusive, until exclusive, UTC."),
        ("volume", "people who first entered each stage or outcome during the period."),
        (
            "conversion A->B",
            "of the people who passed A during the period (entered it, or skipped it: seen at "
            "an earlier stage, then past A), the share who reached B or any later stage by the "
            "time of the report. Skipping a stage passes it, so a deal won from an early stage "
            "counts as an opportunity that became a customer; a person first seen past A (e.g. "
            "imported as a customer) entered the funnel there and is in no cohort of A.",
        ),
        (
            "velocity A->B",
            "time from entering A to reaching B for that cohort's converted people who entered "
            "A (a skipped stage took no time); median and p90 (nearest rank); negative times "
            "left out.",
        ),
        (
            "lead response",
            "MQLs of the period; time from MQL to the first sales touch (first entry into "
            "sal, sql, opportunity, customer, recycled, disqualified or lost) at or after it; "
            "one before it counts as zero, unless the person was recycled, disqualified or "
            "lost before the MQL (a re-qualification).",
        ),
        (
            "SLA",
            f"{hours}: within = touched within {hours}; breach = touched later, or untouched "
            f"after {hours}; pending (untouched, {hours} not yet over) is left out of the share.",
        ),
        (
            "not handed off",
            "MQLs with no Salesforce record ever linked (below the shared MQL definition, so no "
            "Lead was made): sales never had them; counted apart, never a breach.",
        ),
        (
            "rejections",
            "recycled and disqualified entries during the period, by reason; share of all "
            "rejections. First entries only: a person recycled twice counts once; a reason "
            "given in a later save completes its rejection, never counts a second.",
        ),
    )


@dataclass(frozen=True, slots=True)
class Volume:
    stage: str
    people: int


@dataclass(frozen=True, slots=True)
class Conversion:
    from_stage: Stage
    to_stage: Stage
    entered: int
    converted: int
    rate: float | None


@dataclass(frozen=True, slots=True)
class Velocity:
    from_stage: Stage
    to_stage: Stage
    samples: int
    median: timedelta | None
    p90: timedelta | None


@dataclass(frozen=True, slots=True)
class ResponseBreach:
    """An MQL that waited longer than the SLA: touched late, or not touched at all yet."""

    person_id: uuid.UUID
    email: str | None
    mql_at: datetime
    touched_at: datetime | None
    overdue_by: timedelta


@dataclass(frozen=True, slots=True)
class LeadResponse:
    sla: timedelta
    mqls: int
    touched: int
    within_sla: int
    breached_late: int
    breached_untouched: int
    pending: int
    not_handed_off: int  # MQLs sales never had (no Salesforce record): not judged
    share_within_sla: float | None
    median: timedelta | None
    mean: timedelta | None
    p90: timedelta | None
    buckets: tuple[tuple[str, int], ...]
    breaches: tuple[ResponseBreach, ...]


@dataclass(frozen=True, slots=True)
class Rejection:
    outcome: str
    reason: str | None
    count: int
    share: float


@dataclass(frozen=True, slots=True)
class Scorecard:
    as_of: datetime
    since: datetime | None
    until: datetime
    volume: tuple[Volume, ...]
    conversions: tuple[Conversion, ...]
    velocity: tuple[Velocity, ...]
    lead_response: LeadResponse
    rejections: tuple[Rejection, ...]
    rejections_total: int
    definitions: tuple[tuple[str, str], ...]


def scorecard(
    db: Db,
    *,
    as_of: datetime,
    since: datetime | None = None,
    until: datetime | None = None,
    sla: timedelta = DEFAULT_SLA,
) -> Scorecard:
    """The scorecard for [since, until) (until defaults to `as_of`), read from the store."""
    end = until if until is not None else as_of
    if since is not None and since >= end:
        raise ValueError(f"since ({since.isoformat()}) must be before until ({end.isoformat()})")
    histories = load_histories(db, since=since, until=end)
    return compute(histories, as_of=as_of, since=since, until=end, sla=sla)


def compute(
    histories: Sequence[History],
    *,
    as_of: datetime,
    since: datetime | None,
    until: datetime,
    sla: timedelta = DEFAULT_SLA,
) -> Scorecard:
    """The scorecard over given histories: pure, so every definition can be pinned by tests."""

    def in_period(at: datetime | None) -> bool:
        return at is not None and (since is None or at >= since) and at < until and at <= as_of

    volume = tuple(
        Volume(str(stage), sum(1 for h in histories if in_period(h.entered(stage))))
        for stage in (*STAGES, *Outcome)
    )
    conversions: list[Conversion] = []
    velocity: list[Velocity] = []
    for earlier, later in PAIRS:
        cohort = [h for h in histories if in_period(h.passed(earlier, by=as_of))]
        times: list[timedelta] = []
        converted = 0
        for person in cohort:
            reached = person.reached(later, by=as_of)
            if reached is None:
                continue
            converted += 1
            start = person.entered(earlier)  # None when A was skipped: no time spent in it
            if start is not None and reached >= start:
                times.append(reached - start)
        rate = converted / len(cohort) if cohort else None
        conversions.append(Conversion(earlier, later, len(cohort), converted, rate))
        velocity.append(Velocity(earlier, later, len(times), median(times), p90(times)))
    mqls = [h for h in histories if in_period(h.entered(Stage.MQL))]
    rejected = Counter(
        (str(outcome), h.entries[outcome].reason)
        for h in histories
        for outcome in REJECTIONS
        if in_period(h.entered(outcome))
    )
    total = sum(rejected.values())
    rejections = tuple(
        Rejection(outcome, reason, count, count / total)
        for (outcome, reason), count in sorted(
            rejected.items(), key=lambda item: (-item[1], item[0][0], item[0][1] or "")
        )
    )
    return Scorecard(
        as_of=as_of,
        since=since,
        until=until,
        volume=volume,
        conversions=tuple(conversions),
        velocity=tuple(velocity),
        lead_response=lead_response(mqls, as_of=as_of, sla=sla),
        rejections=rejections,
        rejections_total=total,
        definitions=definitions(sla),
    )


def lead_response(mqls: Sequence[History], *, as_of: datetime, sla: timedelta) -> LeadResponse:
    """Lead-response figures over people who are MQLs (see the module docstring)."""
    responses: list[timedelta] = []
    breaches: list[ResponseBreach] = []
    buckets: Counter[str] = Counter()
    pending = within = late = untouched = kept_back = 0
    for person in mqls:
        mql_at = person.entered(Stage.MQL)
        if mql_at is None:
            continue
        if not person.handed_off:  # sales never had them: nothing of theirs to judge
            buckets[NOT_HANDED_OFF] += 1
            kept_back += 1
            continue
        touched_at = person.answered(by=as_of)
        if touched_at is None:
            buckets[UNTOUCHED] += 1
            if as_of - mql_at > sla:
                untouched += 1
                breaches.append(
                    ResponseBreach(
                        person.person_id, person.email, mql_at, None, as_of - mql_at - sla
                    )
                )
            else:
                pending += 1
            continue
        response = max(touched_at - mql_at, timedelta(0))
        responses.append(response)
        buckets[next(name for name, bound in BUCKETS if response <= bound)] += 1
        if response <= sla:
            within += 1
        else:
            late += 1
            breaches.append(
                ResponseBreach(person.person_id, person.email, mql_at, touched_at, response - sla)
            )
    judged = within + late + untouched
    breaches.sort(key=lambda b: (-b.overdue_by, b.mql_at, str(b.person_id)))
    return LeadResponse(
        sla=sla,
        mqls=len(mqls),
        touched=len(responses),
        within_sla=within,
        breached_late=late,
        breached_untouched=untouched,
        pending=pending,
        not_handed_off=kept_back,
        share_within_sla=within / judged if judged else None,
        median=median(responses),
        mean=sum(responses, timedelta(0)) / len(responses) if responses else None,
        p90=p90(responses),
        buckets=tuple(
            (name, buckets[name])
            for name in (*(n for n, _ in BUCKETS), UNTOUCHED, NOT_HANDED_OFF)
            if name != NOT_HANDED_OFF or kept_back
        ),
        breaches=tuple(breaches),
    )


def median(values: Sequence[timedelta]) -> timedelta | None:
    """The middle value; the mean of the two middle ones for an even count."""
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def p90(values: Sequence[timedelta]) -> timedelta | None:
    """The 90th percentile by nearest rank: the ceil(0.9 n)-th shortest value."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]
