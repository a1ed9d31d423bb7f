"""Webhook signatures checked against the official SDK's `Signature`, and event parsing."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime

import pytest
from hubspot.utils.signature import Signature

from connectors.errors import WebhookMalformed, WebhookRejected
from connectors.hubspot.webhooks import (
    HubSpotWebhooks,
    parse_events,
    read_events,
    sign_v3,
    signing_uri,
)
from connectors.records import ChangeKind, WebhookRequest

SECRET = "app-client-secret-0123456789"
URL = "https://baton.example.com/webhooks/hubspot?portal=7"
NOW = 1_764_000_000.0
BODY = json.dumps(
    [
        {
            "eventId": 1,
            "subscriptionType": "contact.propertyChange",
            "objectId": 51,
            "propertyName": "lifecyclestage",
            "propertyValue": "lead",
            "occurredAt": 1_764_000_000_000,
        },
        {"eventId": 2, "subscriptionType": "contact.creation", "objectId": 52, "occurredAt": 1},
        {"eventId": 3, "subscriptionType": "company.deletion", "objectId": 9, "occurredAt": 2},
        {"eventId": 4, "subscriptionType": "contact.restore", "objectId": 53, "occurredAt": 3},
        {
            "eventId": 5,
            "subscriptionType": "contact.merge",
            "objectId": 60,
            "primaryObjectId": 60,
            "mergedObjectIds": [61, 62],
            "newObjectId": 60,
            "occurredAt": 4,
        },
        {"eventId": 6, "subscriptionType": "deal.privacyDeletion", "objectId": 7, "occurredAt": 5},
        {"eventId": 7, "subscriptionType": "ticket.creation", "objectId": 1, "occurredAt": 6},
        {
            "eventId": 8,
            "subscriptionType": "object.propertyChange",
            "objectTypeId": "0-3",
            "objectId": 70,
            "propertyName": "dealstage",
            "occurredAt": 7,
        },
    ]
)


def _request(headers: dict[str, str], *, body: str = BODY, url: str = URL) -> WebhookRequest:
    return WebhookRequest(
        method="POST",
        url=url,
        headers=headers,
        body=body.encode(),
        received_at=datetime.fromtimestamp(NOW, tz=UTC),
    )


def _v3(timestamp_ms: int, *, uri: str = URL, body: str = BODY) -> dict[str, str]:
    signature = Signature.get_signature(
        SECRET, body, "v3", http_uri=uri, http_method="POST", timestamp=str(timestamp_ms)
    )
    return {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": str(timestamp_ms)}


@pytest.fixture
def hooks() -> HubSpotWebhooks:
    return HubSpotWebhooks(SECRET, clock=lambda: NOW)


def test_given_an_sdk_made_v3_signature_then_the_delivery_is_accepted(
    hooks: HubSpotWebhooks,
) -> None:
    receipt = hooks.verify(_request(_v3(int(NOW * 1000) - 1000)))
    assert receipt.status_code == 200
    assert len(receipt.hints) >= 6


def test_given_a_v3_signature_over_decoded_escapes_then_an_encoded_url_verifies(
    hooks: HubSpotWebhooks,
) -> None:
    encoded = "https://baton.example.com/webhooks/hubspot%3Fportal%3D7%2Cx%40y"
    decoded = "https://baton.example.com/webhooks/hubspot?portal%3D7,x@y"
    assert signing_uri(encoded) == decoded  # only the listed escapes: %3D stays
    hooks.verify(_request(_v3(int(NOW * 1000), uri=decoded), url=encoded))


@pytest.mark.parametrize("age_s", [301, -301])
def test_given_a_v3_timestamp_more_than_5_minutes_off_then_rejected(
    hooks: HubSpotWebhooks, age_s: int
) -> None:
    with pytest.raises(WebhookRejected, match="timestamp"):
        hooks.verify(_request(_v3(int((NOW - age_s) * 1000))))


def test_given_a_tampered_body_or_wrong_secret_then_rejected(hooks: HubSpotWebhooks) -> None:
    headers = _v3(int(NOW * 1000))
    with pytest.raises(WebhookRejected, match="v3 signature does not match"):
        hooks.verify(_request(headers, body=BODY.replace("51", "50")))
    other = HubSpotWebhooks("another-secret-000000", clock=lambda: NOW)
    with pytest.raises(WebhookRejected):
        other.verify(_request(headers))


def test_given_sdk_made_v1_and_v2_signatures_then_accepted_only_when_legacy_is_on(
    hooks: HubSpotWebhooks,
) -> None:
    """v1/v2 carry no timestamp, so a captured delivery could be replayed: refused unless the
    user turns them on."""
    v1 = Signature.get_signature(SECRET, BODY, "v1")
    v2 = Signature.get_signature(SECRET, BODY, "v2", http_uri=URL, http_method="POST")
    with pytest.raises(WebhookRejected, match="v3"):
        hooks.verify(_request({"X-HubSpot-Signature": v1, "X-HubSpot-Signature-Version": "v1"}))
    legacy = HubSpotWebhooks(SECRET, accept_legacy=True, clock=lambda: NOW)
    legacy.verify(_request({"X-HubSpot-Signature": v1, "X-HubSpot-Signature-Version": "v1"}))
    legacy.verify(_request({"X-HubSpot-Signature": v2, "X-HubSpot-Signature-Version": "v2"}))
    with pytest.raises(WebhookRejected):
        legacy.verify(_request({"X-HubSpot-Signature": v1, "X-HubSpot-Signature-Version": "v2"}))


def test_given_a_proxy_in_front_then_v3_is_checked_against_the_public_url() -> None:
    """HubSpot signs the target URL it posts to (https, the public host); behind a proxy that
    ends TLS or rewrites the host, the request arrives at another URL."""
    public = "https://baton.example.com/hooks/hubspot"
    signed = _v3(int(NOW * 1000), uri=f"{public}?portal=62515")
    arrived = "http://10.0.0.7:8910/webhooks/hubspot?portal=62515"
    with pytest.raises(WebhookRejected, match="v3 signature does not match"):
        HubSpotWebhooks(SECRET, clock=lambda: NOW).verify(_request(signed, url=arrived))
    behind = HubSpotWebhooks(SECRET, public_url=public, clock=lambda: NOW)
    assert behind.verify(_request(signed, url=arrived)).hints


@pytest.mark.parametrize(
    "arrived",
    [
        "http://10.0.0.7:8910/webhooks/hubspot?tenant=acme",
        "http://10.0.0.7:8910/webhooks/hubspot",  # a proxy that drops the query
    ],
)
def test_given_a_public_url_with_its_own_query_then_it_is_the_signed_uri_as_written(
    arrived: str,
) -> None:
    """A target URL configured with a query (`?tenant=acme`) is what HubSpot signs; adding
    the request's query to it again (`?tenant=acme?tenant=acme`) refused every delivery."""
    public = "https://hooks.example.com/baton/webhooks/hubspot?tenant=acme"
    signed = _v3(int(NOW * 1000), uri=public)
    behind = HubSpotWebhooks(SECRET, public_url=public, clock=lambda: NOW)
    assert behind.verify(_request(signed, url=arrived)).hints


def test_given_no_signature_then_rejected(hooks: HubSpotWebhooks) -> None:
    with pytest.raises(WebhookRejected, match="no X-HubSpot-Signature"):
        hooks.verify(_request({}))


def test_given_a_delivery_then_each_event_becomes_a_hint() -> None:
    hints = parse_events(BODY.encode())
    summary = [(h.key.object, h.key.id, h.kind, h.fields, h.merged_into) for h in hints]
    assert summary == [
        ("contacts", "51", ChangeKind.UPDATED, ("lifecyclestage",), None),
        ("contacts", "52", ChangeKind.CREATED, (), None),
        ("companies", "9", ChangeKind.DELETED, (), None),
        ("contacts", "53", ChangeKind.RESTORED, (), None),
        ("contacts", "61", ChangeKind.MERGED, (), "60"),
        ("contacts", "62", ChangeKind.MERGED, (), "60"),
        ("contacts", "60", ChangeKind.UPDATED, (), None),
        ("deals", "7", ChangeKind.PURGED, (), None),
        ("deals", "70", ChangeKind.UPDATED, ("dealstage",), None),
    ]
    assert hints[0].occurred_at == datetime.fromtimestamp(1_764_000_000, tz=UTC)


def test_given_a_merge_that_made_a_new_record_then_the_primary_is_merged_away_too() -> None:
    """HubSpot's merge event: `newObjectId` is the record the merge resulted in, "separate from
    primaryObjectId because in some cases a new object is created" (changelog, "New
    subscription types for Webhooks"); then the primary is gone as well as `mergedObjectIds`."""
    event = {
        "eventId": 10,
        "subscriptionId": 4,
        "portalId": 62515,
        "appId": 54321,
        "occurredAt": 1_764_000_000_000,
        "subscriptionType": "contact.merge",
        "attemptNumber": 0,
        "objectId": 100,
        "changeSource": "CRM_UI",
        "primaryObjectId": 100,
        "mergedObjectIds": [101],
        "newObjectId": 102,
        "numberOfPropertiesMoved": 12,
    }
    hints = parse_events(json.dumps([event]).encode())
    assert [(h.key.id, h.kind, h.merged_into) for h in hints] == [
        ("101", ChangeKind.MERGED, "102"),
        ("100", ChangeKind.MERGED, "102"),
        ("102", ChangeKind.UPDATED, None),
    ]


def test_given_a_duplicated_event_then_one_hint() -> None:
    event = {"subscriptionType": "contact.creation", "objectId": 1, "occurredAt": 5}
    assert len(parse_events(json.dumps([event, event]).encode())) == 1


@pytest.mark.parametrize(
    ("odd", "ids"),
    [
        ({"subscriptionType": "contact.creation", "objectId": 8, "occurredAt": 10**15}, ["8", "9"]),
        (
            {"subscriptionType": "contact.creation", "objectId": 8, "occurredAt": "9" * 17},
            ["8", "9"],
        ),
        ({"subscriptionType": "contact.merge", "objectId": 8, "mergedObjectIds": 5}, ["9"]),
    ],
    ids=["occurredAt past year 9999", "occurredAt as a huge string", "mergedObjectIds not a list"],
)
def test_given_one_odd_event_then_the_rest_of_the_batch_is_still_hinted(
    odd: dict[str, object], ids: list[str]
) -> None:
    """An occurredAt out of range is no time (parse_time's None), and an event Baton cannot
    read is skipped: neither fails the delivery (a 400 loses every hint it carries)."""
    fine = {"subscriptionType": "contact.creation", "objectId": 9, "occurredAt": 5}
    hints = parse_events(json.dumps([odd, fine]).encode())
    assert [hint.key.id for hint in hints] == ids
    assert [hint.occurred_at for hint in hints if hint.key.id == "8"] in ([], [None])


def test_an_event_that_cannot_be_read_is_logged_with_its_id_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Skipped, not silently: one warning per event with HubSpot's eventId and the reason (to
    find it in the app's delivery log), none of its values; the receipt counts them."""
    odd = {
        "eventId": 4711,
        "subscriptionType": "contact.merge",
        "objectId": 8,
        "mergedObjectIds": 5,
        "propertyValue": "jane@example.com",
    }
    fine = {"eventId": 4712, "subscriptionType": "contact.creation", "objectId": 9}
    unknown = {"eventId": 4713, "subscriptionType": "widget.creation", "objectId": 1}
    with caplog.at_level(logging.WARNING, logger="connectors.hubspot.webhooks"):
        hints, skipped = read_events(json.dumps([odd, fine, unknown, 42]).encode())

    assert [hint.key.id for hint in hints] == ["9"]
    assert skipped == 2  # an unknown type is Baton's choice, not a malformed event
    facts = [record.kv for record in caplog.records]  # type: ignore[attr-defined]
    assert [(kv["system"], kv["event_id"]) for kv in facts] == [
        ("hubspot", "4711"),
        ("hubspot", "-"),
    ]
    assert facts[0]["reason"] == "TypeError: mergedObjectIds is a int, not a list"
    assert "not an object" in facts[1]["reason"]
    assert all(record.getMessage() == "webhook event skipped" for record in caplog.records)
    assert "jane@example.com" not in caplog.text


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("objectId", {"id": 7}),
        ("objectId", [7]),
        ("objectId", True),
        ("objectId", 7.5),
        ("objectId", "7; DROP"),
        ("newObjectId", {"id": 7}),
        ("mergedObjectIds", [{"id": 7}]),
    ],
)
def test_an_event_whose_record_id_is_not_a_hubspot_id_is_skipped_and_counted(
    field: str, value: object
) -> None:
    """HubSpot's record ids are whole numbers: an id of another JSON type is a field of the
    wrong type (skipped and counted), not a record key to read ("{'id': 7}" would be sent to
    HubSpot's batch read with the rest of the queue)."""
    kind = "contact.merge" if field in ("newObjectId", "mergedObjectIds") else "contact.creation"
    odd = {"eventId": 1, "subscriptionType": kind, "objectId": 8, field: value}
    fine = {"eventId": 2, "subscriptionType": "contact.creation", "objectId": "9"}
    hints, skipped = read_events(json.dumps([odd, fine]).encode())
    assert [hint.key.id for hint in hints] == ["9"]
    assert skipped == 1


def test_the_receipt_counts_the_events_it_skipped() -> None:
    body = json.dumps([{"eventId": 1, "subscriptionType": "contact.merge", "mergedObjectIds": 5}])
    stamp = str(int(time.time() * 1000))
    url = "https://baton.example.com/webhooks/hubspot"
    headers = {
        "X-HubSpot-Signature-v3": sign_v3(
            "s3cret", method="POST", uri=url, body=body.encode(), timestamp=stamp
        ),
        "X-HubSpot-Request-Timestamp": stamp,
    }
    request = WebhookRequest("POST", url, headers, body.encode(), datetime.now(UTC))
    receipt = HubSpotWebhooks("s3cret").verify(request)
    assert (receipt.hints, receipt.skipped) == ((), 1)


@pytest.mark.parametrize("body", [b"<xml/>", b'"a string"', b"{not json"])
def test_given_a_body_that_is_not_json_events_then_malformed_not_rejected(body: bytes) -> None:
    """A bad request (400), not a failed verification (401): the signature may well match."""
    with pytest.raises(WebhookMalformed):
        parse_events(body)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "no X-HubSpot-Signature"),
        ({"X-HubSpot-Signature-v3": "x"}, "Timestamp"),
        ({"X-HubSpot-Signature-v3": "x", "X-HubSpot-Request-Timestamp": "1"}, "timestamp"),
        ({"X-HubSpot-Signature": "x", "X-HubSpot-Signature-Version": "v1"}, "v3"),
    ],
)
def test_given_headers_that_cannot_verify_then_check_headers_refuses_without_a_body(
    hooks: HubSpotWebhooks, headers: dict[str, str], reason: str
) -> None:
    """The receiver calls `check_headers` before reading the body: what the headers alone
    condemn costs no body."""
    with pytest.raises(WebhookRejected, match=reason):
        hooks.check_headers(headers)


def test_given_headers_that_may_verify_then_check_headers_passes(hooks: HubSpotWebhooks) -> None:
    hooks.check_headers(_v3(int(NOW * 1000)))
    legacy = HubSpotWebhooks(SECRET, accept_legacy=True, clock=lambda: NOW)
    legacy.check_headers({"x-hubspot-signature": "x", "x-hubspot-signature-version": "V2"})
    with pytest.raises(WebhookRejected, match="unknown signature version"):
        legacy.check_headers({"X-HubSpot-Signature": "x", "X-HubSpot-Signature-Version": "v9"})
