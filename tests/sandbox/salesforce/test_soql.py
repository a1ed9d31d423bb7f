"""The SOQL subset: compiled against a small schema and executed on an in-memory SQLite table."""

# ruff: noqa: S608  -- SOQL text is assembled on purpose here: it is the input under test.

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.salesforce.errors import SalesforceError
from sandbox.salesforce.soql import CompiledQuery, compile_soql, encode_string
from sandbox.salesforce.soql.values import to_18_char_id

NOW = datetime(2024, 2, 1, 12, 0, tzinfo=UTC)
LEAD_FIELDS: dict[str, str] = {
    "Id": "id",
    "IsDeleted": "boolean",
    "FirstName": "string",
    "LastName": "string",
    "Company": "string",
    "Email": "email",
    "Status": "picklist",
    "NumberOfEmployees": "int",
    "AnnualRevenue": "currency",
    "IsConverted": "boolean",
    "ConvertedDate": "date",
    "CreatedDate": "datetime",
    "OwnerId": "reference",
    "Interests__c": "multipicklist",
    "Baton_Id__c": "string",
}
COLUMNS = list(LEAD_FIELDS)
OWNER = "005000000000001AAA"


def lead_id(n: int) -> str:
    expanded = to_18_char_id(f"00Q{n:012d}")
    assert expanded is not None
    return expanded


ROWS: list[dict[str, object]] = [
    {"Id": lead_id(1), "IsDeleted": 0, "FirstName": "Ada", "LastName": "Lovelace",
     "Company": "Analytical", "Email": "ada@example.com", "Status": "Open - Not Contacted",
     "NumberOfEmployees": 10, "AnnualRevenue": 1000.5, "IsConverted": 0, "ConvertedDate": None,
     "CreatedDate": "2024-01-30T23:30:00.000+0000", "OwnerId": OWNER,
     "Interests__c": "Math;Poetry", "Baton_Id__c": "b-1"},
    {"Id": lead_id(2), "IsDeleted": 0, "FirstName": "Grace", "LastName": "Hopper",
     "Company": "Navy", "Email": "GRACE@example.com", "Status": "Working - Contacted",
     "NumberOfEmployees": 500, "AnnualRevenue": None, "IsConverted": 1,
     "ConvertedDate": "2024-01-31", "CreatedDate": "2024-01-31T00:00:00.000+0000",
     "OwnerId": OWNER, "Interests__c": "Compilers", "Baton_Id__c": "b-2"},
    {"Id": lead_id(3), "IsDeleted": 0, "FirstName": "Alan", "LastName": "Turing",
     "Company": "Bletchley", "Email": None, "Status": "Closed - Converted",
     "NumberOfEmployees": None, "AnnualRevenue": 20.0, "IsConverted": 0,
     "ConvertedDate": "2024-02-03", "CreatedDate": "2024-01-31T23:59:59.999+0000",
     "OwnerId": None, "Interests__c": None, "Baton_Id__c": "50%_off"},
    {"Id": lead_id(4), "IsDeleted": 0, "FirstName": "Miles", "LastName": "O'Brien",
     "Company": "Back\\slash", "Email": "miles@example.com", "Status": "Open - Not Contacted",
     "NumberOfEmployees": 3, "AnnualRevenue": 5.0, "IsConverted": 0, "ConvertedDate": None,
     "CreatedDate": "2024-02-01T00:00:00.000+0000", "OwnerId": OWNER,
     "Interests__c": "Poetry", "Baton_Id__c": "line\nbreak"},
    {"Id": lead_id(5), "IsDeleted": 1, "FirstName": "Gone", "LastName": "Ghost",
     "Company": "Recycle Bin", "Email": "ghost@example.com", "Status": "Open - Not Contacted",
     "NumberOfEmployees": 1, "AnnualRevenue": 1.0, "IsConverted": 0, "ConvertedDate": None,
     "CreatedDate": "2024-01-15T10:00:00.000+0000", "OwnerId": OWNER,
     "Interests__c": None, "Baton_Id__c": "b-5"},
    {"Id": lead_id(6), "IsDeleted": 0, "FirstName": None, "LastName": "Zola",
     "Company": "Émile & Cie", "Email": "zola@example.fr", "Status": "Working - Contacted",
     "NumberOfEmployees": 50, "AnnualRevenue": 300.0, "IsConverted": 0, "ConvertedDate": None,
     "CreatedDate": "2023-12-31T23:00:00.000+0000", "OwnerId": OWNER,
     "Interests__c": "Math", "Baton_Id__c": "b-6"},
]  # fmt: skip


def field_types(name: str) -> Mapping[str, str] | None:
    return LEAD_FIELDS if name.lower() == "lead" else None


def compile_(soql: str, *, include_deleted: bool = False) -> CompiledQuery:
    return compile_soql(soql, field_types=field_types, include_deleted=include_deleted, now=NOW)


@pytest.fixture(scope="module")
def db() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:")
    columns = ", ".join(f'"{c}"' for c in COLUMNS)
    conn.execute(f'CREATE TABLE "Lead" ({columns})')
    marks = ", ".join("?" for _ in COLUMNS)
    conn.executemany(
        f'INSERT INTO "Lead" VALUES ({marks})', [[r[c] for c in COLUMNS] for r in ROWS]
    )
    yield conn
    conn.close()


def run(
    db: sqlite3.Connection, soql: str, *, include_deleted: bool = False
) -> list[tuple[object, ...]]:
    query = compile_(soql, include_deleted=include_deleted)
    sql, params = query.sql, list(query.params)
    if query.limit is not None or query.offset is not None:
        sql += " LIMIT ? OFFSET ?"
        params += [query.limit if query.limit is not None else -1, query.offset or 0]
    return db.execute(sql, params).fetchall()


def names(db: sqlite3.Connection, where: str, *, include_deleted: bool = False) -> set[str]:
    rows = run(db, f"SELECT LastName FROM Lead WHERE {where}", include_deleted=include_deleted)
    return {str(row[0]) for row in rows}


ALL_LIVE = {"Lovelace", "Hopper", "Turing", "O'Brien", "Zola"}

WHERE_CASES = [
    # equality on strings is case-insensitive; != and NOT IN include nulls
    ("LastName = 'lovelace'", {"Lovelace"}),
    ("lastname = 'LOVELACE'", {"Lovelace"}),
    ("Email != 'ada@example.com'", ALL_LIVE - {"Lovelace"}),
    ("Email <> 'ADA@example.com'", ALL_LIVE - {"Lovelace"}),
    ("Email = null", {"Turing"}),
    ("Email != null", ALL_LIVE - {"Turing"}),
    ("FirstName = NULL", {"Zola"}),
    ("Status IN ('open - not contacted', 'Closed - Converted')", {"Lovelace", "O'Brien", "Turing"}),
    ("Email NOT IN ('ada@example.com', 'grace@example.com')", {"Turing", "O'Brien", "Zola"}),
    ("Email IN ('ada@example.com', null)", {"Lovelace", "Turing"}),
    ("Email NOT IN ('ada@example.com', null)", ALL_LIVE - {"Lovelace", "Turing"}),
    # string escapes
    ("LastName = 'O\\'Brien'", {"O'Brien"}),
    ("Company = 'Back\\\\slash'", {"O'Brien"}),
    ("Baton_Id__c = 'line\\nbreak'", {"O'Brien"}),
    ("Company = '\\u00c9mile & Cie'", {"Zola"}),
    # LIKE: wildcards, escaped wildcards, case-insensitive, null never matches
    ("LastName LIKE 'lo%'", {"Lovelace"}),
    ("LastName LIKE '%o%'", {"Lovelace", "Hopper", "O'Brien", "Zola"}),
    ("LastName LIKE 'Z_la'", {"Zola"}),
    ("Baton_Id__c LIKE '50\\%\\_off'", {"Turing"}),
    ("Baton_Id__c LIKE 'b_1'", {"Lovelace"}),
    ("Baton_Id__c LIKE '50\\%%'", {"Turing"}),
    ("Company LIKE 'back\\\\%'", {"O'Brien"}),
    ("Email LIKE '%'", ALL_LIVE - {"Turing"}),
    ("NOT Email LIKE 'a%'", ALL_LIVE - {"Lovelace"}),
    # numbers
    ("NumberOfEmployees > 10", {"Hopper", "Zola"}),
    ("NumberOfEmployees >= 10", {"Lovelace", "Hopper", "Zola"}),
    ("NumberOfEmployees < 10", {"O'Brien"}),
    ("NumberOfEmployees <= 3", {"O'Brien"}),
    ("NumberOfEmployees != 10", ALL_LIVE - {"Lovelace"}),
    ("AnnualRevenue = 1000.5", {"Lovelace"}),
    ("AnnualRevenue > 19.99 AND AnnualRevenue < 300.01", {"Turing", "Zola"}),
    ("AnnualRevenue IN (5, 20.0)", {"Turing", "O'Brien"}),
    ("NumberOfEmployees > -1", ALL_LIVE - {"Turing"}),
    # booleans
    ("IsConverted = true", {"Hopper"}),
    ("IsConverted = FALSE", ALL_LIVE - {"Hopper"}),
    ("IsConverted != true", ALL_LIVE - {"Hopper"}),
    # dates and datetimes
    ("ConvertedDate = 2024-01-31", {"Hopper"}),
    ("ConvertedDate > 2024-01-31", {"Turing"}),
    ("ConvertedDate = TODAY", set()),
    ("ConvertedDate = YESTERDAY", {"Hopper"}),
    ("ConvertedDate = NEXT_N_DAYS:2", {"Turing"}),
    ("ConvertedDate = NEXT_N_DAYS:1", set()),
    ("CreatedDate > 2024-01-31T00:00:00Z", {"Turing", "O'Brien"}),
    ("CreatedDate >= 2024-01-31T00:00:00.000Z", {"Hopper", "Turing", "O'Brien"}),
    ("CreatedDate < 2024-01-31T01:00:00+01:00", {"Lovelace", "Zola"}),
    ("CreatedDate = 2024-01-30T15:30:00-0800", {"Lovelace"}),
    ("CreatedDate = TODAY", {"O'Brien"}),
    ("CreatedDate = YESTERDAY", {"Hopper", "Turing"}),
    ("CreatedDate < YESTERDAY", {"Lovelace", "Zola"}),
    ("CreatedDate <= YESTERDAY", {"Lovelace", "Zola", "Hopper", "Turing"}),
    ("CreatedDate > YESTERDAY", {"O'Brien"}),
    ("CreatedDate >= TODAY", {"O'Brien"}),
    ("CreatedDate != TODAY", ALL_LIVE - {"O'Brien"}),
    ("CreatedDate = LAST_N_DAYS:1", {"Hopper", "Turing", "O'Brien"}),
    ("CreatedDate = LAST_N_DAYS:2", {"Lovelace", "Hopper", "Turing", "O'Brien"}),
    ("CreatedDate = LAST_N_DAYS:60", ALL_LIVE),
    ("CreatedDate = NEXT_N_DAYS:5", set()),
    # ids: 18 and 15 characters
    (f"Id = '{lead_id(2)}'", {"Hopper"}),
    (f"Id = '{lead_id(2)[:15]}'", {"Hopper"}),
    (f"OwnerId != '{OWNER}'", {"Turing"}),
    # multi-select picklists
    ("Interests__c INCLUDES ('math')", {"Lovelace", "Zola"}),
    ("Interests__c INCLUDES ('Math;Poetry', 'Compilers')", {"Lovelace", "Hopper"}),
    ("Interests__c EXCLUDES ('Poetry')", {"Hopper", "Zola", "Turing"}),
    # boolean structure
    ("LastName = 'Lovelace' OR LastName = 'Zola' OR LastName = 'Nobody'", {"Lovelace", "Zola"}),
    ("(LastName = 'Lovelace' OR LastName = 'Zola') AND NumberOfEmployees > 20", {"Zola"}),
    ("NOT (LastName = 'Lovelace' OR LastName = 'Zola')", {"Hopper", "Turing", "O'Brien"}),
    ("NOT NumberOfEmployees > 10", {"Lovelace", "O'Brien", "Turing"}),
    ("NOT (NOT (IsConverted = true))", {"Hopper"}),
    ("NOT Email = 'ada@example.com'", ALL_LIVE - {"Lovelace"}),
    ("((Status = 'Working - Contacted') AND (NOT (NumberOfEmployees < 100)))", {"Hopper"}),
    ("lastname like 'H%' and isconverted = TRUE", {"Hopper"}),
]


@pytest.mark.parametrize(("where", "expected"), WHERE_CASES)
def test_where(db: sqlite3.Connection, where: str, expected: set[str]) -> None:
    assert names(db, where) == expected


def test_query_all_sees_the_recycle_bin(db: sqlite3.Connection) -> None:
    assert names(db, "LastName = 'Ghost'") == set()
    assert names(db, "LastName = 'Ghost'", include_deleted=True) == {"Ghost"}
    assert names(db, "IsDeleted = true", include_deleted=True) == {"Ghost"}
    query = compile_("SELECT Id FROM Lead")
    assert '"IsDeleted" = 0' in query.sql
    assert "IsDeleted" not in compile_("SELECT Id FROM Lead", include_deleted=True).sql


def test_select_list_is_canonical_and_ordered(db: sqlite3.Connection) -> None:
    query = compile_("select lastname, ID, numberofemployees from LEAD where lastname = 'Zola'")
    assert query.sobject == "Lead"
    assert query.fields == ["LastName", "Id", "NumberOfEmployees"]
    assert not query.count_only
    assert query.sql.startswith('SELECT "LastName", "Id", "NumberOfEmployees" FROM "Lead"')
    assert run(db, "select lastname, ID, numberofemployees from LEAD where lastname = 'Zola'") == [
        ("Zola", lead_id(6), 50)
    ]


def test_count(db: sqlite3.Connection) -> None:
    query = compile_("SELECT COUNT() FROM Lead WHERE NumberOfEmployees > 5")
    assert query.count_only
    assert query.fields == []
    assert db.execute(query.count_sql, query.params).fetchone() == (3,)
    plain = compile_("SELECT Id FROM Lead WHERE NumberOfEmployees > 5")
    assert db.execute(plain.count_sql, plain.params).fetchone() == (3,)
    assert "ORDER BY" not in plain.count_sql


ORDER_CASES = [
    ("ORDER BY LastName", ["Hopper", "Lovelace", "O'Brien", "Turing", "Zola"]),
    ("ORDER BY lastname DESC", ["Zola", "Turing", "O'Brien", "Lovelace", "Hopper"]),
    ("ORDER BY NumberOfEmployees", ["Turing", "O'Brien", "Lovelace", "Zola", "Hopper"]),
    ("ORDER BY NumberOfEmployees ASC NULLS LAST",
     ["O'Brien", "Lovelace", "Zola", "Hopper", "Turing"]),
    ("ORDER BY NumberOfEmployees DESC", ["Hopper", "Zola", "Lovelace", "O'Brien", "Turing"]),
    ("ORDER BY NumberOfEmployees DESC NULLS FIRST",
     ["Turing", "Hopper", "Zola", "Lovelace", "O'Brien"]),
    ("ORDER BY Status DESC, LastName ASC", ["Hopper", "Zola", "Lovelace", "O'Brien", "Turing"]),
    ("ORDER BY CreatedDate LIMIT 2", ["Zola", "Lovelace"]),
    ("ORDER BY CreatedDate LIMIT 2 OFFSET 2", ["Hopper", "Turing"]),
    ("ORDER BY CreatedDate OFFSET 4", ["O'Brien"]),
]  # fmt: skip


@pytest.mark.parametrize(("tail", "expected"), ORDER_CASES)
def test_order_limit_offset(db: sqlite3.Connection, tail: str, expected: list[str]) -> None:
    assert [row[0] for row in run(db, f"SELECT LastName FROM Lead {tail}")] == expected


def test_limit_and_offset_are_left_to_the_caller() -> None:
    query = compile_("SELECT Id FROM Lead LIMIT 10 OFFSET 20")
    assert (query.limit, query.offset) == (10, 20)
    assert "LIMIT" not in query.sql
    assert compile_("SELECT Id FROM Lead").limit is None


ERROR_CASES = [
    # (soql, errorCode, fragment of the message)
    ("SELECT Id FROM Nope", "INVALID_TYPE", "sObject type 'Nope' is not supported."),
    ("SELECT Foo FROM Lead", "INVALID_FIELD", "No such column 'Foo' on entity 'Lead'. If you are "
     "attempting to use a custom field, be sure to append the '__c' after the custom field name."),
    ("SELECT Id FROM Lead WHERE Bar = 1", "INVALID_FIELD", "No such column 'Bar' on entity 'Lead'"),
    ("SELECT Id FROM Lead ORDER BY Baz", "INVALID_FIELD", "No such column 'Baz'"),
    ("SELECT Id, LastName, id FROM Lead", "MALFORMED_QUERY", "duplicate field selected: Id"),
    ("SELECT Id FROM Lead WHERE", "MALFORMED_QUERY", "unexpected token: <EOF>"),
    ("SELECT FROM Lead", "MALFORMED_QUERY", "unexpected token: 'FROM'"),
    ("SELECT Id Lead", "MALFORMED_QUERY", "Field aliases"),
    ("SELECT Id FROM Lead WHERE LastName = 'x' AND Company = 'y' OR Email = 'z'",
     "MALFORMED_QUERY", "unexpected token: 'OR'"),
    ("SELECT Id FROM Lead WHERE (LastName = 'x'", "MALFORMED_QUERY", "unexpected token: <EOF>"),
    ("SELECT Id FROM Lead WHERE LastName = 'unterminated", "MALFORMED_QUERY", "mismatched"),
    ("SELECT Id FROM Lead LIMIT x", "MALFORMED_QUERY", "unexpected token: 'x'"),
    ("SELECT Id FROM Lead extra", "MALFORMED_QUERY", "unexpected token: 'extra'"),
    ("SELECT Id FROM Lead WHERE LastName = 'a\\qb'", "MALFORMED_QUERY", "escape sequence"),
    ("SELECT Id FROM Lead WHERE LastName # 'a'", "MALFORMED_QUERY", "unexpected token: '#'"),
    ("SELECT Id FROM Lead OFFSET 2001", "NUMBER_OUTSIDE_VALID_RANGE",
     "Maximum SOQL offset allowed is 2000"),
    # literal types
    ("SELECT Id FROM Lead WHERE CreatedDate > '2024-01-01T00:00:00Z'", "INVALID_FIELD",
     "value of filter criterion for field 'CreatedDate' must be of type dateTime and should "
     "not be enclosed in quotes"),
    ("SELECT Id FROM Lead WHERE CreatedDate > 2024-01-01", "INVALID_FIELD",
     "must be of type dateTime"),
    ("SELECT Id FROM Lead WHERE ConvertedDate > 2024-01-01T00:00:00Z", "INVALID_FIELD",
     "field 'ConvertedDate' must be of type date and should not be enclosed in quotes"),
    ("SELECT Id FROM Lead WHERE LastName = 5", "INVALID_FIELD",
     "field 'LastName' must be of type string and should be enclosed in quotes"),
    ("SELECT Id FROM Lead WHERE NumberOfEmployees = '5'", "INVALID_FIELD",
     "must be of type integer and should not be enclosed in quotes"),
    ("SELECT Id FROM Lead WHERE AnnualRevenue = '5'", "INVALID_FIELD", "must be of type double"),
    ("SELECT Id FROM Lead WHERE IsConverted = 'true'", "INVALID_FIELD", "must be of type boolean"),
    ("SELECT Id FROM Lead WHERE IsConverted > true", "INVALID_FIELD", "invalid operator"),
    ("SELECT Id FROM Lead WHERE LastName = TODAY", "INVALID_FIELD", "must be of type string"),
    ("SELECT Id FROM Lead WHERE NumberOfEmployees LIKE '5%'", "INVALID_FIELD", "LIKE"),
    ("SELECT Id FROM Lead WHERE Status INCLUDES ('a')", "INVALID_FIELD", "multi-select"),
    ("SELECT Id FROM Lead WHERE Id = 'short'", "INVALID_QUERY_FILTER_OPERATOR",
     "invalid ID field: short"),
    ("SELECT Id FROM Lead WHERE CreatedDate > 2024-13-01T00:00:00Z", "MALFORMED_QUERY",
     "Invalid datetime"),
    ("SELECT Id FROM Lead WHERE ConvertedDate > 2024-02-30", "MALFORMED_QUERY", "Invalid date"),
    ("SELECT Id FROM Lead WHERE NumberOfEmployees < null", "MALFORMED_QUERY", "null"),
    # unsupported features are named
    ("SELECT Status, COUNT(Id) FROM Lead GROUP BY Status", "MALFORMED_QUERY", "COUNT()"),
    ("SELECT Status FROM Lead GROUP BY Status", "MALFORMED_QUERY", "GROUP BY is not supported"),
    ("SELECT MAX(NumberOfEmployees) FROM Lead", "MALFORMED_QUERY", "Aggregate function MAX()"),
    ("SELECT Owner.Name FROM Lead", "MALFORMED_QUERY", "Relationship fields"),
    ("SELECT Id FROM Lead WHERE Owner.Name = 'x'", "MALFORMED_QUERY", "Relationship fields"),
    ("SELECT Id, (SELECT Id FROM Tasks) FROM Lead", "MALFORMED_QUERY", "subqueries"),
    ("SELECT Id FROM Lead WHERE OwnerId IN (SELECT Id FROM User)", "MALFORMED_QUERY",
     "Semi-join"),
    ("SELECT TYPEOF Owner WHEN User THEN Name END FROM Lead", "MALFORMED_QUERY", "TYPEOF"),
    ("SELECT Id FROM Lead FOR UPDATE", "MALFORMED_QUERY", "FOR VIEW/REFERENCE/UPDATE"),
    ("SELECT Id FROM Lead WITH SECURITY_ENFORCED", "MALFORMED_QUERY", "WITH"),
    ("SELECT FIELDS(ALL) FROM Lead", "MALFORMED_QUERY", "FIELDS()"),
    ("SELECT Id FROM Lead WHERE LastName = :name", "MALFORMED_QUERY", "bind variables"),
    ("SELECT Id FROM Lead WHERE CreatedDate = LAST_WEEK", "MALFORMED_QUERY", "LAST_WEEK"),
    ("SELECT Id FROM Lead USING SCOPE mine", "MALFORMED_QUERY", "USING SCOPE"),
]  # fmt: skip


@pytest.mark.parametrize(("soql", "code", "fragment"), ERROR_CASES)
def test_errors(soql: str, code: str, fragment: str) -> None:
    with pytest.raises(SalesforceError) as caught:
        compile_(soql)
    assert caught.value.status == 400
    assert caught.value.code == code
    assert fragment in caught.value.message
    assert caught.value.body() == [{"message": caught.value.message, "errorCode": code}]


def test_error_points_at_the_culprit() -> None:
    with pytest.raises(SalesforceError) as caught:
        compile_("SELECT Id, Nme\nFROM Lead")
    assert caught.value.message.startswith(
        "\nSELECT Id, Nme\n           ^\nERROR at Row:1:Column:12\nNo such column 'Nme'"
    )


def test_values_never_reach_the_sql_text() -> None:
    hostile = 'x\'); DROP TABLE "Lead"; --'
    query = compile_(f"SELECT Id FROM Lead WHERE LastName = {encode_string(hostile)}")
    assert query.params == [hostile]
    assert "DROP" not in query.sql


# SQLite's LIKE stops at NUL in a pattern (and Salesforce text never holds NUL), so the LIKE half
# of the property draws from every character but NUL; equality covers NUL too.
_NO_NUL = st.characters(codec="utf-8", exclude_characters="\x00")


@settings(max_examples=150, deadline=None)
@given(value=st.text(max_size=40), like_value=st.text(alphabet=_NO_NUL, max_size=40))
def test_string_literals_round_trip(value: str, like_value: str) -> None:
    reference = compile_("SELECT Id FROM Lead WHERE LastName = 'placeholder'")
    query = compile_(f"SELECT Id FROM Lead WHERE LastName = {encode_string(value)}")
    assert query.params == [value]
    assert query.sql == reference.sql
    like = encode_string(like_value).replace("%", "\\%").replace("_", "\\_")
    like_query = compile_(f"SELECT Id FROM Lead WHERE LastName LIKE {like}")
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute('CREATE TABLE "Lead" ("Id", "LastName", "IsDeleted")')
        rows = [(lead_id(1), value), (lead_id(2), value + "x"), (lead_id(3), like_value)]
        rows.append((lead_id(4), like_value + "_"))
        conn.executemany('INSERT INTO "Lead" VALUES (?, ?, 0)', rows)
        found = {row[0] for row in conn.execute(query.sql, query.params)}
        assert lead_id(1) in found
        assert lead_id(2) not in found
        found = {row[0] for row in conn.execute(like_query.sql, like_query.params)}
        assert lead_id(3) in found
        assert lead_id(4) not in found
    finally:
        conn.close()


def test_fifteen_character_ids_expand_like_salesforce() -> None:
    assert to_18_char_id("001000000000001") == "001000000000001AAA"
    assert to_18_char_id("001A0000006Vm9r") == "001A0000006Vm9rIAC"
    assert to_18_char_id("00Q5e00000AbCdE") == "00Q5e00000AbCdEEAV"
    assert to_18_char_id("not an id") is None


# -- random filters against a Python model of SOQL's two-valued semantics ----------------------
Predicate = tuple[str, Callable[[dict[str, object]], bool]]


def _string_atom(field: str, op: str, literal: str | None) -> Predicate:
    if literal is None:
        soql = f"{field} {op} null"
        return soql, lambda row: (row[field] is None) == (op == "=")
    folded = literal.lower()

    def matches(row: dict[str, object]) -> bool:
        value = row[field]
        equal = value is not None and str(value).lower() == folded
        return equal if op == "=" else not equal

    return f"{field} {op} {encode_string(literal)}", matches


def _number_atom(op: str, number: int) -> Predicate:
    compare = {
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
    }[op]

    def matches(row: dict[str, object]) -> bool:
        value = row["NumberOfEmployees"]
        return isinstance(value, int) and compare(value, number)

    return f"NumberOfEmployees {op} {number}", matches


_atoms = st.one_of(
    st.builds(
        _string_atom,
        st.sampled_from(["LastName", "Email", "FirstName", "Status"]),
        st.sampled_from(["=", "!="]),
        st.sampled_from([None, "Lovelace", "ZOLA", "ada@example.com", "Open - Not Contacted", "x"]),
    ),
    st.builds(_number_atom, st.sampled_from(["<", "<=", ">", ">="]), st.integers(-1, 600)),
    st.sampled_from(["true", "false"]).map(
        lambda b: (f"IsConverted = {b}", lambda row: row["IsConverted"] == (b == "true"))
    ),
)


def _combine(children: st.SearchStrategy[Predicate]) -> st.SearchStrategy[Predicate]:
    def join(op: str, parts: list[Predicate]) -> Predicate:
        soql = "(" + f" {op} ".join(p[0] for p in parts) + ")"
        checks = [p[1] for p in parts]
        if op == "AND":
            return soql, lambda row: all(check(row) for check in checks)
        return soql, lambda row: any(check(row) for check in checks)

    def negate(part: Predicate) -> Predicate:
        return f"NOT ({part[0]})", lambda row: not part[1](row)

    return st.one_of(
        st.builds(join, st.sampled_from(["AND", "OR"]), st.lists(children, min_size=2, max_size=3)),
        children.map(negate),
    )


@settings(max_examples=200, deadline=None)
@given(predicate=st.recursive(_atoms, _combine, max_leaves=8))
def test_random_filters_match_the_model(db: sqlite3.Connection, predicate: Predicate) -> None:
    soql, check = predicate
    expected = {str(r["LastName"]) for r in ROWS if not r["IsDeleted"] and check(r)}
    assert names(db, soql) == expected


_SOQL_WORDS = [
    "SELECT", "Id", "LastName", "COUNT()", "FROM", "Lead", "WHERE", "AND", "OR", "NOT", "(",
    ")", ",", "=", "!=", "<", ">=", "LIKE", "IN", "INCLUDES", "null", "true", "'a\\'b'", "'%'",
    "42", "-1.5", "2024-01-31", "2024-01-31T10:00:00Z", "TODAY", "LAST_N_DAYS", ":", "3",
    "ORDER", "BY", "DESC", "NULLS", "FIRST", "LIMIT", "OFFSET", "GROUP", "Owner.Name", "'",
    "\\", "CreatedDate", "IsConverted", "Interests__c",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(st.sampled_from(_SOQL_WORDS), max_size=14),
    noise=st.text(max_size=12),
)
def test_any_input_compiles_or_fails_like_salesforce(words: list[str], noise: str) -> None:
    for text in (" ".join(words), "SELECT Id FROM Lead WHERE " + " ".join(words), noise):
        outcome = _outcome(text)
        if isinstance(outcome, SalesforceError):
            assert outcome.status == 400
            assert outcome.code in _QUERY_ERRORS
        else:
            assert outcome.sql.count("?") == len(outcome.params)


_QUERY_ERRORS = {
    "MALFORMED_QUERY",
    "INVALID_FIELD",
    "INVALID_TYPE",
    "INVALID_QUERY_FILTER_OPERATOR",
    "NUMBER_OUTSIDE_VALID_RANGE",
}


def _outcome(text: str) -> CompiledQuery | SalesforceError:
    """The compiled query, or the SalesforceError it raised (anything else propagates)."""
    try:
        return compile_(text)
    except SalesforceError as exc:
        return exc
