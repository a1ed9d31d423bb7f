"""Salesforce Outbound Messages: SOAP `notifications` POSTed when a configured record changes.

Configured through `/_sandbox/outbound-messages` (one outbound message action per sObject, with
its field list). A message holds ≤100 notifications of one action and counts as delivered only
when the endpoint answers HTTP 200 with `<Ack>true</Ack>` in a `notificationsResponse`; anything
else is retried with exponentially growing intervals (capped at 2 h) until the notification is
24 h old. A record notified again before it was sent is sent once, with its latest data.
"""

from __future__ import annotations

import itertools
import re
import threading
import xml.etree.ElementTree as ET  # builds our own XML; replies are parsed with defusedxml
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from defusedxml.ElementTree import fromstring as parse_xml
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from sandbox.shared.admin import settings_router
from sandbox.shared.clock import Clock
from sandbox.shared.delivery import Delivery, DeliveryQueue, Outcome, RetryPolicy

API_VERSION = "59.0"
SOAPENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
ENTERPRISE_NS = "urn:sobject.enterprise.soap.sforce.com"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
BATCH_SIZE = 100
# Docs: interval grows exponentially up to 2 h, dropped at 24 h. First interval (15 s) and the
# per-attempt timeout are assumptions.
RETRY_POLICY = RetryPolicy(first_s=15.0, factor=2.0, cap_s=7200.0, max_age_s=86400.0)
ATTEMPT_TIMEOUT_S = 10.0
ACTION_PREFIX = "04k"
NOTIFICATION_PREFIX = "04l"

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_REST_DATETIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)\+0000$")


def salesforce_id(prefix: str, number: int) -> str:
    """An 18-character id: key prefix, then `number` in base 62, then the checksum suffix."""
    digits = ""
    while True:
        number, rest = divmod(number, 62)
        digits = _BASE62[rest] + digits
        if not number:
            break
    return with_checksum(prefix + digits.rjust(15 - len(prefix), "0"))


def with_checksum(id15: str) -> str:
    """Salesforce's 18-character form: one suffix letter per 5 characters, a bit per capital."""
    suffix = ""
    for start in (0, 5, 10):
        chunk = id15[start : start + 5]
        suffix += _ID_SUFFIX[sum(1 << i for i, char in enumerate(chunk) if "A" <= char <= "Z")]
    return id15 + suffix


class OutboundSettings(BaseModel):
    """Endpoint, and per sObject the fields its outbound message sends (`Id` always goes first)."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    target_url: str = Field(alias="targetUrl", pattern=r"^https?://")
    sobjects: dict[str, list[str]] = Field(min_length=1)
    send_session_id: bool = Field(False, alias="sendSessionId")


@dataclass(frozen=True)
class _Route:
    """Where one action's notifications go; one message carries one action only."""

    target: str
    sobject: str
    action_id: str

    def __str__(self) -> str:
        return self.target


def soap_value(value: object) -> str | None:
    """A JSON field value as enterprise-WSDL text; None (omit) for nulls and compound values."""
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if isinstance(value, str) and (match := _REST_DATETIME.match(value)):
        text = match.group(1) + "Z"
    return _NOT_XML.sub("", text)


def render_notifications(
    *,
    org_id: str,
    action_id: str,
    session_id: str | None,
    instance_url: str,
    sobject: str,
    notifications: Sequence[tuple[str, Mapping[str, object]]],
) -> bytes:
    """The SOAP envelope for (notification id, selected fields) pairs, as Salesforce writes it."""
    org15 = org_id[:15]
    # Prefixed names are written literally (no ElementTree namespace mapping), so the envelope
    # carries exactly Salesforce's prefixes and default namespace; text is escaped by ElementTree.
    envelope = ET.Element(
        "soapenv:Envelope",
        {"xmlns:soapenv": SOAPENV_NS, "xmlns:xsd": XSD_NS, "xmlns:xsi": XSI_NS},
    )
    body = ET.SubElement(envelope, "soapenv:Body")
    root = ET.SubElement(body, "notifications", {"xmlns": OUTBOUND_NS})
    ET.SubElement(root, "OrganizationId").text = org_id
    ET.SubElement(root, "ActionId").text = action_id
    if session_id:
        ET.SubElement(root, "SessionId").text = session_id
    else:
        ET.SubElement(root, "SessionId", {"xsi:nil": "true"})
    base = instance_url.rstrip("/")
    ET.SubElement(root, "EnterpriseUrl").text = f"{base}/services/Soap/c/{API_VERSION}/{org15}"
    ET.SubElement(root, "PartnerUrl").text = f"{base}/services/Soap/u/{API_VERSION}/{org15}"
    for notification_id, fields in notifications:
        notification = ET.SubElement(root, "Notification")
        ET.SubElement(notification, "Id").text = notification_id
        record = ET.SubElement(
            notification, "sObject", {"xsi:type": f"sf:{sobject}", "xmlns:sf": ENTERPRISE_NS}
        )
        for name, value in fields.items():
            text = soap_value(value)
            if text is not None:
                ET.SubElement(record, f"sf:{name}").text = text
    declaration = b'<?xml version="1.0" encoding="UTF-8"?>'
    serialized: bytes = ET.tostring(envelope, encoding="utf-8", xml_declaration=False)
    return declaration + serialized


def acknowledged(body: bytes) -> bool:
    """True only for a `notificationsResponse` whose `Ack` is true (XML parsed defensively)."""
    try:
        root = parse_xml(body)
    except (ET.ParseError, ValueError):  # ValueError: defusedxml's forbidden constructs
        return False
    for response in root.iter(f"{{{OUTBOUND_NS}}}notificationsResponse"):
        ack = response.find(f"{{{OUTBOUND_NS}}}Ack")
        if ack is not None and (ack.text or "").strip() in ("true", "1"):
            return True
    return False


class OutboundMessenger:
    """Queues notifications for records of configured sObjects and delivers them."""

    def __init__(
        self,
        clock: Clock,
        *,
        org_id: str,
        instance_url: Callable[[], str] | str,
        session_id: Callable[[], str] | None = None,
    ) -> None:
        self.clock = clock
        self.org_id = org_id
        self._instance_url = instance_url
        self._session_id = session_id
        self.queue = DeliveryQueue(
            clock,
            policy=RETRY_POLICY,
            batch_size=BATCH_SIZE,
            attempt_timeout_s=ATTEMPT_TIMEOUT_S,
        )
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)
        self.settings: OutboundSettings | None = None
        self._routes: dict[str, tuple[_Route, list[str]]] = {}

    @property
    def instance_url(self) -> str:
        url = self._instance_url
        return url if isinstance(url, str) else url()

    def _next_id(self, prefix: str) -> str:
        with self._lock:
            return salesforce_id(prefix, next(self._numbers))

    # Settings

    def configure(self, settings: OutboundSettings) -> None:
        routes: dict[str, tuple[_Route, list[str]]] = {}
        for sobject, fields in settings.sobjects.items():
            names = ["Id", *(name for name in fields if name.lower() != "id")]
            route = _Route(settings.target_url, sobject, self._next_id(ACTION_PREFIX))
            routes[sobject.lower()] = (route, names)
        with self._lock:
            self.settings = settings
            self._routes = routes

    def reset(self) -> None:
        """No outbound messages configured, nothing queued, counters at zero."""
        with self._lock:
            self.settings = None
            self._routes = {}
        self.queue.reset()

    # Notifications

    def notify(self, sobject: str, record: Mapping[str, Any]) -> None:
        """Queue `record` (full, JSON values, with "Id") if its sObject has an outbound message."""
        found = self._routes.get(sobject.lower())
        if found is None:
            return
        route, names = found
        by_lower = {key.lower(): key for key in record}
        keys = [by_lower[name.lower()] for name in names if name.lower() in by_lower]
        fields = {key: record[key] for key in keys}
        record_id = str(record["Id"])
        self.queue.enqueue(
            self._next_id(NOTIFICATION_PREFIX),
            fields,
            group=route,
            key=(route.action_id, record_id),
        )

    # Delivery

    async def run(self) -> None:
        """Deliver queued notifications forever (cancel to stop)."""
        async with httpx.AsyncClient(timeout=ATTEMPT_TIMEOUT_S) as client:

            async def send(batch: Sequence[Delivery]) -> Outcome:
                return await self._post(client, batch)

            await self.queue.run(send)

    async def _post(self, client: httpx.AsyncClient, batch: Sequence[Delivery]) -> Outcome:
        route = batch[0].group
        assert isinstance(route, _Route)
        settings = self.settings
        session = (
            self._session_id()
            if settings is not None and settings.send_session_id and self._session_id
            else None
        )
        content = render_notifications(
            org_id=self.org_id,
            action_id=route.action_id,
            session_id=session,
            instance_url=self.instance_url,
            sobject=route.sobject,
            notifications=[(item.id, item.payload) for item in batch],
        )
        response = await client.post(
            route.target,
            content=content,
            headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
        )
        if response.status_code == 200 and acknowledged(response.content):
            return Outcome(True, status=200)
        error = "no <Ack>true</Ack> in the reply" if response.status_code == 200 else None
        return Outcome(False, status=response.status_code, error=error or response.text[:200])

    # Admin

    def snapshot(self) -> dict[str, Any]:
        settings = self.settings
        return {
            "settings": None if settings is None else settings.model_dump(by_alias=True),
            "actions": {route.sobject: route.action_id for route, _ in self._routes.values()},
            "delivery": self.queue.status(),
        }

    def admin_router(self) -> APIRouter:
        return settings_router("/_sandbox/outbound-messages", OutboundSettings, self)
