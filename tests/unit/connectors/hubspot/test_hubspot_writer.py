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


def _upsert(email: str) -> RecordPatch:
    return RecordPatch(RecordKey(System.HUBSPOT, "contacts", ""), {"email": email}, "email")


def _refused(category: str, message: str, context: dict[str, list[str]], code: str = "") -> Any:
    details = [{"message": message, "code": code}] if code else []
    return {
        "status": "error",
        "category": category,
        "message": message,
        "context": context,
        "errors": details,
    }


def _upsert_answer(*errors: Any, results: Any = ()) -> Callable[[str, dict[str, Any]], Any]:
    def answer(method: str, body: dict[str, Any]) -> Any:
        assert method == "upsert"
        return {"status": "COMPLETE", "results": list(results), "errors": list(errors)}

    return answer


def test_given_an_upsert_207_then_each_error_lands_on_the_input_it_names() -> None:
    """By trace id where HubSpot echoes it, else by the id value (an email, any case)."""
    writer, sdk = _writer(
        _upsert_answer(
            _refused("VALIDATION_ERROR", "bad option", {"ids": ["A@X.com"]}, code="INVALID_OPTION"),
            _refused("CONFLICT", "Contact already exists. Existing ID: 512", {"ids": ["b@x.com"]}),
        )
    )
    a, b = writer.write(CONTACTS, [_upsert("a@x.com"), _upsert("b@x.com")])
    assert (a.error_code, a.error_message) == ("INVALID_OPTION", "bad option")
    assert (b.error_code, b.error_message) == (
        "CONFLICT",
        "Contact already exists. Existing ID: 512",
    )
    assert [i["objectWriteTraceId"] for i in sdk.calls[0][1]["inputs"]] == ["0", "1"]

    writer, _ = _writer(
        _upsert_answer(
            _refused("CONFLICT", "taken", {"objectWriteTraceId": ["1"]}),
            results=[{"id": "9", "new": True, "objectWriteTraceId": "0", "properties": {}}],
        )
    )
    ok, taken = writer.write(CONTACTS, [_upsert("c@x.com"), _upsert("d@x.com")])
    assert (ok.id, ok.created) == ("9", True)
    assert (taken.error_code, taken.error_message) == ("CONFLICT", "taken")


def test_given_upsert_errors_that_name_no_input_then_none_is_pinned_on_the_wrong_one() -> None:
    writer, _ = _writer(
        _upsert_answer(
            _refused("VALIDATION_ERROR", "first", {}), _refused("CONFLICT", "second", {})
        )
    )
    outcomes = writer.write(CONTACTS, [_upsert("a@x.com"), _upsert("b@x.com")])
    assert {o.error_code for o in outcomes} == {"UNATTRIBUTED_ERROR"}
    assert all(
        "VALIDATION_ERROR: first; CONFLICT: second" in str(o.error_message) for o in outcomes
    )

    # The batch's one error, and one input failed: it is that input's.
    writer, _ = _writer(
        _upsert_answer(
            _refused("CONFLICT", "second", {}),
            results=[{"id": "3", "new": False, "properties": {"email": "a@x.com"}}],
        )
    )
    ok, failed = writer.write(CONTACTS, [_upsert("A@x.com"), _upsert("b@x.com")])
    assert (ok.id, ok.created) == ("3", False)
    assert (failed.error_code, failed.error_message) == ("CONFLICT", "second")


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
