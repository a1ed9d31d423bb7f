"""Settings validation names the setting and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.errors import ConfigError
from connectors.salesforce.settings import load_settings


def test_environment_prefix_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATON_SALESFORCE_CLIENT_ID", "cid")
    monkeypatch.setenv("BATON_SALESFORCE_CLIENT_SECRET", "csecret-value")
    monkeypatch.setenv("BATON_SALESFORCE_BULK_THRESHOLD", "500")

    settings = load_settings()

    assert settings.client_id == "cid"
    assert settings.bulk_threshold == 500
    assert settings.auth == "client_credentials"
    assert settings.api_version == "59.0"
    assert "csecret-value" not in repr(settings)
    assert settings.secrets() == ("csecret-value",)


def test_the_webhook_token_is_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """It stands in for a signature: kept out of reprs, and registered for redaction."""
    monkeypatch.setenv("BATON_SALESFORCE_CLIENT_ID", "cid")
    monkeypatch.setenv("BATON_SALESFORCE_CLIENT_SECRET", "csecret-value")
    monkeypatch.setenv("BATON_SALESFORCE_WEBHOOK_TOKEN", " hook-token-value\r\n")

    settings = load_settings()

    assert settings.webhook_token is not None
    assert settings.webhook_token.get_secret_value() == "hook-token-value"
    assert "hook-token-value" not in repr(settings)
    assert settings.secrets() == ("csecret-value", "hook-token-value")


@pytest.mark.parametrize(
    ("values", "setting", "fix"),
    [
        ({"auth": "jwt_bearer", "client_id": "c", "username": "u"}, "PRIVATE_KEY_FILE", "needs"),
        ({"auth": "jwt_bearer", "client_id": "c"}, "USERNAME", "needs"),
        ({"auth": "client_credentials", "client_id": "c"}, "CLIENT_SECRET", "needs"),
        ({"auth": "refresh_token", "client_id": "c"}, "REFRESH_TOKEN", "needs"),
        ({"client_id": "c", "client_secret": "s", "login_url": "http://x"}, "LOGIN_URL", "https"),
        (
            {"client_id": "c", "client_secret": "s", "api_version": "v59.0"},
            "API_VERSION",
            "without 'v', e.g. '59.0'",
        ),
        (  # the example given is one the check accepts
            {"client_id": "c", "client_secret": "s", "api_version": "v59"},
            "API_VERSION",
            "without 'v', e.g. '59.0'",
        ),
        ({"client_id": "c", "client_secret": "s", "org_id": "001abc"}, "ORG_ID", "00D"),
        ({"client_id": "c", "client_secret": "s", "auth": "magic"}, "AUTH", "client_credentials"),
    ],
)
def test_bad_settings_name_the_setting_and_the_fix(
    values: dict[str, object], setting: str, fix: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(**values)
    assert info.value.setting == f"BATON_SALESFORCE_{setting}"
    assert fix in info.value.fix


@pytest.mark.parametrize("name", ["ca_file", "private_key_file"])
def test_a_missing_pem_file_names_its_own_setting(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match="no file at") as info:
        load_settings(client_id="c", client_secret="s", **{name: tmp_path / "nope.pem"})
    assert info.value.setting == f"BATON_SALESFORCE_{name.upper()}"


@pytest.mark.parametrize("blank", ["", " "])
@pytest.mark.parametrize("name", ["CA_FILE", "PRIVATE_KEY_FILE"])
def test_a_blank_pem_file_setting_is_unset(
    monkeypatch: pytest.MonkeyPatch, name: str, blank: str
) -> None:
    """`BATON_SALESFORCE_CA_FILE=` means the system's trust store, not a file named '.'."""
    monkeypatch.setenv("BATON_SALESFORCE_CLIENT_ID", "cid")
    monkeypatch.setenv("BATON_SALESFORCE_CLIENT_SECRET", "csecret-value")
    monkeypatch.setenv(f"BATON_SALESFORCE_{name}", blank)

    settings = load_settings()

    assert getattr(settings, name.lower()) is None


@pytest.mark.parametrize(
    "token", ["abc+def0123", "abc/def0123", "abcdef0123==", "abc def", "a%20b"]
)
def test_a_webhook_token_a_url_query_would_change_is_refused(token: str) -> None:
    """parse_qs reads '+' as a space (and '%' as an escape): such a token loads, then every
    Outbound Message is refused 401. Refused at start-up instead, without echoing it."""
    with pytest.raises(ConfigError) as info:
        load_settings(client_id="c", client_secret="s", webhook_token=token)
    assert info.value.setting == "BATON_SALESFORCE_WEBHOOK_TOKEN"
    assert "openssl rand -hex 24" in info.value.fix
    assert "A-Z a-z 0-9 . _ ~ -" in info.value.fix
    assert token.strip() not in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("token", ["0f3a9c" * 8, "Ab0-_.~z" * 2, "tok_en-URLsafe-01"])
def test_a_webhook_token_of_unreserved_characters_is_kept(token: str) -> None:
    settings = load_settings(client_id="c", client_secret="s", webhook_token=token)
    assert settings.webhook_token is not None
    assert settings.webhook_token.get_secret_value() == token


@pytest.mark.parametrize("token", ["a1", "0f3a9c0f3a9c0f3"])
def test_a_webhook_token_short_enough_to_guess_is_refused(token: str) -> None:
    """Nothing limits failed guesses at the webhook route: a token shorter than 16 characters
    is refused at start-up, without echoing it."""
    with pytest.raises(ConfigError) as info:
        load_settings(client_id="c", client_secret="s", webhook_token=token)
    assert info.value.setting == "BATON_SALESFORCE_WEBHOOK_TOKEN"
    assert "at least 16 characters" in info.value.fix
    assert token not in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "proxyuser:PROXYPASSzzz@127.0.0.1:3128",  # the scheme forgotten
        "socks9://proxyuser:PROXYPASSzzz@127.0.0.1:3128",
        "http://proxyuser:PROXYPASSzzz@:3128",  # no host
        "http://proxyuser:PROXYPASSzzz@proxy:31x8",  # a port that is no number
    ],
)
def test_a_malformed_proxy_url_is_refused_without_repeating_it(url: str) -> None:
    """httpx would refuse it on every call, with the URL (password and all) in the error that
    reaches the runs table, `/readyz` and the dashboard."""
    with pytest.raises(ConfigError) as info:
        load_settings(client_id="c", client_secret="s", proxy_url=url)
    assert info.value.setting == "BATON_SALESFORCE_PROXY_URL"
    assert "http://host:port" in info.value.fix or "port" in info.value.fix
    assert "PROXYPASSzzz" not in str(info.value)


def test_a_proxy_url_without_a_port_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(client_id="c", client_secret="s", proxy_url="http://proxy.example.com")
    assert "give the proxy's port" in info.value.fix


def test_a_proxy_urls_password_is_a_secret_as_written_and_decoded() -> None:
    settings = load_settings(
        client_id="c", client_secret="s", proxy_url=" http://ops:pa%40ss-word9@proxy:3128 "
    )
    assert settings.proxy_url == "http://ops:pa%40ss-word9@proxy:3128"
    assert "pa%40ss-word9" in settings.secrets()
    assert "pa@ss-word9" in settings.secrets()
    assert load_settings(client_id="c", client_secret="s", proxy_url="  ").proxy_url is None
