"""Writer logic with a scripted SDK: grouping, batching, row-lock retries, Bulk result joins."""

from __future__ import annotations

import csv
import io
from typing import Any

from connectors.errors import PermanentError
from connectors.records import RecordKey, RecordPatch, System
from connectors.salesforce.objects import spec_for
from connectors.salesforce.sdk import IngestResult
from connectors.salesforce.writer import Writer, parse_bulk_error

LEAD = spec_for("Lead")
LOCK = {
    "success": False,
    "errors": [
        {
            "statusCode": "UNABLE_TO_LOCK_ROW",
            "message": "unable to obtain exclusive access to this record",
            "fields": [],
        }
    ],
}


class ScriptedSdk:
    def __init__(self, replies: list[Any]) -> None:
        self.replies = replies
        self.calls: list[dict[str, Any]] = []

    def restful(self, path: str, **kwargs: Any) -> Any:
        self.calls.append({"path": path, **kwargs})
        reply = self.replies.pop(0)
        return reply(kwargs["json"]["records"]) if callable(reply) else reply

    def bulk_ingest(self, sobject: str, csv_text: str, **kwargs: Any) -> IngestResult:
        self.calls.append({"bulk": sobject, "csv": csv_text, **kwargs})
        reply: IngestResult = self.replies.pop(0)
        return reply


def _update(i: int, **fields: Any) -> RecordPatch:
    return RecordPatch(RecordKey(System.SALESFORCE, "Lead", f"00Q00000000000{i}AAA"), fields)


def _ok(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"id": r.get("id") or "00Qnew", "success": True, "errors": []} for r in records]


def test_row_locks_are_sent_again_and_other_refusals_are_not() -> None:
    patches = [_update(i, Status="Working - Contacted") for i in range(3)]
    invalid = {
        "success": False,
        "errors": [
            {
                "statusCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                "message": "bad",
                "fields": ["Status"],
            }
        ],
    }
    sdk = ScriptedSdk(
        [[LOCK, {"id": patches[1].key.id, "success": True, "errors": []}, invalid], _ok]
    )
    sleeps: list[float] = []

    outcomes = Writer(sdk, bulk_threshold=10_000, sleep=sleeps.append).write(LEAD, patches)  # type: ignore[arg-type]

    assert [o.ok for o in outcomes] == [True, True, False]
    assert outcomes[2].error_code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert outcomes[2].error_fields == ("Status",)
    assert [len(c["json"]["records"]) for c in sdk.calls] == [3, 1]
    assert sdk.calls[1]["json"]["records"][0]["id"] == patches[0].key.id
    assert sdk.calls[0]["json"]["allOrNone"] is False
    assert sleeps == [0.5]


def test_locks_that_never_clear_end_as_retryable_outcomes() -> None:
    sdk = ScriptedSdk([[LOCK]] * 4)
    outcomes = Writer(sdk, bulk_threshold=10, lock_retries=3, sleep=lambda _s: None).write(  # type: ignore[arg-type]
        LEAD, [_update(1, Status="x")]
    )
    assert outcomes[0].retryable
    assert outcomes[0].error_code == "UNABLE_TO_LOCK_ROW"
    assert len(sdk.calls) == 4


def test_creates_updates_and_upserts_go_to_their_endpoints_and_keep_input_order() -> None:
    create = RecordPatch(
        RecordKey(System.SALESFORCE, "Lead", ""), {"LastName": "New", "Company": "C"}
    )
    upsert = RecordPatch(
        RecordKey(System.SALESFORCE, "Lead", ""),
        {"Baton_Id__c": "b1", "LastName": "U"},
        match_on="Baton_Id__c",
    )
    update = _update(1, LastName="Upd")
    sdk = ScriptedSdk([_ok, _ok, _ok])

    outcomes = Writer(sdk, bulk_threshold=10).write(LEAD, [update, create, upsert])  # type: ignore[arg-type]

    assert [o.patch for o in outcomes] == [update, create, upsert]
    seen = {(c["method"], c["path"], c["idempotent"]) for c in sdk.calls}
    assert seen == {
        ("PATCH", "composite/sobjects", True),
        ("POST", "composite/sobjects", False),
        ("PATCH", "composite/sobjects/Lead/Baton_Id__c", True),
    }
    upsert_body = next(c for c in sdk.calls if c["path"].endswith("Baton_Id__c"))["json"][
        "records"
    ][0]
    assert upsert_body == {"attributes": {"type": "Lead"}, "Baton_Id__c": "b1", "LastName": "U"}


def test_collections_calls_carry_at_most_200_records() -> None:
    sdk = ScriptedSdk([_ok, _ok, _ok])
    Writer(sdk, bulk_threshold=10_000).write(
        LEAD, [_update(i % 10, LastName="x") for i in range(401)]
    )  # type: ignore[arg-type]
    assert [len(c["json"]["records"]) for c in sdk.calls] == [200, 200, 1]


def test_upsert_without_a_value_for_its_key_is_refused_before_any_call() -> None:
    patch = RecordPatch(
        RecordKey(System.SALESFORCE, "Lead", ""), {"LastName": "U"}, match_on="Baton_Id__c"
    )
    sdk = ScriptedSdk([])
    (outcome,) = Writer(sdk, bulk_threshold=10).write(LEAD, [patch])  # type: ignore[arg-type]
    assert outcome.error_code == "MISSING_ARGUMENT"
    assert sdk.calls == []


def test_bulk_results_are_joined_back_by_the_match_value() -> None:
    patches = [
        RecordPatch(
            RecordKey(System.SALESFORCE, "Lead", ""),
            {"Baton_Id__c": f"b{i}", "LastName": "L", "Phone": None},
            match_on="Baton_Id__c",
        )
        for i in range(4)
    ]
    ok = (
        "sf__Id,sf__Created,Baton_Id__c,LastName,Phone\n00Q1,true,b2,L,#N/A\n00Q0,false,b0,L,#N/A\n"
    )
    bad = (
        "sf__Id,sf__Error,Baton_Id__c,LastName,Phone\n"
        ',"REQUIRED_FIELD_MISSING:Required fields are missing: [Company]:Company --",b1,L,#N/A\n'
    )
    sdk = ScriptedSdk([IngestResult("750x", 3, 1, ok, bad, "")])

    outcomes = Writer(sdk, bulk_threshold=2).write(LEAD, patches)  # type: ignore[arg-type]

    assert [o.patch for o in outcomes] == patches
    assert [(o.ok, o.id, o.created) for o in outcomes[:3]] == [
        (True, "00Q0", False),
        (False, None, False),
        (True, "00Q1", True),
    ]
    assert outcomes[1].error_code == "REQUIRED_FIELD_MISSING"
    assert outcomes[1].error_fields == ("Company",)
    assert outcomes[3].error_code == "UNPROCESSED"
    assert outcomes[3].retryable
    csv_text = sdk.calls[0]["csv"]
    assert csv_text.splitlines()[0] == "Baton_Id__c,LastName,Phone"
    assert csv_text.splitlines()[1] == "b0,L,#N/A"


def test_a_bulk_value_holding_a_line_break_quote_or_comma_is_quoted() -> None:
    """A lone CR went out bare (the csv module quotes only its own terminator's characters),
    and Salesforce's parser ends a row at it; a CSV reader must read back every value."""
    values = ["a\rb", "c\nd", "e\r\nf", 'say "hi"', "x,y", "plain", "trailing\r"]
    patches = [
        RecordPatch(
            RecordKey(System.SALESFORCE, "Lead", ""),
            {"Baton_Id__c": f"b{i}", "Title": value},
            match_on="Baton_Id__c",
        )
        for i, value in enumerate(values)
    ]
    sdk = ScriptedSdk([IngestResult("750x", 0, 0, "", "", "")])

    Writer(sdk, bulk_threshold=2).write(LEAD, patches)  # type: ignore[arg-type]

    text = sdk.calls[0]["csv"]
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows == [["Baton_Id__c", "Title"], *([f"b{i}", v] for i, v in enumerate(values))]
    # a LF per row and the header's, and one inside the quotes of each value holding one
    assert text.count("\n") == len(values) + 1 + 2
    assert '"a\rb"' in text
    assert "b5,plain\n" in text  # quoted only when needed


def test_a_literal_bulk_null_marker_is_sent_by_collections_not_bulk() -> None:
    """Bulk API 2.0 reads a "#N/A" cell as null: text that says it goes by REST."""
    patches = [
        RecordPatch(
            RecordKey(System.SALESFORCE, "Lead", ""),
            {"Baton_Id__c": f"b{i}", "LastName": "L", "Title": title},
            match_on="Baton_Id__c",
        )
        for i, title in enumerate(["CEO", " #N/A ", None, "CTO"])
    ]
    ok = "sf__Id,sf__Created,Baton_Id__c,LastName,Title\n00Q0,true,b0,L,CEO\n"
    ok += "00Q2,true,b2,L,#N/A\n00Q3,true,b3,L,CTO\n"
    sdk = ScriptedSdk([IngestResult("750x", 3, 0, ok, "", ""), _ok])

    outcomes = Writer(sdk, bulk_threshold=2).write(LEAD, patches)  # type: ignore[arg-type]

    assert [o.patch for o in outcomes] == patches
    assert [(o.ok, o.id) for o in outcomes] == [
        (True, "00Q0"),
        (True, "00Qnew"),
        (True, "00Q2"),
        (True, "00Q3"),
    ]
    bulk, rest = sdk.calls
    assert [line.split(",")[0] for line in bulk["csv"].splitlines()] == [
        "Baton_Id__c",
        "b0",
        "b2",
        "b3",
    ]
    assert [r["Title"] for r in rest["json"]["records"]] == [" #N/A "]


def test_bulk_error_text_is_split_into_code_message_and_fields() -> None:
    assert parse_bulk_error("FIELD_CUSTOM_VALIDATION_EXCEPTION:Phone must be valid:Phone --") == (
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "Phone must be valid",
        ("Phone",),
    )
    assert parse_bulk_error("DUPLICATE_EXTERNAL_ID:dup: b1:--") == (
        "DUPLICATE_EXTERNAL_ID",
        "dup: b1",
        (),
    )
    assert parse_bulk_error("weird") == ("weird", "", ())


def test_upsert_on_a_field_that_is_not_the_objects_external_id_is_refused_locally() -> None:
    patch = RecordPatch(RecordKey(System.SALESFORCE, "Account", ""), {"Name": "A"}, match_on="Name")
    sdk = ScriptedSdk([])
    (outcome,) = Writer(sdk, bulk_threshold=10).write(spec_for("Account"), [patch])  # type: ignore[arg-type]
    assert outcome.error_code == "BATON_FIELD_NOT_WRITABLE"
    assert sdk.calls == []


def _ids(n: int) -> list[str]:
    return [f"00Q00000000{i:04d}AAA" for i in range(n)]


def test_deletes_go_per_200_ids_and_locked_rows_are_sent_again() -> None:
    ids = _ids(201)
    first = [{"id": i, "success": True, "errors": []} for i in ids[:200]]
    first[1] = {"id": ids[1], **LOCK}
    gone = {
        "id": ids[2],
        "success": False,
        "errors": [{"statusCode": "ENTITY_IS_DELETED", "message": "entity is deleted"}],
    }
    first[2] = gone
    sdk = ScriptedSdk(
        [first, [{"id": ids[1], "success": True}], [{"id": ids[200], "success": True}]]
    )

    outcomes = Writer(sdk, bulk_threshold=10, sleep=lambda _s: None).delete(LEAD, ids)  # type: ignore[arg-type]

    assert [o.patch.key.id for o in outcomes] == ids
    assert all(o.ok and o.id == i for o, i in zip(outcomes, ids, strict=True))
    assert [c["method"] for c in sdk.calls] == ["DELETE"] * 3
    assert sdk.calls[0]["path"] == f"composite/sobjects?ids={','.join(ids[:200])}&allOrNone=false"
    assert sdk.calls[1]["path"].startswith(f"composite/sobjects?ids={ids[1]}&")  # the lock
    assert sdk.calls[2]["path"].startswith(f"composite/sobjects?ids={ids[200]}&")
    assert all(c["idempotent"] for c in sdk.calls)


def test_a_whole_delete_request_refused_is_split_down_to_the_id_it_is_about() -> None:
    ids = _ids(3)

    class Refusing(ScriptedSdk):
        def restful(self, path: str, **kwargs: Any) -> Any:
            self.calls.append({"path": path, **kwargs})
            if ids[1] in path:
                raise PermanentError(
                    "refused", status=400, vendor_code="INVALID_ID_FIELD", vendor_message="bad id"
                )
            return [{"id": i, "success": True} for i in path.split("=")[1].split("&")[0].split(",")]

    sdk = Refusing([])
    outcomes = Writer(sdk, bulk_threshold=10).delete(LEAD, ids)  # type: ignore[arg-type]

    assert [o.ok for o in outcomes] == [True, False, True]
    assert (outcomes[1].error_code, outcomes[1].error_message) == ("INVALID_ID_FIELD", "bad id")
    assert outcomes[1].patch.key == RecordKey(System.SALESFORCE, "Lead", ids[1])
