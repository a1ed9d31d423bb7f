"""Batch read/create/update/upsert/archive through the SDK, including 207s and limits."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hubspot.crm.contacts import (
    ApiException,
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchInputSimplePublicObjectId,
    BatchReadInputSimplePublicObjectId,
    BatchResponseSimplePublicObject,
    BatchResponseSimplePublicObjectWithErrors,
)


def _read(api: Any, ids: list[str], **kw: Any) -> Any:
    body = BatchReadInputSimplePublicObjectId(
        inputs=[{"id": i} for i in ids], properties=["email"], properties_with_history=[], **kw
    )
    return api.crm.contacts.batch_api.read(body)


def test_batch_read_all_found_is_200(api: Any) -> None:
    result = _read(api, [str(i) for i in range(1, 101)])
    assert isinstance(result, BatchResponseSimplePublicObject)
    assert result.status == "COMPLETE"
    assert len(result.results) == 100
    assert all("email" in r.properties for r in result.results)


def test_batch_read_partial_is_207(api: Any) -> None:
    result = _read(api, ["1", "2", "99999999"])
    assert isinstance(result, BatchResponseSimplePublicObjectWithErrors)
    assert result.num_errors == 1
    error = result.errors[0]
    assert error.category == "OBJECT_NOT_FOUND"
    assert error.context == {"ids": ["99999999"]}
    assert len(result.results) == 2


def test_batch_read_by_email(api: Any, served: Any) -> None:
    email = served.box.find("contacts", equals={"hs_object_id": "5"})[0]["email"]
    result = _read(api, [email], id_property="email")
    assert [r.id for r in result.results] == ["5"]


def test_more_than_100_inputs_is_400(api: Any) -> None:
    with pytest.raises(ApiException) as err:
        _read(api, [str(i) for i in range(1, 102)])
    assert err.value.status == 400
    assert "VALIDATION_ERROR" in err.value.body
    assert "100" in err.value.body


def test_batch_create_update_archive(api: Any, served: Any) -> None:
    writes = served.box.stats.writes
    created = api.crm.contacts.batch_api.create(
        BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[{"properties": {"email": f"batch{i}@example.com"}} for i in range(3)]
        )
    )
    assert len(created.results) == 3
    ids = [r.id for r in created.results]
    updated = api.crm.contacts.batch_api.update(
        BatchInputSimplePublicObjectBatchInput(
            inputs=[{"id": i, "properties": {"jobtitle": "CTO"}} for i in ids]
        )
    )
    assert {r.properties["jobtitle"] for r in updated.results} == {"CTO"}
    partial = api.crm.contacts.batch_api.update(
        BatchInputSimplePublicObjectBatchInput(
            inputs=[
                {"id": ids[0], "properties": {"jobtitle": "CEO"}},
                {"id": "88888888", "properties": {"jobtitle": "CEO"}},
            ]
        )
    )
    assert isinstance(partial, BatchResponseSimplePublicObjectWithErrors)
    assert partial.errors[0].context == {"ids": ["88888888"]}
    api.crm.contacts.batch_api.archive(BatchInputSimplePublicObjectId(inputs=[{"id": ids[1]}]))
    after = _read(api, ids)
    assert {r.id for r in after.results} == {ids[0], ids[2]}
    assert served.box.stats.writes - writes == 3 + 3 + 1 + 1


def test_batch_create_with_trace_ids_reports_failures_207(served: Any) -> None:
    with served.http() as http:
        response = http.post(
            "/crm/v3/objects/contacts/batch/create",
            json={
                "inputs": [
                    {"properties": {"email": "traced1@example.com"}, "objectWriteTraceId": "a"},
                    {"properties": {"nope": "x"}, "objectWriteTraceId": "b"},
                ]
            },
        )
    assert response.status_code == 207
    body = response.json()
    assert body["numErrors"] == 1
    assert body["errors"][0]["context"] == {"objectWriteTraceId": ["b"]}
    assert body["errors"][0]["category"] == "VALIDATION_ERROR"


def test_batch_create_without_trace_ids_is_all_or_nothing(served: Any) -> None:
    before = served.box.store.count("contacts")
    with served.http() as http:
        response = http.post(
            "/crm/v3/objects/contacts/batch/create",
            json={
                "inputs": [{"properties": {"email": "ok@example.com"}}, {"properties": {"x": 1}}]
            },
        )
    assert response.status_code == 400
    assert served.box.store.count("contacts") == before


def test_batch_upsert_by_email(api: Any) -> None:
    result = api.crm.contacts.batch_api.upsert(
        BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                {
                    "id": "upsert@example.com",
                    "idProperty": "email",
                    "properties": {"firstname": "Up"},
                },
            ]
        )
    )
    assert result.results[0].new is True
    again = api.crm.contacts.batch_api.upsert(
        BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                {
                    "id": "upsert@example.com",
                    "idProperty": "email",
                    "properties": {"firstname": "Again"},
                },
            ]
        )
    )
    assert again.results[0].new is False
    assert again.results[0].id == result.results[0].id
    assert again.results[0].properties["firstname"] == "Again"


def test_batch_upsert_with_trace_ids_reports_failures_207_and_echoes_the_traces(
    served: Any,
) -> None:
    before = served.box.store.count("contacts")
    with served.http() as http:
        response = http.post(
            "/crm/v3/objects/contacts/batch/upsert",
            json={
                "inputs": [
                    {
                        "id": "traced-up@example.com",
                        "idProperty": "email",
                        "properties": {"email": "traced-up@example.com"},
                        "objectWriteTraceId": "a",
                    },
                    {
                        "id": "traced-bad@example.com",
                        "idProperty": "email",
                        "properties": {"nope": "x"},
                        "objectWriteTraceId": "b",
                    },
                ]
            },
        )
        untraced = http.post(
            "/crm/v3/objects/contacts/batch/upsert",
            json={
                "inputs": [
                    {"id": "u-ok@example.com", "idProperty": "email", "properties": {}},
                    {"id": "u-bad@example.com", "idProperty": "email", "properties": {"x": 1}},
                ]
            },
        )
    assert response.status_code == 207
    body = response.json()
    assert [(r["objectWriteTraceId"], r["new"]) for r in body["results"]] == [("a", True)]
    assert body["numErrors"] == 1
    assert body["errors"][0]["context"] == {"objectWriteTraceId": ["b"]}
    assert body["errors"][0]["category"] == "VALIDATION_ERROR"
    assert untraced.status_code == 400  # without trace ids: all or nothing
    assert served.box.store.count("contacts") == before + 1


def test_history_batches_are_capped_at_50(served: Any) -> None:
    with served.http() as http:
        response = http.post(
            "/crm/v3/objects/contacts/batch/read",
            json={
                "inputs": [{"id": str(i)} for i in range(1, 52)],
                "properties": [],
                "propertiesWithHistory": ["lifecyclestage"],
            },
        )
    assert response.status_code == 400
    assert "property histories is 50" in response.json()["message"]


def test_rate_limit_headers_even_with_limits_off(served: Any) -> None:
    with served.http() as http:
        response = http.get("/crm/v3/objects/contacts", params={"limit": 1})
    assert response.headers["X-HubSpot-RateLimit-Max"] == "190"
    assert response.headers["X-HubSpot-RateLimit-Daily"] == "625000"


def test_batch_upsert_naming_one_record_twice_is_refused_whole(api: Any) -> None:
    # HubSpot refuses an upsert batch whose inputs land on one record, as it does an update's;
    # an address is one whatever its case.
    batch = BatchInputSimplePublicObjectBatchInputUpsert(
        inputs=[
            {"id": "twice@example.com", "idProperty": "email", "properties": {"firstname": "A"}},
            {"id": "other@example.com", "idProperty": "email", "properties": {"firstname": "B"}},
            {"id": "Twice@Example.com", "idProperty": "email", "properties": {"firstname": "C"}},
        ]
    )
    with pytest.raises(ApiException) as caught:
        api.crm.contacts.batch_api.upsert(batch)
    assert caught.value.status == 400
    body = json.loads(caught.value.body)
    assert body["category"] == "VALIDATION_ERROR"
    assert body["message"] == (
        "Duplicate IDs found in batch input: [twice@example.com]. IDs must be unique"
    )
    assert body["context"] == {"ids": ["twice@example.com"]}
    found = _read(api, ["twice@example.com", "other@example.com"], id_property="email")
    assert found.results == []  # nothing was written
