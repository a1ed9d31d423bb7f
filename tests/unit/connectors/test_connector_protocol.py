"""The Connector protocol is satisfiable by a plain class; the shared surface is what it says."""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import FrozenInstanceError
from datetime import UTC, datetime, timedelta

import pytest

import connectors.errors
import connectors.http
from connectors.errors import ConnectorError, WebhookRejected
from connectors.protocol import Connector
from connectors.records import (
    ChangeHint,
    ChangeKind,
    ContactRole,
    Conversion,
    FieldSchema,
    ListedPage,
    PicklistOption,
    RecordKey,
    RecordPatch,
    SourceRecord,
    System,
    WebhookReceipt,
    WebhookRequest,
    WriteOutcome,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class InMemoryConnector:
    """A minimal connector over a dict, written to the protocol's cursor rules."""

    system = System.HUBSPOT

    def __init__(self, records: list[SourceRecord]) -> None:
        self.records = records

    def vendor_now(self) -> datetime | None:
        return None

    def read_changes(
        self, object: str, since: datetime | None, until: datetime
    ) -> Iterator[SourceRecord]:
        window = [
            r
            for r in self.records
            if r.key.object == object
            and (since is None or r.modified_at >= since)
            and r.modified_at < until
        ]
        yield from sorted(window, key=lambda r: (r.modified_at, r.key.id))

    def read_deletions(
        self, object: str, since: datetime | None, until: datetime
    ) -> Iterator[SourceRecord]:
        yield from (r for r in self.read_changes(object, since, until) if r.deleted)

    def read_all(self, object: str) -> Iterator[SourceRecord]:
        yield from (r for r in self.records if r.key.object == object)

    def list_all(self, object: str, start: str | None = None) -> Iterator[ListedPage]:
        mine = [r for r in self.records if r.key.object == object]
        begin = int(start or 0)
        for at in range(begin, len(mine), 2):
            yield ListedPage(mine[at : at + 2], str(at + 2) if at + 2 < len(mine) else None)

    def count_all(self, object: str) -> int | None:
        return sum(r.key.object == object for r in self.records)

    def read_by_ids(self, object: str, ids: Sequence[str]) -> list[SourceRecord]:
        return [r for r in self.records if r.key.object == object and r.key.id in ids]

    def find_by(self, object: str, field: str, values: Sequence[str]) -> list[SourceRecord]:
        return [r for r in self.records if r.key.object == object and r.get(field) in values]

    def read_contact_roles(self, opportunity_ids: Sequence[str]) -> list[ContactRole]:
        return []

    def read_conversions(self, opportunity_ids: Sequence[str]) -> list[Conversion]:
        return []

    def write(self, object: str, patches: Sequence[RecordPatch]) -> list[WriteOutcome]:
        return [WriteOutcome(patch=p, id=p.key.id or "new", created=not p.key.id) for p in patches]

    def delete(self, object: str, ids: Sequence[str]) -> list[WriteOutcome]:
        gone = set(ids)
        self.records = [r for r in self.records if r.key.object != object or r.key.id not in gone]
        return [WriteOutcome(RecordPatch(RecordKey(self.system, object, i), {}), i) for i in ids]

    def describe(self, object: str) -> list[FieldSchema]:
        return [FieldSchema(name="email", type="string")]

    def picklists(
        self, object: str, fields: Sequence[str]
    ) -> Mapping[str, tuple[PicklistOption, ...]]:
        return {"lifecyclestage": (PicklistOption("lead", "Lead"),)}

    def verify_webhook(self, request: WebhookRequest) -> WebhookReceipt:
        if request.header("X-HubSpot-Signature-V3") != "good":
            raise WebhookRejected("bad signature", system=self.system, operation="webhook")
        key = RecordKey(System.HUBSPOT, "contacts", "1")
        return WebhookReceipt(hints=(ChangeHint(key=key, kind=ChangeKind.UPDATED),))


def record(id: str, minutes: int) -> SourceRecord:
    return SourceRecord(
        key=RecordKey(System.HUBSPOT, "contacts", id),
        fields={"email": f"{id}@example.com"},
        modified_at=T0 + timedelta(minutes=minutes),
    )


def test_a_plain_class_satisfies_the_protocol() -> None:
    assert isinstance(InMemoryConnector([]), Connector)


def test_a_class_missing_a_member_does_not() -> None:
    class Partial:
        system = System.SALESFORCE

        def read_all(self, object: str) -> Iterator[SourceRecord]:
            yield from ()

    assert not isinstance(Partial(), Connector)


def test_protocol_members_are_the_documented_ones() -> None:
    members = {
        name
        for name, _ in inspect.getmembers(Connector)
        if not name.startswith("_") and name not in {"register"}
    }

    assert members == {
        "system",
        "vendor_now",
        "read_changes",
        "read_deletions",
        "read_all",
        "list_all",
        "count_all",
        "read_by_ids",
        "find_by",
        "read_contact_roles",
        "read_conversions",
        "write",
        "delete",
        "describe",
        "picklists",
        "verify_webhook",
    }


def test_half_open_window_with_id_tie_breaks() -> None:
    connector = InMemoryConnector(
        [record("b", 5), record("a", 5), record("c", 10), record("z", 0), record("y", 15)]
    )

    got = list(
        connector.read_changes("contacts", T0 + timedelta(minutes=5), T0 + timedelta(minutes=15))
    )

    assert [r.key.id for r in got] == ["a", "b", "c"]


def test_webhook_request_headers_are_case_insensitive_and_frozen() -> None:
    request = WebhookRequest(
        method="POST",
        url="https://baton.test/webhooks/hubspot",
        headers={"X-HubSpot-Signature-V3": "good"},
        body=b"[]",
        received_at=T0,
    )

    assert request.header("x-hubspot-signature-v3") == "good"
    with pytest.raises(TypeError):
        request.headers["x"] = "y"  # type: ignore[index]
    with pytest.raises(FrozenInstanceError):
        request.body = b"changed"  # type: ignore[misc]


def test_rejected_webhooks_raise_an_auth_error() -> None:
    request = WebhookRequest("POST", "https://b.test/", {}, b"", T0)

    with pytest.raises(connectors.errors.AuthError):
        InMemoryConnector([]).verify_webhook(request)


def test_http_package_exports_exactly_its_public_surface() -> None:
    public = {
        name
        for name, value in vars(connectors.http).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    }

    assert public == set(connectors.http.__all__)


def test_errors_module_exports_every_error_class() -> None:
    classes = {
        name
        for name, value in vars(connectors.errors).items()
        if inspect.isclass(value) and issubclass(value, ConnectorError)
    }

    assert classes <= set(connectors.errors.__all__)


def test_error_tree_shape() -> None:
    e = connectors.errors
    assert issubclass(e.SessionExpired, e.AuthError)
    assert issubclass(e.WebhookRejected, e.AuthError)
    assert not issubclass(e.DailyLimitExhausted, e.RateLimited)
    retryable = {
        c.__name__
        for c in vars(e).values()
        if inspect.isclass(c) and issubclass(c, ConnectorError) and c.retryable
    }
    # SessionExpired is the retry layer's own signal: callers never get to retry one later
    assert retryable == {"RateLimited", "TransientError"}


def test_a_failed_outcome_becomes_a_record_rejection_with_code_message_and_fields() -> None:
    patch = RecordPatch(key=RecordKey(System.SALESFORCE, "Lead", "00Q1"), fields={"LastName": ""})
    outcome = WriteOutcome(
        patch=patch,
        id=None,
        error_code="REQUIRED_FIELD_MISSING",
        error_message="Required fields are missing: [LastName]",
        error_fields=("LastName",),
    )

    rejection = connectors.errors.RecordRejected.from_outcome(
        outcome, system=System.SALESFORCE, operation="Lead.collections_update"
    )

    assert rejection.record_id == "00Q1"
    assert rejection.fields == ("LastName",)
    assert not rejection.transient
    assert str(rejection) == (
        "salesforce Lead.collections_update: Lead record 00Q1 rejected "
        "[REQUIRED_FIELD_MISSING: Required fields are missing: [LastName]]"
    )
    with pytest.raises(ValueError, match="successful"):
        connectors.errors.RecordRejected.from_outcome(
            WriteOutcome(patch=patch, id="00Q1"), system="salesforce", operation="x"
        )
