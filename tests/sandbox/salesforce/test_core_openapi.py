"""The sObject responses against the vendor OpenAPI subset (tests/specs/salesforce).

The subset declares plain `type: string` etc. for fields that real Salesforce returns as null
when empty, so every typed property is widened to also accept null before validating.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from simple_salesforce import Salesforce

# The vendor's own document, vendored with its sources (tests/specs/salesforce/SOURCES.md).
SPEC = (
    Path(__file__).resolve().parents[2] / "specs/salesforce/sobjects-rest-api-v59.0.subset.oas.json"
)


def _nullable(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _nullable(v) for k, v in node.items()}
        if isinstance(out.get("type"), str) and "$ref" not in out:
            out["type"] = [out["type"], "null"]
            out.pop("format", None)
        return out
    if isinstance(node, list):
        return [_nullable(v) for v in node]
    return node


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    if not SPEC.exists():
        pytest.skip(f"OpenAPI subset not found at {SPEC}")
    return json.loads(SPEC.read_text())


def _response_schema(spec: dict[str, Any], path: str, method: str, status: str) -> Any:
    return spec["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]


def _check(spec: dict[str, Any], path: str, method: str, status: str, body: Any) -> None:
    schema = {
        "allOf": [_nullable(copy.deepcopy(_response_schema(spec, path, method, status)))],
        "components": _nullable(copy.deepcopy(spec["components"])),
    }
    errors = [str(e) for e in jsonschema_rs.validator_for(schema).iter_errors(body)]
    assert errors == [], f"{method.upper()} {path}: {errors[:3]}"


SAMPLES: dict[str, dict[str, Any]] = {
    "Lead": {"LastName": "Spec", "Company": "Spec Co", "AnnualRevenue": 1000.5},
    "Contact": {"LastName": "Spec"},
    "Account": {"Name": "Spec Account", "NumberOfEmployees": 12},
    "Opportunity": {"Name": "Spec Deal", "StageName": "Qualification", "CloseDate": "2026-12-31"},
    "Campaign": {"Name": "Spec Campaign"},
}


@pytest.mark.parametrize("sobject", sorted(SAMPLES))
def test_sobject_crud_matches_spec(sf: Salesforce, spec: dict[str, Any], sobject: str) -> None:
    client = getattr(sf, sobject)
    created = client.create(SAMPLES[sobject])
    _check(spec, f"/sobjects/{sobject}", "post", "201", created)
    _check(spec, f"/sobjects/{sobject}/{{id}}", "get", "200", client.get(created["id"]))
    _check(spec, f"/sobjects/{sobject}", "get", "200", client.metadata())
    assert client.update(created["id"], {}) == 204
    assert client.delete(created["id"]) == 204


def test_campaign_member_and_user_match_spec(sf: Salesforce, spec: dict[str, Any]) -> None:
    campaign = sf.Campaign.create({"Name": "Members"})["id"]
    lead = sf.Lead.create({"LastName": "Member", "Company": "M"})["id"]
    member = sf.CampaignMember.create({"CampaignId": campaign, "LeadId": lead})
    got = sf.CampaignMember.get(member["id"])
    assert got["Status"] == "Sent"
    assert got["HasResponded"] is False
    _check(spec, "/sobjects/CampaignMember/{id}", "get", "200", got)
    user_id = sf.query("SELECT Id FROM User LIMIT 1")["records"][0]["Id"]
    _check(spec, "/sobjects/User/{id}", "get", "200", sf.User.get(user_id))


def test_describe_and_deleted_match_spec(sf: Salesforce, spec: dict[str, Any]) -> None:
    _check(spec, "/sobjects", "get", "200", sf.describe())
    for name in ("Lead", "Contact", "Opportunity"):
        _check(spec, "/sobjects/{sObject}/describe", "get", "200", getattr(sf, name).describe())
    now = datetime.now(UTC)
    deleted = sf.Lead.deleted(now - timedelta(days=1), now)
    _check(spec, "/sobjects/{sObject}/deleted", "get", "200", deleted)
