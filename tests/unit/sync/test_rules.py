"""The field rules as a table: given both sides' values and what changed, who wins."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.records import System
from mappings.dictionary import Rule
from sync.rules import FieldState, decide

EARLY = datetime(2026, 1, 1, tzinfo=UTC)
LATE = datetime(2026, 1, 2, tzinfo=UTC)
HS, SF = System.HUBSPOT, System.SALESFORCE


def state(
    value: str | None, changed: bool, at: datetime = EARLY, first: bool = False
) -> FieldState:
    return FieldState(value, changed, at, first)


@pytest.mark.parametrize(
    ("rule", "hubspot", "salesforce", "winner", "conflict"),
    [
        # two_way: the side that changed wins; both changed -> most recent, and a conflict
        (Rule.TWO_WAY, state("a", True), state("b", False), HS, False),
        (Rule.TWO_WAY, state("a", False), state("b", True), SF, False),
        (Rule.TWO_WAY, state("a", True, EARLY), state("b", True, LATE), SF, True),
        (Rule.TWO_WAY, state("a", True, LATE), state("b", True, EARLY), HS, True),
        (Rule.TWO_WAY, state("a", True, LATE), state("b", True, LATE), HS, True),
        # a clear is a change: cleared on one side, changed on the other is a conflict (the
        # most recent change still wins, whichever it is)
        (Rule.TWO_WAY, state(None, True, LATE), state("b", True, EARLY), HS, True),
        (Rule.TWO_WAY, state("a", True, LATE), state(None, True, EARLY), HS, True),
        (Rule.TWO_WAY, state("", True, EARLY), state("b", True, LATE), SF, True),
        # first sync: a blank never beats a value, whatever the times
        (Rule.TWO_WAY, state(None, True, LATE, True), state("b", True, EARLY, True), SF, False),
        (Rule.TWO_WAY, state("a", True, EARLY, True), state(None, True, LATE, True), HS, False),
        # prefer_*_unless_blank
        (Rule.PREFER_SALESFORCE_UNLESS_BLANK, state("a", True), state("b", False), SF, False),
        (Rule.PREFER_SALESFORCE_UNLESS_BLANK, state("a", True), state(None, False), HS, False),
        (Rule.PREFER_HUBSPOT_UNLESS_BLANK, state("a", False), state("b", True), HS, False),
        (Rule.PREFER_HUBSPOT_UNLESS_BLANK, state(None, False), state("b", True), SF, False),
        # ... both changed: a conflict, unless the preferred side is blank (no value to it)
        (Rule.PREFER_HUBSPOT_UNLESS_BLANK, state("a", True), state(None, True, LATE), HS, True),
        (Rule.PREFER_HUBSPOT_UNLESS_BLANK, state(None, True), state("b", True), SF, False),
        (Rule.PREFER_SALESFORCE_UNLESS_BLANK, state(None, True), state("b", True), SF, True),
        (Rule.PREFER_SALESFORCE_UNLESS_BLANK, state("a", True), state(None, True), HS, False),
        # always_*: even a blank wins (it clears)
        (Rule.ALWAYS_HUBSPOT, state(None, True), state("b", False), HS, False),
        (Rule.ALWAYS_SALESFORCE, state("a", True), state(None, False), SF, False),
        (Rule.ALWAYS_HUBSPOT, state(None, True), state("b", True), HS, True),
        (Rule.ALWAYS_SALESFORCE, state("a", True), state(None, True), SF, True),
        # one direction: only when the source changed; never clears
        (Rule.HUBSPOT_TO_SALESFORCE, state("a", True), state("b", False), HS, False),
        (Rule.HUBSPOT_TO_SALESFORCE, state("a", False), state("b", True), None, False),
        (Rule.HUBSPOT_TO_SALESFORCE, state(None, True), state("b", False), None, False),
        (Rule.HUBSPOT_TO_SALESFORCE, state("a", False), state(None, True, first=True), HS, False),
        # ... an edit on the destination (a clear too) overwritten by the source's: a conflict
        (Rule.HUBSPOT_TO_SALESFORCE, state("a", True), state(None, True), HS, True),
        (Rule.HUBSPOT_TO_SALESFORCE, state(None, True), state("b", True), None, False),
        (Rule.SALESFORCE_TO_HUBSPOT, state("a", False), state("b", True), SF, False),
        (Rule.SALESFORCE_TO_HUBSPOT, state("a", True), state("b", False), None, False),
        # none
        (Rule.NONE, state("a", True), state("b", True), None, False),
    ],
)
def test_rule_table(
    rule: Rule,
    hubspot: FieldState,
    salesforce: FieldState,
    winner: System | None,
    conflict: bool,
) -> None:
    verdict = decide(rule, hubspot, salesforce)
    assert verdict.winner is winner
    assert verdict.conflict is conflict
    assert verdict.why
