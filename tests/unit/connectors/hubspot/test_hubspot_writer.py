"""Writer mapping of HubSpot batch answers to per-record outcomes, against a scripted SDK."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from connectors.errors import AuthError, PermanentError
from connectors.hubspot.objects import CONTACTS
from connectors.hubspot.sdk import Reply
from connectors.hubspot.writer import HubSpotWriter
from connectors.records import RecordKey, RecordPatch, System


class ScriptedSdk:
    def __init__(self, answer: Callable[[str, dict[str, Any]], Any]) -> None:
        self.answer = answer
        self.calls: list[tuple[str, dict[str, Any], bool]] = []

    def call(self, path: str, method: str, body: dict[str, Any], **kw: Any) -> Reply:
        self.calls.append((method, body, kw.get("idempotent", True)))
        return Reply(200, {}, self.answer(method, body))


def _new(email: str) -> RecordPatch:
    return RecordPatch(RecordKey(System.HUBSPOT, "contacts", ""), {"email": email, "n": 1})


def _writer(answer: Callable[[str, dict[str, Any]], Any]) -> tuple[HubSpotWriter, ScriptedSdk]:
    sdk = ScriptedSdk(answer)
    return HubSpotWriter(sdk, batch_size=2), sdk  # type: ignore[arg-type]


def test_given_creates_then_trace_ids_are_sent_and_values_are_strings() -> None:
    def answer(method: str, body: dict[str, Any]) -> Any:
        # HubSpot may or may not echo the trace id: the first result omits it.
        return {
            "results": [
                {
                    "id": str(100 + n),
                    **({"objectWriteTraceId": i["objectWriteTraceId"]} if n else {}),
                }
                for n, i in enumerate(body["inputs"])
            ]
        }

    writer, sdk = _writer(answer)
    outcomes = writer.write(CONTACTS, [_new("a@x.io"), _new("b@x.io"), _new("c@x.io")])
    assert [o.id for o in outcomes] == ["100", "101", "100"]
    assert all(o.created and o.ok for o in outcomes)
    method, body, idempotent = sdk.calls[0]
    assert method == "create"
    assert not idempotent  # a create without an external id must not be resent blindly
    assert body["inputs"][0] == {
        "properties": {"email": "a@x.io", "n": "1"},
        "objectWriteTraceId": "0",
    }
    assert len(sdk.calls) == 2  # batch size 2


def test_given_a_207_then_errors_land_on_the_traced_inputs() -> None:
    def answer(method: str, body: dict[str, Any]) -> Any:
        return {
            "status": "COMPLETE",
            "results": [{"id": "7", "objectWriteTraceId": "1"}],
            "numErrors": 1,
            "errors": [
                {
                    "status": "error",
                    "category": "VALIDATION_ERROR",
                    "message": "Property values were not valid",
                    "context": {"objectWriteTraceId": ["0"]},
                    "errors": [
                        {
                            "message": "bad email",
                            "code": "INVALID_EMAIL",
                            "context": {"propertyName": ["email"]},
                        }
                    ],
                }
            ],
        }

    writer, _ = _writer(answer)
    bad, good = writer.write(CONTACTS, [_new("nope"), _new("b@x.io")])
    assert good.ok
    assert good.id == "7"
    assert not bad.ok
    assert bad.error_code == "INVALID_EMAIL"
    assert bad.error_fields == ("email",)
    assert bad.error_message == "Property values were not valid"


def test_given_a_refusal_that_is_not_about_records_then_it_propagates() -> None:
    def answer(method: str, body: dict[str, Any]) -> Any:
        raise AuthError("missing scopes", status=403)

    writer, _ = _writer(answer)
    with pytest.raises(AuthError):
        writer.write(CONTACTS, [_new("a@x.io")])


def test_given_a_whole_batch_refusal_then_halves_are_retried_until_the_culprit() -> None:
    def answer(method: str, body: dict[str, Any]) -> Any:
        if any(i["properties"]["email"] == "bad" for i in body["inputs"]):
            raise PermanentError("rejected", status=400, vendor_code="VALIDATION_ERROR")
        return {"results": [{"id": "1", "objectWriteTraceId": "0"}]}

    sdk = ScriptedSdk(answer)
    writer = HubSpotWriter(sdk)  # type: ignore[arg-type]
    outcomes = writer.write(CONTACTS, [_new("a@x.io"), _new("bad")])
    assert [o.ok for o in outcomes] == [True, False]
    assert outcomes[1].error_code == "VALIDATION_ERROR"
    assert len(sdk.calls) == 3


def test_given_deletes_then_archived_per_batch_in_order_and_a_lone_refusal_is_an_outcome() -> None:
    def answer(method: str, body: dict[str, Any]) -> Any:
        assert method == "archive"
        if any(i["id"] == "bad" for i in body["inputs"]):
            raise PermanentError("rejected", status=400, vendor_code="VALIDATION_ERROR")
        return None  # 204

    writer, sdk = _writer(answer)
    outcomes = writer.delete(CONTACTS, ["1", "bad", "2", "1"])

    assert [(o.patch.key.id, o.id, o.ok) for o in outcomes] == [
        ("1", "1", True),
        ("bad", "bad", False),
        ("2", "2", True),
        ("1", "1", True),
    ]
    assert outcomes[1].error_code == "VALIDATION_ERROR"
    assert all(o.patch.key == RecordKey(System.HUBSPOT, "contacts", o.id) for o in outcomes)
    assert [(m, [i["id"] for i in b["inputs"]]) for m, b, _ in sdk.calls] == [
        ("archive", ["1", "bad"]),  # batch size 2; refused whole, then split
        ("archive", ["1"]),
        ("archive", ["bad"]),
        ("archive", ["2"]),
    ]
    assert all(idempotent for _, _, idempotent in sdk.calls)
