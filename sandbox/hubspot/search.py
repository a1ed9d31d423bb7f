"""The CRM search engine: HubSpot filter groups, one sort, free-text query, offset paging.

Filters become SQL over the record table: indexed columns for ids and dates, `json_extract`
for everything else. Strings compare case-insensitively, except that IN/NOT_IN values must be
sent lower-case; enumerations compare exactly (as HubSpot documents); dates compare as ms
epochs (ISO strings are accepted too). CONTAINS_TOKEN matches a substring, with `*` as a
wildcard (HubSpot tokenises words; a substring is close enough).

Newly created or updated records appear in search after a delay (hubspot-api.md §5). With an
index lag set (`HubSpotOptions.search_index_lag_s`, or `PUT /_sandbox/search
{"index_lag_s": s}`), records modified less than that long ago are left out of search answers
(HubSpot would show the old version meanwhile; a client polling on the modification date sees
the same: nothing new before the lag is over). Off (0) by default.
"""

# ruff: noqa: S608 -- SQL text holds only catalog columns and registry property names (validated [a-z][a-z0-9_]*); values are bound.
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from sandbox.hubspot.catalog import ObjectType
from sandbox.hubspot.errors import BAD_REQUEST_MESSAGE, HubSpotError, validation
from sandbox.hubspot.parsing import record_id
from sandbox.hubspot.properties import PropertyDef, PropertyRegistry
from sandbox.hubspot.store import ROW_COLUMNS, VISIBLE, Row, Store
from sandbox.hubspot.timefmt import iso, parse_ms
from sandbox.shared.clock import Clock

MAX_GROUPS, MAX_FILTERS_PER_GROUP, MAX_FILTERS = 5, 6, 18
MAX_LIMIT, DEFAULT_LIMIT, MAX_RESULTS = 200, 10, 10_000
COLUMN_DATES = {"createdate": "created_ms"}  # and each type's own modification date
OPERATORS = frozenset(
    "EQ NEQ LT LTE GT GTE BETWEEN IN NOT_IN HAS_PROPERTY NOT_HAS_PROPERTY "
    "CONTAINS_TOKEN NOT_CONTAINS_TOKEN".split()
)
FILTER_REQUIRED = ("propertyName", "operator")  # the spec's Filter.required, in HubSpot's order
_STRING_OR_BRACE = re.compile(rb'"(?:[^"\\]|\\.)*"|}')


def _filters(body: dict[str, Any]) -> Iterator[Any]:
    """Every filter a search body holds: in its groups and in the legacy top-level list."""
    groups = body.get("filterGroups")
    for group in groups if isinstance(groups, list) else []:
        if isinstance(group, dict) and isinstance(group.get("filters"), list):
            yield from group["filters"]
    if isinstance(body.get("filters"), list):
        yield from body["filters"]


def _unset(item: Any) -> list[str]:
    return [n for n in FILTER_REQUIRED if isinstance(item, dict) and item.get(n) is None]


def refuse_unbuildable_filters(raw: bytes, body: dict[str, Any]) -> None:
    """HubSpot builds each filter as it reads the JSON, so one without `propertyName` or
    `operator` (absent or null) is refused before anything else is looked at, at the position
    of its closing brace: "Invalid input JSON on line 1, column 102: Cannot build Filter, some
    of required attributes are not set [propertyName, operator]" (hubspot-api-nodejs#226; the
    column in #128 is that brace's). `body` is `raw` parsed; `raw` is read again only then."""
    if not any(_unset(item) for item in _filters(body)):
        return
    closed: list[dict[str, Any]] = []  # every object, in the order of its closing brace

    def keep(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        closed.append(dict(pairs))
        return closed[-1]

    read = json.loads(raw, object_pairs_hook=keep)
    order = {id(obj): k for k, obj in enumerate(closed)}
    first = min((item for item in _filters(read) if _unset(item)), key=lambda i: order[id(i)])
    braces = [m.start() for m in _STRING_OR_BRACE.finditer(raw) if m.group() == b"}"]
    at = braces[order[id(first)]]
    line, column = raw.count(b"\n", 0, at) + 1, at - raw.rfind(b"\n", 0, at)
    raise validation(
        f"Invalid input JSON on line {line}, column {column}: Cannot build Filter, "
        f"some of required attributes are not set [{', '.join(_unset(first))}]"
    )


@dataclass
class SearchPage:
    total: int
    rows: list[Row]
    next_after: int | None


class _Field:
    """How one property reads in SQL, and how filter values convert to compare with it."""

    def __init__(self, t: ObjectType, d: PropertyDef) -> None:
        self.d = d
        column = COLUMN_DATES.get(d.name) or ("updated_ms" if d.name == t.modified else None)
        if d.name == "hs_object_id":
            self.sql, self.kind = "id", "int"
        elif column:
            self.sql, self.kind = column, "int-date"
        elif t.name == "contacts" and d.name == "email":
            self.sql, self.kind = "email", "key"  # the indexed, lower-cased column
        else:
            self.sql = f"json_extract(props, '$.\"{d.name}\"')"
            self.kind = {
                "number": "number",
                "datetime": "iso",
                "date": "day",
                "enumeration": "exact",
                "bool": "lower",
            }.get(d.type, "text")

    @property
    def compared(self) -> str:
        if self.kind == "number":
            return f"CAST({self.sql} AS REAL)"
        if self.kind in ("text", "lower"):
            return f"lower({self.sql})"
        return self.sql

    def value(self, raw: Any) -> Any:
        text = str(raw).strip() if raw is not None else ""
        if self.kind in ("int", "int-date"):
            if self.kind == "int" and record_id(text) is not None:
                return record_id(text)
            ms = parse_ms(text)
            if ms is None:
                raise validation(f"{text} is not a valid value for {self.d.name}")
            return ms
        if self.kind == "number":
            try:
                return float(text)
            except ValueError as exc:
                raise validation(f"{text} is not a valid number for {self.d.name}") from exc
        if self.kind in ("iso", "day"):
            ms = parse_ms(text)
            if ms is None:
                raise validation(f"{text} is not a valid date for {self.d.name}")
            return iso(ms) if self.kind == "iso" else iso(ms)[:10]
        if self.kind in ("exact", "key"):
            return text.lower() if self.kind == "key" else text
        return text.lower()

    def listed(self, raw: Any) -> Any:
        """An IN/NOT_IN value: strings are matched as sent, so only lower-case ones can match.

        HubSpot documents that IN and NOT_IN values on string properties must be lower-case;
        an upper-case value silently matches nothing there, so it must here too.
        """
        if self.kind in ("text", "key"):
            return str(raw).strip() if raw is not None else ""
        return self.value(raw)


class SearchSettings(BaseModel):
    """The search index's delay behind writes (`PUT /_sandbox/search`)."""

    index_lag_s: float = Field(0.0, ge=0, le=3600)


class SearchEngine:
    def __init__(
        self, store: Store, registry: PropertyRegistry, clock: Clock, *, index_lag_s: float = 0.0
    ) -> None:
        self.store = store
        self.registry = registry
        self.clock = clock
        self.default = SearchSettings(index_lag_s=index_lag_s)
        self.settings = self.default

    # The admin `Configurable` protocol

    def snapshot(self) -> dict[str, Any]:
        return self.settings.model_dump()

    def configure(self, settings: SearchSettings) -> None:
        self.settings = settings

    def reset(self) -> None:
        self.settings = self.default

    def _field(self, t: ObjectType, name: Any) -> _Field:
        d = self.registry.get(t.name, str(name)) if name else None
        if d is None:
            raise validation(f"There was a problem with the request: property {name} not found")
        return _Field(t, d)

    def _filter(self, t: ObjectType, item: Any, params: list[Any]) -> str:
        if not isinstance(item, dict):
            raise validation(BAD_REQUEST_MESSAGE)
        op = str(item.get("operator")).upper()
        if op not in OPERATORS:
            raise validation(f"Unknown filter operator: {op}")
        f = self._field(t, item.get("propertyName"))
        has = f"({f.sql} IS NOT NULL AND {f.sql} != '')" if f.kind != "int" else "1"
        if op == "HAS_PROPERTY":
            return has
        if op == "NOT_HAS_PROPERTY":
            return f"NOT {has}"
        if op in ("IN", "NOT_IN"):
            values = item.get("values") or []
            if not isinstance(values, list) or not values:
                raise validation(f"{op} filters need a non-empty 'values' list")
            params.extend(f.listed(v) for v in values)
            marks = ",".join("?" * len(values))
            clause = f"{f.compared} IN ({marks})"
            return clause if op == "IN" else f"({f.compared} IS NULL OR NOT {clause})"
        if op == "BETWEEN":
            params.extend([f.value(item.get("value")), f.value(item.get("highValue"))])
            return f"{f.compared} BETWEEN ? AND ?"
        if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
            token = str(item.get("value", "")).lower().replace("%", r"\%").replace("*", "%")
            params.append(f"%{token}%")
            clause = f"lower({f.sql}) LIKE ? ESCAPE '\\'"
            return clause if op == "CONTAINS_TOKEN" else f"({f.sql} IS NULL OR NOT {clause})"
        params.append(f.value(item.get("value")))
        sql_op = {"EQ": "=", "NEQ": "!=", "LT": "<", "LTE": "<=", "GT": ">", "GTE": ">="}[op]
        if op == "NEQ":
            return f"({f.compared} IS NULL OR {f.compared} != ?)"
        return f"{f.compared} {sql_op} ?"

    def _where(self, t: ObjectType, body: dict[str, Any], params: list[Any]) -> str:
        groups = body.get("filterGroups") or []
        filters = body.get("filters")  # legacy top-level filters: one implicit group
        if filters and not groups:
            groups = [{"filters": filters}]
        if not isinstance(groups, list):
            raise validation(BAD_REQUEST_MESSAGE)
        total = sum(len(g.get("filters") or []) for g in groups if isinstance(g, dict))
        if (
            len(groups) > MAX_GROUPS
            or total > MAX_FILTERS
            or any(len(g.get("filters") or []) > MAX_FILTERS_PER_GROUP for g in groups)
        ):
            raise validation(
                f"There was a problem with the request. Too many filters: at most {MAX_GROUPS} "
                f"filterGroups, {MAX_FILTERS_PER_GROUP} filters per group and {MAX_FILTERS} "
                "filters in total are allowed.",
                sub_category="PublicObjectSearchValidationError.TOO_MANY_FILTERS",
            )
        clauses = [VISIBLE]
        lag_ms = int(self.settings.index_lag_s * 1000)
        if lag_ms > 0:  # not indexed yet: see the module docstring
            clauses.append("updated_ms <= ?")
            params.append(self.clock.now_ms() - lag_ms)
        ors = []
        for group in groups:
            parts = [self._filter(t, item, params) for item in group.get("filters") or []]
            if parts:
                ors.append("(" + " AND ".join(parts) + ")")
        if ors:
            clauses.append("(" + " OR ".join(ors) + ")")
        query = body.get("query")
        if query:
            likes = []
            for name in t.searchable:
                likes.append(f"lower(json_extract(props, '$.\"{name}\"')) LIKE ?")
                params.append(f"%{str(query).strip().lower()}%")
            clauses.append("(" + " OR ".join(likes) + ")")
        return " AND ".join(clauses)

    def _order(self, t: ObjectType, body: dict[str, Any]) -> str:
        sorts = body.get("sorts") or []
        if not isinstance(sorts, list):
            raise validation(BAD_REQUEST_MESSAGE)
        if len(sorts) > 1:
            raise validation(
                "There was a problem with the request. Only one sort is allowed.",
                sub_category="PublicObjectSearchValidationError.TOO_MANY_SORTS",
            )
        if not sorts:
            return "id ASC"
        sort = sorts[0]
        if isinstance(sort, str):
            name, _, direction = sort.partition(" ")
            descending = sort.startswith("-") or direction.upper().startswith("DESC")
            name = name.lstrip("-")
        elif isinstance(sort, dict):
            name = str(sort.get("propertyName", ""))
            descending = str(sort.get("direction", "ASCENDING")).upper().startswith("DESC")
        else:
            raise validation(BAD_REQUEST_MESSAGE)
        f = self._field(t, name)
        way = "DESC" if descending else "ASC"
        return f"{f.compared} {way}, id {way}"

    def search(self, t: ObjectType, body: dict[str, Any]) -> SearchPage:
        limit = body.get("limit", DEFAULT_LIMIT)
        after = body.get("after") or 0
        try:
            limit, offset = int(limit), int(after)
        except (TypeError, ValueError) as exc:
            raise validation(BAD_REQUEST_MESSAGE) from exc
        if limit < 1 or limit > MAX_LIMIT:
            raise validation(
                f"There was a problem with the request. limit must be between 1 and {MAX_LIMIT}"
            )
        params: list[Any] = []
        where = self._where(t, body, params)
        order = self._order(t, body)
        if offset < 0 or offset >= MAX_RESULTS:
            raise HubSpotError(400, "VALIDATION_ERROR", BAD_REQUEST_MESSAGE)
        total = int(self.store.scalar(f"SELECT COUNT(*) FROM {t.name} WHERE {where}", params))
        take = min(limit, MAX_RESULTS - offset)
        rows = self.store.query(
            f"SELECT {ROW_COLUMNS} FROM {t.name} WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
            [*params, take, offset],
        )
        end = offset + len(rows)
        return SearchPage(total=total, rows=rows, next_after=end if end < total else None)
