"""Outbound Messages: Salesforce's SOAP `notifications`, parsed into change hints.

An Outbound Message says "these records changed" with a snapshot of selected fields. Baton
treats it as a hint to re-read (delivery is at-least-once, out of order, and the data is the
latest at send time; salesforce-api.md §10). Outbound Messages are not signed, so verification
is what the org can be told to send: the token of the endpoint URL (`?token=...`, when
`BATON_SALESFORCE_WEBHOOK_TOKEN` is set; compared in constant time), then the organization id,
which alone is no secret (it is in every Web-to-Lead form). Either one wrong is a
`WebhookRejected` (401); a body that is not an Outbound Message is a `WebhookMalformed` (400).
A notification whose record id does not start with its sObject's key prefix is skipped:
Salesforce never sends one. The XML is parsed with defusedxml (no entities, no
external references). The reply Salesforce needs is a SOAP `notificationsResponse` with
`<Ack>true</Ack>`; anything else makes it retry.
"""

from __future__ import annotations

import hmac
import re
from datetime import datetime
from urllib.parse import parse_qs, urlsplit
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from connectors.errors import ConfigError, WebhookMalformed, WebhookRejected
from connectors.records import (
    ChangeHint,
    ChangeKind,
    RecordKey,
    System,
    WebhookReceipt,
    WebhookRequest,
)
from connectors.salesforce.convert import parse_datetime
from connectors.salesforce.objects import OBJECTS

OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
_MODIFIED_FIELDS = ("SystemModstamp", "LastModifiedDate")
# Salesforce puts 1 to 100 Notifications in one message (salesforce-api.md §10); a message with
# more is not one Salesforce sent, and would queue a read per record it names.
MAX_NOTIFICATIONS = 100

ACK_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    b"<soapenv:Body>"
    b'<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
    b"<Ack>true</Ack>"
    b"</notificationsResponse>"
    b"</soapenv:Body>"
    b"</soapenv:Envelope>"
)
ACK_MEDIA_TYPE = "text/xml; charset=utf-8"


_SALESFORCE_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child_text(element: Element, name: str) -> str | None:
    found = element.find(f"{{{OUTBOUND_NS}}}{name}")
    return (found.text or "").strip() if found is not None else None


def _same_org(received: str, expected: str) -> bool:
    # 18-char ids add a case-safety suffix to the 15-char id: compare whole ids when both are
    # 18 characters, else the case-sensitive 15-character part.
    if len(received) == len(expected) == 18:
        return received == expected
    return len(received) in (15, 18) and received[:15] == expected[:15]


def _hint(notification: Element) -> ChangeHint | None:
    """The notification's hint; None for an object Baton does not sync, or an id that is not a
    Salesforce id of that object (15 or 18 letters and digits, beginning with the object's key
    prefix): reading it would fail the batch it joins, or spend a read on a forged id."""
    record = notification.find(f"{{{OUTBOUND_NS}}}sObject")
    if record is None:
        raise WebhookMalformed(
            "an Outbound Message notification has no sObject", system=System.SALESFORCE
        )
    sobject = record.get(XSI_TYPE, "").rpartition(":")[2]
    values = {_local(child.tag): (child.text or "").strip() for child in record}
    record_id = values.pop("Id", "")
    if not sobject or not record_id:
        raise WebhookMalformed(
            "an Outbound Message notification lacks its type or Id", system=System.SALESFORCE
        )
    spec = OBJECTS.get(sobject)
    if spec is None or not _SALESFORCE_ID.fullmatch(record_id):
        return None
    if not record_id.startswith(spec.key_prefix):
        return None
    occurred: datetime | None = None
    for name in _MODIFIED_FIELDS:
        if values.get(name):
            try:
                occurred = parse_datetime(values[name])
            except ValueError:
                occurred = None
            break
    return ChangeHint(
        key=RecordKey(System.SALESFORCE, sobject, record_id),
        kind=ChangeKind.UPDATED,
        occurred_at=occurred,
        fields=tuple(sorted(values)),
    )


def parse_outbound(body: bytes, *, org_id: str | None) -> WebhookReceipt:
    """Verify and parse one Outbound Message into hints plus the acknowledgement to send.
    Notifications about objects Baton does not sync are acknowledged and skipped.

    Raises:
        ConfigError: no org id is configured to check messages against.
        WebhookRejected: a message from another organization, or one with more than
            `MAX_NOTIFICATIONS` notifications (refused whole: none of them is queued).
        WebhookMalformed: not well-formed XML (or XML defusedxml forbids), not a
            `notifications` message, or a notification without its sObject, type or Id.
    """
    if not org_id:  # Baton's setting is missing, not the sender's fault: 503, not 401
        raise ConfigError(
            "cannot verify Outbound Messages without the org's id",
            setting="BATON_SALESFORCE_ORG_ID",
            fix="set it to the org's 18-character id (Setup > Company Information)",
            system=System.SALESFORCE,
        )
    try:
        root = fromstring(body)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise WebhookMalformed(
            f"the Outbound Message is not well-formed XML ({type(exc).__name__})",
            system=System.SALESFORCE,
        ) from None
    notifications = next(root.iter(f"{{{OUTBOUND_NS}}}notifications"), None)
    if notifications is None:
        raise WebhookMalformed(
            "not an Outbound Message (no notifications element)", system=System.SALESFORCE
        )
    received = _child_text(notifications, "OrganizationId") or ""
    if not _same_org(received, org_id):
        raise WebhookRejected(
            f"Outbound Message from organization {received or '(none)'!r}, expected {org_id!r}",
            system=System.SALESFORCE,
            vendor_code="ORGANIZATION_MISMATCH",
        )
    listed = list(notifications.iter(f"{{{OUTBOUND_NS}}}Notification"))
    if len(listed) > MAX_NOTIFICATIONS:
        raise WebhookRejected(
            f"an Outbound Message carries at most {MAX_NOTIFICATIONS} notifications; "
            f"this one has {len(listed)}",
            system=System.SALESFORCE,
        )
    seen: set[str] = set()
    hints: list[ChangeHint] = []
    for notification in listed:
        notification_id = _child_text(notification, "Id") or ""
        if notification_id and notification_id in seen:
            continue  # the same notification twice in one message: one hint
        seen.add(notification_id)
        hint = _hint(notification)
        if hint is not None:
            hints.append(hint)
    return WebhookReceipt(
        hints=tuple(hints), status_code=200, response_body=ACK_BODY, media_type=ACK_MEDIA_TYPE
    )


def check_token(url: str, token: str | None) -> None:
    """Refuse a message whose endpoint URL lacks the configured `token` query parameter (none
    configured: every URL passes). The comparison is constant-time.

    Raises:
        WebhookRejected: the token is missing or wrong.
    """
    if not token:
        return
    given = parse_qs(urlsplit(url).query).get("token") or [""]
    if not hmac.compare_digest(given[-1].encode(), token.encode()):
        raise WebhookRejected(
            "Outbound Message without the endpoint URL's token (BATON_SALESFORCE_WEBHOOK_TOKEN)",
            system=System.SALESFORCE,
            vendor_code="TOKEN_MISMATCH",
        )


def verify_outbound(
    request: WebhookRequest, *, org_id: str | None, token: str | None = None
) -> WebhookReceipt:
    """`check_token` on the URL the message came to, then `parse_outbound` on its body."""
    check_token(request.url, token)
    return parse_outbound(request.body, org_id=org_id)
