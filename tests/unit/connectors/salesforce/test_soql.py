"""The SOQL formatter: hostile values stay one literal and round-trip exactly.

Proof by the sandbox's own SOQL lexer, parser and compiler (an independent implementation of
Salesforce's quoting rules): every value comes back as exactly one string token, decoding to
the original text, and the query structure (fields, object, operators) is unchanged.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.salesforce.soql import (
    SoqlError,
    chunk_fields,
    format_datetime,
    identifier,
    quote,
    soql,
    url_length,
)
from sandbox.salesforce.objects import field_types
from sandbox.salesforce.soql import compile_soql
from sandbox.salesforce.soql.lexer import Kind, decode_string, tokenize

_PIECES = st.sampled_from(
    [
        "'",
        '"',
        "\\",
        "%",
        "_",
        "\n",
        "\r",
        "\t",
        "\b",
        "\f",
        " ",
        ";",
        "(",
        ")",
        "--",
        "/*",
        "' OR '1'='1",
        "\\'",
        "\\u0027",
        "é",
        "😀",
        "\u2028",
        "\x00",
    ]
)
HOSTILE = st.lists(
    st.one_of(
        _PIECES, st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=3)
    ),
    max_size=12,
).map("".join)
NOW = datetime(2026, 3, 2, tzinfo=UTC)


def _strings(query: str) -> list[str]:
    return [t.text for t in tokenize(query) if t.kind is Kind.STRING]


@settings(max_examples=300, deadline=None)
@given(first=HOSTILE, second=HOSTILE)
def test_hostile_values_stay_single_literals_and_round_trip(first: str, second: str) -> None:
    query = soql(
        "SELECT {:fields} FROM {:object} WHERE LastName = {} AND Email IN {} ORDER BY Id",
        ["Id", "LastName"],
        "Lead",
        first,
        [first, second],
    )

    raw = _strings(query)
    assert [decode_string(r) for r in raw] == [first, first, second]
    compiled = compile_soql(query, field_types=field_types, include_deleted=False, now=NOW)
    assert compiled.sobject == "Lead"
    assert compiled.fields == ["Id", "LastName"]
    assert first in compiled.params
    assert second in compiled.params


@settings(max_examples=200, deadline=None)
@given(value=HOSTILE)
def test_like_values_match_literally(value: str) -> None:
    query = soql("SELECT Id FROM Lead WHERE LastName LIKE {:like}", value)

    (raw,) = _strings(query)
    pattern = decode_string(raw, like=True)
    # In the decoded LIKE pattern every %, _ and \ of the value is escaped: no wildcard left.
    unescaped, i = [], 0
    while i < len(pattern):
        if pattern[i] == "\\":
            unescaped.append(pattern[i + 1])
            i += 2
        else:
            assert pattern[i] not in "%_"
            unescaped.append(pattern[i])
            i += 1
    assert "".join(unescaped) == value
    compile_soql(query, field_types=field_types, include_deleted=False, now=NOW)


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (42, "42"),
        (1.5, "1.5"),
        ("O'Brien", "'O\\'Brien'"),
        ('a"b\\c\nd', "'a\\\"b\\\\c\\nd'"),
        (date(2026, 3, 2), "2026-03-02"),
        (datetime(2026, 3, 2, 10, 0, 0, 123456, tzinfo=UTC), "2026-03-02T10:00:00.123Z"),
        (
            datetime(2026, 3, 2, 12, 0, tzinfo=timezone(timedelta(hours=2))),
            "2026-03-02T10:00:00.000Z",
        ),
        (["a", 1], "('a', 1)"),
    ],
)
def test_literals(value: object, literal: str) -> None:
    assert quote(value) == literal


@pytest.mark.parametrize("bad", [datetime(2026, 3, 2), float("nan"), [], [[1]], object(), b"bytes"])
def test_values_without_a_safe_literal_are_refused(bad: object) -> None:
    with pytest.raises(SoqlError):
        quote(bad)


@pytest.mark.parametrize(
    "name", ["Id", "Baton_Id__c", "ns__Field__c", "Account.Name", "Owner__r.Name"]
)
def test_valid_identifiers(name: str) -> None:
    assert identifier(name) == name


@pytest.mark.parametrize(
    "name", ["", "1Id", "Id;", "Id,Name", "Name FROM User", "_x", "a__b__c__d", "Id--", "a' OR 1"]
)
def test_invalid_identifiers_are_refused(name: str) -> None:
    with pytest.raises(SoqlError):
        soql("SELECT {:fields} FROM Lead", [name])
    with pytest.raises(SoqlError):
        soql("SELECT Id FROM {:object}", name)


def test_conversions_and_unknown_specs_are_refused() -> None:
    with pytest.raises(SoqlError):
        soql("SELECT Id FROM Lead WHERE Name = {!r}", "x")
    with pytest.raises(SoqlError):
        soql("SELECT Id FROM Lead WHERE Name = {:raw}", "x")


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(SoqlError, match="time zone"):
        format_datetime(datetime(2026, 1, 1))


def test_field_lists_are_chunked_under_the_url_budget() -> None:
    fields = [f"Custom_Field_Number_{i}__c" for i in range(600)]

    def render(chosen: list[str]) -> str:
        return soql("SELECT {:fields} FROM Lead WHERE Id IN {}", chosen, ["00Q000000000001AAA"])

    chunks = list(chunk_fields(fields, render=render, budget=4_000))

    assert len(chunks) > 3
    assert all(c[0] == "Id" for c in chunks)
    assert [f for c in chunks for f in c[1:]] == fields
    assert all(url_length(render(c)) <= 4_000 for c in chunks)
