"""Settings validation, the object table, and wire-format conversion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connectors.errors import ConfigError
from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.convert import from_ms, merge_stubs, parse_time, to_ms, to_record
from connectors.hubspot.objects import CONTACTS, DEALS, OBJECTS, spec_for
from connectors.hubspot.reader import plan_window
from connectors.hubspot.settings import HubSpotSettings, load_settings

ENV = ("ACCESS_TOKEN", "CLIENT_ID", "CLIENT_SECRET", "REFRESH_TOKEN", "BASE_URL")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in ENV:
        monkeypatch.delenv(f"BATON_HUBSPOT_{name}", raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_given_a_private_app_token_in_the_environment_then_settings_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BATON_HUBSPOT_ACCESS_TOKEN", "pat-na1-abc-123")
    monkeypatch.setenv("BATON_HUBSPOT_BASE_URL", "http://127.0.0.1:8911")
    settings = load_settings()
    assert settings.base_url == "http://127.0.0.1:8911"
    assert not settings.uses_oauth
    assert "pat-na1-abc-123" not in repr(settings)


def test_given_no_credentials_then_config_error_names_the_settings() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "BATON_HUBSPOT_ACCESS_TOKEN" in str(err.value)
    assert "BATON_HUBSPOT_REFRESH_TOKEN" in str(err.value)


def test_given_half_an_oauth_setup_then_the_missing_pieces_are_named() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(client_id="abc")
    text = str(err.value)
    assert "BATON_HUBSPOT_CLIENT_SECRET" in text
    assert "BATON_HUBSPOT_REFRESH_TOKEN" in text
    assert "BATON_HUBSPOT_CLIENT_ID," not in text


def test_given_a_bad_number_then_the_setting_is_named() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(access_token="t", budget_fraction=1.5)
    assert err.value.setting == "BATON_HUBSPOT_BUDGET_FRACTION"


@pytest.mark.parametrize("name", ["base_url", "webhook_url"])
def test_given_a_url_without_its_scheme_then_the_setting_is_named(name: str) -> None:
    with pytest.raises(ConfigError, match="not an http") as err:
        load_settings(access_token="t", **{name: "api.hubapi.com"})
    assert err.value.setting == f"BATON_HUBSPOT_{name.upper()}"


def test_given_oauth_settings_then_secrets_are_listed_for_redaction() -> None:
    settings = HubSpotSettings(client_id="c", client_secret="s3cret-value", refresh_token="r-tok")
    assert settings.uses_oauth
    assert set(settings.secrets()) == {"s3cret-value", "r-tok"}


def test_the_burst_limit_is_the_apps_an_oauth_app_gets_110() -> None:
    """HubSpot's burst limit applies per app: 190 / 10 s for a private app on Professional or
    Enterprise, 110 for a marketplace OAuth app (hubspot-api.md §6). The connector's own
    budget paces at the app's limit from the first call; a set limit wins."""
    oauth = HubSpotSettings(client_id="c", client_secret="s", refresh_token="r")
    private = HubSpotSettings(access_token="pat-na1-x")
    for settings, limit in ((oauth, 110), (private, 190)):
        budget = HubSpotConnector(settings).budget.snapshot()
        assert budget.buckets["default"].limit == limit
        assert budget.buckets["default"].rate <= limit / 10
    set_limit = HubSpotSettings(
        client_id="c", client_secret="s", refresh_token="r", limit_per_10s=250
    )
    assert HubSpotConnector(set_limit).budget.snapshot().buckets["default"].limit == 250


def test_the_object_table_states_each_modified_property() -> None:
    assert {s.name: s.modified for s in OBJECTS} == {
        "contacts": "lastmodifieddate",
        "companies": "hs_lastmodifieddate",
        "deals": "hs_lastmodifieddate",
    }
    assert spec_for("0-1") is CONTACTS
    assert spec_for("contact") is CONTACTS
    assert spec_for("DEALS") is DEALS
    with pytest.raises(ConfigError, match="tickets"):
        spec_for("tickets")
    props = CONTACTS.read_properties(("custom_x",))
    assert props[-4:] == ["custom_x", "lastmodifieddate", "hs_object_id", "hs_merged_object_ids"]
    assert len(props) == len(set(props))


def test_timestamps_round_trip_in_milliseconds() -> None:
    moment = parse_time("2019-10-30T03:30:17.883Z")
    assert moment == datetime(2019, 10, 30, 3, 30, 17, 883000, tzinfo=UTC)
    assert moment is not None
    assert from_ms(to_ms(moment)) == moment
    assert parse_time("1572406217883") == moment
    assert parse_time("") is None
    assert parse_time("not a date") is None
    assert parse_time("99999999999999999") is None  # past year 9999: no time, not a crash
    assert parse_time(10**15) is None
    with pytest.raises(ValueError):
        to_ms(datetime(2020, 1, 1))


def test_archived_records_are_deleted_and_merged_ids_become_stubs() -> None:
    raw = {
        "id": "7",
        "properties": {"email": "a@b.c", "lastmodifieddate": "2024-01-01T00:00:00Z",
                       "hs_merged_object_ids": "3;5"},
        "archived": True,
        "archivedAt": "2024-02-01T00:00:00Z",
    }  # fmt: skip
    record = to_record(CONTACTS, raw)
    assert record.deleted
    assert record.modified_at == datetime(2024, 2, 1, tzinfo=UTC)
    stubs = list(merge_stubs(record))
    assert [(s.key.id, s.merged_into, s.deleted) for s in stubs] == [
        ("3", "7", True),
        ("5", "7", True),
    ]


def test_a_contacts_additional_emails_are_read_as_its_other_emails() -> None:
    """Read with every listing and search (no call of their own), as HubSpot keeps them: a
    merge leaves the merged-away contact's address there."""
    assert "hs_additional_emails" in CONTACTS.read_properties()
    raw = {
        "id": "7",
        "properties": {
            "email": "alice@example.com",
            "hs_additional_emails": "Bob@Example.com; b@example.com;;",
        },
        "updatedAt": "2024-01-01T00:00:00Z",
    }
    assert to_record(CONTACTS, raw).other_emails == ("Bob@Example.com", "b@example.com")
    archived = {**raw, "archived": True, "archivedAt": "2024-02-01T00:00:00Z"}
    assert to_record(CONTACTS, archived).other_emails == ()  # HubSpot frees them
    plain = {"id": "8", "properties": {"email": "x@example.com"}}
    assert to_record(CONTACTS, plain).other_emails == ()


def test_the_window_has_a_fixed_upper_bound_and_a_lookback() -> None:
    now = datetime(2025, 1, 1, 12, tzinfo=UTC)
    cursor = now - timedelta(hours=1)
    since, until = plan_window(cursor, now=now)
    assert until == now - timedelta(seconds=30)
    assert since == cursor - timedelta(minutes=5)
    assert plan_window(None, now=now)[0] is None
    since, until = plan_window(now, now=now, lookback=timedelta(0))
    assert since == until  # a cursor past the bound never widens the window upward


def test_the_public_surface_is_exactly_the_intended_one() -> None:
    import connectors.hubspot as package

    public = {name for name in vars(package) if not name.startswith("_")}
    modules = {
        "auth", "connector", "convert", "objects", "properties", "reader", "sdk", "settings",
        "webhooks", "writer",
    }  # fmt: skip
    assert public - modules - {"annotations"} == set(package.__all__)
