"""The dictionary compiled into lookups: system value -> stage or outcome, and back.

Built once per dictionary (`Vocabulary.of`), so mapping a record is a few dict lookups rather
than a walk over the YAML structure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from connectors.records import System
from mappings.dictionary import (
    VALUE_FIELDS,
    Dictionary,
    OutcomeSpec,
    ReasonSpec,
    StageKey,
    StageSpec,
    system_values,
)
from mappings.model import STAGES, Outcome, Stage
from mappings.transforms import PICKLIST_PREFIX, Context, Table

if TYPE_CHECKING:
    from collections.abc import Mapping


@dataclass(frozen=True, slots=True)
class Vocabulary:
    dictionary: Dictionary
    # (system, field) -> value -> stage or outcome it means
    meaning: Mapping[tuple[str, str], Mapping[str, StageKey]]
    # (system, field) -> stage -> the value Baton writes for it (first listed)
    spelling: Mapping[tuple[str, str], Mapping[StageKey, str]]
    converted_stage: Stage | None
    labels: Mapping[StageKey, str]
    by_label: Mapping[str, StageKey]
    opportunity_flags: Mapping[str, tuple[bool, bool]]  # StageName -> (closed, won)
    reasons: Mapping[str, ReasonSpec]
    contexts: Mapping[System, Context]

    @classmethod
    def of(cls, d: Dictionary) -> Vocabulary:
        meaning: dict[tuple[str, str], dict[str, StageKey]] = {}
        spelling: dict[tuple[str, str], dict[StageKey, str]] = {}
        entries: list[tuple[StageKey, StageSpec | OutcomeSpec]] = [
            *d.stages.items(),
            *d.outcomes.items(),
        ]
        for system, field in VALUE_FIELDS:
            reads = meaning.setdefault((system, field), {})
            writes = spelling.setdefault((system, field), {})
            for key, spec in entries:
                values = system_values(spec, system, field)
                for value in values:
                    reads.setdefault(value, key)
                if values:
                    writes[key] = values[0]
        converted = next(
            (s for s, spec in d.stages.items() if spec.salesforce.lead_converted), None
        )
        labels: dict[StageKey, str] = {k: spec.label for k, spec in entries}
        return cls(
            dictionary=d,
            meaning=meaning,
            spelling=spelling,
            converted_stage=converted,
            labels=labels,
            by_label={label.casefold(): key for key, label in labels.items()},
            opportunity_flags={s.name: (s.closed, s.won) for s in d.opportunity_stages},
            reasons={r.code: r for r in d.rejection_reasons},
            contexts={system: Context(system, _tables(d, system)) for system in System},
        )

    def means(self, system: str, field: str, value: object) -> StageKey | None:
        if not isinstance(value, str):
            return None
        return self.meaning[(system, field)].get(value.strip())

    def spell(self, system: str, field: str, stage: Stage) -> str | None:
        """The value for the furthest stage at or below `stage` that this field can express.

        HubSpot has no SAL lifecycle stage, so a SAL person is written as an MQL there.
        """
        writes = self.spelling[(system, field)]
        for candidate in reversed(STAGES[: stage.rank + 1]):
            if candidate in writes:
                return writes[candidate]
        return None

    def outcome_spelling(self, system: str, field: str, outcome: Outcome) -> str | None:
        return self.spelling[(system, field)].get(outcome)


def _tables(d: Dictionary, system: System) -> dict[str, Table | None]:
    """Per-system tables for the `owner`, `reason` and `picklist:<name>` transforms."""
    tables: dict[str, Table | None] = {}
    if system is System.SALESFORCE:
        tables["owner"] = None  # canonical owner ids are Salesforce user ids
    else:
        tables["owner"] = Table(read={hs: sf for sf, hs in d.owners.items()}, write=dict(d.owners))
    read: dict[str, str] = {}
    write: dict[str, str] = {}
    for reason in d.rejection_reasons:
        value = getattr(reason, system.value).rejection_reason
        read.setdefault(value, reason.code)
        read.setdefault(reason.code, reason.code)
        write[reason.code] = value
    tables["reason"] = Table(read=read, write=write)
    for name, rows in d.picklists.items():
        read, write = {}, {}
        for row in rows:
            value = getattr(row, system.value)
            if value is None:
                continue
            read.setdefault(value, row.canonical)
            write[row.canonical] = value
        tables[f"{PICKLIST_PREFIX}{name}"] = Table(read=read, write=write)
    return tables
