"""What stands before every CRM route: Bearer authentication, then rate limits and headers.

`/_sandbox/` admin routes and the OAuth endpoints (which authenticate with client credentials
in the body) pass straight through.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.hubspot.errors import HubSpotError, unauthorized
from sandbox.hubspot.limits import HubSpotLimits
from sandbox.hubspot.oauth import OAuthTokens

OPEN_PREFIXES = ("/_sandbox", "/oauth/")


def bearer(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header value."""
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return None


def expired(seconds_ago: float) -> HubSpotError:
    minutes = max(int(seconds_ago // 60), 0)
    return HubSpotError(
        401,
        "EXPIRED_AUTHENTICATION",
        f"The OAuth token used to make this call expired {minutes} minute(s) ago.",
    )


class Gate:
    def __init__(
        self, app: ASGIApp, *, access_token: str, tokens: OAuthTokens, limits: HubSpotLimits
    ) -> None:
        self.app = app
        self.access_token = access_token
        self.tokens = tokens
        self.limits = limits

    def _token(self, scope: Scope) -> str | None:
        for key, value in scope["headers"]:
            if key == b"authorization":
                return bearer(bytes(value).decode("latin-1"))
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        token = self._token(scope)
        oauth = token is not None and token != self.access_token and self.tokens.valid(token)
        if token is None or (token != self.access_token and not oauth):
            ago = self.tokens.expired_for(token) if token else None
            error = unauthorized() if ago is None else expired(ago)
            await error.response()(scope, receive, send)
            return
        search = path.endswith("/search")
        refused = self.limits.admit(search=search, oauth=oauth)
        if refused is not None:
            await refused(scope, receive, send)
            return
        if search:
            await self.app(scope, receive, send)
            return
        limits = self.limits

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [
                    (k.lower().encode(), v.encode()) for k, v in limits.headers(oauth=oauth).items()
                ]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)
