"""Apply the Alembic migrations from code: no alembic.ini is needed at runtime.

`upgrade` is what `baton db upgrade` and the daemon's start-up call; `schema_diff` compares a
database with the models (empty when they agree) so tests and `baton status` can prove it.
"""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Connection, Engine

from sync.store.engine import make_engine
from sync.store.locks import MIGRATIONS, hold
from sync.store.schema import Base

SCRIPT_LOCATION = "sync.store:migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic `Config` built in code; `env.py` uses `connection` when one is given."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(engine_or_url: Engine | URL | str, revision: str = "head") -> None:
    """Bring the database up to `revision`, in one transaction; a no-op when already there
    (a process starting beside another that is upgrading waits for it, then finds it done)."""
    engine = engine_or_url if isinstance(engine_or_url, Engine) else make_engine(engine_or_url)
    try:
        with engine.begin() as connection:
            hold(connection, MIGRATIONS)
            command.upgrade(alembic_config(connection), revision)
    finally:
        if engine is not engine_or_url:
            engine.dispose()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def schema_diff(connection: Connection) -> list[Any]:
    """Alembic autogenerate's differences between the database and the models ([] = in sync)."""
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))
