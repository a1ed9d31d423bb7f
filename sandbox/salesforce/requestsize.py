"""Salesforce's request-size refusals, answered before any route runs.

A request URI over 16,384 bytes gets 414, and a URI plus headers over 16,384 bytes gets 431
(salesforce-api.md §3.2). Salesforce's front server refuses them before the API sees them, so
the body is its HTML error page, not a REST error array, and no API allocation is spent. The
body is the one clients report (`<h1>Bad Message 414</h1><pre>reason: URI Too Long</pre>`,
e.g. simple-salesforce issue #271); the 431 body follows the same server's pattern.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

MAX_REQUEST_BYTES = 16_384
_REASONS = {414: "URI Too Long", 431: "Request Header Fields Too Large"}


def request_uri_bytes(scope: Scope) -> int:
    """Bytes of the request target as sent: path, then `?query` when there is one."""
    path: bytes = scope.get("raw_path") or scope["path"].encode()
    query: bytes = scope.get("query_string") or b""
    return len(path) + (len(query) + 1 if query else 0)


def _header_bytes(scope: Scope) -> int:
    return sum(len(name) + len(value) + 4 for name, value in scope.get("headers", ()))  # ": ", CRLF


class RequestSizeLimit:
    """Refuses oversized requests with 414 or 431 as Salesforce does."""

    def __init__(self, app: ASGIApp, *, limit: int = MAX_REQUEST_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            uri = request_uri_bytes(scope)
            if uri > self.limit:
                await _refuse(send, 414)
                return
            if uri + _header_bytes(scope) > self.limit:
                await _refuse(send, 431)
                return
        await self.app(scope, receive, send)


async def _refuse(send: Send, status: int) -> None:
    body = f"<h1>Bad Message {status}</h1><pre>reason: {_REASONS[status]}</pre>".encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/html;charset=iso-8859-1"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
