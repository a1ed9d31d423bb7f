"""SQLite storage: one table per sObject, one column per field, values kept sortable.

Booleans are 0/1, datetimes TEXT `YYYY-MM-DDTHH:MM:SS.sss+0000` (UTC, so text order is time
order), dates `YYYY-MM-DD`, NULL for null. Text columns use NOCASE collation because SOQL
string comparison is case-insensitive. Rows convert to REST JSON here and nowhere else.
"""

# ruff: noqa: S608 -- table and column names come from objects.py, never from requests; values are bound.

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sandbox.salesforce.errors import SalesforceError
from sandbox.salesforce.objects import NUMERIC_TYPES, TEXT_TYPES, SObjectSchema, schemas

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
ID_POD = "8d"  # the "instance" characters after the key prefix
# Index name suffix → columns. Id rides along so `ORDER BY SystemModstamp, Id` (the SOQL
# compiler's stable tie-break) pages off an index instead of sorting every page, and the
# IsDeleted index also serves `WHERE IsDeleted = 0 AND SystemModstamp > ?` (delta reads).
INDEXES = {
    "SystemModstamp": ("SystemModstamp", "Id"),
    "IsDeleted": ("IsDeleted", "SystemModstamp", "Id"),
    "Email": ("Email",),
    "Baton_Id__c": ("Baton_Id__c",),
}
_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(Z|[+-]\d{2}:?\d{2})$"
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

Row = dict[str, Any]


def id_suffix(id15: str) -> str:
    """The 3-character case-safety suffix: one letter per 5-char chunk, bit i = char i upper."""
    out = []
    for chunk in range(3):
        bits = 0
        for i, char in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << i
        out.append(SUFFIX_ALPHABET[bits])
    return "".join(out)


def make_id(prefix: str, counter: int) -> str:
    digits = []
    for _ in range(10):
        counter, rest = divmod(counter, 62)
        digits.append(BASE62[rest])
    id15 = prefix + ID_POD + "".join(reversed(digits))
    return id15 + id_suffix(id15)


def normalize_id(value: str) -> str | None:
    """The 18-char form of a 15- or 18-char id, or None if it is not a well-formed id."""
    if not isinstance(value, str) or len(value) not in (15, 18) or not value.isalnum():
        return None
    id15 = value[:15]
    if len(value) == 18 and value[15:].upper() != id_suffix(id15):
        return None
    return id15 + id_suffix(id15)


def format_datetime(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def parse_datetime(value: str) -> datetime | None:
    """An ISO 8601 instant with an explicit offset; None for naive or garbled text."""
    match = _DATETIME.match(value.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    if zone == "Z":
        zone = "+00:00"
    elif ":" not in zone:
        zone = zone[:3] + ":" + zone[3:]
    micro = (fraction or "0").ljust(6, "0")[:6]
    text = f"{year}-{month}-{day}T{hour}:{minute}:{second or '00'}.{micro}{zone}"
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        return None


def to_db(type_: str, value: Any) -> Any:
    """A JSON value as stored; raises ValueError when it cannot be one of `type_`."""
    if value is None:
        return None
    if type_ == "boolean":
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return int(value.lower() == "true")
        raise ValueError("boolean")
    if type_ == "int":
        if isinstance(value, bool):
            raise ValueError("int")
        if isinstance(value, float) and not value.is_integer():
            raise ValueError("int")
        return int(value)
    if type_ in NUMERIC_TYPES:
        if isinstance(value, bool):
            raise ValueError("number")
        return float(value)
    if type_ == "datetime":
        if isinstance(value, datetime):
            return format_datetime(value)
        parsed = parse_datetime(str(value))
        if parsed is None:
            if isinstance(value, str) and _DATE.match(value):
                return value + "T00:00:00.000+0000"
            raise ValueError("datetime")
        return format_datetime(parsed)
    if type_ == "date":
        if isinstance(value, date) and not isinstance(value, datetime):
            return value.isoformat()
        text = str(value)[:10]
        date.fromisoformat(text)
        return text
    if isinstance(value, dict | list):
        raise ValueError("text")
    return str(value) if not isinstance(value, bool) else ("true" if value else "false")


def _column_type(type_: str) -> str:
    if type_ in ("boolean", "int"):
        return "INTEGER"
    if type_ in NUMERIC_TYPES:
        return "REAL"
    if type_ in TEXT_TYPES:
        return "TEXT COLLATE NOCASE"
    return "TEXT"


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Store:
    """One SQLite connection shared by the event loop thread (the app is single-threaded)."""

    def __init__(self, path: Path | None, *, api_version: str = "59.0") -> None:
        self.api_version = api_version
        self.conn = sqlite3.connect(
            str(path) if path else ":memory:", check_same_thread=False, isolation_level=None
        )
        self.conn.execute("PRAGMA journal_mode=WAL" if path else "PRAGMA journal_mode=MEMORY")
        self.conn.execute("PRAGMA synchronous=OFF")
        self.conn.execute("PRAGMA temp_store=MEMORY")
        self._counters: dict[str, int] = {}
        self.create_tables()

    # schema

    def create_tables(self) -> None:
        for sobject in schemas().values():
            columns = ", ".join(
                f"{quote(f.name)} {_column_type(f.type)}"
                + (" PRIMARY KEY" if f.name == "Id" else "")
                for f in sobject.fields
            )
            self.conn.execute(f"CREATE TABLE IF NOT EXISTS {quote(sobject.name)} ({columns})")
            for name, indexed in INDEXES.items():
                if sobject.field(name):
                    self.conn.execute(
                        f"CREATE INDEX IF NOT EXISTS {quote(f'{sobject.name}_{name}')} "
                        f"ON {quote(sobject.name)} ({', '.join(map(quote, indexed))})"
                    )
            (count,) = self.conn.execute(f"SELECT COUNT(*) FROM {quote(sobject.name)}").fetchone()
            self._counters[sobject.name] = count

    def clear(self) -> None:
        for sobject in schemas().values():
            self.conn.execute(f"DELETE FROM {quote(sobject.name)}")
            self._counters[sobject.name] = 0

    # ids

    def reserve_ids(self, sobject: SObjectSchema, count: int) -> None:
        """Keep the first `count` ids of `sobject` for records inserted with fixed ids."""
        self._counters[sobject.name] = max(self._counters[sobject.name], count)

    def new_id(self, sobject: SObjectSchema) -> str:
        self._counters[sobject.name] += 1
        return make_id(sobject.key_prefix, self._counters[sobject.name])

    # reads

    def get(self, sobject: SObjectSchema, record_id: str) -> Row | None:
        cursor = self.conn.execute(
            f"SELECT * FROM {quote(sobject.name)} WHERE Id = ?", (record_id,)
        )
        found = cursor.fetchone()
        if found is None:
            return None
        return dict(zip([d[0] for d in cursor.description], found, strict=True))

    def find(
        self,
        sobject: SObjectSchema,
        equals: Mapping[str, Any],
        *,
        limit: int | None = 50,
        include_deleted: bool = False,
    ) -> list[Row]:
        clauses, params = [], []
        for name, value in equals.items():
            field = sobject.field(name)
            if field is None:
                raise SalesforceError(400, "INVALID_FIELD", f"No such column '{name}'")
            if value is None:
                clauses.append(f"{quote(field.name)} IS NULL")
            else:
                clauses.append(f"{quote(field.name)} = ?")
                params.append(to_db(field.type, value))
        if not include_deleted:
            clauses.append("IsDeleted = 0")
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        sql = f"SELECT * FROM {quote(sobject.name)}{where}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        cursor = self.conn.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    # writes

    def insert(self, sobject: SObjectSchema, row: Mapping[str, Any]) -> None:
        names = list(row)
        self.conn.execute(
            f"INSERT INTO {quote(sobject.name)} ({', '.join(map(quote, names))}) "
            f"VALUES ({', '.join('?' for _ in names)})",
            [row[n] for n in names],
        )

    def insert_many(
        self, sobject: SObjectSchema, names: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        self.conn.executemany(
            f"INSERT INTO {quote(sobject.name)} ({', '.join(map(quote, names))}) "
            f"VALUES ({', '.join('?' for _ in names)})",
            rows,
        )

    def update(self, sobject: SObjectSchema, record_id: str, changes: Mapping[str, Any]) -> None:
        if not changes:
            return
        sets = ", ".join(f"{quote(n)} = ?" for n in changes)
        self.conn.execute(
            f"UPDATE {quote(sobject.name)} SET {sets} WHERE Id = ?",
            [*changes.values(), record_id],
        )

    def transaction(self) -> _Transaction:
        return _Transaction(self.conn)

    # JSON

    def record_url(self, sobject: str, record_id: str) -> str:
        return f"/services/data/v{self.api_version}/sobjects/{sobject}/{record_id}"

    def to_json(self, sobject: SObjectSchema, row: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "attributes": {"type": sobject.name, "url": self.record_url(sobject.name, row["Id"])}
        }
        for name, value in row.items():
            field = sobject.field(name)
            if field is not None and field.type == "boolean" and value is not None:
                value = bool(value)
            out[name] = value
        return out

    def converter(
        self, sobject: SObjectSchema, names: Sequence[str], version: str
    ) -> Callable[[Sequence[Any]], dict[str, Any]]:
        """A fast row-tuple → REST record function for a fixed column list (query pages)."""
        booleans = [
            i for i, n in enumerate(names) if (f := sobject.field(n)) and f.type == "boolean"
        ]
        id_index = next((i for i, n in enumerate(names) if n == "Id"), None)
        type_name = sobject.name
        base = f"/services/data/v{version}/sobjects/{type_name}/"
        keys = list(names)

        def convert(row: Sequence[Any]) -> dict[str, Any]:
            values = list(row)
            for i in booleans:
                if values[i] is not None:
                    values[i] = bool(values[i])
            attributes: dict[str, str] = {"type": type_name}
            if id_index is not None:
                attributes["url"] = base + str(values[id_index])
            record: dict[str, Any] = {"attributes": attributes}
            record.update(zip(keys, values, strict=True))
            return record

        return convert


class _Transaction:
    """A savepoint around a block (nests: composite allOrNone around collections), rolled
    back on error."""

    _depth = 0

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.name = ""

    def __enter__(self) -> None:
        _Transaction._depth += 1
        self.name = f"sp{_Transaction._depth}"
        self.conn.execute(f"SAVEPOINT {self.name}")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        _Transaction._depth -= 1
        if exc_type:
            self.conn.execute(f"ROLLBACK TO {self.name}")
        self.conn.execute(f"RELEASE {self.name}")


def rows(cursor: sqlite3.Cursor, size: int = 500) -> Iterator[Sequence[Any]]:
    while batch := cursor.fetchmany(size):
        yield from batch
