"""Token grants over httpx, checked with respx: every auth mode, every error shape."""

from __future__ import annotations

import base64
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
import respx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.errors import AuthError, ConfigError, TransientError
from connectors.salesforce.auth import JWT_GRANT, TokenClient
from connectors.salesforce.settings import SalesforceSettings

LOGIN = "https://login.example.my.salesforce.com"
TOKEN_URL = f"{LOGIN}/services/oauth2/token"
SECRET = "super-secret-consumer-value"
OK = {
    "access_token": "00Dxx0000001gPL!AR8AQJXg5oj8jXSgxJfA0lBog.39AsX.LVpxezPwuX5VAIrrbbHMuol7",
    "instance_url": "https://acme.my.salesforce.com",
    "id": "https://login.salesforce.com/id/00Dxx0000001gPLEAY/005xx000001SwiUAAS",
    "token_type": "Bearer",
    "issued_at": "1278448832702",
    "signature": "0CmxinZir53Yex7nE0TD+zMpvIWYGb/bdJh6XfOH6EQ=",
}


def _settings(**values: object) -> SalesforceSettings:
    base: dict[str, object] = {"login_url": LOGIN, "client_id": "3MVG9consumer"}
    base.update(values)
    return SalesforceSettings(**base)  # type: ignore[arg-type]


def _form(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


@respx.mock
def test_client_credentials_sends_basic_auth_and_returns_the_token() -> None:
    route = respx.post(TOKEN_URL).mock(return_value=httpx.Response(200, json=OK))

    token = TokenClient(_settings(client_secret=SECRET)).grant()

    assert token.access_token == OK["access_token"]
    assert token.instance_url == "https://acme.my.salesforce.com"
    request = route.calls.last.request
    expected = base64.b64encode(f"3MVG9consumer:{SECRET}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    assert _form(request) == {"grant_type": "client_credentials"}
    assert SECRET not in repr(token)
    assert OK["access_token"] not in repr(token)


def _rsa_pem(tmp_path: Path) -> tuple[Path, rsa.RSAPublicKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path = tmp_path / "key.pem"
    path.write_bytes(pem)
    return path, key.public_key()


@respx.mock
def test_jwt_bearer_signs_an_rs256_assertion_with_the_documented_claims(tmp_path: Path) -> None:
    key_file, public = _rsa_pem(tmp_path)
    route = respx.post(TOKEN_URL).mock(return_value=httpx.Response(200, json=OK))
    settings = _settings(
        auth="jwt_bearer", username="integration@acme.com", private_key_file=key_file
    )

    TokenClient(settings, clock=lambda: 1_700_000_000.0).grant()

    form = _form(route.calls.last.request)
    assert form["grant_type"] == JWT_GRANT
    claims = jwt.decode(
        form["assertion"],
        public,
        algorithms=["RS256"],
        audience="https://login.salesforce.com",
        options={"verify_exp": False},
    )
    assert claims == {
        "iss": "3MVG9consumer",
        "sub": "integration@acme.com",
        "aud": "https://login.salesforce.com",
        "exp": 1_700_000_180,
    }


def test_jwt_bearer_with_a_key_that_is_not_rsa_is_a_config_error() -> None:
    settings = _settings(auth="jwt_bearer", username="u@acme.com", private_key="not a pem key")
    with pytest.raises(ConfigError, match="PRIVATE_KEY"):
        TokenClient(settings).grant()


@respx.mock
def test_refresh_token_grant() -> None:
    route = respx.post(TOKEN_URL).mock(return_value=httpx.Response(200, json=OK))
    settings = _settings(auth="refresh_token", refresh_token="5Aep861refresh", client_secret=SECRET)

    TokenClient(settings).grant()

    assert _form(route.calls.last.request) == {
        "grant_type": "refresh_token",
        "client_id": "3MVG9consumer",
        "client_secret": SECRET,
        "refresh_token": "5Aep861refresh",
    }


@respx.mock
def test_password_grant_appends_the_security_token() -> None:
    route = respx.post(TOKEN_URL).mock(return_value=httpx.Response(200, json=OK))
    settings = _settings(
        auth="password",
        client_secret=SECRET,
        username="u@acme.com",
        password="pa&ss word",
        security_token="TOKEN123",
    )

    TokenClient(settings).grant()

    form = _form(route.calls.last.request)
    assert form["grant_type"] == "password"
    assert form["password"] == "pa&ss wordTOKEN123"
    assert form["username"] == "u@acme.com"


@respx.mock
def test_instance_url_setting_overrides_the_token_response() -> None:
    respx.post(TOKEN_URL).mock(return_value=httpx.Response(200, json=OK))
    settings = _settings(client_secret=SECRET, instance_url="https://proxy.internal:8443/")

    assert TokenClient(settings).grant().instance_url == "https://proxy.internal:8443"


@respx.mock
def test_refused_grant_is_an_auth_error_with_the_vendors_words_and_no_secret() -> None:
    respx.post(TOKEN_URL).mock(
        return_value=httpx.Response(
            400, json={"error": "invalid_grant", "error_description": "authentication failure"}
        )
    )
    settings = _settings(
        auth="password", client_secret=SECRET, username="u", password="hunter2-pass"
    )

    with pytest.raises(AuthError) as info:
        TokenClient(settings).grant()

    text = str(info.value)
    assert info.value.vendor_code == "invalid_grant"
    assert "password grant" in text
    assert "authentication failure" in text
    assert SECRET not in text
    assert "hunter2-pass" not in text
    assert not isinstance(info.value, ConfigError)


@respx.mock
def test_unsupported_grant_type_is_a_config_error_naming_the_setting() -> None:
    respx.post(TOKEN_URL).mock(
        return_value=httpx.Response(
            400,
            json={
                "error": "unsupported_grant_type",
                "error_description": "grant type not supported",
            },
        )
    )
    with pytest.raises(ConfigError) as info:
        TokenClient(_settings(client_secret=SECRET)).grant()
    assert info.value.setting == "BATON_SALESFORCE_AUTH"


@respx.mock
def test_server_errors_and_dropped_connections_are_transient() -> None:
    respx.post(TOKEN_URL).mock(
        side_effect=[httpx.Response(503, text="down"), httpx.ConnectError("x")]
    )
    client = TokenClient(_settings(client_secret=SECRET))
    with pytest.raises(TransientError):
        client.grant()
    with pytest.raises(TransientError) as info:
        client.grant()
    assert info.value.unprocessed


@respx.mock
def test_a_success_without_a_token_is_an_auth_error() -> None:
    respx.post(TOKEN_URL).mock(return_value=httpx.Response(200, json={"id": "x"}))
    with pytest.raises(AuthError, match="without an access token"):
        TokenClient(_settings(client_secret=SECRET)).grant()


@pytest.mark.parametrize(
    ("login_url", "audience", "expected"),
    [
        ("https://acme.my.salesforce.com", None, "https://login.salesforce.com"),
        ("https://test.salesforce.com", None, "https://test.salesforce.com"),
        ("https://acme--uat.sandbox.my.salesforce.com", None, "https://test.salesforce.com"),
        ("https://acme.my.salesforce.com", "https://acme.my.site.com", "https://acme.my.site.com"),
    ],
)
def test_jwt_audience_is_login_or_test_never_my_domain(
    login_url: str, audience: str | None, expected: str
) -> None:
    settings = _settings(
        login_url=login_url,
        auth="jwt_bearer",
        username="u",
        private_key="k",
        jwt_audience=audience,
    )
    assert settings.jwt_aud() == expected
