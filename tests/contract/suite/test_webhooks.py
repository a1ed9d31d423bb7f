"""`verify_webhook` on real pushes: a HubSpot webhook delivery signed by the sandbox, and a
Salesforce Outbound Message sent by it, both over a real socket to a receiver that answers with
the connector's receipt (the sandbox only counts a delivery done when it gets the right reply).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.errors import WebhookRejected
from connectors.records import ChangeKind
from tests.contract.suite.sides import Side


@pytest.fixture
def subscribed(side: Side, connector: Any) -> Iterator[Any]:
    side.receiver.verify = connector.verify_webhook
    side.receiver.deliveries.clear()
    side.subscribe(f"/hooks/{side.name}")
    yield connector
    side.unsubscribe()
    side.receiver.verify = None


def test_given_a_change_in_the_ui_then_the_pushed_delivery_verifies_and_names_the_record(
    side: Side, subscribed: Any
) -> None:
    record_id = side.create("Hooked")
    before = side.delivered()["delivered"]

    side.box.update(side.person, record_id, {side.writable: "Webhook Title"})
    deliveries = side.receiver.wait_until(lambda seen: bool(_hints(seen, record_id, side)))

    assert all(d.rejected is None for d in deliveries)
    mine = _hints(deliveries, record_id, side)
    assert mine, "no verified delivery named the change within the timeout"
    assert all(h.key.system is side.system and h.key.object == side.person for h in mine)
    assert all(h.kind is ChangeKind.UPDATED for h in mine)
    assert all(d.receipt is not None and 200 <= d.receipt.status_code < 300 for d in deliveries)

    # The sandbox got the reply it needs (HubSpot: a 2xx; Salesforce: the SOAP Ack); it
    # counts the delivery just after reading our reply, so look until it has.
    deadline = time.monotonic() + 5
    while side.delivered()["delivered"] <= before and time.monotonic() < deadline:
        threading.Event().wait(0.02)
    status = side.delivered()
    assert status["delivered"] > before
    assert status["failed_attempts"] == 0


def _hints(deliveries: list[Any], record_id: str, side: Side) -> list[Any]:
    """Verified hints about `record_id` that name the changed field."""
    return [
        h
        for d in deliveries
        if d.receipt
        for h in d.receipt.hints
        if h.key.id == record_id and side.writable in h.fields
    ]


def test_given_an_altered_delivery_then_it_is_rejected(side: Side, subscribed: Any) -> None:
    record_id = side.create("Forged")
    side.receiver.deliveries.clear()
    side.box.update(side.person, record_id, {side.writable: "Forged Title"})
    (first, *_) = side.receiver.wait_for(1)

    with pytest.raises(WebhookRejected):
        subscribed.verify_webhook(side.forge(first.request))
