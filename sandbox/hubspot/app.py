"""Assembles the FastAPI app: API routers, the auth/limits gate, counting and faults, admin."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.responses import Response

from sandbox.hubspot.api_batch import batch_router
from sandbox.hubspot.api_objects import objects_router
from sandbox.hubspot.api_properties import properties_router
from sandbox.hubspot.associations import associations_router
from sandbox.hubspot.crm import Crm
from sandbox.hubspot.errors import HubSpotError, correlation_id, json_response, unauthorized
from sandbox.hubspot.gate import Gate, bearer
from sandbox.hubspot.limits import HubSpotLimits, search_body, ten_secondly_body
from sandbox.hubspot.oauth import OAuthTokens, oauth_router
from sandbox.hubspot.options import HubSpotOptions
from sandbox.hubspot.search import SearchEngine, SearchSettings
from sandbox.shared.admin import settings_router, shared_admin_router
from sandbox.shared.clock import Clock
from sandbox.shared.faults import Fault, FaultInjector
from sandbox.shared.middleware import DateHeader, FaultRenderer, SandboxMiddleware
from sandbox.shared.stats import Stats


class SeedRequest(BaseModel):
    contacts: int = Field(ge=0, le=2_000_000)
    seed: int = 42


def locked_body() -> dict[str, str]:
    """423 Locked: "Returned when attempting to sync a large volume of data ... Locks will last
    for 2 seconds" (HubSpot's error-handling page; hubspot-api.md §4). The page shows no body
    for it: this is the documented error shape (§7) with the category and message reported
    for real 423s by third parties (not in HubSpot's docs). No `Retry-After`: none is
    documented for 423."""
    return {
        "status": "error",
        "message": "Attempting to sync large volume too quickly; system lock for ~2 seconds",
        "correlationId": correlation_id(),
        "category": "LOCKED",
    }


def fault_renderer(
    limits: HubSpotLimits, faults: FaultInjector, access_token: str
) -> FaultRenderer:
    """Faults in HubSpot's words: the burst 429 with the caller's app's headers (on a search
    path, search's secondly 429 with no rate-limit headers, as search answers: hubspot-api.md
    §5), the 401, the 423 lock, a JSON 5xx with the plan's status."""

    def render(fault: Fault, request: Request) -> Response:
        if fault is Fault.RATE_LIMIT:
            if request.url.path.endswith("/search"):
                return json_response(search_body(), 429)
            token = bearer(request.headers.get("authorization"))
            oauth = token is not None and token != access_token
            return json_response(ten_secondly_body(), 429, limits.headers(oauth=oauth))
        if fault is Fault.EXPIRED_SESSION:
            return unauthorized().response()
        if fault is Fault.LOCKED:
            return json_response(locked_body(), 423)
        status = faults.plan.server_error_status
        body = {
            "status": "error",
            "message": "internal error",
            "correlationId": correlation_id(),
            "category": "INTERNAL_ERROR" if status == 500 else "SERVICE_UNAVAILABLE",
        }
        return json_response(body, status)

    return render


def build_app(
    *,
    options: HubSpotOptions,
    clock: Clock,
    crm: Crm,
    engine: SearchEngine,
    limits: HubSpotLimits,
    tokens: OAuthTokens,
    stats: Stats,
    faults: FaultInjector,
    reset: Callable[[], None],
    seed: Callable[..., None],
    webhook_admin: APIRouter,
) -> FastAPI:
    app = FastAPI(title="HubSpot sandbox", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(HubSpotError)
    async def hubspot_error(_: Request, exc: HubSpotError) -> Response:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> Response:
        return HubSpotError(400, "VALIDATION_ERROR", f"Invalid input: {exc.errors()}").response()

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> Response:
        category = "OBJECT_NOT_FOUND" if exc.status_code == 404 else "VALIDATION_ERROR"
        error = HubSpotError(exc.status_code, category, str(exc.detail))
        return error.response(dict(exc.headers or {}))

    app.include_router(objects_router(crm, engine))
    app.include_router(batch_router(crm))
    app.include_router(properties_router(crm.registry, clock))
    app.include_router(associations_router(crm))
    app.include_router(oauth_router(tokens))
    app.include_router(
        shared_admin_router(stats=stats, faults=faults, limits=limits, clock=clock, reset=reset)
    )
    admin = APIRouter(prefix="/_sandbox", tags=["sandbox admin"])

    @admin.post("/seed", status_code=204)
    async def seed_route(body: SeedRequest) -> Response:
        seed(contacts=body.contacts, seed=body.seed)
        return Response(status_code=204)

    app.include_router(admin)
    app.include_router(settings_router("/_sandbox/search", SearchSettings, engine))
    app.include_router(webhook_admin)
    app.add_middleware(Gate, access_token=options.access_token, tokens=tokens, limits=limits)
    app.add_middleware(
        SandboxMiddleware,
        stats=stats,
        faults=faults,
        render_fault=fault_renderer(limits, faults, options.access_token),
    )
    app.add_middleware(DateHeader, clock=clock)  # outermost: faults and refusals are dated too
    return app
