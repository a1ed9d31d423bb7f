"""UtcDateTime: aware in, UTC out, naive refused, on both dialects' value paths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from sync.store.types import UtcDateTime

EAST = timezone(timedelta(hours=5, minutes=30))
LOCAL = datetime(2026, 1, 2, 8, 0, tzinfo=EAST)


def test_sqlite_binds_naive_utc_and_returns_aware_utc() -> None:
    kind, dialect = UtcDateTime(), sqlite.dialect()
    bound = kind.process_bind_param(LOCAL, dialect)
    assert bound == datetime(2026, 1, 2, 2, 30)
    assert bound is not None
    assert bound.tzinfo is None
    back = kind.process_result_value(bound, dialect)
    assert back == LOCAL
    assert back is not None
    assert back.tzinfo is UTC


def test_postgresql_binds_aware_utc_and_normalises_results_to_utc() -> None:
    kind, dialect = UtcDateTime(), postgresql.dialect()
    bound = kind.process_bind_param(LOCAL, dialect)
    assert bound == LOCAL
    assert bound is not None
    assert bound.tzinfo is UTC
    back = kind.process_result_value(LOCAL, dialect)  # a server in another zone
    assert back == LOCAL
    assert back is not None
    assert back.tzinfo is UTC


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()])
def test_naive_values_are_refused_and_none_passes(dialect: object) -> None:
    kind = UtcDateTime()
    with pytest.raises(ValueError, match="naive datetime"):
        kind.process_bind_param(datetime(2026, 1, 2), dialect)  # type: ignore[arg-type]
    assert kind.process_bind_param(None, dialect) is None  # type: ignore[arg-type]
    assert kind.process_result_value(None, dialect) is None  # type: ignore[arg-type]
