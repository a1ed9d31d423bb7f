"""Admin routes: seeding and resetting a portal, request counts under route templates."""

from __future__ import annotations

import httpx

from sandbox.hubspot import HubSpotOptions, HubSpotSandbox
from sandbox.shared.server import Listener, serve_in_thread


def test_seed_stats_and_reset_over_admin_routes() -> None:
    box = HubSpotSandbox(HubSpotOptions(rate_limits=False))
    listener = Listener(box.app)
    auth = {"Authorization": f"Bearer {box.options.access_token}"}
    with serve_in_thread([listener]), httpx.Client(base_url=listener.url) as http:
        assert http.post("/_sandbox/seed", json={"contacts": 120, "seed": 9}).status_code == 204
        found = http.post("/crm/v3/objects/contacts/search", json={}, headers=auth).json()
        assert found["total"] == 120
        http.post("/crm/v3/objects/contacts", json={"properties": {}}, headers=auth)
        stats = http.get("/_sandbox/stats").json()
        assert stats["by_route"]["POST /crm/v3/objects/{object_type}/search"] == 1
        assert stats["writes"] == 1
        assert http.post("/_sandbox/reset").status_code == 204
        after = http.post("/crm/v3/objects/contacts/search", json={}, headers=auth).json()
        assert after["total"] == 0
        assert http.get("/_sandbox/stats").json()["writes"] == 0
        props = http.get("/crm/v3/properties/contacts/lifecyclestage", headers=auth).json()
        assert len(props["options"]) == 8  # reset drops the seeded custom stage
