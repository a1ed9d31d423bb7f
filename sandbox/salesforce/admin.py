"""Salesforce-only admin routes under `/_sandbox/`: lead conversion, merge, seeding.

Real Salesforce has no REST resource for converting or merging (SOAP/Apex only), so the
sandbox offers them here for tests and demos; they act as the org itself (not API writes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from sandbox.salesforce.objects import CONVERTED_STATUS
from sandbox.salesforce.records import Org


class ConvertRequest(BaseModel):
    convertedStatus: str = CONVERTED_STATUS
    doNotCreateOpportunity: bool = False
    accountId: str | None = None
    contactId: str | None = None
    opportunityName: str | None = None


class MergeRequest(BaseModel):
    sobject: str
    masterId: str
    duplicateId: str


class SeedRequest(BaseModel):
    contacts: int = Field(0, ge=0)
    leads: int = Field(0, ge=0)
    seed: int = 42


def salesforce_admin_router(org: Org, seed: Callable[[int, int, int], None]) -> APIRouter:
    router = APIRouter(prefix="/_sandbox", tags=["sandbox admin"])

    @router.post("/leads/{lead_id}/convert")
    async def convert(lead_id: str, body: ConvertRequest | None = None) -> dict[str, Any]:
        request = body or ConvertRequest()
        return org.convert_lead(
            lead_id,
            converted_status=request.convertedStatus,
            create_opportunity=not request.doNotCreateOpportunity,
            account_id=request.accountId,
            contact_id=request.contactId,
            opportunity_name=request.opportunityName,
        )

    @router.post("/merge")
    async def merge(body: MergeRequest) -> dict[str, Any]:
        return org.merge(body.sobject, body.masterId, body.duplicateId)

    @router.post("/seed", status_code=204)
    async def seed_route(body: SeedRequest) -> Response:
        seed(body.contacts, body.leads, body.seed)
        return Response(status_code=204)

    return router
