"""HubSpot webhook delivery to a real local receiver: batching, signatures, retries, admin."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from hubspot.utils.signature import Signature
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.hubspot.webhooks import (
    RETRY_POLICY,
    WebhookDispatcher,
    WebhookSettings,
    signing_uri,
)
from sandbox.shared.clock import Clock
from sandbox.shared.server import Listener, serve_in_thread

SECRET = "hubspot-client-secret"
SLOW = -1  # an answer that makes the receiver take longer than the dispatcher waits


@dataclass
class Received:
    url: str
    headers: dict[str, str]
    body: str

    @property
    def events(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = orjson.loads(self.body)
        return events


@dataclass
class Receiver:
    """A webhook endpoint that records requests and answers from a script, then 204."""

    answers: list[int] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            received = Received(
                str(request.url), dict(request.headers), (await request.body()).decode()
            )
            with self._changed:
                self.requests.append(received)
                self._changed.notify_all()
                status = self.answers.pop(0) if self.answers else 204
            if status == SLOW:
                await asyncio.sleep(1.0)
                status = 204
            return Response(status_code=status)

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.requests) >= count, timeout), (
                f"expected {count} deliveries, got {len(self.requests)}"
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
    dispatcher: WebhookDispatcher
    receiver: Receiver
    target: str
    admin_url: str


@pytest.fixture
def hub() -> Iterator[Setup]:
    clock = Clock()
    dispatcher = WebhookDispatcher(clock, app_id=4242, portal_id=99, client_secret=SECRET)
    receiver = Receiver()
    admin = FastAPI()
    admin.include_router(dispatcher.admin_router())
    listeners = [Listener(receiver.app()), Listener(admin)]
    with serve_in_thread(listeners, background=[dispatcher.run]):
        yield Setup(clock, dispatcher, receiver, f"{listeners[0].url}/hook", listeners[1].url)


def subscribe(setup: Setup, *types: str, **extra: Any) -> None:
    body = {"targetUrl": setup.target, "subscriptions": list(types), **extra}
    setup.dispatcher.configure(WebhookSettings.model_validate(body))


def test_events_arrive_in_signed_batches_of_at_most_100(hub: Setup) -> None:
    subscribe(
        hub,
        "contact.creation",
        "contact.propertyChange",
        "contact.merge",
        propertyNames={"contact.propertyChange": ["lifecyclestage"]},
    )
    before = hub.clock.now_ms()
    hub.dispatcher.queue.concurrency = 0  # hold deliveries until every event is queued
    for object_id in range(1, 151):
        hub.dispatcher.emit("contact.creation", object_id)
    hub.dispatcher.emit(
        "contact.propertyChange",
        7,
        property_name="lifecyclestage",
        property_value="marketingqualifiedlead",
        change_source="CRM_UI",
    )
    hub.dispatcher.emit("contact.propertyChange", 7, property_name="email", property_value="x@y")
    hub.dispatcher.emit("deal.creation", 1)  # not subscribed
    merge = {"primaryObjectId": 7, "mergedObjectIds": [8], "newObjectId": 7}
    hub.dispatcher.emit("contact.merge", 7, extra={"numberOfPropertiesMoved": 3, **merge})

    hub.dispatcher.queue.concurrency = 10
    eventually(lambda: hub.dispatcher.queue.status()["delivered"] == 152)
    requests = hub.receiver.requests
    assert sorted(len(r.events) for r in requests) == [52, 100]
    events = [event for r in requests for event in r.events]
    assert len(events) == 152
    assert len({event["eventId"] for event in events}) == 152

    for request in requests:
        headers = request.headers
        assert request.url == hub.target
        assert headers["content-type"] == "application/json"
        assert headers["x-hubspot-signature-version"] == "v1"
        assert Signature.is_valid(
            signature=headers["x-hubspot-signature"],
            client_secret=SECRET,
            request_body=request.body,
            signature_version="v1",
        )
        assert Signature.is_valid(
            signature=headers["x-hubspot-signature-v3"],
            client_secret=SECRET,
            request_body=request.body,
            http_uri=hub.target,
            signature_version="v3",
            timestamp=headers["x-hubspot-request-timestamp"],
        )
        assert not Signature.is_valid(
            signature=headers["x-hubspot-signature-v3"],
            client_secret="wrong",
            request_body=request.body,
            http_uri=hub.target,
            signature_version="v3",
            timestamp=headers["x-hubspot-request-timestamp"],
        )

    by_type: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_type.setdefault(event["subscriptionType"], []).append(event)
    creations = by_type["contact.creation"]
    assert sorted(e["objectId"] for e in creations) == list(range(1, 151))
    first = creations[0]
    assert first["portalId"] == 99
    assert first["appId"] == 4242
    assert first["attemptNumber"] == 0
    assert first["changeFlag"] == "CREATED"
    assert first["changeSource"] == "API"
    assert before <= first["occurredAt"] <= hub.clock.now_ms()
    assert "propertyName" not in first
    (change,) = by_type["contact.propertyChange"]
    assert change["propertyName"] == "lifecyclestage"
    assert change["propertyValue"] == "marketingqualifiedlead"
    assert change["changeSource"] == "CRM_UI"
    assert change["subscriptionId"] != first["subscriptionId"]
    (merged,) = by_type["contact.merge"]
    assert merged["mergedObjectIds"] == [8]
    assert merged["numberOfPropertiesMoved"] == 3
    assert "changeFlag" not in merged


def test_failed_deliveries_are_retried_with_a_growing_attempt_number(hub: Setup) -> None:
    hub.receiver.answers = [500, 429]
    subscribe(hub, "contact.deletion")
    hub.dispatcher.emit("contact.deletion", 11)

    first_delay_max = RETRY_POLICY.first_s * (1 + RETRY_POLICY.jitter)
    for failures in (1, 2):
        eventually(lambda n=failures: hub.dispatcher.queue.status()["failed_attempts"] == n)
        hub.clock.advance(first_delay_max * 2 ** (failures - 1) + 1)
    requests = hub.receiver.wait_for(3)

    attempts = [(r.events[0]["eventId"], r.events[0]["attemptNumber"]) for r in requests]
    assert attempts == [(attempts[0][0], 0), (attempts[0][0], 1), (attempts[0][0], 2)]
    eventually(lambda: hub.dispatcher.queue.status()["delivered"] == 1)
    status = hub.dispatcher.queue.status()
    assert [e["status"] for e in status["last_errors"]] == [500, 429]
    assert status["last_errors"][0]["target"] == hub.target
    assert status["pending"] == 0


def test_a_reply_slower_than_five_seconds_counts_as_a_failure(hub: Setup) -> None:
    hub.dispatcher.queue.attempt_timeout_s = 0.2  # stands in for HubSpot's 5 s, to stay fast
    hub.receiver.answers = [SLOW]
    subscribe(hub, "contact.creation")
    hub.dispatcher.emit("contact.creation", 5)
    eventually(lambda: hub.dispatcher.queue.status()["failed_attempts"] == 1)
    assert "timed out" in hub.dispatcher.queue.status()["last_errors"][0]["error"]
    hub.clock.advance(RETRY_POLICY.first_s * 2)
    requests = hub.receiver.wait_for(2)
    assert [r.events[0]["attemptNumber"] for r in requests] == [0, 1]


def test_events_are_dropped_after_ten_retries(hub: Setup) -> None:
    hub.receiver.answers = [503] * 20
    subscribe(hub, "contact.creation")
    hub.dispatcher.emit("contact.creation", 1)
    for failures in range(1, 12):
        eventually(lambda n=failures: hub.dispatcher.queue.status()["failed_attempts"] == n)
        hub.clock.advance(86_400)
    eventually(lambda: hub.dispatcher.queue.status()["dropped"] == 1)
    status = hub.dispatcher.queue.status()
    assert status["pending"] == 0
    assert status["last_dropped"][0]["reason"] == "retries exhausted"
    assert [r.events[0]["attemptNumber"] for r in hub.receiver.requests] == list(range(11))


def test_a_refused_connection_is_a_failed_attempt(hub: Setup) -> None:
    closed = Listener(hub.receiver.app())
    closed.bind()
    assert closed.sock is not None
    closed.sock.close()  # nothing listens there any more
    body = {"targetUrl": f"{closed.url}/hook", "subscriptions": ["contact.creation"]}
    hub.dispatcher.configure(WebhookSettings.model_validate(body))
    hub.dispatcher.emit("contact.creation", 1)
    eventually(lambda: hub.dispatcher.queue.status()["failed_attempts"] == 1)
    (error,) = hub.dispatcher.queue.status()["last_errors"]
    assert error["status"] is None
    assert error["error"].startswith("ConnectError")


def test_emits_from_many_threads_are_all_delivered_once(hub: Setup) -> None:
    subscribe(hub, "contact.propertyChange")

    def burst(start: int) -> None:
        for n in range(start, start + 100):
            hub.dispatcher.emit("contact.propertyChange", n, property_name="a", property_value="1")

    threads = [threading.Thread(target=burst, args=(k * 100,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    eventually(lambda: hub.dispatcher.queue.status()["delivered"] == 400)
    events = [e for r in hub.receiver.requests for e in r.events]
    assert sorted(e["objectId"] for e in events) == list(range(400))
    assert len({e["eventId"] for e in events}) == 400


def test_nothing_is_queued_without_a_matching_subscription(hub: Setup) -> None:
    hub.dispatcher.emit("contact.creation", 1)
    subscribe(hub, "company.creation")
    hub.dispatcher.emit("contact.creation", 2)
    assert hub.dispatcher.queue.status()["pending"] == 0


def test_admin_routes_set_show_and_clear_the_subscriptions(hub: Setup) -> None:
    with httpx.Client(base_url=hub.admin_url) as admin:
        settings = {
            "targetUrl": hub.target,
            "subscriptions": ["contact.creation", "contact.propertyChange"],
            "propertyNames": {"contact.propertyChange": ["lifecyclestage", "hs_lead_status"]},
            "maxConcurrentRequests": 6,
        }
        put = admin.put("/_sandbox/webhooks", json=settings)
        assert put.status_code == 200
        assert put.json()["settings"] == settings
        assert len(put.json()["subscriptions"]) == 3
        assert hub.dispatcher.queue.concurrency == 6
        bad = admin.put("/_sandbox/webhooks", json={**settings, "subscriptions": ["nodot"]})
        assert bad.status_code == 422

        hub.dispatcher.emit("contact.creation", 3)
        hub.receiver.wait_for(1)
        eventually(lambda: admin.get("/_sandbox/webhooks").json()["delivery"]["delivered"] == 1)

        assert admin.delete("/_sandbox/webhooks").status_code == 204
        cleared = admin.get("/_sandbox/webhooks").json()
        assert cleared["settings"] is None
        assert cleared["delivery"]["delivered"] == 0
        hub.dispatcher.emit("contact.creation", 4)
        assert hub.dispatcher.queue.status()["pending"] == 0


def test_the_retry_schedule_spreads_ten_retries_over_about_a_day() -> None:
    rng = random.Random(7)
    delays = [RETRY_POLICY.delay(n, rng) for n in range(1, 11)]
    assert all(d is not None for d in delays)
    total = sum(d for d in delays if d is not None)
    assert 12 * 3600 < total < 36 * 3600
    assert RETRY_POLICY.delay(11, rng) is None


def test_v3_signs_the_target_with_reserved_escapes_decoded(hub: Setup) -> None:
    target = f"{hub.target}?state=a%3Ab%2Fc&q=x%20y"
    body = {"targetUrl": target, "subscriptions": ["contact.creation"]}
    hub.dispatcher.configure(WebhookSettings.model_validate(body))
    hub.dispatcher.emit("contact.creation", 1)
    (request,) = hub.receiver.wait_for(1)
    assert request.url == target
    assert signing_uri(target) == f"{hub.target}?state=a:b/c&q=x%20y"
    assert Signature.is_valid(
        signature=request.headers["x-hubspot-signature-v3"],
        client_secret=SECRET,
        request_body=request.body,
        http_uri=signing_uri(request.url),
        signature_version="v3",
        timestamp=request.headers["x-hubspot-request-timestamp"],
    )
