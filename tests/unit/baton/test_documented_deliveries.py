"""The vendors' documented deliveries, over a real socket, signed as their docs say.

HubSpot's signatures are computed here from HubSpot's "Validating requests" page (the v1 and
v2 hashes are the page's own examples), not with Baton's or the SDK's helpers, so a shared
misreading of the page cannot pass unseen. The sink is the daemon's real `KeyQueue`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterator

import httpx
import pytest
from defusedxml import ElementTree

from baton.daemon import HttpServer, KeyQueue
from baton.service import ServiceDeps, create_app
from connectors.hubspot.webhooks import HubSpotWebhooks
from connectors.records import RecordKey, System
from connectors.salesforce.outbound import verify_outbound

# HubSpot's documented example secret, and a v1 body with its documented hash.
DOC_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
DOC_V1_BODY = (
    '[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
    '"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,'
    '"changeSource":"CRM","changeFlag":"NEW","appId":54321}]'
)
DOC_V1_HASH = "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"
# v3: "In the request URI, decode any of the URL-encoded characters listed in the table".
DOC_V3_DECODED = {
    "%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'",
    "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";",
}  # fmt: skip
ORG = "00D000000000001AAA"
TOKEN = "outbound-token-0123456789"


def _doc_v3(method: str, uri: str, body: str, timestamp: str) -> str:
    for escape, char in DOC_V3_DECODED.items():
        uri = uri.replace(escape, char)
    source = (method + uri + body + timestamp).encode("utf-8")
    return base64.b64encode(hmac.new(DOC_SECRET.encode(), source, hashlib.sha256).digest()).decode()


class Queued:
    """The daemon's queue as the service's sink, and what it was handed."""

    def __init__(self) -> None:
        self.queue = KeyQueue()
        self.gone: set[RecordKey] = set()
        self.purged: set[RecordKey] = set()

    def __call__(self, keys: list[RecordKey], gone: set[RecordKey], purged: set[RecordKey]) -> None:
        self.queue.put(keys, gone, purged)
        self.gone |= gone
        self.purged |= purged

    def keys(self) -> list[str]:
        return [key.id for key in self.queue.drain(limit=1_000)[0]]


@pytest.fixture
def sink() -> Queued:
    return Queued()


@pytest.fixture
def url(sink: Queued) -> Iterator[str]:
    hooks = HubSpotWebhooks(DOC_SECRET)
    deps = ServiceDeps(
        sink=sink,
        verify_hubspot=hooks.verify,
        screen_hubspot=hooks.check_headers,
        verify_salesforce=lambda request: verify_outbound(request, org_id=ORG, token=TOKEN),
    )
    server = HttpServer(create_app(deps), host="127.0.0.1", port=0)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def _event(event_id: int, subscription: str, object_id: int, **more: object) -> dict[str, object]:
    return {
        "eventId": event_id,
        "subscriptionId": 25,
        "portalId": 62515,
        "appId": 54321,
        "occurredAt": int(time.time() * 1000),
        "subscriptionType": subscription,
        "attemptNumber": 0,
        "objectId": object_id,
        "changeSource": "CRM_UI",
        **more,
    }


BATCH = [
    _event(1, "contact.propertyChange", 11, propertyName="lifecyclestage", propertyValue="lead"),
    _event(2, "contact.creation", 12, changeFlag="NEW"),
    _event(3, "contact.deletion", 13),
    _event(4, "contact.privacyDeletion", 14),
    _event(5, "contact.merge", 15, primaryObjectId=15, mergedObjectIds=[16], newObjectId=15),
    _event(
        6,
        "contact.associationChange",
        17,
        associationType="CONTACT_TO_COMPANY",
        fromObjectId=17,
        toObjectId=900,
        associationRemoved=False,
        isPrimaryAssociation=False,
    ),
    _event(7, "contact.someFutureEvent", 18),
    _event(8, "conversation.creation", 19),
]


def _post_v3(http: httpx.Client, target: str, body: str, *, age_s: float = 0) -> httpx.Response:
    stamp = str(int((time.time() - age_s) * 1000))
    headers = {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": _doc_v3("POST", target, body, stamp),
        "X-HubSpot-Request-Timestamp": stamp,
    }
    return http.post(target, content=body.encode(), headers=headers)


def test_a_documented_batch_signed_v3_is_answered_at_once_and_each_record_queued_once(
    url: str, sink: Queued
) -> None:
    """Every contact subscription type in one batch, to a target URL whose query carries
    escapes HubSpot decodes before signing; unknown types are acknowledged and left out, and a
    retried delivery (attemptNumber 1) queues nothing twice."""
    target = f"{url}/webhooks/hubspot?portal=62515&owner=a%40b%2Cc"
    body = json.dumps(BATCH)
    retry = json.dumps([dict(event, attemptNumber=1) for event in BATCH])
    with httpx.Client(timeout=10) as http:
        began = time.monotonic()
        first = _post_v3(http, target, body)
        answered_in = time.monotonic() - began
        second = _post_v3(http, target, retry)
    assert (first.status_code, second.status_code) == (200, 200)
    assert answered_in < 5  # HubSpot counts a slower answer as failed and retries
    assert sink.keys() == ["11", "12", "13", "14", "16", "15", "17"]
    assert sink.gone == {RecordKey(System.HUBSPOT, "contacts", i) for i in ("13", "14")}
    assert sink.purged == {RecordKey(System.HUBSPOT, "contacts", "14")}


def test_a_full_batch_of_100_events_is_queued(url: str, sink: Queued) -> None:
    body = json.dumps([_event(i, "contact.propertyChange", 1000 + i) for i in range(100)])
    with httpx.Client(timeout=10) as http:
        response = _post_v3(http, f"{url}/webhooks/hubspot", body)
    assert response.status_code == 200
    assert len(sink.keys()) == 100


def test_a_stale_or_forged_delivery_is_401_and_names_no_secret(
    url: str, sink: Queued, caplog: pytest.LogCaptureFixture
) -> None:
    target = f"{url}/webhooks/hubspot"
    body = json.dumps(BATCH[:1])
    caplog.set_level(logging.DEBUG)
    stamp = str(int(time.time() * 1000))
    other_body = {"X-HubSpot-Signature-v3": _doc_v3("POST", target, "[]", stamp)}
    with httpx.Client(timeout=10) as http:
        stale = _post_v3(http, target, body, age_s=301)
        forged = http.post(
            target,
            content=body.encode(),
            headers={**other_body, "X-HubSpot-Request-Timestamp": stamp},
        )
    assert [(r.status_code, r.text) for r in (stale, forged)] == [(401, "rejected\n")] * 2
    assert sink.keys() == []
    logged = " ".join(f"{r.getMessage()} {getattr(r, 'kv', '')}" for r in caplog.records)
    assert DOC_SECRET not in logged
    assert "off; the limit is 300 s" in logged
    assert "v3 signature does not match" in logged


def test_hubspots_documented_v1_example_verifies_when_legacy_signatures_are_on(
    sink: Queued,
) -> None:
    hooks = HubSpotWebhooks(DOC_SECRET, accept_legacy=True)
    deps = ServiceDeps(sink=sink, verify_hubspot=hooks.verify, screen_hubspot=hooks.check_headers)
    server = HttpServer(create_app(deps), host="127.0.0.1", port=0)
    server.start()
    try:
        response = httpx.post(
            f"{server.url}/webhooks/hubspot",
            content=DOC_V1_BODY.encode(),
            headers={"X-HubSpot-Signature": DOC_V1_HASH, "X-HubSpot-Signature-Version": "v1"},
        )
    finally:
        server.stop()
    assert response.status_code == 200
    assert sink.keys() == ["123"]


OUTBOUND = f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>{ORG}</OrganizationId>
   <ActionId>04k000000000001AAA</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://acme.my.salesforce.com/services/Soap/c/59.0/00D000000000001</EnterpriseUrl>
   <PartnerUrl>https://acme.my.salesforce.com/services/Soap/u/59.0/00D000000000001</PartnerUrl>
   <Notification>
    <Id>04l000000000001AAA</Id>
    <sObject xsi:type="sf:Lead" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>00Q000000000001AAA</sf:Id>
     <sf:Status>Working - Contacted</sf:Status>
    </sObject>
   </Notification>
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>"""


def test_a_documented_outbound_message_is_acknowledged_as_salesforce_expects(
    url: str, sink: Queued
) -> None:
    """An Outbound Message not answered `<Ack>true</Ack>` is retried by Salesforce for 24 h."""
    response = httpx.post(
        f"{url}/webhooks/salesforce?token={TOKEN}",
        content=OUTBOUND.encode(),
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    ack = ElementTree.fromstring(response.content).find(
        "{http://schemas.xmlsoap.org/soap/envelope/}Body"
        "/{http://soap.sforce.com/2005/09/outbound}notificationsResponse"
        "/{http://soap.sforce.com/2005/09/outbound}Ack"
    )
    assert ack is not None
    assert ack.text == "true"
    assert sink.keys() == ["00Q000000000001AAA"]
