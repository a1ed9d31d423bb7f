"""The parsed shape of a SOQL query, before any schema is consulted."""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.salesforce.soql.lexer import Token


@dataclass(frozen=True)
class FieldRef:
    name: str
    pos: int


@dataclass(frozen=True)
class Literal:
    """One filter value; `token` keeps kind, raw text and position for typing and errors."""

    token: Token


@dataclass(frozen=True)
class RelativeDate:
    """TODAY, YESTERDAY, LAST_N_DAYS:n, ... (`n` is None for the fixed ones)."""

    name: str
    n: int | None
    pos: int


Value = Literal | RelativeDate


@dataclass(frozen=True)
class Comparison:
    field: FieldRef
    op: str  # = != < <= > >= LIKE
    value: Value


@dataclass(frozen=True)
class InList:
    field: FieldRef
    negated: bool
    values: tuple[Value, ...]


@dataclass(frozen=True)
class Includes:
    field: FieldRef
    excludes: bool
    values: tuple[Value, ...]


@dataclass(frozen=True)
class Not:
    operand: Condition


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND | OR
    operands: tuple[Condition, ...]


Condition = Comparison | InList | Includes | Not | BoolOp


@dataclass(frozen=True)
class OrderItem:
    field: FieldRef
    descending: bool
    nulls_first: bool | None  # None: Salesforce's default for the direction


@dataclass(frozen=True)
class Query:
    fields: tuple[FieldRef, ...]  # empty for COUNT()
    count_only: bool
    sobject: FieldRef
    where: Condition | None
    order_by: tuple[OrderItem, ...]
    limit: int | None
    offset: int | None
    offset_pos: int
    # COUNT(field) [alias] with no GROUP BY: one AggregateResult row (fields stay empty)
    counted: FieldRef | None = None
    alias: str | None = None
