"""`PUT /_sandbox/faults`, an admin route both imitations share, refuses a plan it cannot honour."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sandbox.hubspot import HubSpotOptions, HubSpotSandbox
from sandbox.salesforce import SalesforceOptions, SalesforceSandbox
from sandbox.shared.faults import FaultPlan
from sandbox.shared.server import Listener, serve_in_thread
from sandbox.shared.tls import ensure_tls_files


@pytest.fixture(scope="module", params=["hubspot", "salesforce"])
def admin(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    """An HTTP client on one served imitation's admin routes."""
    if request.param == "hubspot":
        listener = Listener(HubSpotSandbox(HubSpotOptions(rate_limits=False)).app)
        verify: ssl.SSLContext | bool = True
    else:
        tls = ensure_tls_files(Path(tmp_path_factory.mktemp("salesforce")))
        listener = Listener(SalesforceSandbox(SalesforceOptions(rate_limits=False)).app, tls=tls)
        verify = ssl.create_default_context(cafile=str(tls.ca_cert))
    with serve_in_thread([listener]), httpx.Client(base_url=listener.url, verify=verify) as http:
        yield http


def test_a_misspelt_key_is_refused_naming_it_and_the_known_keys(admin: httpx.Client) -> None:
    before = admin.get("/_sandbox/faults").json()["plan"]
    refused = admin.put("/_sandbox/faults", json={"next_rate_limt": 1, "slow_rate": 0.5})
    assert refused.status_code == 400
    body = refused.json()
    said = str(body.get("message", body.get("detail")))
    assert "next_rate_limt" in said
    assert all(known in said for known in FaultPlan.model_fields)
    assert admin.get("/_sandbox/faults").json()["plan"] == before  # nothing of it was applied


def test_a_plan_of_known_keys_is_taken(admin: httpx.Client) -> None:
    taken = admin.put("/_sandbox/faults", json={"next_rate_limit": 2})
    assert taken.status_code == 200
    assert taken.json()["plan"]["next_rate_limit"] == 2
    assert admin.delete("/_sandbox/faults").status_code == 204
