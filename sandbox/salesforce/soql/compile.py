"""Turn a parsed SOQL query into parameterised SQLite SQL over the sandbox's store.

Identifiers only ever come from the schema (`field_types`); every user value goes into params.
SOQL filters are two-valued (a null field simply does not match, and `!=`/`NOT IN` match nulls),
so each comparison is emitted with an explicit null guard that keeps `NOT (...)` faithful.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sandbox.salesforce.errors import SalesforceError, invalid_type, malformed_query
from sandbox.salesforce.soql.lexer import Kind, decode_string, error_at
from sandbox.salesforce.soql.nodes import (
    BoolOp,
    Comparison,
    Condition,
    FieldRef,
    Includes,
    InList,
    Literal,
    Not,
    Query,
    RelativeDate,
    Value,
)
from sandbox.salesforce.soql.parser import parse
from sandbox.salesforce.soql.values import (
    day_range,
    parse_date_literal,
    parse_datetime_literal,
    storage_datetime,
    to_18_char_id,
)

STRING_TYPES = frozenset(
    {"id", "string", "picklist", "multipicklist", "email", "phone", "textarea", "url",
     "reference", "combobox"}
)  # fmt: skip
NUMBER_TYPES = frozenset({"int", "double", "currency", "percent"})
ID_TYPES = frozenset({"id", "reference"})
MAX_OFFSET = 2000
MAX_SOQL_CHARS = 100_000  # longer statements are refused before parsing
_STANDARD_OBJECTS = {
    name.lower(): name
    for name in (
        "Lead", "Contact", "Account", "Opportunity", "Campaign", "CampaignMember", "User",
        "LeadStatus", "OpportunityStage", "CampaignMemberStatus", "Task", "Event",
    )
}  # fmt: skip
# The type names Salesforce uses in "must be of type X" messages.
_TYPE_WORDS = {"int": "integer", "datetime": "dateTime", "currency": "double", "percent": "double"}
_NO_SUCH_COLUMN = (
    "No such column '{field}' on entity '{sobject}'. If you are attempting to use a custom "
    "field, be sure to append the '__c' after the custom field name. Please reference your "
    "WSDL or the describe call for the appropriate names."
)


@dataclass(frozen=True)
class CompiledQuery:
    sobject: str
    fields: list[str]
    count_only: bool
    sql: str  # no LIMIT/OFFSET: the caller pages with `limit`/`offset` as it sees fit
    params: list[object]
    count_sql: str  # same WHERE and params
    tail_sql: str  # `FROM ... WHERE ... ORDER BY ...` of `sql`, same params: callers pick
    # their own select list (cursor snapshots select rowids)
    limit: int | None
    offset: int | None
    # COUNT(field): the AggregateResult's key (its alias, else expr0) and the one-row query
    aggregate: str | None = None
    aggregate_sql: str = ""


def compile_soql(
    text: str,
    *,
    field_types: Callable[[str], Mapping[str, str] | None],
    include_deleted: bool,
    now: datetime,
) -> CompiledQuery:
    """Compile `text` against the schema `field_types` describes.

    Raises SalesforceError as Salesforce answers: MALFORMED_QUERY (syntax, unsupported
    features), INVALID_TYPE (unknown sObject), INVALID_FIELD (unknown field, literal of the
    wrong type), INVALID_QUERY_FILTER_OPERATOR (bad id literal), NUMBER_OUTSIDE_VALID_RANGE
    (OFFSET > 2000), MALFORMED_QUERY for a statement over 100,000 characters. Relative date
    literals are evaluated against `now` in UTC days.
    """
    if len(text) > MAX_SOQL_CHARS:
        raise malformed_query(f"SOQL statements can not be longer than {MAX_SOQL_CHARS} characters")
    query = parse(text)
    return _Compiler(text, query, field_types, now).compile(include_deleted=include_deleted)


def standard_object_name(name: str) -> str:
    """The canonical spelling of a standard sObject name; other names are returned as given."""
    return _STANDARD_OBJECTS.get(name.lower(), name)


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


class _Compiler:
    def __init__(
        self,
        text: str,
        query: Query,
        field_types: Callable[[str], Mapping[str, str] | None],
        now: datetime,
    ) -> None:
        self.text = text
        self.query = query
        types = field_types(query.sobject.name)
        if types is None:
            raise invalid_type(query.sobject.name)
        self.types = dict(types)
        self.types.setdefault("Id", "id")
        self.by_lower = {name.lower(): name for name in self.types}
        self.sobject = self._sobject_name(field_types, query.sobject.name)
        self.today = (now if now.tzinfo is None else now.astimezone(UTC)).date()  # UTC days
        self.params: list[object] = []

    @staticmethod
    def _sobject_name(field_types: Callable[[str], Mapping[str, str] | None], name: str) -> str:
        """The canonical spelling of the sObject name (`field_types` accepts any case).

        A schema may offer it through an optional `canonical_name(name)` attribute; otherwise
        the standard objects' spellings are used, then the query's own spelling (SQLite table
        names are case-insensitive, so the SQL works either way).
        """
        canonical = getattr(field_types, "canonical_name", None)
        if callable(canonical):
            resolved = canonical(name)
            if isinstance(resolved, str):
                return resolved
        return standard_object_name(name)

    # -- fields ---------------------------------------------------------------------------------
    def field(self, ref: FieldRef) -> str:
        canonical = self.by_lower.get(ref.name.lower())
        if canonical is None:
            message = _NO_SUCH_COLUMN.format(field=ref.name, sobject=self.sobject)
            raise error_at(self.text, ref.pos, message, code="INVALID_FIELD")
        return canonical

    def compile(self, *, include_deleted: bool) -> CompiledQuery:
        query = self.query
        fields: list[str] = []
        for ref in query.fields:
            name = self.field(ref)
            if name in fields:
                raise error_at(self.text, ref.pos, f"duplicate field selected: {name}")
            fields.append(name)
        clauses: list[str] = []
        if query.where is not None:
            clauses.append(self.condition(query.where))
        if not include_deleted and "IsDeleted" in self.types:
            clauses.append('"IsDeleted" = 0')
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        table = _quote(self.sobject)
        count_sql = f"SELECT COUNT(*) FROM {table}{where}"  # noqa: S608 (schema identifiers)
        if query.offset is not None and query.offset > MAX_OFFSET:
            raise SalesforceError(
                400,
                "NUMBER_OUTSIDE_VALID_RANGE",
                f"Maximum SOQL offset allowed is {MAX_OFFSET}",
            )
        order = "" if query.count_only else self.order_by()
        tail_sql = f"FROM {table}{where}{order}"
        if query.count_only:
            sql = count_sql
        else:
            columns = ", ".join(_quote(name) for name in fields)
            sql = f"SELECT {columns} {tail_sql}"
        aggregate, aggregate_sql = None, ""
        if query.counted is not None:
            aggregate = query.alias or "expr0"
            counted = _quote(self.field(query.counted))
            aggregate_sql = f"SELECT COUNT({counted}) FROM {table}{where}"  # noqa: S608
        return CompiledQuery(
            sobject=self.sobject,
            fields=fields,
            count_only=query.count_only,
            sql=sql,
            params=list(self.params),
            count_sql=count_sql,
            tail_sql=tail_sql,
            limit=query.limit,
            offset=query.offset,
            aggregate=aggregate,
            aggregate_sql=aggregate_sql,
        )

    def order_by(self) -> str:
        if not self.query.order_by:
            return ""
        parts: list[str] = []
        seen: set[str] = set()
        for item in self.query.order_by:
            name = self.field(item.field)
            seen.add(name)
            nulls_first = (not item.descending) if item.nulls_first is None else item.nulls_first
            # Ids sort by value (their base-62 digits are in ASCII order), as WHERE Id > '…'
            # compares them: keyset paging on (SystemModstamp, Id) must agree with the sort.
            collate = " COLLATE NOCASE" if self.types[name] in STRING_TYPES - ID_TYPES else ""
            direction = "DESC" if item.descending else "ASC"
            nulls = "FIRST" if nulls_first else "LAST"
            parts.append(f"{_quote(name)}{collate} {direction} NULLS {nulls}")
        if "Id" not in seen:
            parts.append('"Id" ASC')  # a stable tie-break so OFFSET/locator pages never overlap
        return " ORDER BY " + ", ".join(parts)

    # -- conditions -----------------------------------------------------------------------------
    def condition(self, node: Condition) -> str:
        if isinstance(node, BoolOp):
            return "(" + f" {node.op} ".join(self.condition(c) for c in node.operands) + ")"
        if isinstance(node, Not):
            return f"(NOT {self.condition(node.operand)})"
        if isinstance(node, InList):
            return self.in_list(node)
        if isinstance(node, Includes):
            return self.includes(node)
        return self.comparison(node)

    def comparison(self, node: Comparison) -> str:
        name = self.field(node.field)
        ftype = self.types[name]
        column = _quote(name)
        value = node.value
        if isinstance(value, Literal) and _is_null(value):
            if node.op == "=":
                return f"{column} IS NULL"
            if node.op == "!=":
                return f"{column} IS NOT NULL"
            raise error_at(self.text, value.token.pos, f"invalid operator on null: {node.op}")
        if node.op == "LIKE":
            return self.like(name, ftype, value)
        if ftype == "boolean" and node.op not in ("=", "!="):
            raise error_at(
                self.text,
                node.field.pos,
                f"invalid operator on boolean field: {node.op}",
                code="INVALID_FIELD",
            )
        if isinstance(value, RelativeDate):
            return self.date_range(name, ftype, node.op, value)
        param = self.convert(name, ftype, value)
        collate = " COLLATE NOCASE" if ftype in STRING_TYPES - ID_TYPES else ""
        self.params.append(param)
        if node.op == "!=":
            return f"({column} IS NULL OR {column} != ?{collate})"
        return f"({column} IS NOT NULL AND {column} {node.op} ?{collate})"

    def like(self, name: str, ftype: str, value: Value) -> str:
        if ftype not in STRING_TYPES:
            raise error_at(
                self.text,
                self.query_pos(value),
                f"invalid operator on {_TYPE_WORDS.get(ftype, ftype)} field: LIKE",
                code="INVALID_FIELD",
            )
        if not (isinstance(value, Literal) and value.token.kind is Kind.STRING):
            raise self.type_error(name, ftype, value)
        self.params.append(self.decode(value, like=True))
        column = _quote(name)
        return f"({column} IS NOT NULL AND {column} LIKE ? ESCAPE '\\')"

    def in_list(self, node: InList) -> str:
        name = self.field(node.field)
        ftype = self.types[name]
        column = _quote(name)
        has_null = any(isinstance(v, Literal) and _is_null(v) for v in node.values)
        ranges = [v for v in node.values if isinstance(v, RelativeDate)]
        scalars = [v for v in node.values if isinstance(v, Literal) and not _is_null(v)]
        parts: list[str] = []
        if scalars:
            collate = " COLLATE NOCASE" if ftype in STRING_TYPES - ID_TYPES else ""
            marks = ", ".join("?" for _ in scalars)
            self.params.extend(self.convert(name, ftype, v) for v in scalars)
            parts.append(f"({column} IS NOT NULL AND {column}{collate} IN ({marks}))")
        parts.extend(self.date_range(name, ftype, "=", r) for r in ranges)
        if has_null:
            parts.append(f"{column} IS NULL")
        positive = "(" + " OR ".join(parts) + ")"
        return f"(NOT {positive})" if node.negated else positive

    def includes(self, node: Includes) -> str:
        name = self.field(node.field)
        ftype = self.types[name]
        if ftype != "multipicklist":
            op = "EXCLUDES" if node.excludes else "INCLUDES"
            raise error_at(
                self.text,
                node.field.pos,
                f"{op} operator is only valid on multi-select picklist fields",
                code="INVALID_FIELD",
            )
        column = _quote(name)
        options: list[str] = []
        for value in node.values:
            if not (isinstance(value, Literal) and value.token.kind is Kind.STRING):
                raise self.type_error(name, ftype, value)
            terms = [t.strip() for t in self.decode(value).split(";")]
            checks = []
            for term in terms:
                self.params.append(term.lower())
                checks.append(f"instr(';' || lower({column}) || ';', ';' || ? || ';') > 0")
            options.append("(" + " AND ".join(checks) + ")")
        positive = f"({column} IS NOT NULL AND ({' OR '.join(options)}))"
        return f"(NOT {positive})" if node.excludes else positive

    def date_range(self, name: str, ftype: str, op: str, value: RelativeDate) -> str:
        if ftype not in ("date", "datetime"):
            raise self.type_error(name, ftype, value)
        start_day, end_day = day_range(value.name, value.n, self.today)
        start: str = _bound(start_day, ftype)
        end: str = _bound(end_day, ftype)
        column = _quote(name)
        guard = f"{column} IS NOT NULL AND "
        if op == "=":
            self.params.extend([start, end])
            return f"({guard}{column} >= ? AND {column} < ?)"
        if op == "!=":
            self.params.extend([start, end])
            return f"({column} IS NULL OR {column} < ? OR {column} >= ?)"
        sql_op, bound = {
            "<": ("<", start),
            "<=": ("<", end),
            ">": (">=", end),
            ">=": (">=", start),
        }[op]
        self.params.append(bound)
        return f"({guard}{column} {sql_op} ?)"

    # -- values ---------------------------------------------------------------------------------
    def convert(self, name: str, ftype: str, value: Value) -> object:
        """A literal checked against the field's type, in the store's representation."""
        if isinstance(value, RelativeDate):
            raise self.type_error(name, ftype, value)
        token = value.token
        if ftype in STRING_TYPES:
            if token.kind is not Kind.STRING:
                raise self.type_error(name, ftype, value)
            decoded = self.decode(value)
            if ftype in ID_TYPES:
                expanded = to_18_char_id(decoded)
                if expanded is None:
                    raise error_at(
                        self.text,
                        token.pos,
                        f"invalid ID field: {decoded}",
                        code="INVALID_QUERY_FILTER_OPERATOR",
                    )
                return expanded
            return decoded
        if ftype == "boolean":
            if token.kind is not Kind.IDENT or token.text.upper() not in ("TRUE", "FALSE"):
                raise self.type_error(name, ftype, value)
            return 1 if token.text.upper() == "TRUE" else 0
        if ftype in NUMBER_TYPES:
            if token.kind is not Kind.NUMBER:
                raise self.type_error(name, ftype, value)
            return float(token.text) if "." in token.text else int(token.text)
        if ftype == "date":
            if token.kind is not Kind.DATE:
                raise self.type_error(name, ftype, value)
            try:
                return parse_date_literal(token.text).isoformat()
            except ValueError:
                raise error_at(self.text, token.pos, f"Invalid date: {token.text}") from None
        if ftype == "datetime":
            if token.kind is not Kind.DATETIME:
                raise self.type_error(name, ftype, value)
            try:
                return storage_datetime(parse_datetime_literal(token.text))
            except ValueError:
                raise error_at(self.text, token.pos, f"Invalid datetime: {token.text}") from None
        raise error_at(self.text, token.pos, f"cannot filter on field '{name}' of type {ftype}")

    def decode(self, value: Literal, *, like: bool = False) -> str:
        try:
            return decode_string(value.token.text, like=like)
        except ValueError as exc:
            raise error_at(self.text, value.token.pos, str(exc)) from None

    def type_error(self, name: str, ftype: str, value: Value) -> SalesforceError:
        word = _TYPE_WORDS.get(ftype, ftype)
        if ftype in STRING_TYPES:
            word = "id" if ftype in ID_TYPES else "string"
            tail = "should be enclosed in quotes"
        else:
            tail = "should not be enclosed in quotes"
        message = f"value of filter criterion for field '{name}' must be of type {word} and {tail}"
        return error_at(self.text, self.query_pos(value), message, code="INVALID_FIELD")

    @staticmethod
    def query_pos(value: Value) -> int:
        return value.pos if isinstance(value, RelativeDate) else value.token.pos


def _is_null(value: Literal) -> bool:
    return value.token.kind is Kind.IDENT and value.token.text.upper() == "NULL"


def _bound(day: date, ftype: str) -> str:
    return day.isoformat() if ftype == "date" else f"{day.isoformat()}T00:00:00.000+0000"
