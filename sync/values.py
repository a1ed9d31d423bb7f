"""Canonical values: the flat, JSON-safe view of a `Person` that snapshots store and plans compare.

Why a view of its own: snapshots must survive a JSON round trip through the store and compare
equal afterwards, so datetimes become ISO 8601 strings and enums their values here, once. The
keys are the dictionary's canonical field names (`email`, `entered.mql`, `funnel_stage`...) plus
`stage` and `outcome`, the funnel position the record's native fields express.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import get_args

from connectors.records import FieldValue
from mappings.dictionary import Dictionary, StageKey
from mappings.model import ENTERED_PREFIX, FUNNEL_STAGE, Person, Stage

STAGE, OUTCOME = "stage", "outcome"
Values = Mapping[str, FieldValue]


def plain(value: object) -> FieldValue:
    """A value as JSON stores it: datetimes in UTC ISO 8601, enums by value."""
    if value is None or isinstance(value, bool | int | float | str):
        if isinstance(value, Enum):
            return str(value.value)
        return value
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def canonical(person: Person, dictionary: Dictionary, labels: Mapping[StageKey, str]) -> Values:
    """Every canonical field the dictionary maps, plus the funnel position, as plain values."""
    out: dict[str, FieldValue] = {}
    for name in dictionary.fields:
        out[name] = plain(field_value(person, name, labels))
    out[STAGE] = plain(person.stage)
    out[OUTCOME] = plain(person.outcome)
    return out


_SCALARS = frozenset({str, int, float, bool, type(None)})
_ENTERED, _LABEL, _OTHER = 1, 2, 3


def _holds_scalars(name: str) -> bool:
    """Whether `Person.<name>` can only hold JSON scalars (validation makes them exactly str,
    int...), so its value is already plain."""
    spec = Person.model_fields.get(name)
    return spec is not None and set(get_args(spec.annotation) or (spec.annotation,)) <= _SCALARS


class CanonicalView:
    """`canonical` compiled once per dictionary: it runs for every record the engine reads, so
    the field kinds are decided here rather than per call (same values, same key order).

    It reads people made by validation (`Mapper.to_person`, `Mapper.remap`): their scalar
    fields are copied as they are, the rest made plain."""

    def __init__(self, dictionary: Dictionary, labels: Mapping[StageKey, str]) -> None:
        self.labels = labels
        names = tuple(dictionary.fields)
        self._template: dict[str, FieldValue] = dict.fromkeys((*names, STAGE, OUTCOME))
        self._scalars = tuple(name for name in names if _holds_scalars(name))
        self._others: tuple[tuple[str, int, Stage | None], ...] = tuple(
            (name, _LABEL, None)
            if name == FUNNEL_STAGE
            else (name, _ENTERED, Stage(name.removeprefix(ENTERED_PREFIX)))
            if name.startswith(ENTERED_PREFIX)
            else (name, _OTHER, None)
            for name in names
            if name not in self._scalars
        )

    def __call__(self, person: Person) -> Values:
        attrs = person.__dict__
        out = self._template.copy()  # every key, in the dictionary's order
        out.update(zip(self._scalars, map(attrs.__getitem__, self._scalars), strict=True))
        entered = person.entered
        for name, kind, stage in self._others:
            value: object
            if kind == _ENTERED:
                value = entered.get(stage) if stage is not None else None
            elif kind == _LABEL:
                key: StageKey | None = person.outcome or person.stage
                value = self.labels.get(key) if key is not None else None
            else:
                value = attrs[name]
            out[name] = value if type(value) in _SCALARS else plain(value)  # type: ignore[assignment]
        stage_, outcome = person.stage, person.outcome
        out[STAGE] = stage_.value if stage_ is not None else None
        out[OUTCOME] = outcome.value if outcome is not None else None
        return out


def field_value(person: Person, name: str, labels: Mapping[StageKey, str]) -> object:
    """The value of canonical field `name` on `person` (what `Mapper.to_patch` would write)."""
    if name == FUNNEL_STAGE:
        key: StageKey | None = person.outcome or person.stage
        return labels.get(key) if key is not None else None
    if name.startswith(ENTERED_PREFIX):
        return person.entered.get(Stage(name.removeprefix(ENTERED_PREFIX)))
    return getattr(person, name)


def blank(value: FieldValue) -> bool:
    return value is None or value == ""
