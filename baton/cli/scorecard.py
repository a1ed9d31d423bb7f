"""`baton scorecard`: the one funnel scorecard sales and marketing both read.

The figures and their definitions come from `sync.queries.scorecard`; the definitions are
printed under the tables (and included in `--json`), so nobody argues about what was measured.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from baton.cli.common import EnvFileOption
from baton.cli.since import SPELLINGS, since_parser
from baton.cli.status import JsonOption, baton_settings, human, open_store, print_json, when
from baton.settings import MAX_SLA_HOURS
from sync.queries.scorecard import Scorecard, sla_hours
from sync.queries.scorecard import scorecard as scorecard_query

#: Breaches listed in the table (all of them are in --json).
SHOWN_BREACHES = 15


def parse_moment(value: str, *, end_of_day: bool) -> datetime:
    """A UTC moment from 'YYYY-MM-DD' or an ISO 8601 date-time (naive means UTC).

    A bare date as an end bound means the end of that day, so `--until 2026-03-31` includes
    the 31st. A moment a datetime cannot hold once in UTC (the day after 9999-12-31, a time
    with an offset before year 1 began in UTC) is out of range, refused like a typo.
    """
    text = value.strip()
    try:
        try:  # a bare date in any ISO 8601 spelling (2026-03-31, 20260331, 2026-W14-2)
            day = date.fromisoformat(text)
        except ValueError:  # else a date-time (which a bare date also parses as, at 00:00)
            parsed = datetime.fromisoformat(text)
        else:
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return moment + timedelta(days=1) if end_of_day else moment
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except ValueError:
        raise typer.BadParameter(
            f"'{value}' is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][+00:00]"
        ) from None
    except OverflowError:
        raise typer.BadParameter(
            f"'{value}' is out of range; use a date in the years 1 to 9999 (UTC)"
        ) from None


def _moment(value: str | None, option: str, *, end_of_day: bool) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_moment(value, end_of_day=end_of_day)
    except typer.BadParameter as exc:
        raise typer.BadParameter(exc.message, param_hint=option) from None


def scorecard(
    since: Annotated[
        datetime | None,
        typer.Option(
            "--since",
            parser=since_parser(lambda: datetime.now(UTC)),
            metavar="WHEN",
            help=f"Period start (inclusive): {SPELLINGS}. Default: all history.",
            show_default=False,
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="Period end, YYYY-MM-DD (that whole day included). Default: now."),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Measure as of this moment (default: now; a bare date is 00:00 UTC), "
            "for reproducible reports. Not in the future, nor before --since.",
        ),
    ] = None,
    sla_hours: Annotated[
        float | None,
        typer.Option(
            min=0.01,
            max=MAX_SLA_HOURS,
            help="Lead-response SLA in hours (default: BATON_SLA_HOURS, 24).",
        ),
    ] = None,
    json_output: JsonOption = False,
    env_file: EnvFileOption = None,
) -> None:
    """Show volume, conversion, velocity, lead response against the SLA, and rejection reasons."""
    clock = datetime.now(UTC)
    now = _moment(as_of, "--as-of", end_of_day=False) or clock
    if now > clock:  # nothing is measured there yet: refused rather than read as now
        raise typer.BadParameter(
            f"'{as_of}' is in the future (now is {clock:%Y-%m-%d %H:%M} UTC); give a moment "
            "before now, or leave --as-of out to measure as of now",
            param_hint="--as-of",
        )
    end = _moment(until, "--until", end_of_day=True) or now
    if since is not None and since >= end:
        # Without --until the period ends now (or at --as-of): say so, the user gave no --until.
        default = "now" if as_of is None else "--as-of"
        implicit = (
            "" if until is not None else f" (not given, so {default}: {end:%Y-%m-%d %H:%M} UTC)"
        )
        raise typer.BadParameter(f"must be before --until{implicit}", param_hint="--since")
    if since is not None and now < since:  # with --until given: else caught just above
        raise typer.BadParameter(
            f"must not be before --since ({since:%Y-%m-%d %H:%M} UTC): the period had not "
            "begun by then, so every figure would be zero",
            param_hint="--as-of",
        )
    settings = baton_settings(env_file)
    hours = sla_hours if sla_hours is not None else settings.sla_hours
    with open_store(settings, env_file=env_file) as conn:
        card = scorecard_query(conn, as_of=now, since=since, until=end, sla=timedelta(hours=hours))
    if json_output:
        print_json(card)
        return
    render(card, Console(emoji=False, highlight=False))


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def render(card: Scorecard, console: Console) -> None:
    since = when(card.since) if card.since else "the beginning"
    console.print(
        f"[bold]Funnel scorecard[/] {since} -> {when(card.until)} (as of {when(card.as_of)}, UTC)"
    )
    console.print("[bold]Volume[/]: first entries in the period")
    volume = Table()
    volume.add_column("stage")
    volume.add_column("people", justify="right")
    for row in card.volume:
        volume.add_row(row.stage, str(row.people))
    console.print(volume)

    steps = Table(title="Conversion and velocity", title_justify="left")
    for column, justify in (
        ("step", "left"),
        ("passed", "right"),  # the cohort: entered, or skipped (`entered` in --json)
        ("converted", "right"),
        ("rate", "right"),
        ("median", "right"),
        ("p90", "right"),
    ):
        steps.add_column(column, justify=justify)  # type: ignore[arg-type]
    for conversion, speed in zip(card.conversions, card.velocity, strict=True):
        steps.add_row(
            f"{conversion.from_stage} -> {conversion.to_stage}",
            str(conversion.entered),
            str(conversion.converted),
            _rate(conversion.rate),
            human(speed.median),
            human(speed.p90),
        )
    console.print(steps)

    lead = card.lead_response
    kept_back = (
        f", {lead.not_handed_off} not handed off (no Salesforce record: not judged)"
        if lead.not_handed_off
        else ""
    )
    console.print(
        f"[bold]Lead response[/] (SLA {sla_hours(lead.sla)}): {lead.mqls} MQLs, {lead.touched} "
        f"touched; within SLA {lead.within_sla} ({_rate(lead.share_within_sla)} of those judged), "
        f"breached {lead.breached_late} late + {lead.breached_untouched} untouched, "
        f"{lead.pending} pending{kept_back}. Response median {human(lead.median)}, mean "
        f"{human(lead.mean)}, p90 {human(lead.p90)}."
    )
    console.print("First sales touch after MQL:")
    buckets = Table()
    buckets.add_column("response")
    buckets.add_column("MQLs", justify="right")
    buckets.add_column("share", justify="right")
    for name, count in lead.buckets:
        buckets.add_row(name, str(count), _rate(count / lead.mqls if lead.mqls else None))
    console.print(buckets)
    if lead.breaches:
        cut = (
            f"; the first {SHOWN_BREACHES} shown, --json lists all"
            if len(lead.breaches) > SHOWN_BREACHES
            else ""
        )
        breaches = Table(
            title=f"SLA breaches ({len(lead.breaches)}, most overdue first{cut})",
            title_justify="left",
        )
        for column in ("email", "MQL at", "touched at", "over SLA by"):
            breaches.add_column(column)
        for breach in lead.breaches[:SHOWN_BREACHES]:
            breaches.add_row(
                escape(breach.email or str(breach.person_id)),
                when(breach.mql_at),
                when(breach.touched_at) if breach.touched_at else "[red]not yet[/]",
                human(breach.overdue_by),
            )
        console.print(breaches)

    if card.rejections:
        reasons = Table(
            title=f"Rejection reasons ({card.rejections_total} rejections)", title_justify="left"
        )
        for column in ("outcome", "reason", "count", "share"):
            reasons.add_column(column)
        for rejection in card.rejections:
            reasons.add_row(
                rejection.outcome,
                escape(rejection.reason or "(none given)"),
                str(rejection.count),
                _rate(rejection.share),
            )
        console.print(reasons)
    else:
        console.print("Rejection reasons: no recycled or disqualified lead in the period.")

    console.print("[bold]Definitions[/]")
    for name, text in card.definitions:
        console.print(f"  {name}: {escape(text)}", soft_wrap=False)
