"""The fast paths' SQLite timestamps: the text written and the value read back are exactly
SQLAlchemy's own (bind and result processors of `UtcDateTime`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from sync.store._bulk import _sqlite_utc_reader, sqlite_utc_text
from sync.store.types import UtcDateTime

_DIALECT = sqlite.dialect()
_ORDINARY = UtcDateTime().dialect_impl(_DIALECT).bind_processor(_DIALECT)
_ORDINARY_READ = UtcDateTime().dialect_impl(_DIALECT).result_processor(_DIALECT, None)
_READ = _sqlite_utc_reader(_DIALECT)


def ordinary(value: datetime | None) -> object:
    assert _ORDINARY is not None
    return _ORDINARY(value)


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
        ),
    )
)
def test_any_aware_time_is_the_same_text_and_reads_back_the_same(value: datetime) -> None:
    text = sqlite_utc_text(value)
    assert text == ordinary(value)
    assert _ORDINARY_READ is not None
    back = _READ(text)
    assert back == _ORDINARY_READ(text) == value
    assert back.tzinfo is UTC


@pytest.mark.parametrize(
    "text", ["2026-01-02 03:04:05", "2026-01-02", "2026-01-02 03:04:05.5", None]
)
def test_text_the_store_did_not_write_is_read_as_sqlalchemy_reads_it(text: str | None) -> None:
    assert _ORDINARY_READ is not None
    assert _READ(text) == _ORDINARY_READ(text)


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),  # no microseconds: still written as .000000
        datetime(2026, 1, 2, 3, 4, 5, 7, tzinfo=UTC),
        datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC),  # a three-digit year is zero-padded
        datetime(2026, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=2))),  # the day before in UTC
        None,
    ],
)
def test_edge_values_are_the_same_text(value: datetime | None) -> None:
    assert sqlite_utc_text(value) == ordinary(value)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        sqlite_utc_text(datetime(2026, 1, 2))
