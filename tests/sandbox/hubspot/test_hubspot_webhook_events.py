"""Which webhook events writes announce, and one real signed delivery end to end."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import httpx
from fastapi import FastAPI, Request
from hubspot.utils.signature import Signature

from sandbox.hubspot import HubSpotOptions, HubSpotSandbox
from sandbox.shared.server import Listener, serve_in_thread


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, int, dict[str, Any]]] = []

    def emit(
        self,
        subscription_type: str,
        object_id: int,
        *,
        property_name: str | None = None,
        property_value: str | None = None,
        change_source: str = "API",
        extra: Mapping[str, object] | None = None,
    ) -> None:
        detail = {"source": change_source, **(extra or {})}
        if property_name:
            detail[property_name] = property_value
        self.events.append((subscription_type, object_id, detail))

    async def run(self) -> None:
        return None


def test_writes_announce_hubspot_events() -> None:
    box = HubSpotSandbox(HubSpotOptions(rate_limits=False))
    recorder = Recorder()
    box.crm.events = recorder
    listener = Listener(box.app)
    with (
        serve_in_thread([listener]),
        httpx.Client(
            base_url=listener.url, headers={"Authorization": f"Bearer {box.options.access_token}"}
        ) as http,
    ):
        a = http.post("/crm/v3/objects/contacts", json={"properties": {"email": "a@x.io"}}).json()
        b = http.post("/crm/v3/objects/contacts", json={"properties": {"email": "b@x.io"}}).json()
        co = http.post("/crm/v3/objects/companies", json={"properties": {"name": "C"}}).json()
        http.patch(
            f"/crm/v3/objects/contacts/{a['id']}",
            json={"properties": {"firstname": "A", "lastname": "Z"}},
        )
        http.put(f"/crm/v4/objects/contacts/{a['id']}/associations/default/companies/{co['id']}")
        http.post(
            "/crm/v3/objects/contacts/merge",
            json={"primaryObjectId": a["id"], "objectIdToMerge": b["id"]},
        )
        http.delete(f"/crm/v3/objects/companies/{co['id']}")
    box.update("contacts", a["id"], {"jobtitle": "CEO"})
    kinds = [kind for kind, _, _ in recorder.events]
    assert kinds.count("contact.creation") == 2
    assert kinds.count("company.creation") == 1
    changes = [d for k, _, d in recorder.events if k == "contact.propertyChange"]
    assert {"firstname": "A", "source": "API"} in changes
    assert {"lastname": "Z", "source": "API"} in changes
    assert {"jobtitle": "CEO", "source": "CRM_UI"} in changes
    merge = next(d for k, _, d in recorder.events if k == "contact.merge")
    assert merge["primaryObjectId"] == int(a["id"])
    assert merge["mergedObjectIds"] == [int(b["id"])]
    sides = {d["associationType"] for k, _, d in recorder.events if k.endswith("associationChange")}
    assert sides == {"CONTACT_TO_COMPANY", "COMPANY_TO_CONTACT"}
    assert ("company.deletion", int(co["id"])) in [(k, i) for k, i, _ in recorder.events]


def test_subscribed_events_are_delivered_signed() -> None:
    received: list[tuple[bytes, dict[str, str]]] = []
    receiver = FastAPI()

    @receiver.post("/hook")
    async def hook(request: Request) -> dict[str, bool]:
        received.append((await request.body(), dict(request.headers)))
        return {"ok": True}

    box = HubSpotSandbox(HubSpotOptions(rate_limits=False))
    sink = Listener(receiver)
    api = Listener(box.app)
    with serve_in_thread([sink, api], background=[box.background]):
        target = sink.url + "/hook"
        settings = {"targetUrl": target, "subscriptions": ["contact.creation"]}
        assert httpx.put(api.url + "/_sandbox/webhooks", json=settings).status_code == 200
        made = httpx.post(
            api.url + "/crm/v3/objects/contacts",
            json={"properties": {"email": "hook@example.com"}},
            headers={"Authorization": f"Bearer {box.options.access_token}"},
        ).json()
        deadline = time.monotonic() + 10
        while not received and time.monotonic() < deadline:
            time.sleep(0.05)
    assert received, "no webhook delivery within 10 s"
    body, headers = received[0]
    assert Signature.is_valid(
        signature=headers["x-hubspot-signature"],
        client_secret=box.options.client_secret,
        request_body=body.decode(),
        signature_version="v1",
    )
    import json

    events = json.loads(body)
    assert events[0]["subscriptionType"] == "contact.creation"
    assert events[0]["objectId"] == int(made["id"])
    assert events[0]["portalId"] == box.options.portal_id
