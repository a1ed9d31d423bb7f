"""Migrations build the whole schema from empty, match the models, and are re-runnable."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Connection, Engine, inspect, text

from sync.store.decisions import Decision, record_decision
from sync.store.engine import make_engine
from sync.store.migrate import (
    StoreAhead,
    StoreBehind,
    alembic_config,
    current_revision,
    head_revision,
    revision_problem,
    schema_diff,
    upgrade,
)
from sync.store.people import add_person
from sync.store.runs import RunKind, RunStatus, get_run, start_run
from sync.store.schema import Base

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

TABLES = {
    "people",
    "identity_links",
    "link_history",
    "snapshots",
    "checkpoints",
    "runs",
    "decisions",
    "dead_letters",
    "funnel_transitions",
    "api_budget",
    "listing_positions",
    "pending_creates",
    "pending_updates",
    "purge_hints",
    "record_addresses",
}


def test_upgrade_from_empty_builds_every_table_at_head(empty_url: URL) -> None:
    url = empty_url
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert current_revision(conn) is None
            assert set(inspect(conn).get_table_names()) == set()
        upgrade(url)  # by URL: builds and disposes its own engine
        upgrade(engine)  # again, by engine: already at head, a no-op
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) == TABLES | {"alembic_version"}
            assert current_revision(conn) == head_revision() == "0012"
    finally:
        engine.dispose()


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    assert set(Base.metadata.tables) == TABLES
    with engine.connect() as conn:
        assert schema_diff(conn) == []


def test_partial_unique_index_on_active_links_exists(engine: Engine) -> None:
    with engine.connect() as conn:
        indexes = {ix["name"]: ix for ix in inspect(conn).get_indexes("identity_links")}
    active = indexes["uq_identity_links_person_id_system_active"]
    assert active["unique"]
    assert active["column_names"] == ["person_id", "system"]


def test_downgrade_to_base_removes_everything_and_upgrade_restores_it(empty_url: URL) -> None:
    engine = make_engine(empty_url)
    try:
        upgrade(engine)
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "base")
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) == {"alembic_version"}
        upgrade(engine)
        with engine.connect() as conn:
            assert schema_diff(conn) == []
    finally:
        engine.dispose()


def test_0002_adds_the_heartbeat_to_existing_runs_and_goes_back(empty_url: URL) -> None:
    engine = make_engine(empty_url)
    try:
        upgrade(engine, "0001")
        with engine.begin() as conn:  # inserts only the columns 0001 has
            run_id = start_run(conn, RunKind.DAEMON, at=T0)
        upgrade(engine)
        with engine.connect() as conn:
            run = get_run(conn, run_id)
            assert schema_diff(conn) == []
        assert run is not None
        assert (run.status, run.heartbeat_at, run.last_seen) == (RunStatus.RUNNING, None, T0)
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0001")
        with engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("runs")}
            indexes = {ix["name"] for ix in inspect(conn).get_indexes("runs")}
        assert "heartbeat_at" not in columns
        assert "ix_runs_status" not in indexes
    finally:
        engine.dispose()


def test_0006_closes_all_but_the_latest_of_several_running_backfills(empty_url: URL) -> None:
    """Before 0006 a killed backfill and the one after it could both be left `running`; the
    index admitting one must not fail on such a store."""
    engine = make_engine(empty_url)
    try:
        upgrade(engine, "0005")
        with engine.begin() as conn:  # inserts only the columns 0005 has
            killed = start_run(conn, RunKind.BACKFILL, at=T0)
            latest = start_run(conn, RunKind.BACKFILL, at=T0.replace(hour=10))
        upgrade(engine)
        with engine.connect() as conn:
            closed, running = get_run(conn, killed), get_run(conn, latest)
            assert schema_diff(conn) == []
        assert closed is not None
        assert running is not None
        assert closed.status is RunStatus.INTERRUPTED
        assert closed.error == "closed by migration 0006: a later backfill was running"
        assert running.status is RunStatus.RUNNING
    finally:
        engine.dispose()


def test_two_processes_upgrading_an_empty_store_at_once_both_end_at_head(empty_url: URL) -> None:
    """The daemon and a CLI command started together on a new store: one builds the schema,
    the other waits for it (PostgreSQL: an advisory lock; SQLite: the write lock) and finds
    it done, instead of failing on a half-made type or table."""
    failures: list[BaseException] = []

    def start() -> None:
        try:
            upgrade(empty_url)
        except BaseException as exc:  # handed to the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    engine = make_engine(empty_url)
    try:
        with engine.connect() as conn:
            assert current_revision(conn) == head_revision()
    finally:
        engine.dispose()


def test_every_downgrade_works_on_a_store_with_data(empty_url: URL) -> None:
    """Each revision steps down and back up on a store in use: on SQLite a batch rebuild of
    `runs` (foreign keys on, decisions referring to it) failed 0006 and 0002 going down."""
    engine = make_engine(empty_url)
    try:
        upgrade(engine)
        with engine.begin() as conn:
            run_id = start_run(conn, RunKind.DAEMON, at=T0)
            person = add_person(conn, "ann@example.com", at=T0)
            record_decision(
                conn, Decision(person, "job_title", "two_way", "poll", T0, run_id=run_id)
            )
        script = ScriptDirectory.from_config(alembic_config())
        for step in script.walk_revisions():  # head first
            target = step.down_revision or "base"
            assert isinstance(target, str)
            with engine.begin() as conn:
                command.downgrade(alembic_config(conn), target)
            with engine.connect() as conn:
                assert current_revision(conn) == (None if target == "base" else target)
        upgrade(engine)
        with engine.connect() as conn:
            assert schema_diff(conn) == []
    finally:
        engine.dispose()


def test_0011_adds_the_source_columns_the_first_draft_of_0007_lacked(empty_url: URL) -> None:
    """0007 gained its `source_*` columns after it was first committed: a store that first
    draft migrated sat at head without them, and every create failed on its insert."""
    engine = make_engine(empty_url)
    try:
        upgrade(engine, "0010")
        with engine.begin() as conn:  # pending_creates as the first draft of 0007 made it
            for column in (
                "source_system",
                "source_object",
                "source_record_id",
                "source_values",
                "source_modified_at",
            ):
                conn.execute(text(f"ALTER TABLE pending_creates DROP COLUMN {column}"))
        with engine.connect() as conn:
            assert len(_diff_at_0011(conn)) == 5
        upgrade(engine, "0011")
        with engine.connect() as conn:
            assert _diff_at_0011(conn) == []
        with engine.begin() as conn:  # and on a store that had them: a no-op, both ways
            command.downgrade(alembic_config(conn), "0010")
        with engine.connect() as conn:
            assert _diff_at_0011(conn) == []
        upgrade(engine)
        with engine.connect() as conn:
            assert schema_diff(conn) == []
    finally:
        engine.dispose()


def _diff_at_0011(conn: Connection) -> list[Any]:
    """The schema's differences from head, but for the table a later revision adds."""
    return [
        d for d in schema_diff(conn) if not (d[0] == "add_table" and d[1].name == "pending_updates")
    ]


def test_a_store_a_newer_baton_migrated_is_refused_with_the_fix(empty_url: URL) -> None:
    engine = make_engine(empty_url)
    try:
        upgrade(engine)
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
        with pytest.raises(StoreAhead) as refused:
            upgrade(engine)
        head = head_revision()
        assert str(refused.value) == (
            f"the store is at migration 0099, newer than this Baton knows (its latest is {head}): "
            "a newer Baton upgraded it; run that version, or restore the copy of the store taken "
            "before the upgrade"
        )
        assert revision_problem("0099") == str(refused.value)
        with engine.connect() as conn:
            assert current_revision(conn) == "0099"
    finally:
        engine.dispose()


def test_only_new_builds_an_empty_store_and_leaves_an_older_one_as_it_is(empty_url: URL) -> None:
    """A dry run: an older Baton still running on the store must not see its schema move."""
    engine = make_engine(empty_url)
    try:
        upgrade(engine, "0005")
        with pytest.raises(StoreBehind) as refused:
            upgrade(engine, only_new=True)
        assert str(refused.value) == (
            f"the store is at migration 0005, this Baton expects {head_revision()}: "
            "run 'baton db upgrade'"
        )
        with engine.connect() as conn:
            assert current_revision(conn) == "0005"
        upgrade(engine)
        upgrade(engine, only_new=True)  # at head: nothing to refuse
    finally:
        engine.dispose()
    fresh = make_engine(empty_url)
    try:
        with fresh.begin() as conn:
            command.downgrade(alembic_config(conn), "base")
        upgrade(fresh, only_new=True)
        with fresh.connect() as conn:
            assert current_revision(conn) == head_revision()
    finally:
        fresh.dispose()
