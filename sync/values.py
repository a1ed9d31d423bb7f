"""Canonical values: the flat, JSON-safe view of a `Person` that snapshots store and plans compare.

Why a view of its own: snapshots must survive a JSON round trip through the store and compare
equal afterwards, so datetimes become ISO 8601 strings and enums their values here, once. The
keys are the dictionary's canonical field names (`email`, `entered.mql`, `funnel_stage`...) plus
`stage` and `outcome`, the funnel position the record's native fields express.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
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
        self._entered = {
            Stage(name.removeprefix(ENTERED_PREFIX)): name
            for name in names
            if name.startswith(ENTERED_PREFIX)
        }
        self._label = FUNNEL_STAGE in names
        self._others = tuple(
            name
            for name in names
            if name not in self._scalars
            and name != FUNNEL_STAGE
            and not name.startswith(ENTERED_PREFIX)
        )

    def __call__(self, person: Person) -> Values:
        attrs = person.__dict__
        out = self._template.copy()  # every key, in the dictionary's order, blank
        out.update(zip(self._scalars, map(attrs.__getitem__, self._scalars), strict=True))
        for other in self._others:
            out[other] = plain(attrs[other])
        entered_names = self._entered
        for stage, at in person.entered.items():  # the few stages dated, not every stage
            dated = entered_names.get(stage)
            if dated is not None:
                out[dated] = plain(at)
        if self._label:
            key: StageKey | None = person.outcome or person.stage
            out[FUNNEL_STAGE] = self.labels.get(key) if key is not None else None
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


def keeping(values: Values, old: Values | None, fields: Collection[str]) -> Values:
    """`values` with `fields` as `old` has them, or without them where there is no `old` (a
    record seen for the first time: they read as changed there); `values` itself when they
    are already so. What a snapshot says when a write of `fields` was not made: the change it
    carried is still a change next time."""
    old = old or {}
    if all(values.get(f) == old.get(f) and (f in values) == (f in old) for f in fields):
        return values
    out = dict(values)
    for name in fields:
        if name in old:
            out[name] = old[name]
        else:
            out.pop(name, None)
    return out
