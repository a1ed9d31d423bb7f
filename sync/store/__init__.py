"""The engine's state store: schema, migrations, engine factory and repositories.

Every repository function takes a `Session` or `Connection` the caller owns and never commits,
so "write the page's links and snapshots, then advance the cursor" is one transaction.
"""

from __future__ import annotations

from sync.store.engine import for_reading, make_engine, sqlite_url
from sync.store.migrate import schema_diff, upgrade

__all__ = ["for_reading", "make_engine", "schema_diff", "sqlite_url", "upgrade"]
