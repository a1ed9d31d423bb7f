"""OAuth 2 (v1 endpoints, as SDK v12 calls them): code and refresh grants, token lookups.

Access tokens live `EXPIRES_IN` seconds on the sandbox clock; refresh tokens until revoked.
Any authorization code is accepted (there is no consent screen to issue real ones).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from starlette.responses import Response

from sandbox.hubspot.errors import correlation_id, json_response
from sandbox.hubspot.options import HubSpotOptions
from sandbox.shared.clock import Clock

EXPIRES_IN = 1800
SCOPES = ("crm.objects.contacts.read", "crm.objects.contacts.write", "oauth")


@dataclass
class _Access:
    refresh_token: str
    expires_at: float


class OAuthTokens:
    def __init__(self, options: HubSpotOptions, clock: Clock) -> None:
        self.options = options
        self.clock = clock
        self.access: dict[str, _Access] = {}
        self.refresh: set[str] = set()

    def valid(self, token: str) -> bool:
        found = self.access.get(token)
        return found is not None and found.expires_at > self.clock.now()

    def expired_for(self, token: str) -> float | None:
        """Seconds since a known access token expired (None if unknown or still valid)."""
        found = self.access.get(token)
        if found is None or found.expires_at > self.clock.now():
            return None
        return self.clock.now() - found.expires_at

    def issue(self, refresh_token: str | None = None) -> dict[str, Any]:
        refresh = refresh_token or f"na1-{secrets.token_hex(4)}-{secrets.token_hex(16)}"
        self.refresh.add(refresh)
        access = f"CO{secrets.token_urlsafe(32)}"
        self.access[access] = _Access(refresh, self.clock.now() + EXPIRES_IN)
        return {
            "token_type": "bearer",
            "refresh_token": refresh,
            "access_token": access,
            "expires_in": EXPIRES_IN,
        }

    def reset(self) -> None:
        self.access.clear()
        self.refresh.clear()


def _error(error: str, description: str, status: str, message: str) -> Response:
    return json_response(
        {
            "status": status,
            "message": message,
            "correlationId": correlation_id(),
            "error": error,
            "error_description": description,
        },
        400,
    )


def oauth_router(tokens: OAuthTokens) -> APIRouter:
    router = APIRouter()
    options = tokens.options

    @router.post("/oauth/v1/token")
    async def token(request: Request) -> Response:
        # form-urlencoded, parsed by hand (no multipart parser needed for this one form)
        fields = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        grant = fields.get("grant_type")
        if fields.get("client_id") != options.client_id:
            return _error(
                "invalid_client",
                "The client ID provided is invalid",
                "BAD_CLIENT_ID",
                "missing or unknown client id",
            )
        if fields.get("client_secret") != options.client_secret:
            return _error(
                "invalid_client",
                "The client secret provided is invalid",
                "BAD_CLIENT_SECRET",
                "missing or invalid client secret",
            )
        if grant == "authorization_code":
            if not fields.get("code") or not fields.get("redirect_uri"):
                return _error(
                    "invalid_grant",
                    "missing or invalid auth code",
                    "BAD_AUTH_CODE",
                    "missing or invalid auth code",
                )
            return json_response(tokens.issue())
        if grant == "refresh_token":
            refresh = fields.get("refresh_token", "")
            if refresh not in tokens.refresh:
                return _error(
                    "invalid_grant",
                    "refresh token is invalid, expired or revoked",
                    "BAD_REFRESH_TOKEN",
                    "missing or unknown refresh token",
                )
            return json_response(tokens.issue(refresh))
        return _error(
            "unsupported_grant_type",
            "grant_type must be authorization_code or refresh_token",
            "BAD_GRANT_TYPE",
            "missing or unknown grant type",
        )

    @router.get("/oauth/v1/access-tokens/{token}")
    async def access_token_info(token: str) -> Response:
        found = tokens.access.get(token)
        if found is None or found.expires_at <= tokens.clock.now():
            return _error(
                "invalid_token",
                "token is invalid or expired",
                "EXPIRED_AUTH",
                "The OAuth token used to make this call expired",
            )
        return json_response(
            {
                "token": token,
                "user": "sandbox@example.com",
                "hub_domain": "sandbox.example.com",
                "scopes": list(SCOPES),
                "hub_id": options.portal_id,
                "app_id": options.app_id,
                "expires_in": int(found.expires_at - tokens.clock.now()),
                "user_id": 1,
                "token_type": "access",
            }
        )

    @router.get("/oauth/v1/refresh-tokens/{token}")
    async def refresh_token_info(token: str) -> Response:
        if token not in tokens.refresh:
            return _error(
                "invalid_grant",
                "refresh token is invalid, expired or revoked",
                "BAD_REFRESH_TOKEN",
                "missing or unknown refresh token",
            )
        return json_response(
            {
                "token": token,
                "user": "sandbox@example.com",
                "hub_domain": "sandbox.example.com",
                "scopes": list(SCOPES),
                "hub_id": options.portal_id,
                "client_id": options.client_id,
                "user_id": 1,
                "token_type": "refresh",
            }
        )

    @router.delete("/oauth/v1/refresh-tokens/{token}", status_code=204)
    async def revoke(token: str) -> Response:
        tokens.refresh.discard(token)
        for key in [k for k, v in tokens.access.items() if v.refresh_token == token]:
            del tokens.access[key]
        return Response(status_code=204)

    return router
