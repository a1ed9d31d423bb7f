"""Deliveries signed the way the HubSpot imitation signs them verify, and parse to hints.

The imitation's signer (`sandbox.hubspot.webhooks`) is an independent implementation of the
same documented algorithm, so agreeing with it (as with the official SDK in the unit tests) is
evidence both are right.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from connectors.errors import WebhookRejected
from connectors.hubspot.webhooks import HubSpotWebhooks
from connectors.records import ChangeKind, WebhookRequest
from sandbox.hubspot.webhooks import sign_v1, sign_v3, signing_uri

SECRET = "sandbox-client-secret-0000000000000000"
URL = "https://127.0.0.1:8910/webhooks/hubspot%3Fsource%3Dsandbox"


def _delivery(now_ms: int) -> WebhookRequest:
    body = json.dumps(
        [
            {
                "eventId": 10,
                "subscriptionType": "contact.propertyChange",
                "objectId": 123,
                "propertyName": "hs_lead_status",
                "propertyValue": "OPEN",
                "occurredAt": now_ms,
                "attemptNumber": 0,
            }
        ]
    )
    stamp = str(now_ms)
    return WebhookRequest(
        method="POST",
        url=URL,
        headers={
            "X-HubSpot-Signature-Version": "v1",
            "X-HubSpot-Signature": sign_v1(SECRET, body),
            "X-HubSpot-Signature-v3": sign_v3(SECRET, "POST", signing_uri(URL), body, stamp),
            "X-HubSpot-Request-Timestamp": stamp,
        },
        body=body.encode(),
        received_at=datetime.fromtimestamp(now_ms / 1000, tz=UTC),
    )


def test_given_an_imitation_signed_delivery_then_v3_verifies_and_hints_come_out() -> None:
    now = 1_764_000_000_000
    hooks = HubSpotWebhooks(SECRET, clock=lambda: now / 1000)
    receipt = hooks.verify(_delivery(now))
    [hint] = receipt.hints
    assert hint.key.id == "123"
    assert hint.kind is ChangeKind.UPDATED
    assert hint.fields == ("hs_lead_status",)


def test_given_the_v3_signature_is_stripped_then_v1_verifies_only_when_legacy_is_on() -> None:
    now = 1_764_000_000_000
    request = _delivery(now)
    legacy = WebhookRequest(
        method=request.method,
        url=request.url,
        headers={k: v for k, v in request.headers.items() if k != "x-hubspot-signature-v3"},
        body=request.body,
        received_at=request.received_at,
    )
    HubSpotWebhooks(SECRET, accept_legacy=True, clock=lambda: now / 1000).verify(legacy)
    with pytest.raises(WebhookRejected):
        HubSpotWebhooks(SECRET, clock=lambda: now / 1000).verify(legacy)
