"""The ASGI layer every imitation shares: request counting, fault injection, `Date` headers.

Admin routes (`/_sandbox/...`) are neither counted nor faulted. A request is counted under its
route template (`POST /crm/v3/objects/{objectType}/search`) once its response status is known.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterable, Iterator
from email.utils import formatdate

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.shared.clock import Clock
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
        self._routes: list[tuple[re.Pattern[str], frozenset[str], str]] | None = None

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
            self.stats.record(self._route_key(scope), status)

    def _route_key(self, scope: Scope) -> str:
        route = scope.get("route")
        template = getattr(route, "path", None) or self._template(scope) or scope["path"]
        return f"{scope['method']} {template}"

    def _template(self, scope: Scope) -> str | None:
        """The route template of a request refused before routing (401, 429, injected fault).

        Without it such a request is counted under its raw path, so one route would show up
        under two keys in `by_route`. Only these refusals look routes up, never the hot path.
        """
        if self._routes is None:
            router = getattr(scope.get("app"), "router", None)
            self._routes = [
                (compile_path(template)[0], frozenset(methods), template)
                for template, methods in _flatten(getattr(router, "routes", ()), "")
            ]
        method, path = scope["method"], scope["path"]
        for pattern, methods, template in self._routes:
            if pattern.match(path) and (not methods or method in methods):
                return template
        return None


def _flatten(routes: Iterable[object], prefix: str) -> Iterator[tuple[str, Iterable[str]]]:
    """(full template, methods) of every route, through FastAPI's included routers."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:  # newer FastAPI keeps included routers nested
            context = getattr(route, "include_context", None)
            extra = getattr(context, "prefix", "") or ""
            yield from _flatten(getattr(inner, "routes", ()), prefix + extra)
        else:
            path = getattr(route, "path", None)
            if isinstance(path, str):
                yield prefix + path, getattr(route, "methods", None) or ()


class DateHeader:
    """Every response's `Date` (RFC 9110 §6.6.1) on the sandbox's clock, as the vendors stamp
    it on theirs: a clock moved by `/_sandbox/clock/advance` shows in `Date` as in the record
    stamps, so a client learning the vendor's clock from `Date` sees the same skew. The
    server's own `Date` (wall time) is switched off (`sandbox.shared.server`)."""

    def __init__(self, app: ASGIApp, *, clock: Clock) -> None:
        self.app = app
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def dated_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() != b"date"
                ]
                stamp = formatdate(self.clock.now(), usegmt=True).encode("latin-1")
                message = {**message, "headers": [*headers, (b"date", stamp)]}
            await send(message)

        await self.app(scope, receive, dated_send)
