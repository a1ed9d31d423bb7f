"""Pages of rows in and out without SQLAlchemy's per-row work: the engine's hot statements.

`conn.execute(stmt, rows)` builds and bind-processes a parameter dict per row; on a backfill
that was most of the store's time (chiefly formatting timestamps as SQLite text). A `Batch`
compiles its statement once per dialect, converts each column of a page with one function (the
column type's own bind processor, or for `UtcDateTime` on SQLite an equivalent that writes the
same text), and hands the rows to the driver's executemany on the caller's connection, inside
the caller's transaction. Stored values are exactly those of the ordinary path.

A `Lookup` does the same for the reads by a page of keys (`... IN (...)`): its SQL is rendered
once per dialect and page-size bucket (a short page repeats its last key, which IN ignores)
instead of being expanded per call, and each result column is converted with the type's own
result processor (for `UtcDateTime` on SQLite, `datetime.fromisoformat` on the canonical text).

`json_text` and `as_json_text` let a hot path handle a JSON column as the text it is stored as
(encoded once by the caller, decoded only if read), instead of as the Python value the column
type would encode or decode per row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from itertools import repeat
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import JSON, Connection, Dialect, Text, bindparam, cast, select
from sqlalchemy.exc import StatementError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Select

from sync.store._sql import IN_CHUNK, chunked
from sync.store.types import UtcDateTime

Convert = Callable[[Any], Any]
AnySelect = Select[*tuple[Any, ...]]


class Batch:
    """A DML statement run over pages of positional rows, one value per named column.

    `build` makes the statement for a connection's dialect (lazily, on first use); bound
    parameters named like `columns` take the row's values, any other keeps its built value.
    """

    def __init__(self, build: Callable[[Connection], UpdateBase], columns: Sequence[str]) -> None:
        self._build = build
        self._columns = tuple(columns)
        self._prepared: WeakKeyDictionary[Dialect, _Prepared] = WeakKeyDictionary()

    def execute(self, conn: Connection, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        prepared = self._prepared.get(conn.dialect)
        if prepared is None:
            prepared = _prepare(self._build(conn), self._columns, conn.dialect)
            self._prepared[conn.dialect] = prepared
        try:
            parameters = prepared.parameters(rows)
        except Exception as error:  # as SQLAlchemy reports a value it cannot bind
            kind = type(error)
            message = f"({kind.__module__}.{kind.__name__}) {error}"
            raise StatementError(message, prepared.sql, None, error) from error
        conn.exec_driver_sql(prepared.sql, parameters)


def json_text(conn: Connection, name: str) -> ColumnElement[Any]:
    """A parameter for a JSON column that takes the value already encoded as JSON text, so the
    column's own bind processor does not encode it again. SQLite stores the text as it is;
    PostgreSQL is told it is `json` (it assigns no text parameter to a json column)."""
    bind = bindparam(name, type_=Text)
    return cast(bind, JSON) if conn.dialect.name == "postgresql" else bind


def as_json_text(column: Any) -> ColumnElement[str]:
    """A JSON column read as its text, left for the caller to decode when it needs the value:
    a cast, because psycopg decodes a `json` result by its type, whatever SQLAlchemy asks."""
    return cast(column, Text)


class _Prepared:
    def __init__(
        self,
        sql: str,
        names: Sequence[str] | None,
        sources: Sequence[tuple[int, Convert | None] | tuple[None, Any]],
    ) -> None:
        self.sql = sql
        self._names = names  # None: positional (qmark); else the dict keys (pyformat)
        self._sources = sources

    def parameters(self, rows: Sequence[Sequence[Any]]) -> list[Any]:
        columns = list(zip(*rows, strict=True))
        values: list[Any] = []
        for index, how in self._sources:
            if index is None:
                values.append(repeat(how, len(rows)))
            elif how is None:
                values.append(columns[index])
            elif how is sqlite_utc_text:  # a page shares few times: convert each once
                column = columns[index]
                text = {when: sqlite_utc_text(when) for when in dict.fromkeys(column)}
                values.append(map(text.__getitem__, column))
            else:
                values.append(map(how, columns[index]))
        if self._names is None:
            return list(zip(*values, strict=False))
        names = self._names
        return [dict(zip(names, row, strict=True)) for row in zip(*values, strict=False)]


def _prepare(stmt: UpdateBase, columns: tuple[str, ...], dialect: Dialect) -> _Prepared:
    compiled = stmt.compile(dialect=dialect, column_keys=list(columns), for_executemany=True)
    assert isinstance(compiled, SQLCompiler)
    if compiled.positional:
        order = list(compiled.positiontup or ())
    else:
        order = list(dict.fromkeys(compiled.bind_names.values()))
    index = {name: i for i, name in enumerate(columns)}
    missing = set(columns) - set(compiled.binds)
    if missing:
        raise ValueError(f"the statement binds no {sorted(missing)}")
    sources: list[tuple[int, Convert | None] | tuple[None, Any]] = []
    for name in order:
        convert = _converter(compiled.binds[name].type, dialect)
        if name in index:
            sources.append((index[name], convert))
        else:
            value = compiled.binds[name].effective_value
            if value is None:
                raise ValueError(f"the statement's parameter {name} has no value")
            sources.append((None, convert(value) if convert else value))
    if compiled.positional:
        return _Prepared(compiled.string, None, sources)
    escaped = compiled.escaped_bind_names
    return _Prepared(compiled.string, [escaped.get(name, name) for name in order], sources)


def _converter(type_: Any, dialect: Dialect) -> Convert | None:
    if isinstance(type_, UtcDateTime) and dialect.name == "sqlite":
        return sqlite_utc_text
    convert: Convert | None = type_.dialect_impl(dialect).bind_processor(dialect)
    return convert


def sqlite_utc_text(value: datetime | None) -> str | None:
    """What `UtcDateTime` stores on SQLite: naive UTC text, always with microseconds
    ("2026-01-02 03:04:05.000000", SQLAlchemy's DATETIME format), so text order is time order."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given to the store; pass UTC")
        value = value.astimezone(UTC)
    text = value.isoformat(" ")
    # Aware UTC isoformat ends in "+00:00"; microseconds are left out when zero.
    return text[:-6] if value.microsecond else text[:-6] + ".000000"


_CANONICAL = len("2026-01-02 03:04:05.000000")


def _sqlite_utc_reader(dialect: Dialect) -> Convert:
    ordinary = UtcDateTime().dialect_impl(dialect).result_processor(dialect, None)
    assert ordinary is not None

    def read(text: str | None) -> datetime | None:
        if text is None:
            return None
        if len(text) != _CANONICAL:  # not text this store wrote: let SQLAlchemy parse it
            return ordinary(text)
        return datetime.fromisoformat(text + "+00:00")  # aware, tzinfo is UTC itself

    return read


class Lookup:
    """A SELECT run for many values of one `IN` parameter, `chunked` into pages.

    `build` makes the statement, with `bindparam(key, expanding=True)` in its IN and any other
    parameters named in `params`; `rows` returns plain tuples of the selected columns.
    """

    def __init__(
        self, build: Callable[[Connection], AnySelect], key: str, params: Sequence[str] = ()
    ) -> None:
        self._build = build
        self._key = key
        self._params = tuple(params)
        self._prepared: WeakKeyDictionary[Dialect, _Query] = WeakKeyDictionary()

    @classmethod
    def by_record_ids(cls, table: Any, *columns: Any, where: Sequence[Any] = ()) -> Lookup:
        """`columns` of `table`'s rows for a page of one object's records (`rows(conn, ids,
        system=..., object=...)`), with `where` besides: the lookup every store table keyed
        by record makes."""
        return cls(
            lambda _: select(*columns).where(
                table.system == bindparam("system"),
                table.object == bindparam("object"),
                table.record_id.in_(bindparam("ids", expanding=True)),
                *where,
            ),
            "ids",
            ("system", "object"),
        )

    def rows(self, conn: Connection, values: Sequence[Any], **params: Any) -> list[tuple[Any, ...]]:
        query = self._prepared.get(conn.dialect)
        if query is None:
            query = _Query(self._build(conn), self._key, self._params, conn.dialect)
            self._prepared[conn.dialect] = query
        found: list[tuple[Any, ...]] = []
        for chunk in chunked(values):
            found.extend(query.run(conn, chunk, params))
        return found


class _Query:
    def __init__(
        self, stmt: AnySelect, key: str, params: tuple[str, ...], dialect: Dialect
    ) -> None:
        self._stmt = stmt
        self._key = key
        self._params = params
        self._dialect = dialect
        self._sized: dict[int, _Sized] = {}
        readers: list[Convert | None] = []
        for column in stmt.selected_columns:
            if isinstance(column.type, UtcDateTime) and dialect.name == "sqlite":
                readers.append(_sqlite_utc_reader(dialect))
            else:
                readers.append(column.type.dialect_impl(dialect).result_processor(dialect, None))
        self._readers = readers if any(readers) else None

    def run(
        self, conn: Connection, values: Sequence[Any], params: dict[str, Any]
    ) -> list[tuple[Any, ...]]:
        size = _bucket(len(values))
        sized = self._sized.get(size)
        if sized is None:
            sized = self._sized[size] = self._render(size)
        padded = list(values) + [values[-1]] * (size - len(values))
        rows = conn.exec_driver_sql(sized.sql, sized.parameters(padded, params)).fetchall()
        readers = self._readers
        if readers is None or not rows:
            return [tuple(row) for row in rows]
        columns = [
            column if read is None else map(read, column)
            for read, column in zip(readers, zip(*rows, strict=True), strict=True)
        ]
        return list(zip(*columns, strict=True))

    def _render(self, size: int) -> _Sized:
        dummies: dict[str, Any] = dict.fromkeys(self._params)
        dummies[self._key] = [None] * size
        compiled = self._stmt.params(dummies).compile(
            dialect=self._dialect, compile_kwargs={"render_postcompile": True}
        )
        assert isinstance(compiled, SQLCompiler)
        convert = {
            name: _converter(bind.type, self._dialect) for name, bind in compiled.binds.items()
        }
        expanded = {f"{self._key}_{i}": i - 1 for i in range(1, size + 1)}
        if compiled.positional:
            order = list(compiled.positiontup or ())
        else:
            order = []
            for name in dict.fromkeys(compiled.bind_names.values()):
                order.extend(expanded if name == self._key else [name])
        slots: list[tuple[str, int | None, Convert | None]] = []
        constants: dict[str, Any] = {}
        for name in order:
            if name in expanded:
                slots.append((name, expanded[name], convert[self._key]))
                continue
            if name not in self._params:  # a value built into the statement
                constants[name] = compiled.binds[name].effective_value
            slots.append((name, None, convert[name]))
        return _Sized(compiled.string, compiled.positional, slots, constants)


class _Sized:
    def __init__(
        self,
        sql: str,
        positional: bool,
        slots: list[tuple[str, int | None, Convert | None]],
        constants: dict[str, Any],
    ) -> None:
        self.sql = sql
        self._positional = positional
        self._slots = slots
        self._constants = constants

    def parameters(self, values: list[Any], params: dict[str, Any]) -> Any:
        given = self._constants | params if self._constants else params
        out = [
            _apply(convert, given[name] if index is None else values[index])
            for name, index, convert in self._slots
        ]
        if self._positional:
            return tuple(out)
        return {name: value for (name, _, _), value in zip(self._slots, out, strict=True)}


def _apply(convert: Convert | None, value: Any) -> Any:
    return value if convert is None else convert(value)


def _bucket(count: int) -> int:
    """Page sizes that share one rendered statement: powers of two, then `IN_CHUNK`."""
    size = 1
    while size < count:
        size *= 2
    return min(size, IN_CHUNK)
