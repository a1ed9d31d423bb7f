"""Record semantics shared by the API routes and the actor API: reads, writes, merges.

API writes count in `Stats.writes` and announce webhooks with `changeSource: API`; actor
(simulated UI) writes announce `CRM_UI` and are not counted. Both obey the same rules.

Lifecycle stage: HubSpot only lets a stage move *forward* in the property's option order; to go
backward the value must first be cleared with "". The API's answer to a backward write is not
documented, so this imitation chooses to IGNORE it silently: the request succeeds, the stage
keeps its value, and no propertyChange fires (the surprise a client must cope with).

Emails: a contact's additional emails (`hs_additional_emails`, a merged-away contact's address
among them) identify it as its primary email does, and are as unique (hubspot-api.md §8): a
lookup by email finds the contact holding the address either way, and a write giving another
live contact's address, primary or additional, is a 409. Setting `email` to one of the
contact's own additional addresses makes it the primary and keeps the old primary as an
additional one (HubSpot's UI "set as primary"; the API's answer is not documented, and this
imitation chooses to lose no address).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from sandbox.hubspot.catalog import ObjectType
from sandbox.hubspot.errors import HubSpotError, not_found, object_not_found, validation
from sandbox.hubspot.events import EventSink
from sandbox.hubspot.parsing import record_id
from sandbox.hubspot.properties import PropertyRegistry, became_date
from sandbox.hubspot.store import ADDITIONAL, Row, Store, additional_emails, email_key
from sandbox.hubspot.timefmt import iso, parse_ms
from sandbox.hubspot.validation import validate
from sandbox.shared.clock import Clock
from sandbox.shared.stats import Stats

LIFECYCLE = "lifecyclestage"
CONTACTS = "contacts"  # the only object with emails and "Became a <stage> date" properties
SEEDED = "IMPORT"  # the source type history shows for values that came with the seed data


F = TypeVar("F", bound=Callable[..., Any])


def _atomic(method: F) -> F:
    """Read-modify-write under the store lock: the server thread and actors never interleave."""

    @functools.wraps(method)
    def wrapper(self: Crm, *args: Any, **kwargs: Any) -> Any:
        with self.store.lock:
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class Crm:
    def __init__(
        self,
        store: Store,
        registry: PropertyRegistry,
        clock: Clock,
        stats: Stats,
        events: EventSink,
    ) -> None:
        self.store = store
        self.registry = registry
        self.clock = clock
        self.stats = stats
        self.events = events

    # Reading

    def resolve(self, t: ObjectType, record_id: int) -> Row | None:
        """The record, following merges to the survivor (merged-away ids stay readable)."""
        row = self.store.get(t.name, record_id)
        hops = 0
        while row is not None and row.merged_into is not None and hops < 50:
            row = self.store.get(t.name, row.merged_into)
            hops += 1
        return row

    def full_properties(self, t: ObjectType, row: Row) -> dict[str, str]:
        values = dict(row.props)
        values["createdate"] = iso(row.created_ms)
        # Contacts keep theirs in lastmodifieddate only: a contact's hs_lastmodifieddate is
        # never set, so a search on it matches nothing, silently (hubspot-api.md §5).
        values[t.modified] = iso(row.updated_ms)
        values["hs_object_id"] = str(row.id)
        return values

    def render(
        self,
        t: ObjectType,
        row: Row,
        requested: Sequence[str] | None,
        history: Sequence[str] = (),
    ) -> dict[str, Any]:
        """HubSpot's record JSON: requested (or default) properties, with those every record
        carries (`ObjectType.always`); undefined ones omitted."""
        values = self.full_properties(t, row)
        props: dict[str, str | None] = {}
        for name in dict.fromkeys([*requested, *t.always]) if requested else t.defaults:
            if name in values:
                props[name] = values[name]
            elif self.registry.get(t.name, name) is not None:
                props[name] = None
        body: dict[str, Any] = {
            "id": str(row.id),
            "properties": props,
            "createdAt": values["createdate"],
            "updatedAt": values[t.modified],
            "archived": row.archived,
        }
        if history:
            body["propertiesWithHistory"] = self.history(t, row, history)
        if row.archived and row.archived_ms is not None:
            body["archivedAt"] = iso(row.archived_ms)
        return body

    def history(
        self, t: ObjectType, row: Row, names: Sequence[str]
    ) -> dict[str, list[dict[str, Any]]]:
        """Newest first; a seeded value without later writes shows as one IMPORT entry."""
        known = [n for n in names if self.registry.get(t.name, n) is not None]
        stored = self.store.history(t.name, row.id, known)
        out: dict[str, list[dict[str, Any]]] = {}
        for name in known:
            entries = stored.get(name)
            if not entries:
                value = row.props.get(name)
                entries = [] if value is None else [(value, row.created_ms, SEEDED)]
            out[name] = [
                {"value": value or "", "timestamp": iso(ms), "sourceType": source}
                for value, ms, source in entries
            ]
        return out

    def require(self, t: ObjectType, record_id: str, *, id_property: str | None = None) -> Row:
        """A live record by id (or unique property) or HubSpot's 404."""
        row = self.lookup(t, record_id, id_property=id_property)
        if row is None or row.archived:
            raise object_not_found(record_id)
        return row

    def lookup(self, t: ObjectType, key: str, *, id_property: str | None = None) -> Row | None:
        if id_property and id_property != "hs_object_id":
            if id_property == "email" and t.name == CONTACTS:
                return self.store.by_email(key)
            d = self.registry.get(t.name, id_property)
            if d is None or not d.unique:
                raise validation(f"{id_property} is not a unique property and cannot be an id")
            return self.store.by_property(t.name, id_property, key)
        number = record_id(key)
        return None if number is None else self.resolve(t, number)

    # Writing

    def _emit(self, t: ObjectType, event: str, object_id: int, source: str, **kw: Any) -> None:
        self.events.emit(f"{t.singular}.{event}", object_id, change_source=source, **kw)

    def _count(self, count: bool) -> None:
        if count:
            self.stats.add_writes(1)

    def check_unique(
        self, t: ObjectType, values: Mapping[str, str | None], own: int | None
    ) -> None:
        """409 when a unique property (email, an additional email, or any `hasUniqueValue`
        one) is already taken by another live record."""
        for name, value in values.items():
            if not value:
                continue
            if t.name == CONTACTS and name in ("email", ADDITIONAL):
                addresses = [value] if name == "email" else additional_emails(value)
                for address in addresses:
                    existing = self.store.by_email(address)
                    if existing is not None and existing.id != own:
                        raise HubSpotError(
                            409, "CONFLICT", f"Contact already exists. Existing ID: {existing.id}"
                        )
                continue
            d = self.registry.get(t.name, name)
            if d is not None and d.unique:
                existing = self.store.by_property(t.name, name, value)
                if existing is not None and existing.id != own:
                    raise HubSpotError(
                        409,
                        "CONFLICT",
                        f"A {t.singular} with the unique value {value!r} for property {name} "
                        f"already exists. Existing ID: {existing.id}",
                    )

    @_atomic
    def create(
        self,
        t: ObjectType,
        properties: Mapping[str, Any],
        *,
        source: str = "API",
        count: bool = True,
    ) -> Row:
        values = validate(self.registry, t.name, properties, creating=True)
        self.check_unique(t, values, None)
        now = self.clock.now_ms()
        created = values.pop("createdate", None)
        created_ms = now
        if created:
            created_ms = parse_ms(created) or now
        stored = {k: v for k, v in values.items() if v is not None}
        if t.name == CONTACTS:
            stored.update(_became(stored.get(LIFECYCLE), {}, created_ms))
        record_id = self.store.insert(t.name, stored, created_ms, now)
        self.store.record_history(
            t.name, record_id, [(k, v, created_ms, source) for k, v in stored.items()]
        )
        self._count(count)
        self._emit(t, "creation", record_id, source)
        row = self.store.get(t.name, record_id)
        assert row is not None
        return row

    @_atomic
    def update(
        self,
        t: ObjectType,
        row: Row,
        properties: Mapping[str, Any],
        *,
        source: str = "API",
        count: bool = True,
    ) -> Row:
        values = validate(self.registry, t.name, properties, creating=False)
        self.check_unique(t, values, row.id)
        stage = values.get(LIFECYCLE)
        current = row.props.get(LIFECYCLE)
        if stage is not None and current is not None and self._backward(t, current, stage):
            del values[LIFECYCLE]  # ignored silently: see the module docstring
        changed = {k: v for k, v in values.items() if row.props.get(k) != v}
        if t.name == CONTACTS and changed.get("email") and ADDITIONAL not in changed:
            changed.update(_promoted(row.props, str(changed["email"])))
        if t.name == CONTACTS and changed.get(LIFECYCLE):
            changed.update(_became(changed[LIFECYCLE], row.props, self.clock.now_ms()))
        self._count(count)
        if not changed:
            return row
        before = {k: row.props[k] for k in changed if k in row.props}
        for name, value in changed.items():
            if value is None:
                row.props.pop(name, None)
            else:
                row.props[name] = value
        row.updated_ms = max(self.clock.now_ms(), row.updated_ms + 1)
        self.store.save(t.name, row)
        entries: list[tuple[str, str | None, int, str]] = []
        for name, value in changed.items():
            if name in before and not self.store.has_history(t.name, row.id, name):
                entries.append((name, before[name], row.created_ms, SEEDED))  # lazy backfill
            entries.append((name, value or "", row.updated_ms, source))
        self.store.record_history(t.name, row.id, entries)
        for name, value in changed.items():
            self._emit(
                t, "propertyChange", row.id, source, property_name=name, property_value=value or ""
            )
        return row

    def _backward(self, t: ObjectType, current: str, new: str) -> bool:
        d = self.registry.get(t.name, LIFECYCLE)
        if d is None:
            return False
        old_rank, new_rank = d.option_rank(current), d.option_rank(new)
        return old_rank is not None and new_rank is not None and new_rank < old_rank

    @_atomic
    def archive(self, t: ObjectType, row: Row, *, source: str = "API", count: bool = True) -> None:
        if row.archived:
            return
        row.archived = True
        row.archived_ms = self.clock.now_ms()
        self.store.save(t.name, row)
        self._count(count)
        self._emit(t, "deletion", row.id, source)

    @_atomic
    def restore(self, t: ObjectType, row: Row, *, source: str = "CRM_UI") -> None:
        """Out of the recycling bin (a UI action; the v3 API has no restore endpoint)."""
        if not row.archived:
            return
        row.archived, row.archived_ms = False, None
        row.updated_ms = self.clock.now_ms()
        self.store.save(t.name, row)
        self._emit(t, "restore", row.id, source)

    @_atomic
    def gdpr_delete(self, t: ObjectType, row: Row) -> None:
        self.store.delete(t.name, row.id)
        self._count(True)
        self._emit(t, "privacyDeletion", row.id, "API")
        self._emit(t, "deletion", row.id, "API")

    @_atomic
    def merge(
        self,
        t: ObjectType,
        primary_id: str,
        merged_id: str,
        *,
        source: str = "API",
        count: bool = True,
    ) -> Row:
        """The primary survives; the other's values fill the primary's blanks; ids are kept."""
        if str(primary_id) == str(merged_id):
            raise validation("Cannot merge an object with itself")
        primary = self.lookup(t, str(primary_id))
        loser = self.lookup(t, str(merged_id))
        if primary is None or primary.archived or loser is None or loser.archived:
            raise not_found(f"Object not found. objectId: {merged_id if primary else primary_id}")
        if primary.id == loser.id:
            raise validation("These objects are already merged")
        moved = 0
        for name, value in loser.props.items():
            if name in ("email", "hs_merged_object_ids", "hs_additional_emails"):
                continue
            if name not in primary.props:
                primary.props[name] = value
                moved += 1
        if t.name == CONTACTS:  # every address of the loser still finds the survivor
            extra = additional_emails(primary.props.get(ADDITIONAL))
            extra += [loser.props["email"]] if loser.props.get("email") else []
            extra += additional_emails(loser.props.get(ADDITIONAL))
            if extra:
                primary.props[ADDITIONAL] = ";".join(dict.fromkeys(extra))
        merged = [i for i in primary.props.get("hs_merged_object_ids", "").split(";") if i]
        merged += [str(loser.id)]
        merged += [i for i in loser.props.get("hs_merged_object_ids", "").split(";") if i]
        primary.props["hs_merged_object_ids"] = ";".join(merged)
        primary.updated_ms = max(self.clock.now_ms(), primary.updated_ms + 1)
        loser.merged_into = primary.id
        self.store.save(t.name, primary)
        self.store.save(t.name, loser)
        self.store.move_associations(t.name, loser.id, primary.id)
        self._count(count)
        self._emit(
            t,
            "merge",
            primary.id,
            source,
            extra={
                "primaryObjectId": primary.id,
                "mergedObjectIds": [loser.id],
                "newObjectId": primary.id,
                "numberOfPropertiesMoved": moved,
            },
        )
        return primary


def _promoted(props: Mapping[str, str], email: str) -> dict[str, str | None]:
    """The additional emails after `email` becomes the primary: it leaves them and the old
    primary joins them (nothing changes when `email` was not one of them)."""
    extra = additional_emails(props.get(ADDITIONAL))
    kept = [e for e in extra if email_key(e) != email_key(email)]
    if len(kept) == len(extra):
        return {}
    old = props.get("email")
    if old:
        kept.append(old)
    return {ADDITIONAL: ";".join(kept) or None}


def _became(stage: str | None, props: Mapping[str, Any], at_ms: int) -> dict[str, str]:
    """The "Became a <stage> date" HubSpot sets on entering a lifecycle stage (first time only;
    a stage skipped over gets no date)."""
    if not stage:
        return {}
    name = became_date(stage)
    return {} if props.get(name) else {name: iso(at_ms)}
