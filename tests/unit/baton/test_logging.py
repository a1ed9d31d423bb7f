"""Structured log lines: key=value and JSON, facts from `extra={"kv": ...}`, secrets masked."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from baton.logging import configure_logging


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    yield out
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_baton", False)]:
        root.removeHandler(handler)


def test_key_value_lines_quote_what_needs_quoting(stream: io.StringIO) -> None:
    configure_logging(stream=stream)
    logging.getLogger("baton.daemon").info(
        "cycle failed", extra={"kv": {"read": 3, "error": 'bad "x" here'}}
    )
    line = stream.getvalue().strip()
    assert " level=info logger=baton.daemon " in line
    assert 'msg="cycle failed" read=3 error="bad \\"x\\" here"' in line


def test_json_lines_carry_the_facts_and_mask_secrets(stream: io.StringIO) -> None:
    configure_logging(fmt="json", secrets=["s3cr3t-token-value"], stream=stream)
    logging.getLogger("baton.run").warning(
        "token %s rejected", "s3cr3t-token-value", extra={"kv": {"echo": "s3cr3t-token-value"}}
    )
    record = json.loads(stream.getvalue())
    assert record["level"] == "warning"
    assert "s3cr3t-token-value" not in stream.getvalue()
    assert record["msg"].startswith("token ")


def test_calling_it_twice_keeps_one_handler(stream: io.StringIO) -> None:
    configure_logging(stream=stream)
    configure_logging(stream=stream)
    logging.getLogger("baton.x").warning("once")
    assert stream.getvalue().count("msg=once") == 1


@pytest.mark.parametrize(("fmt", "logged"), [("json", True), ("kv", False)])
def test_the_daemons_fatal_line_is_one_json_object_when_logs_are_json(
    stream: io.StringIO, capsys: pytest.CaptureFixture[str], fmt: str, logged: bool
) -> None:
    """A log shipper reading `baton run`'s stderr with BATON_LOG_FORMAT=json gets its fatal
    line as a JSON object too (secrets masked); in key=value mode it stays the plain line."""
    from baton.cli.common import fail, fatal_lines_logged

    configure_logging(fmt=fmt, secrets=["s3cr3t-token-value"], stream=stream)
    with pytest.raises(SystemExit) as caught, fatal_lines_logged(logging.getLogger("baton.run")):
        fail("baton run --once: cycle failed: SessionExpired: s3cr3t-token-value", 1)

    assert caught.value.code == 1
    err = capsys.readouterr().err
    if logged:
        assert err == ""
        record = json.loads(stream.getvalue())
        assert (record["level"], record["msg"], record["exit_code"]) == ("error", "fatal", 1)
        assert record["error"] == "baton run --once: cycle failed: SessionExpired: ***"
    else:
        assert stream.getvalue() == ""
        assert err == "baton run --once: cycle failed: SessionExpired: ***\n"


def test_an_interactive_commands_fatal_line_stays_plain_when_logs_are_json(
    stream: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    from baton.cli.common import fail

    configure_logging(fmt="json", stream=stream)
    with pytest.raises(SystemExit):
        fail("baton backfill: stopped", 130)
    assert capsys.readouterr().err == "baton backfill: stopped\n"
    assert stream.getvalue() == ""
