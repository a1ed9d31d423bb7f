"""Every auth mode against the imitation's token endpoint, then a real query with the token."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.errors import AuthError, ConfigError
from tests.contract.salesforce.conftest import Served


def _key_file(tmp_path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "jwt.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def _refresh_token(served: Served) -> str:
    options = served.box.options
    with served.admin() as http:
        reply = http.post(
            "/services/oauth2/token",
            data={
                "grant_type": "password",
                "client_id": options.client_id,
                "client_secret": options.client_secret,
                "username": options.username,
                "password": options.password,
            },
        )
    reply.raise_for_status()
    token: str = reply.json()["refresh_token"]
    return token


@pytest.mark.parametrize("mode", ["client_credentials", "password", "jwt_bearer", "refresh_token"])
def test_each_auth_mode_gets_a_session_that_reads(
    served: Served, tmp_path: Path, mode: str
) -> None:
    options = served.box.options
    extra: dict[str, object] = {"auth": mode}
    if mode == "password":
        extra |= {"username": options.username, "password": options.password}
    if mode == "jwt_bearer":
        extra |= {"username": options.username, "private_key_file": _key_file(tmp_path)}
    if mode == "refresh_token":
        extra |= {"refresh_token": _refresh_token(served)}
    connector = served.connector(**extra)
    try:
        some = served.box.find("Lead", limit=2)
        records = connector.read_by_ids("Lead", [row["Id"] for row in some])
    finally:
        connector.close()
    assert len(records) == 2


def test_a_wrong_secret_is_an_auth_error(served: Served) -> None:
    connector = served.connector(client_secret="not-the-secret")
    try:
        with pytest.raises(AuthError) as info:
            connector.describe("Lead")
    finally:
        connector.close()
    assert info.value.vendor_code == "invalid_client"
    assert "not-the-secret" not in str(info.value)


def test_a_wrong_client_id_is_a_config_error_naming_the_setting(served: Served) -> None:
    connector = served.connector(client_id="3MVG9unknown")
    try:
        with pytest.raises(ConfigError) as info:
            connector.describe("Lead")
    finally:
        connector.close()
    assert info.value.setting == "BATON_SALESFORCE_CLIENT_ID"
