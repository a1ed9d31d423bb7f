"""`baton backfill --since`: the accepted forms, one-line usage errors (exit 2), and the scope
shown in the header and summary."""

from __future__ import annotations

import io
import sys
from datetime import UTC, datetime, timedelta, timezone

import pytest
from rich.console import Console

from baton.cli import main
from baton.cli.backfill import run_backfill
from baton.cli.since import FORMS, BadSince, parse_since
from tests.unit.baton.test_backfill_output import PagedEngine

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", NOW - timedelta(days=7)),
        ("12h", NOW - timedelta(hours=12)),
        ("30m", NOW - timedelta(minutes=30)),
        ("2D", NOW - timedelta(days=2)),
        ("0m", NOW),
        ("2026-03-01", datetime(2026, 3, 1, tzinfo=UTC)),
        ("2026-03-01T09:30", datetime(2026, 3, 1, 9, 30, tzinfo=UTC)),
        ("2026-03-01 09:30:15", datetime(2026, 3, 1, 9, 30, 15, tzinfo=UTC)),
        ("2026-03-01T09:30Z", datetime(2026, 3, 1, 9, 30, tzinfo=UTC)),
        ("2026-03-01T11:30+02:00", datetime(2026, 3, 1, 9, 30, tzinfo=UTC)),
        (" 2026-03-10T12:00 ", NOW),  # now itself is not the future
    ],
)
def test_accepted_forms(text: str, expected: datetime) -> None:
    since = parse_since(text, now=NOW)
    assert since == expected
    assert since.tzinfo is not None
    assert since.utcoffset() == timedelta(0)


@pytest.mark.parametrize("text", ["soon", "7", "7w", "-3d", "d7", "2026-13-01", "", "7d ago"])
def test_bad_forms_name_the_accepted_ones(text: str) -> None:
    with pytest.raises(BadSince, match="is not a date") as caught:
        parse_since(text, now=NOW)
    assert FORMS in str(caught.value)


@pytest.mark.parametrize(
    "text", ["2026-03-11", "2026-03-10T12:01", "2026-03-10T13:01+01:00", "2026-03-10T12:00:01Z"]
)
def test_the_future_is_refused(text: str) -> None:
    with pytest.raises(BadSince, match="is in the future") as caught:
        parse_since(text, now=NOW)
    assert str(caught.value).endswith(
        "(now is 2026-03-10 12:00:00 UTC); give a moment before now, or a duration back from "
        "now (7d, 12h, 30m)"
    )


def test_a_later_wall_clock_in_an_eastern_zone_is_still_the_past() -> None:
    east = timezone(timedelta(hours=5))  # 16:00 there is 11:00 UTC, an hour before NOW
    assert parse_since("2026-03-10T16:00+05:00", now=NOW.astimezone(east)) == NOW - timedelta(
        hours=1
    )


def test_a_duration_too_long_for_the_calendar_is_refused() -> None:
    with pytest.raises(BadSince, match="reaches back too far"):
        parse_since("999999999d", now=NOW)


@pytest.mark.parametrize("text", ["0001-01-01T00:00+01:00", "9999-12-31T23:00-05:00"])
def test_a_moment_outside_the_calendar_in_utc_is_refused(text: str) -> None:
    """Before year 1 or after 9999 once in UTC: a usage error, not an OverflowError."""
    with pytest.raises(BadSince, match="is out of range; use a date in the years 1 to 9999"):
        parse_since(text, now=NOW)


def run_cli(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["baton", "backfill", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    return int(exited.value.code or 0)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("yesterday", "is not a date (2026-03-01), a date and time"),
        ("2999-01-01", "is in the future"),
        ("12", "or a duration back from now (7d, 12h, 30m)"),
    ],
)
def test_a_bad_since_is_one_line_naming_the_option_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], value: str, reason: str
) -> None:
    assert run_cli(monkeypatch, "--since", value) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "backfill: Invalid value for '--since':" in err  # the program name is pytest's here
    assert reason in err
    assert err.rstrip().endswith("backfill --help')")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--object", "foo"), "Invalid value for '--object': 'foo' is not one of Lead"),
        (("--object", "lead"), "Invalid value for '--object': 'lead' is not one of Lead"),
        (("--system", "hubspot", "--object", "Lead"), "--object 'Lead' is not a hubspot object"),
    ],
)
def test_an_object_baton_does_not_backfill_is_one_line_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: tuple[str], says: str
) -> None:
    """Not a backfill that reads nothing and says all is well."""
    assert run_cli(monkeypatch, *args, "--dry-run") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert says in err


def test_no_subcommand_prints_the_help_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["baton", "errors"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 0
    assert capsys.readouterr().out.count("Usage:") == 1


def test_the_help_shows_the_forms(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert run_cli(monkeypatch, "--help") == 0
    out = capsys.readouterr().out
    assert "--since" in out
    assert "7d / 12h / 30m" in out


def test_the_scope_is_in_the_header_and_the_summary() -> None:
    out = Console(file=io.StringIO(), width=160, force_terminal=False)
    engine = PagedEngine()
    since = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    run_backfill(engine, out, systems=None, objects=None, since=since, dry_run=True)
    text = out.file.getvalue()  # type: ignore[attr-defined]
    assert engine.calls[0]["since"] == since
    assert "Backfilling records modified since 2026-03-01 09:30:00 UTC." in text
    summary = text[text.index("Backfill plan (dry run: nothing written)") :]
    assert "Scope: records modified since 2026-03-01 09:30:00 UTC" in summary


def test_without_since_nothing_about_scope_is_added() -> None:
    out = Console(file=io.StringIO(), width=160, force_terminal=False)
    run_backfill(PagedEngine(), out, systems=None, objects=None, dry_run=False)
    text = out.file.getvalue()  # type: ignore[attr-defined]
    assert "since" not in text
    assert "Backfill done" in text
