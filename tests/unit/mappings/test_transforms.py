"""Named transforms: each one's reading and writing, and that nothing is lost without a word."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.records import System
from mappings import places
from mappings.transforms import (
    Context,
    Table,
    Value,
    get,
    parse_datetime,
    transform_names,
    truncate,
)

HS = Context(System.HUBSPOT)
SF = Context(System.SALESFORCE)
MOMENT = datetime(2026, 3, 1, 12, 30, 15, 123000, tzinfo=UTC)


def read(name: str, value: Value, ctx: Context = HS) -> tuple[Value, tuple[str, ...]]:
    result = get(name).read(value, ctx)
    return result.value, result.warnings


def write(name: str, value: Value, ctx: Context = SF) -> tuple[Value, tuple[str, ...]]:
    result = get(name).write(value, ctx)
    return result.value, result.warnings


def test_the_registry_names_every_transform() -> None:
    assert transform_names() == {
        "text", "email", "phone", "country", "state", "integer", "number", "boolean",
        "datetime", "date", "owner", "reason",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("name", "given", "expected"),
    [
        ("text", "  Acme Inc ", "Acme Inc"),
        ("text", "   ", None),
        ("text", None, None),
        ("text", 42, "42"),
        ("email", " Ada.Lovelace@Example.COM ", "ada.lovelace@example.com"),
        ("email", "", None),
        ("phone", "+1 (415) 555-0100", "+14155550100"),
        ("phone", "415.555.0100", "+14155550100"),
        ("phone", "1-415-555-0100", "+14155550100"),
        ("phone", "0049 30 1234567", "+49301234567"),
        ("phone", "+44 20 7946 0958 ext. 12", "+442079460958"),
        ("phone", "", None),
        ("country", "USA", "United States"),
        ("country", "US", "United States"),
        ("country", "u.s.a.", "United States"),
        ("country", "United States", "United States"),
        ("country", "Deutschland", "Germany"),
        ("country", "DE", "Germany"),
        ("country", "UK", "United Kingdom"),
        ("country", "CA", "Canada"),
        ("country", "South Korea", "Korea, Republic of"),
        ("country", "", None),
        ("state", "CA", "California"),
        ("state", "ny", "New York"),
        ("state", "Texas", "Texas"),
        ("state", "BC", "British Columbia"),
        ("state", "Québec", "Quebec"),
        ("state", "NSW", "New South Wales"),
        ("state", "São Paulo", "São Paulo"),
        ("state", " ", None),
        ("integer", "42", 42),
        ("integer", "42.0", 42),
        ("integer", 7, 7),
        ("integer", "", None),
        ("number", "3.5", 3.5),
        ("number", 2, 2.0),
        ("boolean", "true", True),
        ("boolean", "FALSE", False),
        ("boolean", True, True),
        ("boolean", "", None),
        ("datetime", "1772368215123", MOMENT),
        ("datetime", "2026-03-01T12:30:15.123Z", MOMENT),
        ("datetime", "2026-03-01T12:30:15.123+0000", MOMENT),
        ("datetime", "2026-03-01T13:30:15.123+01:00", MOMENT),
        ("datetime", "", None),
        ("date", "2026-03-01", datetime(2026, 3, 1, tzinfo=UTC)),
        ("date", "1772368215123", datetime(2026, 3, 1, tzinfo=UTC)),
    ],
)
def test_reading_gives_the_canonical_value_without_warnings(
    name: str, given: Value, expected: Value
) -> None:
    assert read(name, given) == (expected, ())


@pytest.mark.parametrize(
    ("name", "given", "expected", "warning"),
    [
        ("phone", "n/a", "n/a", "phone 'n/a' is not a recognisable number; kept as typed"),
        ("phone", "12345", "12345", "phone '12345' is not a recognisable number; kept as typed"),
        ("country", "Atlantis", "Atlantis",
         "country 'Atlantis' is not a known country name; kept as typed"),
        ("integer", "lots", None, "'lots' is not a number; dropped"),
        ("integer", "4.6", 5, "'4.6' rounded to 5"),
        ("number", "nan", None, "'nan' is not a number; dropped"),
        ("boolean", "maybe", None, "'maybe' is not true or false; dropped"),
        ("datetime", "next tuesday", None, "'next tuesday' is not a date and time; dropped"),
    ],
)  # fmt: skip
def test_what_cannot_be_kept_as_typed_is_reported(
    name: str, given: Value, expected: Value, warning: str
) -> None:
    assert read(name, given) == (expected, (warning,))


@pytest.mark.parametrize(
    ("name", "value", "hubspot", "salesforce"),
    [
        ("integer", 42, "42", 42),
        ("number", 2.0, "2", 2.0),
        ("number", 2.5, "2.5", 2.5),
        ("boolean", True, "true", True),
        ("boolean", False, "false", False),
        ("datetime", MOMENT, "1772368215123", "2026-03-01T12:30:15.123+0000"),
        ("date", MOMENT, "1772323200000", "2026-03-01"),
        ("text", "Acme", "Acme", "Acme"),
        ("email", "a@b.example", "a@b.example", "a@b.example"),
        ("integer", None, None, None),
    ],
)
def test_writing_speaks_each_systems_types(
    name: str, value: Value, hubspot: Value, salesforce: Value
) -> None:
    assert write(name, value, HS) == (hubspot, ())
    assert write(name, value, SF) == (salesforce, ())


@pytest.mark.parametrize("name", ["integer", "number", "boolean", "datetime", "date"])
@pytest.mark.parametrize("ctx", [HS, SF], ids=["hubspot", "salesforce"])
def test_scalars_round_trip_through_either_system(name: str, ctx: Context) -> None:
    canonical = {"integer": 42, "number": 2.5, "boolean": True, "datetime": MOMENT,
                 "date": datetime(2026, 3, 1, tzinfo=UTC)}[name]  # fmt: skip
    written, _ = write(name, canonical, ctx)
    assert read(name, written, ctx) == (canonical, ())


def test_a_datetime_without_a_transform_is_refused_for_writing() -> None:
    assert write("datetime", "2026", SF) == (None, ("'2026' is not a date and time; not written",))


def test_parse_datetime_treats_naive_times_as_utc() -> None:
    assert parse_datetime("2026-03-01T12:30:15.123") == MOMENT
    assert parse_datetime(datetime(2026, 3, 1, 12, 30, 15, 123000)) == MOMENT
    assert parse_datetime(True) is None


TABLES = {
    "picklist:lead_status": Table(read={"NEW": "new"}, write={"new": "NEW"}),
    "owner": Table(read={"77": "005A"}, write={"005A": "77"}),
    "reason": Table(read={"Bad Timing": "bad_timing"}, write={"bad_timing": "Bad Timing"}),
}
WITH_TABLES = Context(System.HUBSPOT, TABLES)


@pytest.mark.parametrize(
    ("name", "system_value", "canonical"),
    [
        ("picklist:lead_status", "NEW", "new"),
        ("owner", "77", "005A"),
        ("reason", "Bad Timing", "bad_timing"),
    ],
)  # fmt: skip
def test_tables_translate_both_ways(name: str, system_value: str, canonical: str) -> None:
    assert read(name, system_value, WITH_TABLES) == (canonical, ())
    assert write(name, canonical, WITH_TABLES) == (system_value, ())


def test_values_outside_a_table_are_reported_not_guessed() -> None:
    assert read("owner", "99", WITH_TABLES) == (
        None, ("owner '99' from hubspot is not in the dictionary",),
    )  # fmt: skip
    assert write("owner", "005Z", WITH_TABLES) == (
        None, ("owner '005Z' has no hubspot value; not written",),
    )  # fmt: skip


def test_a_missing_table_means_the_system_speaks_canonical_values() -> None:
    ctx = Context(System.SALESFORCE, {"owner": None})
    assert read("owner", "005A", ctx) == ("005A", ())
    assert write("owner", "005A", ctx) == ("005A", ())


def test_truncation_is_reported() -> None:
    assert truncate("abcdef", 4, label="Lead.Title").value == "abcd"
    assert truncate("abcdef", 4, label="Lead.Title").warnings == (
        "Lead.Title: 6 characters truncated to the limit of 4",
    )
    assert truncate("abc", 4, label="x").warnings == ()
    assert truncate(42, 1, label="x").value == 42


def test_truncation_counts_as_salesforce_does_and_never_splits_a_character() -> None:
    """Salesforce counts a character outside the BMP (an emoji, a rare kanji) as two, as
    Java's strings do (Salesforce help 005166849): a cut to the limit in code points could
    still be refused as STRING_TOO_LONG, and the handoff with it."""
    title = "🚀" * 3 + "abc"  # 9 UTF-16 units in 6 characters
    cut = truncate(title, 6, label="Lead.Title")
    assert cut.value == "🚀🚀🚀"
    assert cut.warnings == (
        "Lead.Title: 6 characters (9 as Salesforce counts them) truncated to the limit of 6",
    )
    odd = truncate("ab🚀cd", 3, label="x")  # the emoji would end half in: left out whole
    assert odd.value == "ab"
    assert truncate("🚀🚀", 4, label="x") == ("🚀🚀", ())
    assert truncate("é" * 5, 5, label="x") == ("é" * 5, ())  # in the BMP: one each
    assert truncate("a\ud83d" + "b" * 9, 2, label="x").value == "a\ud83d"  # a lone half: one


def test_state_codes_come_back_from_names() -> None:
    assert places.state_code("California") == "CA"
    assert places.state_code("New South Wales") == "NSW"
    assert places.state_code("Narnia") is None


# -- HubSpot's millisecond datetimes ----------------------------------------------------------

FIRST_MS = -62135596800000  # 0001-01-01T00:00:00Z
LAST_MS = 253402300799999  # 9999-12-31T23:59:59.999Z
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _hubspot_round_trip(ms: int) -> None:
    moment, warnings = read("datetime", str(ms))
    assert (moment, warnings) == (EPOCH + timedelta(milliseconds=ms), ())
    assert write("datetime", moment, HS) == (str(ms), ())
    assert read("datetime", write("datetime", moment, HS)[0]) == (moment, ())


def test_every_millisecond_around_a_value_that_lost_one_comes_back_as_read() -> None:
    for ms in range(2177054085101 - 1000, 2177054085101 + 1000):  # 2177054085101 wrote ...100
        _hubspot_round_trip(ms)


def test_milliseconds_across_every_year_come_back_as_read() -> None:
    for ms in range(FIRST_MS, LAST_MS, 9_999_999_999_937):  # a prime stride: every ms digit
        _hubspot_round_trip(ms)
    for ms in (FIRST_MS, LAST_MS, -1, 0, 1, 999, -1001):
        _hubspot_round_trip(ms)


@given(st.integers(FIRST_MS, LAST_MS))
def test_any_hubspot_datetime_round_trips(ms: int) -> None:
    _hubspot_round_trip(ms)


@given(
    st.datetimes(datetime(1700, 1, 1), datetime(4000, 12, 31), timezones=st.just(UTC)),
    st.sampled_from([HS, SF]),
)  # Salesforce keeps datetimes from 1700 to 4000
def test_a_datetime_written_to_either_system_reads_back_to_the_millisecond(
    when: datetime, ctx: Context
) -> None:
    whole_ms = when.replace(microsecond=when.microsecond // 1000 * 1000)
    written, _ = write("datetime", when, ctx)
    assert read("datetime", written, ctx) == (whole_ms, ())
    assert write("datetime", whole_ms, ctx) == (written, ())  # written once, stable after


def test_a_moment_before_1970_is_written_to_the_millisecond_it_falls_in() -> None:
    moment = datetime(1969, 12, 31, 23, 59, 59, 999500, tzinfo=UTC)
    assert write("datetime", moment, HS) == ("-1", ())  # not "0": that is half a ms later
    assert write("datetime", moment, SF) == ("1969-12-31T23:59:59.999+0000", ())


# -- integers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("12345678901234567890", 12345678901234567890),
        ("-12345678901234567890", -12345678901234567890),
        ("9007199254740993", 9007199254740993),  # 2**53 + 1: the first integer a float misses
        pytest.param("9" * 300, int("9" * 300), id="300 nines"),
        ("1e3", 1000),
        ("1_000", 1000),
        (" 42 ", 42),
        ("-0", 0),
        (12345678901234567890, 12345678901234567890),
        (80.0, 80),
        (1.2345678901234567e19, 12345678901234567168),  # a float from Salesforce: its value
    ],
)
def test_an_integer_keeps_every_digit(given: Value, expected: int) -> None:
    assert read("integer", given) == (expected, ())


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("81.5", 82), ("80.5", 81), ("0.5", 1), ("-81.5", -82), ("2.4999", 2), ("1e-3", 0),
        ("12345678901234567890.5", 12345678901234567891), (81.5, 82), (2.675, 3),
    ],
)  # fmt: skip
def test_a_fraction_rounds_half_up_and_says_so(given: Value, expected: int) -> None:
    assert read("integer", given) == (expected, (f"'{given}' rounded to {expected}",))


@pytest.mark.parametrize(
    "given", ["nan", "inf", "-Infinity", "sNaN", "1e400", "-1e309", "9" * 5000, "1,234", "0x10",
              float("nan"), float("inf")],
)  # fmt: skip
def test_what_is_no_storable_integer_is_dropped_and_said(given: Value) -> None:
    assert read("integer", given) == (None, (f"'{given}' is not a number; dropped",))


@given(
    st.one_of(
        st.integers(-(10**40), 10**40).map(str),
        st.decimals(allow_nan=True, allow_infinity=True).map(str),
        st.floats(),
        st.text(alphabet="0123456789.-+eE _", max_size=12),
    )
)
def test_reading_an_integer_again_changes_nothing(given: str | float) -> None:
    once, _ = read("integer", given)
    for ctx in (HS, SF):
        written, _ = write("integer", once, ctx)
        assert read("integer", written, ctx) == (once, ())


# -- moments no datetime holds ----------------------------------------------------------------

OUT_OF_RANGE: list[Value] = [
    "253402300800000",  # 10000-01-01: one ms past year 9999
    "-62135596800001",  # one ms before year 1
    "12345678901234567890",
    "9" * 400,
    "²",  # a digit to str.isdigit, not to int()
    "nan",
    "0001-01-01T00:00:00+01:00",  # UTC is in year 0
    "9999-12-31T23:59:59-01:00",  # UTC is in year 10000
    float("nan"),
    float("inf"),
    10**20,
    1e300,
]


@pytest.mark.parametrize("value", OUT_OF_RANGE)
@pytest.mark.parametrize("name", ["datetime", "date"])
def test_a_moment_no_datetime_holds_is_dropped_and_said(name: str, value: Value) -> None:
    assert parse_datetime(value) is None
    dropped = (None, (f"'{value}' is not a date and time; dropped",))
    assert read(name, value) == dropped
    assert read(name, value, SF) == dropped


@given(
    st.one_of(
        st.integers(),
        st.floats(),
        st.text(max_size=30),
        st.text(alphabet="0123456789-", min_size=13, max_size=21),
        st.datetimes(timezones=st.just(UTC)),
    )
)
def test_reading_anything_as_a_datetime_never_raises_and_a_round_trip_is_stable(
    value: Value,
) -> None:
    moment, warnings = read("datetime", value)
    assert moment is None or isinstance(moment, datetime)
    if moment is None and not (isinstance(value, str) and not value.strip()):
        assert warnings == (f"'{value}' is not a date and time; dropped",)
    for ctx in (HS, SF):
        once = read("datetime", write("datetime", moment, ctx)[0], ctx)[0]
        assert read("datetime", write("datetime", once, ctx)[0], ctx)[0] == once
