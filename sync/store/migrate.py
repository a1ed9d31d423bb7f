"""Apply the Alembic migrations from code: no alembic.ini is needed at runtime.

`upgrade` is what `baton db upgrade` and the daemon's start-up call; `schema_diff` compares a
database with the models (empty when they agree) so tests can prove it. A store at a migration
this code does not have was upgraded by a newer Baton: `upgrade` refuses it with the fix
(`StoreRevisionError`), as `revision_problem` says for the read commands and `/readyz`.
"""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import URL, Connection, Engine

from sync.store.engine import make_engine
from sync.store.locks import MIGRATIONS, hold
from sync.store.schema import Base

SCRIPT_LOCATION = "sync.store:migrations"


class StoreRevisionError(RuntimeError):
    """The store is at a migration this code cannot use as it is (the message says the fix);
    `current` is that migration, for a caller that words the fix itself (`revision_problem`)."""

    def __init__(self, message: str | None, *, current: str | None = None) -> None:
        super().__init__(message)
        self.current = current


class StoreAhead(StoreRevisionError):
    """A newer Baton migrated the store: this code does not have its migration."""


class StoreBehind(StoreRevisionError):
    """The store is behind this code's migrations and was not to be upgraded (`only_new`)."""


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic `Config` built in code; `env.py` uses `connection` when one is given."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(
    engine_or_url: Engine | URL | str, revision: str = "head", *, only_new: bool = False
) -> None:
    """Bring the database up to `revision`, in one transaction; a no-op when already there
    (a process starting beside another that is upgrading waits for it, then finds it done).

    A store a newer Baton migrated is refused, not half understood. `only_new` builds an empty
    database but leaves a migrated one as it is: one behind head is refused with the fix (a
    dry run must not change the schema under an older Baton still running on it)."""
    engine = engine_or_url if isinstance(engine_or_url, Engine) else make_engine(engine_or_url)
    try:
        with engine.begin() as connection:
            hold(connection, MIGRATIONS)
            current = current_revision(connection)
            if current is not None and current != head_revision():
                if not known_revision(current):
                    raise StoreAhead(revision_problem(current), current=current)
                if only_new:
                    raise StoreBehind(revision_problem(current), current=current)
            command.upgrade(alembic_config(connection), revision)
    finally:
        if engine is not engine_or_url:
            engine.dispose()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def known_revision(revision: str) -> bool:
    """Whether this code has migration `revision` (one it does not was made by a newer Baton)."""
    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False


def revision_problem(
    current: str | None, store: str = "the store", *, upgrade: str = "baton db upgrade"
) -> str | None:
    """Why this code cannot use `store` at migration `current`, with the fix; None at head.
    `upgrade` is the command that migrates that store (the CLI adds the `--env-file` that
    named it)."""
    head = head_revision()
    if current == head:
        return None
    if current is not None and not known_revision(current):
        return (
            f"{store} is at migration {current}, newer than this Baton knows (its latest is "
            f"{head}): a newer Baton upgraded it; run that version, or restore the copy of the "
            "store taken before the upgrade"
        )
    return (
        f"{store} is at migration {current or '(none)'}, this Baton expects {head}: run '{upgrade}'"
    )


def schema_diff(connection: Connection) -> list[Any]:
    """Alembic autogenerate's differences between the database and the models ([] = in sync)."""
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))
