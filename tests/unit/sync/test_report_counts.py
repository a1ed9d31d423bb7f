"""`CycleReport.counts` (what the `runs` table keeps) and `from_counts`, its inverse."""

from __future__ import annotations

import uuid
from collections import Counter

from sync.report import CycleReport


def test_a_reports_counts_read_back_as_the_same_counts() -> None:
    report = CycleReport(
        read=Counter({"hubspot:contacts": 7, "salesforce:Lead": 3}),
        created=Counter({"salesforce:Lead": 2}),
        updated=Counter({"hubspot:contacts": 4}),
        stage_moves=Counter({"mql->sal": 1}),
        unchanged=5,
        conflicts=1,
        dead_letters=2,
        ambiguous=3,
        deletes_flagged=1,
        deletes_propagated=1,
        retry_later=2,
        not_handed_off=1,
    )
    back = CycleReport.from_counts(report.counts())
    assert back.counts() == report.counts()
    assert back.writes == report.writes == 6


def test_what_the_flat_counts_keep_only_as_numbers_is_left_empty() -> None:
    report = CycleReport(ambiguous_people={uuid.uuid4()}, clock_skew={"hubspot": -90.0})
    back = CycleReport.from_counts(report.counts())
    assert (back.ambiguous_people, back.clock_skew) == (set(), {})
    assert CycleReport.from_counts({"read": 3, "conflicts.x": 1, "unknown.y": 2}) == CycleReport()
