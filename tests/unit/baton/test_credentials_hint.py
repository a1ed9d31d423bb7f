"""A refused Salesforce token grant names the settings of the auth mode that ran, not another's."""

from __future__ import annotations

import httpx
import pytest
import respx

from baton.daemon import one_line
from connectors.errors import AuthError
from connectors.salesforce.auth import TokenClient
from connectors.salesforce.settings import SalesforceSettings

LOGIN = "https://login.example.my.salesforce.com"
REFUSED = {"error": "invalid_grant", "error_description": "authentication failure"}


@pytest.mark.parametrize(
    ("values", "hint"),
    [
        (
            {"auth": "refresh_token", "refresh_token": "5Aep861refresh"},
            "; check BATON_SALESFORCE_CLIENT_ID and BATON_SALESFORCE_REFRESH_TOKEN, and "
            "BATON_SALESFORCE_CLIENT_SECRET if set or the connected app requires it "
            "(BATON_SALESFORCE_AUTH=refresh_token)",
        ),
        (
            # the grant sends the consumer secret when it is set: a wrong one is refused too
            {
                "auth": "refresh_token",
                "refresh_token": "5Aep861refresh",
                "client_secret": "consumer-secret",
            },
            "; check BATON_SALESFORCE_CLIENT_ID and BATON_SALESFORCE_REFRESH_TOKEN, and "
            "BATON_SALESFORCE_CLIENT_SECRET if set or the connected app requires it "
            "(BATON_SALESFORCE_AUTH=refresh_token)",
        ),
        (
            {"client_secret": "consumer-secret"},
            "; check BATON_SALESFORCE_CLIENT_ID and BATON_SALESFORCE_CLIENT_SECRET "
            "(BATON_SALESFORCE_AUTH=client_credentials)",
        ),
        (
            {
                "auth": "password",
                "client_secret": "consumer-secret",
                "username": "u@acme.com",
                "password": "pw",
                # appended to the password by the grant: a wrong one is refused as a bad login
                "security_token": "sectok123456",
            },
            "; check BATON_SALESFORCE_CLIENT_ID, BATON_SALESFORCE_CLIENT_SECRET, "
            "BATON_SALESFORCE_USERNAME and BATON_SALESFORCE_PASSWORD, and "
            "BATON_SALESFORCE_SECURITY_TOKEN if set (BATON_SALESFORCE_AUTH=password)",
        ),
    ],
)
@respx.mock
def test_a_refused_grant_names_its_modes_settings(values: dict[str, str], hint: str) -> None:
    respx.post(f"{LOGIN}/services/oauth2/token").mock(
        return_value=httpx.Response(400, json=REFUSED)
    )
    settings = SalesforceSettings(login_url=LOGIN, client_id="3MVG9consumer", **values)  # type: ignore[arg-type]
    with pytest.raises(AuthError) as refused:
        TokenClient(settings).grant()
    line = one_line(refused.value)
    assert line.endswith(hint), line
    assert line.count("; check") == 1


def test_other_refusals_keep_the_systems_general_hint() -> None:
    line = one_line(AuthError("INVALID_AUTH_HEADER", system="salesforce", operation="Lead.query"))
    assert line.endswith("(or what BATON_SALESFORCE_AUTH needs)")
    line = one_line(AuthError("expired", system="hubspot"))
    assert line.endswith(
        "; check BATON_HUBSPOT_ACCESS_TOKEN (or the OAuth client and refresh token)"
    )
