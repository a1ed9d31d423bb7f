"""HubSpot app webhooks: subscriptions set via `/_sandbox/webhooks`, events POSTed as HubSpot does.

A delivery is a JSON array of ≤100 events, signed v3 (`X-HubSpot-Signature-v3`, HMAC-SHA256 of
method + URL + body + timestamp, base64) and v1 (`X-HubSpot-Signature`, SHA-256 hex of secret +
body). Any connection failure, timeout over 5 s or 4xx/5xx is retried up to 10 times over about a
day with randomized, growing delays; `attemptNumber` counts from 0 per event.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import orjson
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, field_validator

from sandbox.shared.admin import settings_router
from sandbox.shared.clock import Clock
from sandbox.shared.delivery import Delivery, DeliveryQueue, Outcome, RetryPolicy

ATTEMPT_TIMEOUT_S = 5.0
BATCH_SIZE = 100
# Docs: "up to 10 retries spread over the next 24 hours" with randomized delays. Assumed shape:
# ~80 s doubling (± 25 %), which puts the tenth retry about 23 h after the first attempt.
RETRY_POLICY = RetryPolicy(first_s=80.0, factor=2.0, max_retries=10, jitter=0.25)
SUBSCRIPTION_ID_BASE = 1_000_000
CHANGE_FLAGS = {"creation": "CREATED"}


class WebhookSettings(BaseModel):
    """Target, subscription types and throttling (one body instead of HubSpot's three endpoints)."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    target_url: str = Field(alias="targetUrl", pattern=r"^https?://")
    subscriptions: list[str] = Field(min_length=1, max_length=1000)
    property_names: dict[str, list[str]] | None = Field(None, alias="propertyNames")
    max_concurrent_requests: int = Field(10, alias="maxConcurrentRequests", ge=5, le=100)

    @field_validator("subscriptions")
    @classmethod
    def _event_types(cls, value: list[str]) -> list[str]:
        for name in value:
            obj, _, event = name.partition(".")
            if not obj or not event:
                raise ValueError(f"subscription type {name!r} is not '<object>.<event>'")
        return value


# HubSpot signs the URI with these escapes decoded (docs, "Validating requests"), so receivers
# that decode them the same way compute the same signature.
_DECODED_IN_URI = {
    "%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'",
    "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";",
}  # fmt: skip
_ESCAPE = re.compile("|".join(_DECODED_IN_URI), re.IGNORECASE)


def signing_uri(url: str) -> str:
    return _ESCAPE.sub(lambda match: _DECODED_IN_URI[match.group().upper()], url)


def sign_v3(client_secret: str, method: str, uri: str, body: str, timestamp: str) -> str:
    digest = hmac.new(
        client_secret.encode(), f"{method}{uri}{body}{timestamp}".encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode()


def sign_v1(client_secret: str, body: str) -> str:
    return hashlib.sha256(f"{client_secret}{body}".encode()).hexdigest()


class WebhookDispatcher:
    """Turns CRM changes into webhook events for the subscribed types and delivers them."""

    def __init__(self, clock: Clock, *, app_id: int, portal_id: int, client_secret: str) -> None:
        self.clock = clock
        self.app_id = app_id
        self.portal_id = portal_id
        self.client_secret = client_secret
        self.queue = DeliveryQueue(
            clock,
            policy=RETRY_POLICY,
            batch_size=BATCH_SIZE,
            attempt_timeout_s=ATTEMPT_TIMEOUT_S,
            seed=app_id,
        )
        self._lock = threading.Lock()
        self._event_ids = itertools.count(1)
        self.settings: WebhookSettings | None = None
        self._subscription_ids: dict[tuple[str, str | None], int] = {}
        self._types: frozenset[str] = frozenset()
        self._created_at: int | None = None

    # Settings

    def configure(self, settings: WebhookSettings) -> None:
        ids: dict[tuple[str, str | None], int] = {}
        names = settings.property_names or {}
        for kind in settings.subscriptions:
            props: list[str | None] = [*names.get(kind, ())] or [None]
            for prop in props:
                ids[(kind, prop)] = SUBSCRIPTION_ID_BASE + len(ids)
        with self._lock:
            self.settings = settings
            self._subscription_ids = ids
            self._types = frozenset(settings.subscriptions)
            self._created_at = self._created_at or self.clock.now_ms()
        self.queue.concurrency = settings.max_concurrent_requests

    def reset(self) -> None:
        """No subscriptions, nothing queued, counters at zero."""
        with self._lock:
            self.settings = None
            self._subscription_ids = {}
            self._types = frozenset()
            self._created_at = None
        self.queue.reset()

    # Events

    def emit(
        self,
        subscription_type: str,
        object_id: int,
        *,
        property_name: str | None = None,
        property_value: str | None = None,
        change_source: str = "API",
        extra: Mapping[str, object] | None = None,
    ) -> None:
        """Queue one event if a subscription matches; otherwise do nothing (cheaply)."""
        settings = self.settings
        if settings is None or subscription_type not in self._types:
            return
        subscription_id = self._subscription_ids.get((subscription_type, property_name))
        if subscription_id is None:
            subscription_id = self._subscription_ids.get((subscription_type, None))
            if subscription_id is None:
                return  # a propertyChange subscription for other properties
        with self._lock:
            event_id = next(self._event_ids)
        event: dict[str, Any] = {
            "eventId": event_id,
            "subscriptionId": subscription_id,
            "portalId": self.portal_id,
            "appId": self.app_id,
            "occurredAt": self.clock.now_ms(),
            "subscriptionType": subscription_type,
            "objectId": object_id,
            "changeSource": change_source,
        }
        flag = CHANGE_FLAGS.get(subscription_type.partition(".")[2])
        if flag:
            event["changeFlag"] = flag
        if subscription_type.endswith(".propertyChange"):
            event["propertyName"] = property_name
            event["propertyValue"] = property_value
        if extra:
            event.update(extra)
        self.queue.enqueue(str(event_id), event, group=settings.target_url)

    # Delivery

    async def run(self) -> None:
        """Deliver queued events forever (cancel to stop)."""
        async with httpx.AsyncClient(timeout=ATTEMPT_TIMEOUT_S) as client:

            async def send(batch: Sequence[Delivery]) -> Outcome:
                return await self._post(client, batch)

            await self.queue.run(send)

    async def _post(self, client: httpx.AsyncClient, batch: Sequence[Delivery]) -> Outcome:
        settings = self.settings  # HubSpot reads the target at delivery time
        url = settings.target_url if settings is not None else str(batch[0].group)
        events = [{**item.payload, "attemptNumber": item.attempts} for item in batch]
        body = orjson.dumps(events).decode()
        timestamp = str(self.clock.now_ms())
        headers = {
            "Content-Type": "application/json",
            "X-HubSpot-Signature-Version": "v1",
            "X-HubSpot-Signature": sign_v1(self.client_secret, body),
            "X-HubSpot-Signature-v3": sign_v3(
                self.client_secret, "POST", signing_uri(url), body, timestamp
            ),
            "X-HubSpot-Request-Timestamp": timestamp,
        }
        response = await client.post(url, content=body.encode(), headers=headers)
        if response.is_success:
            return Outcome(True, status=response.status_code)
        return Outcome(False, status=response.status_code, error=response.text[:200] or None)

    # Admin

    def snapshot(self) -> dict[str, Any]:
        settings = self.settings
        return {
            "settings": None if settings is None else settings.model_dump(by_alias=True),
            "subscriptions": [
                {"id": sid, "subscriptionType": kind, "propertyName": prop}
                for (kind, prop), sid in self._subscription_ids.items()
            ],
            "createdAt": self._created_at,
            "delivery": self.queue.status(),
        }

    def admin_router(self) -> APIRouter:
        return settings_router("/_sandbox/webhooks", WebhookSettings, self)
