"""Suite-wide fixtures and policies."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import URL, make_url

from sync.store.engine import make_engine

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def require_service(reason: str) -> None:
    """Skip with a one-line reason on a machine without the service; in CI, fail instead.

    CI machines run PostgreSQL, so a skip there would hide a broken test, not a missing server.
    """
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run this test, not skip it)")
    pytest.skip(reason)


@contextmanager
def scratch_database(prefix: str, *, template: str | None = None) -> Iterator[URL]:
    """A new PostgreSQL database named `prefix_<random>` (a copy of `template` if given),
    dropped on exit; without a reachable server, `require_service` decides skip or fail."""
    admin = make_engine(PG_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"{copy}')
    except Exception as error:  # any connect failure means "no server here"
        admin.dispose()
        first_line = str(error).strip().splitlines()[0]
        require_service(f"PostgreSQL not reachable at 127.0.0.1:5432: {first_line}")
    try:
        yield make_url(PG_ADMIN_URL).set(database=name)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
