"""`SalesforceSandbox`: the imitated org assembled: storage, REST, OAuth, Bulk, outbound."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.salesforce.admin import salesforce_admin_router
from sandbox.salesforce.api import ApiLimits, Context, RestApi, versions
from sandbox.salesforce.auth import (
    Credentials,
    Sessions,
    TokenEndpoint,
    bearer_token,
    require_session,
)
from sandbox.salesforce.errors import SalesforceError, invalid_session
from sandbox.salesforce.objects import metadata_rows
from sandbox.salesforce.options import SalesforceOptions
from sandbox.salesforce.outbound import OutboundMessenger
from sandbox.salesforce.records import Org, sobject_or_error
from sandbox.salesforce.requestsize import RequestSizeLimit
from sandbox.salesforce.seed import convert_some_leads, seed_org
from sandbox.salesforce.soap import soap_login_router
from sandbox.salesforce.store import Store, format_datetime, make_id
from sandbox.shared.admin import shared_admin_router
from sandbox.shared.clock import Clock
from sandbox.shared.faults import Fault, FaultInjector
from sandbox.shared.middleware import DateHeader, SandboxMiddleware
from sandbox.shared.stats import Stats

JSON_TYPE = "application/json;charset=UTF-8"
CONCURRENCY_MESSAGE = "ConcurrentRequests (Concurrent API Requests) Limit exceeded."
INTEGRATION_USER = make_id("005", 1)
LOGIN_PATHS = ("/services/oauth2/", "/services/Soap/")


class LimitInfoHeader:
    """Adds `Sforce-Limit-Info: api-usage=<used>/<max>` to every REST response."""

    def __init__(self, app: ASGIApp, *, limits: ApiLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/services/data/v"):
            await self.app(scope, receive, send)
            return

        async def with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                usage = f"api-usage={self.limits.used}/{self.limits.max}"
                message["headers"] = [
                    *message.get("headers", []),
                    (b"sforce-limit-info", usage.encode()),
                ]
            await send(message)

        await self.app(scope, receive, with_header)


class SalesforceSandbox:
    def __init__(
        self, options: SalesforceOptions | None = None, *, clock: Clock | None = None
    ) -> None:
        self.options = options = options or SalesforceOptions()
        self.clock = clock or Clock()
        self.stats = Stats()
        self.faults = FaultInjector(vendor_faults=[Fault.ROW_LOCK])
        self.store = Store(options.db_path, api_version=options.api_version)
        self.limits = ApiLimits(
            enabled=options.rate_limits, daily_limit=options.daily_limit, clock=self.clock
        )
        self.sessions = Sessions(self.clock, options.org_id)
        self.instance_url = (
            "https://127.0.0.1"  # the listener sets the real one; API calls refresh it
        )
        self.outbound = OutboundMessenger(
            self.clock, org_id=options.org_id, instance_url=lambda: self.instance_url
        )
        self.org = Org(
            self.store, self.clock, user_id=INTEGRATION_USER, notify=self.outbound.notify
        )
        self._ensure_org_rows()
        self.context = Context(
            store=self.store,
            org=self.org,
            clock=self.clock,
            stats=self.stats,
            limits=self.limits,
            org_id=options.org_id,
            started_at=self.clock.now(),
            faults=self.faults,
        )
        self.rest = RestApi(self.context)
        self.app = self._build_app()

    # assembly

    def _ensure_org_rows(self) -> None:
        """The integration user and the metadata rows (LeadStatus...) every org starts with."""
        user = sobject_or_error("User")
        if self.store.get(user, INTEGRATION_USER) is not None:
            return
        now = format_datetime(self.clock.now_dt())
        stamps = {
            "IsDeleted": 0,
            "CreatedDate": now,
            "CreatedById": INTEGRATION_USER,
            "LastModifiedDate": now,
            "LastModifiedById": INTEGRATION_USER,
            "SystemModstamp": now,
        }
        for name, rows in metadata_rows().items():
            sobject = sobject_or_error(name)
            for row in rows:
                self.store.insert(sobject, {"Id": self.store.new_id(sobject), **stamps, **row})
        self.store.reserve_ids(user, 1)  # the integration user is always 005…0001
        self.store.insert(
            user,
            {
                "Id": INTEGRATION_USER,
                "IsDeleted": 0,
                "CreatedDate": now,
                "CreatedById": INTEGRATION_USER,
                "LastModifiedDate": now,
                "LastModifiedById": INTEGRATION_USER,
                "SystemModstamp": now,
                "Username": self.options.username,
                "FirstName": "Baton",
                "LastName": "Integration",
                "Name": "Baton Integration",
                "Email": self.options.username,
                "Alias": "baton",
                "IsActive": 1,
            },
        )

    def _credentials(self) -> Credentials:
        o = self.options
        return Credentials(
            client_id=o.client_id,
            client_secret=o.client_secret,
            org_id=o.org_id,
            user_id=INTEGRATION_USER,
            username=o.username,
            password=o.password,
            jwt_public_key=o.jwt_public_key,
        )

    async def _authorize(self, request: Request) -> None:
        """The dependency of every REST route: a live session, then one unit of allocation."""
        require_session(self.sessions, request)
        host = request.headers.get("host")
        if host:
            self.instance_url = f"https://{host}"
        self.limits.consume()

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="Salesforce sandbox", openapi_url=None, docs_url=None, redoc_url=None)
        app.router.redirect_slashes = False

        async def on_error(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, SalesforceError)
            return exc.response()

        app.add_exception_handler(SalesforceError, on_error)

        async def on_http_error(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, HTTPException)
            if not request.url.path.startswith("/services/"):
                return await http_exception_handler(request, exc)
            if exc.status_code == 405:
                error = SalesforceError(
                    405,
                    "METHOD_NOT_ALLOWED",
                    f"HTTP Method '{request.method}' not allowed. Allowed are "
                    + (exc.headers or {}).get("Allow", "GET"),
                )
            else:
                error = SalesforceError(
                    exc.status_code, "NOT_FOUND", "The requested resource does not exist"
                )
            return error.response()

        app.add_exception_handler(HTTPException, on_http_error)

        async def list_versions() -> Response:
            return Response(orjson.dumps(versions()), media_type=JSON_TYPE)

        app.add_api_route("/services/data", list_versions, methods=["GET"])
        app.add_api_route("/services/data/", list_versions, methods=["GET"])
        app.include_router(TokenEndpoint(self._credentials(), self.sessions, self.clock).router())
        app.include_router(soap_login_router(self._credentials(), self.sessions))
        auth = Depends(self._authorize)
        app.include_router(self.rest.table.router([auth]))
        self._include_bulk(app, auth)
        app.include_router(
            shared_admin_router(
                stats=self.stats,
                faults=self.faults,
                limits=self.limits,
                clock=self.clock,
                reset=self.reset,
            )
        )
        app.include_router(salesforce_admin_router(self.org, self._seed_admin))
        app.include_router(self.outbound.admin_router())
        app.add_middleware(LimitInfoHeader, limits=self.limits)
        app.add_middleware(RequestSizeLimit)  # outside the API: no allocation, no limit header
        app.add_middleware(
            SandboxMiddleware, stats=self.stats, faults=self.faults, render_fault=self.render_fault
        )
        app.add_middleware(DateHeader, clock=self.clock)  # outermost: refusals are dated too
        return app

    def _include_bulk(self, app: FastAPI, auth: Any) -> None:
        try:
            from sandbox.salesforce.bulk2 import bulk2_router
        except ImportError:  # the Bulk 2.0 module is optional while it is being written
            return
        from sandbox.salesforce.bulkbackend import BulkBackend

        router = bulk2_router(BulkBackend(self.context, self.rest.query), self.clock)
        app.include_router(router, prefix="/services/data/v{version}", dependencies=[auth])

    # faults, in Salesforce's words

    def render_fault(self, fault: Fault, request: Request) -> Response:
        if request.url.path.startswith(LOGIN_PATHS):
            # Login endpoints answer OAuth-style, never with a REST error array.
            body = {"error": "unknown_error", "error_description": "retry your request"}
            return Response(orjson.dumps(body), 503, media_type=JSON_TYPE)
        if fault is Fault.RATE_LIMIT:
            return SalesforceError(403, "REQUEST_LIMIT_EXCEEDED", CONCURRENCY_MESSAGE).response()
        if fault is Fault.EXPIRED_SESSION:
            token = bearer_token(request)
            if token:
                self.sessions.revoke(token)
            return invalid_session().response()
        status = self.faults.plan.server_error_status
        if status == 503:
            error = SalesforceError(
                503, "SERVER_UNAVAILABLE", "Server temporarily unavailable. Please try again later."
            )
        else:
            error = SalesforceError(
                status,
                "UNKNOWN_EXCEPTION",
                "An unexpected error occurred. Please include this ErrorId if you contact "
                "support: 1234567890-12345 (-1234567890)",
            )
        return error.response()

    # lifecycle

    def seed(self, *, contacts: int, leads: int, seed: int) -> None:
        seed_org(
            self.store, self.clock, INTEGRATION_USER, contacts=contacts, leads=leads, seed=seed
        )
        convert_some_leads(
            self.store,
            lambda lead_id, opportunity: self.org.convert_lead(
                lead_id, create_opportunity=opportunity
            ),
            leads=leads,
        )

    def _seed_admin(self, contacts: int, leads: int, seed: int) -> None:
        self.seed(contacts=contacts, leads=leads, seed=seed)

    def reset(self) -> None:
        self.store.clear()
        self.sessions.clear()
        self.rest.query.cursors.clear()
        self.outbound.reset()
        self._ensure_org_rows()

    async def background(self) -> None:
        await self.outbound.run()
        await asyncio.Event().wait()  # pragma: no cover - run() only returns when cancelled

    # actor API: UI-like edits (not API writes)

    def find(
        self,
        sobject: str,
        *,
        equals: Mapping[str, object] = {},
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        found = sobject_or_error(sobject)
        rows = self.store.find(found, equals, limit=limit)
        return [self.store.to_json(found, row) for row in rows]

    def create(self, sobject: str, fields: Mapping[str, object]) -> str:
        return self.org.create(sobject, fields)

    def update(self, sobject: str, record_id: str, fields: Mapping[str, object]) -> None:
        self.org.update(sobject, record_id, fields)

    def convert_lead(self, lead_id: str, *, create_opportunity: bool = True) -> dict[str, Any]:
        return self.org.convert_lead(lead_id, create_opportunity=create_opportunity)

    def merge(self, sobject: str, master_id: str, duplicate_id: str) -> None:
        self.org.merge(sobject, master_id, duplicate_id)
