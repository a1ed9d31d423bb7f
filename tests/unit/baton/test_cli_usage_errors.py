"""Bad input on the command line: one line in Baton's words naming the input and the fix, exit
2; never the wording of the library that checked the value (pydantic's "Value error, ",
"Input should be ...")."""

from __future__ import annotations

import sys

import pytest

from baton.cli import main


def run_cli(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["baton", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    return int(exited.value.code or 0)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ("errors", "list", "--system", "foo"),
            "baton errors list: Invalid value for '--system': 'foo' is not one of 'hubspot', "
            "'salesforce' (see 'baton errors list --help')",
        ),
        (
            ("errors", "list", "--status", "bogus"),
            "Invalid value for '--status': 'bogus' is not one of 'open', 'retried', 'dropped', "
            "'all' (see",
        ),
        (
            ("backfill", "--system", "hub"),
            "baton backfill: Invalid value for '--system': 'hub' is not one of 'hubspot', "
            "'salesforce' (see 'baton backfill --help')",
        ),
        (
            ("mappings", "show", "--format", "html"),
            "Invalid value for '--format': 'html' is not one of 'table', 'markdown' (see",
        ),
        (
            ("errors", "list", "--limit", "0"),
            "Invalid value for '--limit': 0 is too small; give 1 or more (see",
        ),
        (
            ("errors", "list", "--limit", "999999999"),
            "Invalid value for '--limit': 999999999 is too large; give 100000 or less (see",
        ),
        (
            ("errors", "list", "--limit", "ten"),
            "Invalid value for '--limit': 'ten' is not a whole number (see",
        ),
        (
            ("errors", "retry", "1.5"),
            "Invalid value for 'ids': 1.5 is not a whole number (see",
        ),
        (
            ("scorecard", "--sla-hours", "abc"),
            "Invalid value for '--sla-hours': 'abc' is not a number (see",
        ),
        (
            ("scorecard", "--sla-hours", "0"),
            "Invalid value for '--sla-hours': 0 is too small; give 0.01 or more (see",
        ),
        (  # a year at most, as BATON_SLA_HOURS: a longer SLA is no timedelta, not a traceback
            ("scorecard", "--sla-hours", "1e12"),
            "Invalid value for '--sla-hours': 1e12 is too large; give 8760 or less (see",
        ),
        (
            ("scorecard", "--sla-hours", "inf"),
            "Invalid value for '--sla-hours': inf is too large; give 8760 or less (see",
        ),
        (
            ("why",),
            "baton why: Missing argument 'email' (see 'baton why --help')",
        ),
    ],
)
def test_a_bad_value_is_one_line_in_batons_words_exit_2(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    says: str,
) -> None:
    assert run_cli(monkeypatch, *args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert says in err
    assert "Value error" not in err
    assert "Input should" not in err
    assert ". (see" not in err
