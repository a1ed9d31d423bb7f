"""Outbound Message parsing without a server: org-id forms, the endpoint token, key prefixes
and the acknowledgement."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.errors import WebhookRejected
from connectors.records import WebhookRequest
from connectors.salesforce.objects import OBJECTS
from connectors.salesforce.outbound import ACK_BODY, parse_outbound, verify_outbound
from sandbox.salesforce.objects import schema

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


@pytest.mark.parametrize(
    ("sobject", "record_id", "kept"),
    [
        ("Contact", "0038d00000AbCdEAAV", True),
        ("Lead", "00Q8d00000AbCdEAAV", True),
        ("Opportunity", "0068d00000AbCdEAAV", True),
        ("Account", "0018d00000AbCdEAAV", True),
        ("Contact", "00Q8d00000AbCdEAAV", False),  # a Lead's id
        ("Lead", "0038d00000AbCdEAAV", False),  # a Contact's id
        ("Opportunity", "aBcDeFgHiJkLmNoPqR", False),  # made up
    ],
)
def test_an_id_without_its_objects_key_prefix_is_skipped(
    sobject: str, record_id: str, kept: bool
) -> None:
    """Salesforce never sends a Lead whose id is not a Lead's: such a notification is forged
    (the org id it carries is no secret), and reading it would spend an API call."""
    body = (
        BODY.format(org=ORG)
        .replace('xsi:type="sf:Contact"', f'xsi:type="sf:{sobject}"')
        .replace("0038d00000AbCdEAAV", record_id)
    )
    receipt = parse_outbound(body.encode(), org_id=ORG)
    assert [hint.key.id for hint in receipt.hints] == ([record_id] if kept else [])
    assert receipt.response_body == ACK_BODY


def test_the_key_prefixes_are_the_ones_the_sandbox_makes_ids_with() -> None:
    imitated = {name: schema(name) for name in OBJECTS}
    assert {name: spec.key_prefix for name, spec in OBJECTS.items()} == {
        name: found.key_prefix if found else None for name, found in imitated.items()
    }


def _request(query: str) -> WebhookRequest:
    url = "https://baton.example.com/webhooks/salesforce" + query
    return WebhookRequest("POST", url, {}, BODY.format(org=ORG).encode(), datetime.now(UTC))


@pytest.mark.parametrize(
    "query", ["", "?token=", "?token=wrong-token", "?tok=s3cr3t-T0ken", "?token=s3cr3t-T0ke"]
)
def test_with_a_token_set_a_message_without_it_is_rejected(query: str) -> None:
    with pytest.raises(WebhookRejected, match="token"):
        verify_outbound(_request(query), org_id=ORG, token="s3cr3t-T0ken")


@pytest.mark.parametrize("query", ["?token=s3cr3t-T0ken", "?x=1&token=s3cr3t-T0ken"])
def test_with_a_token_set_a_message_carrying_it_is_read(query: str) -> None:
    receipt = verify_outbound(_request(query), org_id=ORG, token="s3cr3t-T0ken")
    assert [hint.key.id for hint in receipt.hints] == ["0038d00000AbCdEAAV"]


def test_every_character_a_webhook_token_may_hold_reaches_the_check_unchanged() -> None:
    """The settings allow [A-Za-z0-9._~-]: written into the endpoint URL as it is, such a
    token is read back the same (a '+' would come back as a space: refused at start-up)."""
    token = "AZaz09._~-"
    receipt = verify_outbound(_request(f"?token={token}"), org_id=ORG, token=token)
    assert len(receipt.hints) == 1
    with pytest.raises(WebhookRejected, match="token"):
        verify_outbound(_request("?token=a+b"), org_id=ORG, token="a+b")


def test_without_a_token_set_the_org_id_alone_is_checked() -> None:
    assert len(verify_outbound(_request(""), org_id=ORG, token=None).hints) == 1
    with pytest.raises(WebhookRejected, match="organization"):
        verify_outbound(_request("?token=x"), org_id="00D8d0000000XXXEAU", token=None)
