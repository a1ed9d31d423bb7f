"""SQLite storage: one table per object type, properties as one JSON document per record.

Columns hold what search filters and sorts use most (modification and creation times, the
lower-cased email) so those are indexed; other properties are read with `json_extract`.
A contact's additional emails (`hs_additional_emails`, ';'-separated) are identifiers too, so
each has a row in `contact_emails`, kept with the record. A merged-away record keeps its row
with `merged_into` set, so its id still resolves.
"""

# ruff: noqa: S608 -- table names come from the fixed object catalog, never from requests.
from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from sandbox.hubspot.catalog import OBJECT_TYPES

ROW_COLUMNS = "id, created_ms, updated_ms, archived, archived_ms, merged_into, props"
VISIBLE = "archived = 0 AND merged_into IS NULL"
CONTACTS = "contacts"
ADDITIONAL = "hs_additional_emails"
PROPERTY_NAME = re.compile(r"[a-z][a-z0-9_]{0,99}")  # HubSpot's internal property names


@dataclass
class Row:
    id: int
    created_ms: int
    updated_ms: int
    archived: bool
    archived_ms: int | None
    merged_into: int | None
    props: dict[str, str]


def _row(raw: Sequence[Any]) -> Row:
    return Row(
        id=raw[0],
        created_ms=raw[1],
        updated_ms=raw[2],
        archived=bool(raw[3]),
        archived_ms=raw[4],
        merged_into=raw[5],
        props=orjson.loads(raw[6]),
    )


def email_key(value: str | None) -> str | None:
    return value.strip().lower() if value and value.strip() else None


def additional_emails(value: str | None) -> list[str]:
    """The addresses of an `hs_additional_emails` value, as kept: ';'-separated."""
    return [e.strip() for e in (value or "").split(";") if e.strip()]


class Store:
    """Thread-safe (one lock) access to the records; the server and tests share it."""

    def __init__(self, path: Path | None) -> None:
        self.lock = threading.RLock()
        self._indexed: set[tuple[str, str]] = set()
        target = str(path) if path is not None else ":memory:"
        self.db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode = WAL" if path else "PRAGMA journal_mode = MEMORY")
        self.db.execute("PRAGMA synchronous = OFF")
        self.db.execute("PRAGMA cache_size = -65536")
        self._create()

    def _create(self) -> None:
        for t in OBJECT_TYPES:
            self.db.executescript(
                f"""
                CREATE TABLE IF NOT EXISTS {t.name} (
                    id INTEGER PRIMARY KEY,
                    created_ms INTEGER NOT NULL,
                    updated_ms INTEGER NOT NULL,
                    archived INTEGER NOT NULL DEFAULT 0,
                    archived_ms INTEGER,
                    merged_into INTEGER,
                    email TEXT,
                    props TEXT NOT NULL
                );
                CREATE INDEX IF NOT EXISTS ix_{t.name}_updated ON {t.name}(updated_ms);
                CREATE INDEX IF NOT EXISTS ix_{t.name}_created ON {t.name}(created_ms);
                CREATE INDEX IF NOT EXISTS ix_{t.name}_email ON {t.name}(email);
                """
            )
        self.db.executescript(
            """
            CREATE TABLE IF NOT EXISTS history (
                object_type TEXT NOT NULL,
                object_id INTEGER NOT NULL,
                name TEXT NOT NULL,
                value TEXT,
                ts INTEGER NOT NULL,
                source TEXT NOT NULL
            );
            CREATE INDEX IF NOT EXISTS ix_history ON history(object_type, object_id, name);
            CREATE TABLE IF NOT EXISTS contact_emails (
                email TEXT NOT NULL,
                contact_id INTEGER NOT NULL
            );
            CREATE INDEX IF NOT EXISTS ix_contact_emails ON contact_emails(email);
            CREATE INDEX IF NOT EXISTS ix_contact_emails_id ON contact_emails(contact_id);
            CREATE TABLE IF NOT EXISTS associations (
                from_type TEXT NOT NULL,
                from_id INTEGER NOT NULL,
                to_type TEXT NOT NULL,
                to_id INTEGER NOT NULL,
                category TEXT NOT NULL,
                type_id INTEGER NOT NULL,
                PRIMARY KEY (from_type, from_id, to_type, to_id, category, type_id)
            );
            """
        )

    def reset(self) -> None:
        with self.lock:
            for t in OBJECT_TYPES:
                self.db.execute(f"DROP TABLE IF EXISTS {t.name}")
            self.db.execute("DROP TABLE IF EXISTS associations")
            self.db.execute("DROP TABLE IF EXISTS history")
            self.db.execute("DROP TABLE IF EXISTS contact_emails")
            self._indexed.clear()  # dropped with their tables
            self._create()

    # Records

    def insert(self, table: str, props: dict[str, str], created_ms: int, updated_ms: int) -> int:
        with self.lock:
            cursor = self.db.execute(
                f"INSERT INTO {table} (created_ms, updated_ms, email, props) VALUES (?, ?, ?, ?)",
                (created_ms, updated_ms, email_key(props.get("email")), orjson.dumps(props)),
            )
            assert cursor.lastrowid is not None
            self._keep_additional(table, cursor.lastrowid, props)
            return cursor.lastrowid

    def _keep_additional(self, table: str, record_id: int, props: dict[str, str]) -> None:
        """The contact's additional emails, indexed for `by_email` (the caller holds the lock)."""
        if table != CONTACTS:
            return
        self.db.execute("DELETE FROM contact_emails WHERE contact_id = ?", (record_id,))
        keys = {email_key(e) for e in additional_emails(props.get(ADDITIONAL))}
        self.db.executemany(
            "INSERT INTO contact_emails (email, contact_id) VALUES (?, ?)",
            [(key, record_id) for key in sorted(k for k in keys if k)],
        )

    def insert_many(self, table: str, rows: Iterable[tuple[int, int, dict[str, str]]]) -> None:
        """Seeding: `(created_ms, updated_ms, props)` rows in one transaction per chunk."""
        batch: list[tuple[int, int, str | None, bytes]] = []
        for created, updated, props in rows:
            if table == CONTACTS and props.get(ADDITIONAL):
                self.insert(table, props, created, updated)  # with its additional emails
                continue
            batch.append((created, updated, email_key(props.get("email")), orjson.dumps(props)))
            if len(batch) >= 5_000:
                self._flush(table, batch)
                batch = []
        if batch:
            self._flush(table, batch)

    def _flush(self, table: str, batch: list[tuple[int, int, str | None, bytes]]) -> None:
        with self.lock:
            self.db.execute("BEGIN")
            self.db.executemany(
                f"INSERT INTO {table} (created_ms, updated_ms, email, props) VALUES (?, ?, ?, ?)",
                batch,
            )
            self.db.execute("COMMIT")

    def get(self, table: str, record_id: int) -> Row | None:
        with self.lock:
            raw = self.db.execute(
                f"SELECT {ROW_COLUMNS} FROM {table} WHERE id = ?", (record_id,)
            ).fetchone()
        return _row(raw) if raw else None

    def get_many(self, table: str, ids: Sequence[int]) -> dict[int, Row]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self.lock:
            raws = self.db.execute(
                f"SELECT {ROW_COLUMNS} FROM {table} WHERE id IN ({marks})", tuple(ids)
            ).fetchall()
        return {raw[0]: _row(raw) for raw in raws}

    def by_email(self, email: str) -> Row | None:
        """The live contact with this primary email, else the one holding it as an additional
        email: HubSpot looks contacts up by either, and keeps both unique."""
        key = email_key(email)
        with self.lock:
            raw = self.db.execute(
                f"SELECT {ROW_COLUMNS} FROM contacts WHERE email = ? AND {VISIBLE} "
                "ORDER BY id LIMIT 1",
                (key,),
            ).fetchone()
            if raw is None:
                raw = self.db.execute(
                    f"SELECT {ROW_COLUMNS} FROM contacts WHERE id IN (SELECT contact_id FROM "
                    f"contact_emails WHERE email = ?) AND {VISIBLE} ORDER BY id LIMIT 1",
                    (key,),
                ).fetchone()
        return _row(raw) if raw else None

    def by_property(self, table: str, name: str, value: str) -> Row | None:
        """The record holding `value` in a unique property (HubSpot indexes unique values).

        SQLite uses an expression index only for the identical expression with a literal
        path, so a plain property name is spliced in (never user text: names are checked)
        and its index made on first use; anything else falls back to a scan.
        """
        with self.lock:
            if PROPERTY_NAME.fullmatch(name):
                expression = f"json_extract(props, '$.\"{name}\"')"
                if (table, name) not in self._indexed:
                    index = f"ix_{table}_prop_{name}"
                    self.db.execute(f"CREATE INDEX IF NOT EXISTS {index} ON {table}({expression})")
                    self._indexed.add((table, name))
                raw = self.db.execute(
                    f"SELECT {ROW_COLUMNS} FROM {table} WHERE {expression} = ? "
                    f"AND {VISIBLE} ORDER BY id LIMIT 1",
                    (value,),
                ).fetchone()
            else:
                raw = self.db.execute(
                    f"SELECT {ROW_COLUMNS} FROM {table} WHERE json_extract(props, ?) = ? "
                    f"AND {VISIBLE} ORDER BY id LIMIT 1",
                    (f'$."{name}"', value),
                ).fetchone()
        return _row(raw) if raw else None

    def save(self, table: str, row: Row) -> None:
        with self.lock:
            self.db.execute(
                f"UPDATE {table} SET created_ms = ?, updated_ms = ?, archived = ?, "
                "archived_ms = ?, merged_into = ?, email = ?, props = ? WHERE id = ?",
                (
                    row.created_ms,
                    row.updated_ms,
                    int(row.archived),
                    row.archived_ms,
                    row.merged_into,
                    email_key(row.props.get("email")),
                    orjson.dumps(row.props),
                    row.id,
                ),
            )
            self._keep_additional(table, row.id, row.props)

    def delete(self, table: str, record_id: int) -> None:
        with self.lock:
            self.db.execute(f"DELETE FROM {table} WHERE id = ?", (record_id,))
            if table == CONTACTS:
                self.db.execute("DELETE FROM contact_emails WHERE contact_id = ?", (record_id,))
            self.db.execute(
                "DELETE FROM history WHERE object_type = ? AND object_id = ?", (table, record_id)
            )
            self.db.execute(
                "DELETE FROM associations WHERE (from_type = ? AND from_id = ?) "
                "OR (to_type = ? AND to_id = ?)",
                (table, record_id, table, record_id),
            )

    def page(self, table: str, start: int, limit: int, *, archived: bool) -> list[Row]:
        """Records with id >= start in id order: the list endpoint's cursor is the next id."""
        state = "archived = 1" if archived else "archived = 0"
        with self.lock:
            raws = self.db.execute(
                f"SELECT {ROW_COLUMNS} FROM {table} WHERE id >= ? AND {state} "
                "AND merged_into IS NULL ORDER BY id LIMIT ?",
                (start, limit),
            ).fetchall()
        return [_row(raw) for raw in raws]

    def query(self, sql: str, params: Sequence[Any]) -> list[Row]:
        with self.lock:
            raws = self.db.execute(sql, tuple(params)).fetchall()
        return [_row(raw) for raw in raws]

    def scalar(self, sql: str, params: Sequence[Any]) -> Any:
        with self.lock:
            return self.db.execute(sql, tuple(params)).fetchone()[0]

    def count(self, table: str) -> int:
        return int(self.scalar(f"SELECT COUNT(*) FROM {table} WHERE {VISIBLE}", ()))

    # Property history (only for writes after seeding; seeded values are backfilled lazily)

    def record_history(
        self, table: str, record_id: int, entries: Sequence[tuple[str, str | None, int, str]]
    ) -> None:
        """`(name, value, ms, source)` entries, appended in order."""
        with self.lock:
            self.db.executemany(
                "INSERT INTO history VALUES (?, ?, ?, ?, ?, ?)",
                [(table, record_id, *entry) for entry in entries],
            )

    def has_history(self, table: str, record_id: int, name: str) -> bool:
        with self.lock:
            found = self.db.execute(
                "SELECT 1 FROM history WHERE object_type = ? AND object_id = ? AND name = ? "
                "LIMIT 1",
                (table, record_id, name),
            ).fetchone()
        return found is not None

    def history(
        self, table: str, record_id: int, names: Sequence[str]
    ) -> dict[str, list[tuple[str | None, int, str]]]:
        """Newest first per property: `(value, ms, source)`."""
        if not names:
            return {}
        marks = ",".join("?" * len(names))
        with self.lock:
            rows = self.db.execute(
                "SELECT name, value, ts, source FROM history WHERE object_type = ? AND "
                f"object_id = ? AND name IN ({marks}) ORDER BY ts DESC, rowid DESC",
                (table, record_id, *names),
            ).fetchall()
        out: dict[str, list[tuple[str | None, int, str]]] = {}
        for name, value, ts, source in rows:
            out.setdefault(name, []).append((value, ts, source))
        return out

    # Associations

    def associate(
        self, from_type: str, from_id: int, to_type: str, to_id: int, category: str, type_id: int
    ) -> bool:
        with self.lock:
            cursor = self.db.execute(
                "INSERT OR IGNORE INTO associations VALUES (?, ?, ?, ?, ?, ?)",
                (from_type, from_id, to_type, to_id, category, type_id),
            )
        return cursor.rowcount > 0

    def dissociate(self, from_type: str, from_id: int, to_type: str, to_id: int) -> int:
        with self.lock:
            cursor = self.db.execute(
                "DELETE FROM associations WHERE from_type = ? AND from_id = ? AND to_type = ? "
                "AND to_id = ?",
                (from_type, from_id, to_type, to_id),
            )
        return cursor.rowcount

    def dissociate_type(
        self, from_type: str, from_id: int, to_type: str, to_id: int, category: str, type_id: int
    ) -> bool:
        """Drop one label from a link, leaving its other types in place."""
        with self.lock:
            cursor = self.db.execute(
                "DELETE FROM associations WHERE from_type = ? AND from_id = ? AND to_type = ? "
                "AND to_id = ? AND category = ? AND type_id = ?",
                (from_type, from_id, to_type, to_id, category, type_id),
            )
        return cursor.rowcount > 0

    def associations(
        self, from_type: str, from_id: int, to_type: str, *, after: int = 0, limit: int = 500
    ) -> list[tuple[int, str, int]]:
        """`(to_id, category, type_id)` rows for to_ids >= after, at most `limit` targets."""
        with self.lock:
            rows = self.db.execute(
                "SELECT to_id, category, type_id FROM associations WHERE from_type = ? "
                "AND from_id = ? AND to_type = ? AND to_id IN (SELECT DISTINCT to_id FROM "
                "associations WHERE from_type = ? AND from_id = ? AND to_type = ? AND to_id >= ? "
                "ORDER BY to_id LIMIT ?) ORDER BY to_id, type_id",
                (from_type, from_id, to_type, from_type, from_id, to_type, after, limit),
            ).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]

    def move_associations(self, table: str, loser: int, survivor: int) -> None:
        """A merge hands the loser's associations to the survivor."""
        with self.lock:
            self.db.execute(
                "UPDATE OR IGNORE associations SET from_id = ? WHERE from_type = ? AND from_id = ?",
                (survivor, table, loser),
            )
            self.db.execute(
                "UPDATE OR IGNORE associations SET to_id = ? WHERE to_type = ? AND to_id = ?",
                (survivor, table, loser),
            )
            self.db.execute(
                "DELETE FROM associations WHERE (from_type = ? AND from_id = ?) "
                "OR (to_type = ? AND to_id = ?)",
                (table, loser, table, loser),
            )
