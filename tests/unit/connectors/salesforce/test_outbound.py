"""Outbound Message parsing without a server: org-id forms and the acknowledgement."""

from __future__ import annotations

import pytest

from connectors.errors import WebhookRejected
from connectors.salesforce.outbound import ACK_BODY, parse_outbound

ORG = "00D8d0000000BaTEAU"
BODY = f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>{{org}}</OrganizationId>
   <ActionId>04k8d000000AbCdAAK</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://x/services/Soap/c/59.0/{ORG[:15]}</EnterpriseUrl>
   <PartnerUrl>https://x/services/Soap/u/59.0/{ORG[:15]}</PartnerUrl>
   <Notification>
    <Id>04l8d0000000001AAA</Id>
    <sObject xsi:type="sf:Contact" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>0038d00000AbCdEAAV</sf:Id>
     <sf:Email>ada@example.com</sf:Email>
    </sObject>
   </Notification>
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>"""


@pytest.mark.parametrize("received", [ORG, ORG[:15]])
def test_15_and_18_character_org_ids_both_match(received: str) -> None:
    receipt = parse_outbound(BODY.format(org=received).encode(), org_id=ORG)
    (hint,) = receipt.hints
    assert (hint.key.object, hint.key.id, hint.fields) == (
        "Contact",
        "0038d00000AbCdEAAV",
        ("Email",),
    )
    assert receipt.response_body == ACK_BODY


@pytest.mark.parametrize(
    "received",
    ["00D8d0000000BaX", "00D8d0000000BaTXXX", "00D8d0000000bateau", "", "00D8d0000000XXXEAU"],
)
def test_other_org_ids_are_rejected(received: str) -> None:
    with pytest.raises(WebhookRejected):
        parse_outbound(BODY.format(org=received).encode(), org_id=ORG)


@pytest.mark.parametrize(
    ("sobject", "record_id"),
    [("Case", "5008d00000AbCdEAAV"), ("Contact", "not-an-id"), ("Contact", "0038d00000AbCdE!AV")],
)
def test_a_notification_baton_cannot_read_is_acknowledged_and_skipped(
    sobject: str, record_id: str
) -> None:
    """An object Baton does not sync, or an id Salesforce never makes: acknowledged (so it is
    not sent for 24 hours more), and no hint that would fail the read of the whole batch."""
    body = (
        BODY.format(org=ORG)
        .replace('xsi:type="sf:Contact"', f'xsi:type="sf:{sobject}"')
        .replace("0038d00000AbCdEAAV", record_id)
    )
    receipt = parse_outbound(body.encode(), org_id=ORG)
    assert receipt.hints == ()
    assert receipt.response_body == ACK_BODY


def _with_notifications(count: int) -> bytes:
    one = BODY.format(org=ORG)
    start, end = one.index("<Notification>"), one.index("</Notification>") + len("</Notification>")
    notes = "".join(
        one[start:end]
        .replace("04l8d0000000001AAA", f"04l8d{i:09d}AAA")
        .replace("0038d00000AbCdEAAV", f"0038d{i:010d}AAV")
        for i in range(count)
    )
    return (one[:start] + notes + one[end:]).encode()


def test_up_to_100_notifications_are_read() -> None:
    assert len(parse_outbound(_with_notifications(100), org_id=ORG).hints) == 100


def test_more_than_100_notifications_refuse_the_whole_message() -> None:
    """Salesforce sends 1 to 100 per message; more is not a message it sent, and each would
    queue a read: none is kept."""
    with pytest.raises(WebhookRejected, match="at most 100 notifications; this one has 101"):
        parse_outbound(_with_notifications(101), org_id=ORG)
