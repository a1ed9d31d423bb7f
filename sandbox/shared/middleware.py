"""The ASGI layer every imitation shares: request counting and fault injection.

Admin routes (`/_sandbox/...`) are neither counted nor faulted. A request is counted under its
route template (`POST /crm/v3/objects/{objectType}/search`) once its response status is known.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.shared.faults import Fault, FaultInjector
from sandbox.shared.stats import Stats

ADMIN_PREFIX = "/_sandbox"

FaultRenderer = Callable[[Fault, Request], Response]


class SandboxMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        stats: Stats,
        faults: FaultInjector,
        render_fault: FaultRenderer,
    ) -> None:
        self.app = app
        self.stats = stats
        self.faults = faults
        self.render_fault = render_fault

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        status = 500

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            fault = self.faults.draw(scope["path"])
            if fault is Fault.SLOW:
                await asyncio.sleep(self.faults.plan.slow_seconds)
            elif fault is not None:
                response = self.render_fault(fault, Request(scope, receive))
                await response(scope, receive, counting_send)
                return
            await self.app(scope, receive, counting_send)
        finally:
            self.stats.record(_route_key(scope), status)


def _route_key(scope: Scope) -> str:
    route = scope.get("route")
    template = getattr(route, "path", None) or scope["path"]
    return f"{scope['method']} {template}"
