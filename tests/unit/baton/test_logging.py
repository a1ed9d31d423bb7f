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
