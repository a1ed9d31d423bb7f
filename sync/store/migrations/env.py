"""Alembic environment: run migrations on the connection `migrate.upgrade` passes in.

Falls back to `sqlalchemy.url` (or BATON_DATABASE_URL via the caller) so the `alembic` command
line also works for developers writing a new revision.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from sync.store.engine import make_engine
from sync.store.schema import Base


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        compare_type=True,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    given = context.config.attributes.get("connection")
    if isinstance(given, Connection):
        _run(given)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection given and no sqlalchemy.url set for migrations")
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            _run(connection)
    finally:
        engine.dispose()


main()
