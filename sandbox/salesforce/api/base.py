"""One table of REST endpoints, served by FastAPI and replayed by composite subrequests.

Handlers are plain functions `Call -> Reply`, so `/composite` can run a subrequest through
the very code a direct request uses, without a second HTTP round trip.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
from fastapi import APIRouter, Request
from fastapi.params import Depends
from starlette.responses import Response

from sandbox.salesforce.errors import SalesforceError, not_found

DATA_PREFIX = "/services/data/v{version}"
JSON_TYPE = "application/json;charset=UTF-8"
_VERSION = re.compile(r"^(\d{2})\.0$")
MIN_VERSION, MAX_VERSION = 20, 66


@dataclass
class Call:
    version: str
    params: Mapping[str, str]
    query: Mapping[str, str]
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # already-serialised JSON (query pages)

    def render(self) -> Response:
        if self.status in (204, 304):  # neither may carry a body
            return Response(status_code=self.status, headers=self.headers)
        content = self.raw if self.raw is not None else orjson.dumps(self.body)
        return Response(content, self.status, headers=self.headers, media_type=JSON_TYPE)

    def json_body(self) -> Any:
        if self.raw is not None:
            return orjson.loads(self.raw)
        return self.body


Handler = Callable[[Call], Reply]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # below /services/data/vXX.X, e.g. "/sobjects/{sobject}/{record_id}"
    handler: Handler
    slash: bool = True  # also answer the trailing-slash spelling

    def pattern(self) -> re.Pattern[str]:
        regex = re.sub(r"\{(\w+):path\}", r"(?P<\1>.+)", self.path)
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
        return re.compile("^" + regex + ("/?" if self.slash else "") + "$")


def check_version(version: str) -> None:
    match = _VERSION.match(version)
    if not match or not MIN_VERSION <= int(match.group(1)) <= MAX_VERSION:
        raise not_found()


def parse_json(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise SalesforceError(
            400, "JSON_PARSER_ERROR", f"Unexpected character at input: {exc}"
        ) from None


class EndpointTable:
    def __init__(self, endpoints: Sequence[Endpoint]) -> None:
        self.endpoints = list(endpoints)
        self._compiled = [(e, e.pattern()) for e in self.endpoints]

    def router(self, dependencies: Sequence[Depends]) -> APIRouter:
        router = APIRouter(dependencies=list(dependencies))
        for endpoint in self.endpoints:
            paths = [DATA_PREFIX + endpoint.path]
            if (endpoint.slash and not endpoint.path.endswith("}")) or endpoint.slash:
                paths.append(DATA_PREFIX + endpoint.path + "/")
            for path in paths:
                router.add_api_route(
                    path,
                    _asgi_endpoint(endpoint.handler),
                    methods=[endpoint.method],
                    include_in_schema=False,
                )
        return router

    def dispatch(
        self, method: str, url: str, body: Any, headers: Mapping[str, str] | None = None
    ) -> Reply:
        """Run a composite subrequest addressed by its full `/services/data/vXX.X/...` URL."""
        parts = urlsplit(url)
        match = re.match(r"^/services/data/v(\d+\.\d)(/.*)?$", parts.path)
        if not match:
            raise not_found()
        version, rest = match.group(1), match.group(2) or "/"
        check_version(version)
        for endpoint, pattern in self._compiled:
            found = pattern.match(rest)
            if found and endpoint.method == method.upper():
                call = Call(
                    version=version,
                    params=found.groupdict(),
                    query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                    body=body,
                    headers={k.lower(): v for k, v in (headers or {}).items()},
                )
                return endpoint.handler(call)
        raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")


def _asgi_endpoint(handler: Handler) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        params = dict(request.path_params)
        version = params.pop("version", "")
        check_version(version)
        body = (
            parse_json(await request.body()) if request.method in ("POST", "PATCH", "PUT") else None
        )
        call = Call(
            version=version,
            params=params,
            query=dict(request.query_params),
            body=body,
            headers=request.headers,
        )
        return handler(call).render()

    return endpoint
