"""Field rules: which side's value a field takes, in the words of HubSpot's own integration.

One pure function per concern so the table-driven tests read as the specification:

- `always_*`: that side wins whenever the values differ, a blank included (it clears).
- `prefer_*_unless_blank`: that side wins unless its value is blank; then the other side does.
- `hubspot_to_salesforce` / `salesforce_to_hubspot`: one direction only; the source wins when it
  changed since its snapshot (or on the first sync of the pair) and never clears a value.
- `two_way`: the side that changed since its snapshot wins; changed on both sides is a conflict
  and the most recent modification wins (on a tie, HubSpot, marketing's system of record for
  contact data). On a pair's first sync (a side without a snapshot) the most recent
  modification wins, and a blank never beats a value.
- `none`: never synced.

A field changed on both sides since their snapshots is a conflict whatever the values, a
clear included (a rep's new title against marketing clearing it: one of them is overwritten),
except where the rule itself says a blank is no value: the preferred side of
`prefer_*_unless_blank` (the other side fills in), the source of a one-way rule (never
carried). A first sync is never a conflict: a side without a snapshot says nothing about what
changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from connectors.records import FieldValue, System
from mappings.dictionary import Rule
from sync.values import blank


@dataclass(frozen=True, slots=True)
class FieldState:
    """One field on one side: its value, whether it changed since the snapshot, and when the
    record was last modified."""

    value: FieldValue
    changed: bool
    modified_at: datetime
    first_sync: bool = False  # no snapshot yet on this side


@dataclass(frozen=True, slots=True)
class Verdict:
    winner: System | None
    conflict: bool
    why: str


def decide(rule: Rule, hubspot: FieldState, salesforce: FieldState) -> Verdict:
    """Which side wins a field whose values differ (callers skip equal values)."""
    conflict = (
        hubspot.changed and salesforce.changed and not (hubspot.first_sync or salesforce.first_sync)
    )
    hs, sf = System.HUBSPOT, System.SALESFORCE
    if rule is Rule.NONE:
        return Verdict(None, False, "not synced")
    if rule is Rule.ALWAYS_HUBSPOT:
        return Verdict(hs, conflict, "HubSpot always wins")
    if rule is Rule.ALWAYS_SALESFORCE:
        return Verdict(sf, conflict, "Salesforce always wins")
    if rule is Rule.PREFER_HUBSPOT_UNLESS_BLANK:
        if not blank(hubspot.value):
            return Verdict(hs, conflict, "HubSpot wins unless blank")
        return Verdict(sf, False, "HubSpot is blank; Salesforce fills in")
    if rule is Rule.PREFER_SALESFORCE_UNLESS_BLANK:
        if not blank(salesforce.value):
            return Verdict(sf, conflict, "Salesforce wins unless blank")
        return Verdict(hs, False, "Salesforce is blank; HubSpot fills in")
    if rule is Rule.HUBSPOT_TO_SALESFORCE:
        return _one_way(hs, hubspot, salesforce, conflict)
    if rule is Rule.SALESFORCE_TO_HUBSPOT:
        return _one_way(sf, salesforce, hubspot, conflict)
    return _two_way(hubspot, salesforce, conflict)


def _one_way(source: System, src: FieldState, dst: FieldState, conflict: bool) -> Verdict:
    if blank(src.value):
        return Verdict(None, False, f"{source} is blank; one-way rules never clear")
    if src.changed or dst.first_sync:
        return Verdict(source, conflict, f"{source} changed; it flows one way")
    return Verdict(None, False, f"{source} unchanged since last sync")


def _two_way(hubspot: FieldState, salesforce: FieldState, conflict: bool) -> Verdict:
    hs, sf = System.HUBSPOT, System.SALESFORCE
    # A side without a snapshot counts every field as changed, which says nothing about what
    # changed on the other side (its snapshot may predate the pair): on a first sync only
    # blanks and modification times decide.
    first = hubspot.first_sync or salesforce.first_sync
    if not first and hubspot.changed and not salesforce.changed:
        return Verdict(hs, False, "changed in HubSpot only")
    if not first and salesforce.changed and not hubspot.changed:
        return Verdict(sf, False, "changed in Salesforce only")
    if first:
        if blank(hubspot.value):
            return Verdict(sf, False, "first sync: HubSpot is blank")
        if blank(salesforce.value):
            return Verdict(hs, False, "first sync: Salesforce is blank")
    if salesforce.modified_at > hubspot.modified_at:
        return Verdict(sf, conflict, "most recent change wins (Salesforce)")
    return Verdict(hs, conflict, "most recent change wins (HubSpot)")
