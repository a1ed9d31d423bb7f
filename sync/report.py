"""What a cycle did (or, on a dry run, would do): counts that add up across units of work.

`CycleReport` is the facade's return value for every entry point; `+` merges two reports so a
poll over many pages, or a backfill over many objects, reports once. `PlannedWrite` is one
line of a dry run's plan: which record, what changes per field, and why.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from connectors.records import FieldValue, System


@dataclass(frozen=True, slots=True)
class PlannedWrite:
    """One planned write: `key` is the record id, or "new" for a create."""

    key: str
    system: System
    object: str
    changes: dict[str, tuple[FieldValue, FieldValue]]
    reason: str


#: `CycleReport.counts`' keys: "<counter>.<label>" for these counters, ...
_COUNTERS = ("read", "created", "updated", "stage_moves")
#: ... and these whole counts by name (each a row of `baton backfill`'s summary too).
WHOLE_COUNTS = (
    "unchanged",
    "conflicts",
    "dead_letters",
    "ambiguous",
    "deletes_flagged",
    "deletes_propagated",
    "retry_later",
    "not_handed_off",
)


@dataclass
class CycleReport:
    read: Counter[str] = field(default_factory=Counter)  # by "system:object"
    created: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    unchanged: int = 0
    conflicts: int = 0
    dead_letters: int = 0
    stage_moves: Counter[str] = field(default_factory=Counter)  # "mql->sal"
    ambiguous: int = 0  # ambiguous records met (a record met twice counts twice)
    # the people those records were logged against (`baton status` counts people too)
    ambiguous_people: set[uuid.UUID] = field(default_factory=set)
    deletes_flagged: int = 0
    deletes_propagated: int = 0  # twins deleted (dry run: to delete), BATON_PROPAGATE_DELETES
    retry_later: int = 0  # writes refused for now (locks, limits): the page is read again
    # HubSpot MQLs (or later) newly noted as getting no Salesforce Lead (`baton why` says why:
    # below the shared MQL definition, or past the handoff with no Salesforce record)
    not_handed_off: int = 0
    planned: list[PlannedWrite] = field(default_factory=list)
    run_id: uuid.UUID | None = None
    # Records an interrupted backfill had listed and this one went on after, by object.
    resumed: Counter[str] = field(default_factory=Counter)
    # The creation pass waited: HubSpot's contacts were not all read (see SyncEngine.backfill).
    creation_waits: bool = False
    # Clocks found skewed by more than half the lookback: system -> its offset from ours in
    # seconds (negative: behind). The run's bounds follow a clock behind ours (SyncEngine).
    clock_skew: dict[str, float] = field(default_factory=dict)

    def __add__(self, other: CycleReport) -> CycleReport:
        return CycleReport(
            read=self.read + other.read,
            created=self.created + other.created,
            updated=self.updated + other.updated,
            unchanged=self.unchanged + other.unchanged,
            conflicts=self.conflicts + other.conflicts,
            dead_letters=self.dead_letters + other.dead_letters,
            stage_moves=self.stage_moves + other.stage_moves,
            ambiguous=self.ambiguous + other.ambiguous,
            ambiguous_people=self.ambiguous_people | other.ambiguous_people,
            deletes_flagged=self.deletes_flagged + other.deletes_flagged,
            deletes_propagated=self.deletes_propagated + other.deletes_propagated,
            retry_later=self.retry_later + other.retry_later,
            not_handed_off=self.not_handed_off + other.not_handed_off,
            planned=[*self.planned, *other.planned],
            run_id=self.run_id or other.run_id,
            resumed=self.resumed + other.resumed,
            creation_waits=self.creation_waits or other.creation_waits,
            clock_skew={**self.clock_skew, **other.clock_skew},
        )

    def __iadd__(self, other: CycleReport) -> CycleReport:
        """In place: a run's report holds what the run did so far, even if it stops midway
        (`RunRecorder.run` keeps those counts)."""
        self.__dict__.update((self + other).__dict__)
        return self

    @property
    def writes(self) -> int:
        return sum(self.created.values()) + sum(self.updated.values())

    @classmethod
    def from_counts(cls, counts: Mapping[str, int]) -> CycleReport:
        """A report of a run's flat `counts` as the `runs` table keeps them (`counts`): its
        counters and whole counts; what the flat form keeps only as a number (the ambiguous
        people, clock skews) or not at all is left empty."""
        report = cls()
        for key, n in counts.items():
            name, _, label = key.partition(".")
            if name in _COUNTERS and label:
                getattr(report, name)[label] += n
            elif name in WHOLE_COUNTS and not label:
                setattr(report, name, n)
        return report

    def counts(self) -> dict[str, int]:
        """Flat counts for the `runs` table and metrics."""
        out: dict[str, int] = {}
        for name, counter in (
            ("read", self.read),
            ("created", self.created),
            ("updated", self.updated),
        ):
            for key, n in counter.items():
                out[f"{name}.{key}"] = n
        for key, n in self.stage_moves.items():
            out[f"stage_moves.{key}"] = n
        out.update(
            unchanged=self.unchanged,
            conflicts=self.conflicts,
            dead_letters=self.dead_letters,
            ambiguous=self.ambiguous,
            ambiguous_people=len(self.ambiguous_people),
            deletes_flagged=self.deletes_flagged,
            deletes_propagated=self.deletes_propagated,
            retry_later=self.retry_later,
            not_handed_off=self.not_handed_off,
        )
        for system, seconds in self.clock_skew.items():
            out[f"clock_skew_s.{system}"] = round(seconds)
        return out
