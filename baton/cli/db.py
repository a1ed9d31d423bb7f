"""`baton db upgrade|current`: the store's schema, migrated from code (no alembic.ini)."""

from __future__ import annotations

import typer
from rich.console import Console

from baton.cli.common import EnvFileOption, fail, hint, store_errors
from baton.cli.status import missing_store_file
from baton.settings import SettingsError, load_baton
from baton.wiring import one_line, open_store
from sync.store import migrate


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="db", help="The state store: migrate it, show its revision.", no_args_is_help=True
    )
    app.command(name="upgrade")(upgrade)
    app.command(name="current")(current)
    return app


def _url(env_file: EnvFileOption) -> str:
    try:
        return load_baton(env_file).database()
    except SettingsError as exc:
        fail(f"baton: {exc}", 2)


def upgrade(env_file: EnvFileOption = None) -> None:
    """Bring the store (BATON_DATABASE_URL) to the latest migration; a no-op when it is there."""
    url = _url(env_file)
    try:
        with store_errors(url, "baton db upgrade", env_file):
            store = open_store(url)
            with store.connect() as conn:
                revision = migrate.current_revision(conn)
            store.dispose()
    except (SettingsError, migrate.StoreRevisionError) as exc:  # no folder; a newer Baton's
        fail(f"baton db upgrade: {exc}", 2)
    except Exception as exc:  # not the database's answer
        fail(f"baton db upgrade: {one_line(exc)} (check BATON_DATABASE_URL)", 1)
    Console(emoji=False).print(f"Store at migration {revision} (head).")


def current(env_file: EnvFileOption = None) -> None:
    """Show the store's migration and whether it is the latest; exit 1 when behind."""
    url = _url(env_file)
    missing = missing_store_file(url)
    upgrade = hint("db upgrade", env_file)
    if missing is not None:  # asking must not create it
        fail(f"baton db current: no store at {missing}; run '{upgrade}' to create it", 1)
    try:
        with store_errors(url, "baton db current", env_file):
            store = open_store(url, upgrade=False)
            with store.connect() as conn:
                revision = migrate.current_revision(conn)
            store.dispose()
    except Exception as exc:  # not the database's answer: a folder it cannot make, say
        fail(f"baton db current: {one_line(exc)} (check BATON_DATABASE_URL)", 1)
    problem = migrate.revision_problem(revision, upgrade=upgrade)
    if problem is None:
        Console(emoji=False).print(f"Store at migration {revision} (head).")
        return
    fail(f"baton db current: {problem}", 1)
