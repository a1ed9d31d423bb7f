"""Salesforce outbound messages to a real local receiver: envelope, Ack, retries, coalescing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element

import httpx
import pytest
from defusedxml.ElementTree import fromstring
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.salesforce.outbound import (
    RETRY_POLICY,
    OutboundMessenger,
    OutboundSettings,
    acknowledged,
    render_notifications,
    salesforce_id,
    with_checksum,
)
from sandbox.shared.clock import Clock
from sandbox.shared.server import Listener, serve_in_thread

ORG_ID = "00D5g000004ABCDEAA"
INSTANCE = "https://sandbox.my.salesforce.com"
SOAP = "{http://schemas.xmlsoap.org/soap/envelope/}"
OM = "{http://soap.sforce.com/2005/09/outbound}"
SF = "{urn:sobject.enterprise.soap.sforce.com}"
XSI = "{http://www.w3.org/2001/XMLSchema-instance}"


def ack_body(value: str = "true") -> str:
    return (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
        '<soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<Ack>{value}</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>"
    )


ACK = (200, ack_body())


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def notifications(self) -> Element:
        root = fromstring(self.body)
        found = root.find(f"{SOAP}Body/{OM}notifications")
        assert found is not None
        return found

    def records(self) -> list[tuple[str, str, dict[str, str]]]:
        """(notification id, xsi:type, {field: text}) per notification, fields in order."""
        out = []
        for notification in self.notifications.findall(f"{OM}Notification"):
            sobject = notification.find(f"{OM}sObject")
            assert sobject is not None
            fields = {child.tag.removeprefix(SF): child.text or "" for child in sobject}
            out.append((notification.findtext(f"{OM}Id") or "", sobject.get(f"{XSI}type"), fields))
        return out


@dataclass
class Receiver:
    """An outbound-message listener that records requests and answers from a script, then acks."""

    answers: list[tuple[int, str]] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def app(self) -> Starlette:
        async def listener(request: Request) -> Response:
            received = Received(dict(request.headers), await request.body())
            with self._changed:
                self.requests.append(received)
                self._changed.notify_all()
                status, text = self.answers.pop(0) if self.answers else ACK
            return Response(text, status_code=status, media_type="text/xml")

        return Starlette(routes=[Route("/om", listener, methods=["POST"])])

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.requests) >= count, timeout), (
                f"expected {count} messages, got {len(self.requests)}"
            )
            return list(self.requests)


def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


@dataclass
class Setup:
    clock: Clock
    messenger: OutboundMessenger
    receiver: Receiver
    target: str
    admin_url: str

    def configure(self, sobjects: dict[str, list[str]], **extra: Any) -> None:
        body = {"targetUrl": self.target, "sobjects": sobjects, **extra}
        self.messenger.configure(OutboundSettings.model_validate(body))

    def status(self) -> dict[str, Any]:
        return self.messenger.queue.status()


@pytest.fixture
def sf() -> Iterator[Setup]:
    clock = Clock()
    messenger = OutboundMessenger(
        clock, org_id=ORG_ID, instance_url=lambda: INSTANCE, session_id=lambda: "00D!session"
    )
    receiver = Receiver()
    admin = FastAPI()
    admin.include_router(messenger.admin_router())
    listeners = [Listener(receiver.app()), Listener(admin)]
    with serve_in_thread(listeners, background=[messenger.run]):
        yield Setup(clock, messenger, receiver, f"{listeners[0].url}/om", listeners[1].url)


def lead(number: int, **fields: Any) -> dict[str, Any]:
    record = {
        "attributes": {"type": "Lead", "url": f"/services/data/v59.0/sobjects/Lead/{number}"},
        "Id": salesforce_id("00Q", number),
        "Email": f"lead{number}@example.com",
        "Status": "Open - Not Contacted",
        "IsConverted": False,
        "AnnualRevenue": None,
        "NumberOfEmployees": 12,
        "LastModifiedDate": "2026-11-25T10:15:30.000+0000",
        "Address": {"city": "Oslo"},
    }
    record.update(fields)
    return record


def test_a_change_is_posted_as_the_salesforce_soap_envelope(sf: Setup) -> None:
    fields = ["Email", "Status", "IsConverted", "AnnualRevenue", "NumberOfEmployees"]
    sf.configure({"Lead": [*fields, "LastModifiedDate", "Address", "NoSuchField"]})
    record = lead(1, Email='o\'brien&co <"x">@example.com', Description="not selected")
    sf.messenger.notify("Lead", record)

    (message,) = sf.receiver.wait_for(1)
    assert message.headers["content-type"] == "text/xml; charset=utf-8"
    assert message.headers["soapaction"] == '""'
    assert message.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = message.notifications
    assert root.findtext(f"{OM}OrganizationId") == ORG_ID
    action_id = root.findtext(f"{OM}ActionId") or ""
    assert action_id.startswith("04k")
    assert len(action_id) == 18
    session = root.find(f"{OM}SessionId")
    assert session is not None
    assert session.get(f"{XSI}nil") == "true"
    assert root.findtext(f"{OM}EnterpriseUrl") == f"{INSTANCE}/services/Soap/c/59.0/{ORG_ID[:15]}"
    assert root.findtext(f"{OM}PartnerUrl") == f"{INSTANCE}/services/Soap/u/59.0/{ORG_ID[:15]}"
    assert [child.tag.removeprefix(OM) for child in root][:5] == [
        "OrganizationId",
        "ActionId",
        "SessionId",
        "EnterpriseUrl",
        "PartnerUrl",
    ]
    ((notification_id, xsi_type, values),) = message.records()
    assert notification_id.startswith("04l")
    assert len(notification_id) == 18
    assert xsi_type == "sf:Lead"
    assert list(values) == [
        "Id",
        "Email",
        "Status",
        "IsConverted",
        "NumberOfEmployees",
        "LastModifiedDate",
    ]
    assert values["Id"] == record["Id"]
    assert values["Email"] == 'o\'brien&co <"x">@example.com'  # escaped on the wire, intact here
    assert values["IsConverted"] == "false"
    assert values["NumberOfEmployees"] == "12"
    assert values["LastModifiedDate"] == "2026-11-25T10:15:30.000Z"
    eventually(lambda: sf.status()["delivered"] == 1)


def test_only_an_ack_true_reply_counts_as_delivered(sf: Setup) -> None:
    sf.receiver.answers = [
        (200, ack_body("false")),
        (500, "<soapenv:Fault/>"),
        (200, "<html>ok</html>"),
        (200, "<Ack>true</Ack>"),  # right word, wrong namespace and no notificationsResponse
    ]
    sf.configure({"Lead": ["Status"]})
    sf.messenger.notify("Lead", lead(2))
    delay = RETRY_POLICY.first_s
    for failures in range(1, 5):
        eventually(lambda n=failures: sf.status()["failed_attempts"] == n)
        sf.clock.advance(delay + 1)
        delay *= RETRY_POLICY.factor
    messages = sf.receiver.wait_for(5)
    eventually(lambda: sf.status()["delivered"] == 1)
    ids = {m.records()[0][0] for m in messages}
    assert len(ids) == 1  # the same notification, retried
    errors = sf.status()["last_errors"]
    assert [e["status"] for e in errors] == [200, 500, 200, 200]
    assert errors[0]["error"] == "no <Ack>true</Ack> in the reply"


def test_records_changed_again_before_sending_go_once_with_the_latest_data(sf: Setup) -> None:
    sf.receiver.answers = [(503, "")]
    sf.configure({"Lead": ["Status"], "Contact": ["Email"]})
    sf.messenger.notify("Lead", lead(3))
    eventually(lambda: sf.status()["failed_attempts"] == 1)  # now waiting for its retry
    sf.messenger.queue.concurrency = 0  # hold deliveries while several records change
    sf.messenger.notify("Lead", lead(3, Status="Working - Contacted"))
    sf.messenger.notify("Lead", lead(4))
    sf.messenger.notify("Lead", lead(3, Status="Closed - Converted"))
    contact = {"Id": salesforce_id("003", 1), "Email": "c@example.com"}
    sf.messenger.notify("Contact", contact)
    sf.messenger.notify("Account", {"Id": salesforce_id("001", 1), "Name": "not configured"})
    assert sf.status()["pending"] == 3
    sf.messenger.queue.concurrency = 10

    eventually(lambda: sf.status()["delivered"] == 3)
    messages = sf.receiver.requests[1:]
    assert len(messages) == 2  # one message per outbound message action (sObject)
    by_type = {m.records()[0][1]: m.records() for m in messages}
    leads = {values["Id"]: values["Status"] for _, _, values in by_type["sf:Lead"]}
    assert leads == {
        salesforce_id("00Q", 3): "Closed - Converted",
        lead(4)["Id"]: "Open - Not Contacted",
    }
    (contact_record,) = by_type["sf:Contact"]
    assert contact_record[2] == {"Id": contact["Id"], "Email": "c@example.com"}
    action_ids = {m.notifications.findtext(f"{OM}ActionId") for m in messages}
    assert len(action_ids) == 2
    assert sf.status()["coalesced"] == 2


def test_a_message_carries_at_most_100_notifications(sf: Setup) -> None:
    sf.configure({"Lead": ["Status"]})
    sf.messenger.queue.concurrency = 0  # hold deliveries until all 150 are queued
    for number in range(150):
        sf.messenger.notify("Lead", lead(number))
    sf.messenger.queue.concurrency = 10
    eventually(lambda: sf.status()["delivered"] == 150)
    assert sorted(len(m.records()) for m in sf.receiver.requests) == [50, 100]


def test_notifications_are_dropped_once_24_hours_old(sf: Setup) -> None:
    sf.receiver.answers = [(500, "")] * 50
    sf.configure({"Lead": ["Status"]})
    sf.messenger.notify("Lead", lead(5))
    for failures in range(1, 4):
        eventually(lambda n=failures: sf.status()["failed_attempts"] == n)
        sf.clock.advance(2 * 3600 + 1)  # never more than 2 h between attempts
    eventually(lambda: sf.status()["failed_attempts"] == 4)
    sf.clock.advance(24 * 3600)
    eventually(lambda: sf.status()["dropped"] == 1)
    status = sf.status()
    assert status["pending"] == 0
    assert status["last_dropped"][0]["reason"] == "expired"
    assert len(sf.receiver.requests) == 4


def test_session_id_is_sent_when_asked(sf: Setup) -> None:
    sf.configure({"Lead": ["Status"]}, sendSessionId=True)
    sf.messenger.notify("Lead", lead(6))
    (message,) = sf.receiver.wait_for(1)
    assert message.notifications.findtext(f"{OM}SessionId") == "00D!session"


def test_admin_routes_set_show_and_clear_outbound_messages(sf: Setup) -> None:
    with httpx.Client(base_url=sf.admin_url) as admin:
        settings = {
            "targetUrl": sf.target,
            "sobjects": {"Lead": ["Status"]},
            "sendSessionId": False,
        }
        put = admin.put("/_sandbox/outbound-messages", json=settings)
        assert put.status_code == 200
        assert put.json()["settings"] == settings
        assert put.json()["actions"]["Lead"].startswith("04k")
        assert (
            admin.put("/_sandbox/outbound-messages", json={"targetUrl": "ftp://x"}).status_code
            == 422
        )

        sf.messenger.notify("Lead", lead(7))
        sf.receiver.wait_for(1)
        eventually(
            lambda: admin.get("/_sandbox/outbound-messages").json()["delivery"]["delivered"] == 1
        )
        assert admin.delete("/_sandbox/outbound-messages").status_code == 204
        cleared = admin.get("/_sandbox/outbound-messages").json()
        assert cleared["settings"] is None
        assert cleared["delivery"]["delivered"] == 0
        sf.messenger.notify("Lead", lead(8))
        assert sf.status()["pending"] == 0


def test_ack_parsing_refuses_anything_but_a_true_ack() -> None:
    assert acknowledged(ack_body().encode())
    assert acknowledged(ack_body(" 1 ").encode())
    assert not acknowledged(ack_body("false").encode())
    assert not acknowledged(b"<Ack>true</Ack>")
    assert not acknowledged(b"not xml")
    bomb = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><r>&b;</r>'
    assert not acknowledged(bomb)  # defusedxml refuses entity declarations


def test_ids_carry_salesforces_case_checksum() -> None:
    assert with_checksum("0015000000VALDt") == "0015000000VALDtAAP"
    assert salesforce_id("04k", 1) == "04k000000000001AAA"
    assert len({salesforce_id("04l", n) for n in range(1000)}) == 1000


def test_values_that_are_not_xml_characters_are_left_out_of_the_text() -> None:
    body = render_notifications(
        org_id=ORG_ID,
        action_id="04k000000000001AAA",
        session_id=None,
        instance_url=INSTANCE + "/",
        sobject="Lead",
        notifications=[("04l000000000001AAA", {"Id": "00Q1", "Description": "a\x00b\x1fc\td"})],
    )
    ((_, _, values),) = Received({}, body).records()
    assert values["Description"] == "abc\td"
