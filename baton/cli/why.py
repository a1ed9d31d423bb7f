"""`baton why <email> [field]`: why a person's values are what they are, in time order.

Every time printed is UTC, and says so: in its table column's heading, or after it in a line
of text (`utc`), as a person reading it may be anywhere."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from baton.cli.common import EnvFileOption, fail, hint
from baton.cli.status import JsonOption, baton_settings, open_store, print_json, when
from baton.settings import BatonSettings
from connectors.records import FieldValue
from mappings.apply import OPPORTUNITY
from mappings.loader import load
from sync.identity import IDENTITY_FIELD
from sync.queries.why import Event, PersonStory, WhyReport
from sync.queries.why import why as why_query
from sync.sla import BREACH_FIELD, WITHDRAWN_RULE
from sync.store.dead_letters import DeadLetter
from sync.store.decisions import Decision, unheld
from sync.store.links import LinkChange
from sync.store.transitions import Transition


def why(
    email: Annotated[str, typer.Argument(help="The person's email (any case).")],
    field: Annotated[
        str | None,
        typer.Argument(help="Only this canonical field's decisions (e.g. job_title)."),
    ] = None,
    json_output: JsonOption = False,
    env_file: EnvFileOption = None,
) -> None:
    """Tell one person's story: links and relinks, funnel stages, and every field decision."""
    settings = baton_settings(env_file)
    with open_store(settings, env_file=env_file) as conn:
        report = why_query(conn, email, field)
    if not report.found and not _email_shaped(report.email):
        fail(
            f"baton why: EMAIL '{email}' is not an email address; give the person's email "
            "(any case), e.g. ann@example.com",
            2,
        )
    if not report.found:
        fail(
            f"baton why: no person with email '{report.email}' in the store; check the address "
            f"(or run a sync first: '{hint('status', env_file)}' shows what has been read)"
        )
    logged = any(story.decisions for story in report.people)
    if field is not None and not logged and field not in (known := _fields(settings)):
        fail(f"baton why: FIELD '{field}' is not a field Baton decides; one of {known}", 2)
    if json_output:
        print_json(report)
        return
    render(report, Console(emoji=False, highlight=False), env_file=env_file)


def _email_shaped(text: str) -> bool:
    """Something@something with no space: what every system's email field holds. Checked only
    when nobody has it, so an odd address a system does hold is still found."""
    local, at, domain = text.rpartition("@")
    return bool(at and local and domain) and not any(c.isspace() for c in text)


def _fields(settings: BatonSettings) -> str:
    """The fields decisions are logged for: the dictionary's, and the engine's own notes."""
    names = [*load(settings.dictionary_path).fields, IDENTITY_FIELD, "record", BREACH_FIELD]
    return ", ".join(dict.fromkeys(names))


def render(report: WhyReport, console: Console, *, env_file: Path | None = None) -> None:
    """Each person's story; its hints carry `env_file`, so they act on this same store."""
    if len(report.people) > 1 and report.former:
        console.print(
            f"[yellow]{len(report.people)} people had {escape(report.email)}[/] (nobody has it "
            "now). Each one's story follows."
        )
    elif len(report.people) > 1:
        console.print(
            f"[yellow]{len(report.people)} people share {escape(report.email)}[/]: an ambiguous "
            "match the engine reported instead of guessing. Each one's story follows."
        )
    former = report.email if report.former else None
    for story in report.people:
        _render_story(story, report.field, console, env_file, former)


def _state(active: bool, obj: str) -> str:
    """An Opportunity is a person's by association (its inactive link), not a past record."""
    if active:
        return "active"
    return "associated" if obj == OPPORTUNITY else "[dim]previous[/]"


def _render_story(
    story: PersonStory,
    field: str | None,
    console: Console,
    env_file: Path | None,
    former: str | None = None,
) -> None:
    """One person's story; `former`: the address asked for, which the person no longer has."""
    console.print(
        f"[bold]{escape(story.email or '(no email)')}[/] person {story.person_id} "
        f"(their Baton_Id__c and baton_id; known since {utc(story.created_at)})"
    )
    if former is not None:
        console.print(
            f"[yellow]{escape(former)} is a former address of this person[/]; their current one "
            f"is {escape(story.email or '(none)')}"
        )
    links = Table(title="Linked records", title_justify="left")
    # A record's id is what one looks it up by: never cut to '0038d00…' (on a narrow terminal
    # the other columns give way).
    for column in (
        "system",
        "object",
        "id",
        "state",
        "why linked",
        "linked (UTC)",
        "unlinked (UTC)",
    ):
        links.add_column(column, no_wrap=column == "id", overflow="fold")
    for link in story.links:
        links.add_row(
            str(link.key.system),
            link.key.object,
            link.key.id,
            _state(link.active, link.key.object),
            str(link.reason),
            when(link.linked_at),
            when(link.unlinked_at),
        )
    console.print(links if story.links else "Not linked to any record.")
    if story.dead_letters:
        letters = Table(
            title="Open dead letters (held back until the data changes; "
            f"'{escape(hint('errors retry ID', env_file))}' sends one now)",
            title_justify="left",
        )
        for column in ("id", "record", "vendor code", "message", "attempts", "last refused (UTC)"):
            letters.add_column(column, overflow="fold")
        for letter in story.dead_letters:
            letters.add_row(
                str(letter.id),
                escape(str(letter.key)),
                escape(letter.vendor_code or "-"),
                escape(letter.vendor_message or "-"),
                str(letter.attempts),
                when(letter.last_seen_at),
            )
        console.print(letters)
    if story.stages:
        stages = ", ".join(f"{t.stage} {utc(t.entered_at)}" for t in story.stages)
        console.print(f"Funnel, first entered: {escape(stages)}")
    if field is not None and not story.decisions:
        console.print(f"No decision logged for field '{escape(field)}'.")
    timeline = Table(title="Timeline", title_justify="left", show_lines=False)
    for column in ("at (UTC)", "what", "detail"):
        timeline.add_column(column, overflow="fold")
    open_letters = {letter.id: letter for letter in story.dead_letters}
    for event in story.timeline:
        what, detail = describe(event, open_letters, env_file=env_file)
        timeline.add_row(when(event.at), escape(what), escape(detail))
    if story.timeline:
        console.print(timeline)
    console.print()


def describe(
    event: Event,
    open_letters: Mapping[int, DeadLetter] | None = None,
    *,
    env_file: Path | None = None,
) -> tuple[str, str]:
    """The timeline line of one event: a short label and the detail a person needs
    (`open_letters`: the person's open dead letters by id, which a held write waits for; a
    retry's hint carries `env_file`)."""
    item = event.item
    if isinstance(item, LinkChange):
        before = f" (was {item.previous_key})" if item.previous_key else ""
        moved = f", moved from person {item.previous_person_id}" if item.previous_person_id else ""
        return f"linked {item.key.system}", f"{item.key}{before}{moved}; reason {item.reason}"
    if isinstance(item, Transition):
        reason = f"; reason {item.reason}" if item.reason else ""
        return f"entered {item.stage}", f"seen in {item.source_system}{reason}"
    return _decision(item, open_letters or {}, env_file)


def _decision(
    d: Decision, open_letters: Mapping[int, DeadLetter], env_file: Path | None = None
) -> tuple[str, str]:
    if d.field == BREACH_FIELD:
        if d.rule == WITHDRAWN_RULE:
            return "lead-response SLA breach withdrawn", (
                f"MQL since {utc(d.hubspot_modified_at)}, touched by sales "
                f"{utc(d.salesforce_modified_at)}, within the SLA (the touch was recorded late)"
            )
        touched = (
            f"first touched {utc(d.salesforce_modified_at)}"
            if d.salesforce_modified_at
            else "no sales touch"
        )
        return "lead-response SLA breached", (
            f"MQL since {utc(d.hubspot_modified_at)}, {touched}, not within the SLA ({d.rule})"
        )
    note = _note(d)
    if note is not None:
        return d.field, f"{note}; rule {d.rule}; trigger {d.trigger}"
    rule, held = unheld(d.rule)
    letter = open_letters.get(held) if held is not None else None
    sides = []
    for system, old, new, modified in (
        ("HubSpot", d.hubspot_old, d.hubspot_new, d.hubspot_modified_at),
        ("Salesforce", d.salesforce_old, d.salesforce_new, d.salesforce_modified_at),
    ):
        if old is None and new is None and modified is None:
            continue
        changed = f"{_v(old)} -> {_v(new)}" if old != new else f"{_v(old)} (kept)"
        if old != new and letter is not None and system.lower() == letter.key.system.value:
            changed += " not sent"
        stamp = f", changed there {utc(modified)}" if modified else ""
        sides.append(f"{system} {changed}{stamp}")
    winner = f"; winner {d.winner}" if d.winner else ""
    detail = "; ".join(sides) or "no values"
    if held is None:
        return f"{d.field}", f"{detail}; rule {rule}{winner}; trigger {d.trigger}"
    if letter is not None:
        retry = hint(f"errors retry {held}", env_file)
        why = f"held: dead letter #{held} is open; `{retry}` sends it"
    else:
        why = f"held, not sent: dead letter #{held} was open (retried or dropped since)"
    return f"{d.field} (held)", f"{detail}; rule {rule}{winner}; trigger {d.trigger}; {why}"


_RECORD_KEY = re.compile(r"^(hubspot|salesforce):[^:\s]+:\S+$")


def _note(d: Decision) -> str | None:
    """'record: explanation' for the engine's notes about a record rather than a field (identity,
    conversion, deletes, refusals, a handoff not made): the key in its system's old value, the
    text in that system's new (`sync.store.decisions.note_about`) or, in older entries, in the
    other system's new.
    """
    for record, detail, rest in (
        (d.hubspot_old, d.hubspot_new, (d.salesforce_old, d.salesforce_new)),
        (d.salesforce_old, d.salesforce_new, (d.hubspot_old, d.hubspot_new)),
        (d.hubspot_old, d.salesforce_new, (d.hubspot_new, d.salesforce_old)),
        (d.salesforce_old, d.hubspot_new, (d.salesforce_new, d.hubspot_old)),
    ):
        if (
            isinstance(record, str)
            and _RECORD_KEY.match(record)
            and isinstance(detail, str)
            and rest == (None, None)
        ):
            return f"{record}: {detail}"
    return None


def utc(at: datetime | None) -> str:
    """A time in a line of text, saying it is UTC ("-": none)."""
    return "-" if at is None else f"{when(at)} UTC"


def _v(value: FieldValue) -> str:
    return "(blank)" if value is None or value == "" else repr(value)
