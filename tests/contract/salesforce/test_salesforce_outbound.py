"""Outbound Messages rendered by the imitation, verified and parsed by the connector."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.errors import ConfigError, WebhookMalformed, WebhookRejected
from connectors.records import ChangeKind, WebhookRequest
from connectors.salesforce.connector import SalesforceConnector
from sandbox.salesforce.outbound import acknowledged, render_notifications
from tests.contract.salesforce.conftest import Served

LEAD = "00Q8d00000AbCdEEAZ"


def _request(body: bytes) -> WebhookRequest:
    return WebhookRequest(
        method="POST",
        url="https://baton.example/webhooks/salesforce",
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
        body=body,
        received_at=datetime(2026, 3, 2, tzinfo=UTC),
    )


def _envelope(org_id: str, *notifications: tuple[str, dict[str, object]]) -> bytes:
    return render_notifications(
        org_id=org_id,
        action_id="04k8d000000AbCdAAK",
        session_id=None,
        instance_url="https://127.0.0.1:8912",
        sobject="Lead",
        notifications=list(notifications),
    )


def test_given_a_message_from_our_org_then_hints_and_an_ack_salesforce_accepts(
    served: Served, salesforce: SalesforceConnector
) -> None:
    body = _envelope(
        served.box.options.org_id,
        (
            "04l8d0000000001AAA",
            {
                "Id": LEAD,
                "Status": "Working - Contacted",
                "SystemModstamp": "2026-03-02T09:00:01.000+0000",
            },
        ),
        ("04l8d0000000002AAA", {"Id": "00Q8d00000AbCdFEAZ", "Email": "a&b<c>@x.io"}),
        ("04l8d0000000001AAA", {"Id": LEAD, "Status": "Working - Contacted"}),
    )

    receipt = salesforce.verify_webhook(_request(body))

    assert [h.key.id for h in receipt.hints] == [LEAD, "00Q8d00000AbCdFEAZ"]
    first = receipt.hints[0]
    assert first.key.object == "Lead"
    assert first.kind is ChangeKind.UPDATED
    assert first.fields == ("Status", "SystemModstamp")
    assert first.occurred_at == datetime(2026, 3, 2, 9, 0, 1, tzinfo=UTC)
    assert receipt.status_code == 200
    assert receipt.media_type.startswith("text/xml")
    assert acknowledged(receipt.response_body)


def test_given_another_orgs_message_then_rejected(
    served: Served, salesforce: SalesforceConnector
) -> None:
    body = _envelope("00D000000000001AAA", ("04l8d0000000001AAA", {"Id": LEAD}))
    with pytest.raises(WebhookRejected, match="00D000000000001AAA"):
        salesforce.verify_webhook(_request(body))


@pytest.mark.parametrize(
    "body",
    [
        b"not xml",
        b"<a/>",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>',
    ],
)
def test_given_junk_or_hostile_xml_then_malformed(
    salesforce: SalesforceConnector, body: bytes
) -> None:
    with pytest.raises(WebhookMalformed):
        salesforce.verify_webhook(_request(body))


def test_given_no_org_id_configured_then_nothing_is_accepted(served: Served) -> None:
    """The missing setting is named (the service answers 503 "not configured", not 401)."""
    connector = served.connector(org_id=None)
    body = _envelope(served.box.options.org_id, ("04l8d0000000001AAA", {"Id": LEAD}))
    try:
        with pytest.raises(ConfigError, match="BATON_SALESFORCE_ORG_ID"):
            connector.verify_webhook(_request(body))
    finally:
        connector.close()
