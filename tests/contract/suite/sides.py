"""One adapter per system, so the contract suite can say everything once for both connectors.

A `Side` holds a served, freshly seeded imitation (HubSpot over HTTP, Salesforce over HTTPS with
its CA), the system's words (its person object, a writable field, its external id, a restricted
picklist and a value it refuses), and the admin levers a test pulls: the sandbox clock, request
counts, fault plans, the daily cap, webhook subscriptions and picklist options. Connectors are
built the way the composition root builds them, but with no-op waits and a small retry policy,
so a fault test costs milliseconds rather than backoff seconds.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.errors import WebhookRejected
from connectors.http.budget import ApiBudget, hubspot_spec, salesforce_spec
from connectors.http.retry import RetryPolicy
from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.settings import HubSpotSettings
from connectors.records import SourceRecord, System, WebhookReceipt, WebhookRequest
from connectors.salesforce.connector import SalesforceConnector
from connectors.salesforce.settings import SalesforceSettings
from sandbox.shared.clock import FrozenClock
from sandbox.shared.faults import FaultPlan
from tests.contract.admin import SandboxAdmin

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CONNECTOR_KWARGS = ("budget", "policy", "sleep")


def no_wait(_seconds: float) -> None:
    """Retry and budget waits cost nothing in the suite; the sandbox still counts every call."""


@dataclass
class Delivery:
    """One webhook as the receiver got it, and what verifying it gave."""

    request: WebhookRequest
    receipt: WebhookReceipt | None
    rejected: WebhookRejected | None


class Receiver:
    """A webhook endpoint on a real socket that verifies each delivery with `verify`.

    It answers with the receipt's own reply (HubSpot: any 2xx; Salesforce: the SOAP ack), or 401
    when verification fails, exactly as Baton's service would; each delivery is kept for the test.
    """

    def __init__(self) -> None:
        self.verify: Callable[[WebhookRequest], WebhookReceipt] | None = None
        self.deliveries: list[Delivery] = []
        self.arrived = threading.Condition()

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hooks/{system}", self._receive, methods=["POST"])])

    async def _receive(self, request: Request) -> Response:
        seen = WebhookRequest(
            method=request.method,
            url=str(request.url),
            headers=dict(request.headers),
            body=await request.body(),
            received_at=datetime.now(UTC),
        )
        receipt: WebhookReceipt | None = None
        rejected: WebhookRejected | None = None
        if self.verify is None:
            reply = Response(status_code=503)
        else:
            try:
                receipt = self.verify(seen)
                reply = Response(
                    receipt.response_body,
                    status_code=receipt.status_code,
                    media_type=receipt.media_type,
                )
            except WebhookRejected as exc:
                rejected = exc
                reply = Response(status_code=401)
        with self.arrived:
            self.deliveries.append(Delivery(seen, receipt, rejected))
            self.arrived.notify_all()
        return reply

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Delivery]:
        return self.wait_until(lambda seen: len(seen) >= count, timeout)

    def wait_until(
        self, done: Callable[[list[Delivery]], bool], timeout: float = 10.0
    ) -> list[Delivery]:
        """The deliveries so far, once `done` holds for them (or the timeout passes)."""
        with self.arrived:
            self.arrived.wait_for(lambda: done(self.deliveries), timeout=timeout)
            return list(self.deliveries)


@dataclass
class Side(SandboxAdmin):
    """The system-neutral handle every contract test gets (see the module docstring)."""

    name: str
    system: System
    box: Any
    url: str
    clock: FrozenClock
    receiver: Receiver
    receiver_url: str
    person: str  # the person object: "contacts" / "Lead"
    writable: str  # a plain text field on it
    external_id: str  # the unique field idempotent upserts match on
    status: str  # a restricted picklist on the person object
    bad_status: str  # a value that picklist refuses
    reject_code: str  # the vendor's code for that refusal
    duplicate_code: str  # the vendor's code for a create repeating a unique value
    rate_limit_status: int  # how the vendor says "slow down" (HubSpot 429, Salesforce 403)
    api_prefix: str  # the data API's path prefix (faults and counts aim here)
    token_route: str  # a fragment of the token endpoint's route
    check_fields: tuple[tuple[str, str], ...]  # (object, field) `mappings check` reads
    read_batch: int  # ids per by-id read call
    write_batch: int  # records per batch write call
    objects: dict[str, dict[str, str]]  # other objects in the table, with fields to create one
    ca_file: Path | None = None
    built: list[Any] = field(default_factory=list)

    # Connectors

    def connector(self, **overrides: Any) -> Any:
        """A connector on this side's sandbox; settings may be overridden by keyword."""
        kwargs = {name: overrides.pop(name) for name in CONNECTOR_KWARGS if name in overrides}
        kwargs.setdefault("sleep", no_wait)
        kwargs.setdefault("policy", RetryPolicy(max_attempts=6))
        made = self._build(overrides, kwargs)
        self.built.append(made)
        return made

    def refreshable(self) -> Any:
        """A connector whose credentials can be refreshed (HubSpot OAuth; Salesforce always)."""
        return self.connector()

    def budget(self, **spec: Any) -> ApiBudget:
        """The system's API budget (`hubspot_spec` / `salesforce_spec` keywords), unpaced."""
        raise NotImplementedError

    def wrong_credentials(self) -> tuple[dict[str, Any], str]:
        """Settings overrides the system refuses, and the secret among them."""
        raise NotImplementedError

    def _build(self, settings: dict[str, Any], kwargs: dict[str, Any]) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        for made in self.built:
            closer = getattr(made, "close", None)
            if callable(closer):
                closer()
        self.built.clear()

    # Records, in the system's words

    def new_fields(self, tag: str) -> dict[str, Any]:
        raise NotImplementedError

    def create(self, tag: str) -> str:
        """Create a person as a user in the UI would (not an API write); returns its id."""
        raise NotImplementedError

    def delete(self, record_id: str) -> None:
        raise NotImplementedError

    def missing_id(self) -> str:
        raise NotImplementedError

    def order(self, record: SourceRecord) -> tuple[datetime, Any]:
        """The `(modified_at, id)` sort key, ids compared as the system orders them."""
        return (record.modified_at, record.key.id)

    # Time

    def slot(self) -> datetime:
        """Move the sandbox clock to a fresh hour nothing else was written in."""
        self.clock.advance(3600)
        return self.now()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), tz=UTC)

    # Counting and faults

    def calls(self, fragment: str | None = None) -> int:
        """Requests the sandbox counted on routes containing `fragment` (the data API)."""
        routes: dict[str, int] = self.stats()["by_route"]
        wanted = fragment or self.api_prefix
        return sum(n for route, n in routes.items() if wanted in route)

    def settle(self, requests: int, timeout: float = 5.0) -> int:
        """Wait until the sandbox has finished `requests` requests since the last reset.

        A response slower than the client's timeout is still being served after the client
        gave up; it is counted when it ends, and must not leak into the next test's counts.
        """
        deadline = time.monotonic() + timeout
        seen = self.stats()["requests"]
        while seen < requests and time.monotonic() < deadline:
            threading.Event().wait(0.05)
            seen = self.stats()["requests"]
        return int(seen)

    def statuses(self) -> dict[int, int]:
        return {int(k): v for k, v in self.stats()["by_status"].items()}

    def faults(self, **plan: Any) -> None:
        """Inject faults into the data API (a `FaultPlan`, checked here)."""
        plan.setdefault("path_prefix", self.api_prefix)
        super().faults(**FaultPlan(**plan).model_dump())

    @contextlib.contextmanager
    def daily_cap_spent(self) -> Iterator[None]:
        """The org/portal has no daily calls left and refuses further ones."""
        self.limits(enabled=True, daily_remaining=0)
        try:
            yield
        finally:
            self.limits(enabled=False)
            self.box.limits.reset()  # the full allocation back (no admin route for just this)

    # Webhooks and picklists

    def subscribe(self, path: str) -> None:
        """Have the sandbox push changes of the person object to the receiver at `path`."""
        raise NotImplementedError

    def unsubscribe(self) -> None:
        raise NotImplementedError

    def delivered(self) -> dict[str, Any]:
        """The sandbox's own delivery counters for its webhooks / outbound messages."""
        raise NotImplementedError

    def forge(self, request: WebhookRequest) -> WebhookRequest:
        """The delivery as an attacker would alter it (what verification exists to catch)."""
        raise NotImplementedError

    @contextlib.contextmanager
    def picklist_value_added(self, value: str) -> Iterator[None]:
        """`value` is an option of the `status` picklist while the block runs."""
        raise NotImplementedError
        yield  # pragma: no cover


class HubSpotSide(Side):
    def _settings(self, **overrides: Any) -> dict[str, Any]:
        options = self.box.options
        values: dict[str, Any] = {
            "base_url": self.url,
            "access_token": options.access_token,
            "client_secret": options.client_secret,
        }
        values.update(overrides)
        return values

    def budget(self, **spec: Any) -> ApiBudget:
        return ApiBudget(hubspot_spec(**spec), sleep=no_wait)

    def wrong_credentials(self) -> tuple[dict[str, Any], str]:
        token = "pat-na1-11111111-2222-4333-8444-5555wrongtkn"
        return {"access_token": token}, token

    def _build(self, settings: dict[str, Any], kwargs: dict[str, Any]) -> Any:
        kwargs.setdefault("budget", self.budget())
        # Webhook timestamps are the sandbox clock's; the receiver's clock must agree.
        return HubSpotConnector(
            HubSpotSettings(**self._settings(**settings)), clock=self.clock.now, **kwargs
        )

    def refreshable(self) -> Any:
        grant = self.box.tokens.issue()
        return self.connector(
            access_token=None,
            client_id=self.box.options.client_id,
            refresh_token=SecretStr(grant["refresh_token"]),
        )

    def new_fields(self, tag: str) -> dict[str, Any]:
        return {"email": f"{tag.lower()}@example.com", "firstname": tag}

    def create(self, tag: str) -> str:
        return str(self.box.create("contacts", self.new_fields(tag)))

    def delete(self, record_id: str) -> None:
        with self.admin() as http:
            http.delete(
                f"/crm/v3/objects/contacts/{record_id}", headers=self._bearer()
            ).raise_for_status()

    def missing_id(self) -> str:
        return "987654321"

    def order(self, record: SourceRecord) -> tuple[datetime, Any]:
        return (record.modified_at, int(record.key.id))

    def _bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.box.options.access_token}"}

    def subscribe(self, path: str) -> None:
        body = {"targetUrl": self.receiver_url + path, "subscriptions": ["contact.propertyChange"]}
        with self.admin() as http:
            http.put("/_sandbox/webhooks", json=body).raise_for_status()

    def unsubscribe(self) -> None:
        with self.admin() as http:
            http.delete("/_sandbox/webhooks").raise_for_status()

    def delivered(self) -> dict[str, Any]:
        with self.admin() as http:
            status: dict[str, Any] = http.get("/_sandbox/webhooks").json()["delivery"]
            return status

    def forge(self, request: WebhookRequest) -> WebhookRequest:
        """Same signature headers, another body: the signature no longer matches."""
        body = request.body.replace(b'"objectId":', b'"objectId":1')
        assert body != request.body
        return replace(request, body=body)

    @contextlib.contextmanager
    def picklist_value_added(self, value: str) -> Iterator[None]:
        """Through the Properties API, as a portal admin (or another integration) would."""
        path = f"/crm/v3/properties/contacts/{self.status}"
        with self.admin() as http:
            before = http.get(path, headers=self._bearer()).json()["options"]
            added = [*before, {"label": value.title(), "value": value, "hidden": False}]
            http.patch(path, json={"options": added}, headers=self._bearer()).raise_for_status()
            try:
                yield
            finally:
                http.patch(
                    path, json={"options": before}, headers=self._bearer()
                ).raise_for_status()


class SalesforceSide(Side):
    def budget(self, **spec: Any) -> ApiBudget:
        return ApiBudget(salesforce_spec(**spec), sleep=no_wait)

    def wrong_credentials(self) -> tuple[dict[str, Any], str]:
        secret = "wrong-consumer-secret-0123456789abcdef"
        return {"client_secret": secret}, secret

    def _build(self, settings: dict[str, Any], kwargs: dict[str, Any]) -> Any:
        kwargs.setdefault("budget", self.budget())
        options = self.box.options
        values: dict[str, Any] = {
            "login_url": self.url,
            "auth": "client_credentials",
            "client_id": options.client_id,
            "client_secret": options.client_secret,
            "org_id": options.org_id,
            "ca_file": self.ca_file,
            "bulk_poll_s": 0.01,
        }
        values.update(settings)
        return SalesforceConnector(SalesforceSettings(**values), **kwargs)

    def new_fields(self, tag: str) -> dict[str, Any]:
        return {"LastName": tag, "Company": "Acme"}

    def create(self, tag: str) -> str:
        return str(self.box.create("Lead", self.new_fields(tag)))

    def delete(self, record_id: str) -> None:
        self.box.org.delete("Lead", record_id)

    def missing_id(self) -> str:
        return "00Q000000000000AAA"

    def subscribe(self, path: str) -> None:
        body = {
            "targetUrl": self.receiver_url + path,
            "sobjects": {"Lead": ["Status", self.writable, "SystemModstamp"]},
        }
        with self.admin() as http:
            http.put("/_sandbox/outbound-messages", json=body).raise_for_status()

    def unsubscribe(self) -> None:
        with self.admin() as http:
            http.delete("/_sandbox/outbound-messages").raise_for_status()

    def delivered(self) -> dict[str, Any]:
        with self.admin() as http:
            status: dict[str, Any] = http.get("/_sandbox/outbound-messages").json()["delivery"]
            return status

    def forge(self, request: WebhookRequest) -> WebhookRequest:
        """Outbound Messages are unsigned; what is checked is the sending organization."""
        org = self.box.options.org_id.encode()
        body = request.body.replace(org, b"00D000000000001AAA")
        assert body != request.body
        return replace(request, body=body)

    @contextlib.contextmanager
    def picklist_value_added(self, value: str) -> Iterator[None]:
        """Through the imitation's schema table: it has no Metadata/Tooling API to add a value.

        Setup (or the Metadata API) adds a picklist value in a real org; the imitation's schema
        is data in `sandbox.salesforce.objects`, so the option is added there for the block and
        removed after. Describe (the REST API the connector calls) shows it while it exists, and
        restricted-picklist validation accepts it, exactly as in an org.
        """
        from sandbox.salesforce.objects import Choice, schema

        found = schema(self.person)
        assert found is not None
        status = found.field(self.status)
        assert status is not None
        before = status.choices
        object.__setattr__(status, "choices", (*before, Choice(value)))
        try:
            yield
        finally:
            object.__setattr__(status, "choices", before)
