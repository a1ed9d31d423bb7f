"""OAuth 2.0 token endpoint and the sessions it issues.

Grants: client_credentials (id/secret in the form or HTTP Basic), password, refresh_token and
JWT bearer. The JWT assertion is checked leniently, as simple-salesforce sends `exp` as a
string: `iss` must be the client id, `sub` the org's username, `exp` in the future (by the
earlier of wall clock and sandbox clock); the RS256 signature is verified only when
`jwt_public_key` is configured.
Sessions lapse after two hours without use, on the sandbox clock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import jwt
from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from sandbox.salesforce.errors import SalesforceError, invalid_session
from sandbox.shared.clock import Clock

SESSION_IDLE_S = 2 * 3600
SWEEP_AT = 1000
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: str
    org_id: str
    user_id: str
    username: str
    password: str
    jwt_public_key: str | None = None


class Sessions:
    """Access tokens (`<org15>!<random>`) with their last use; refresh tokens never lapse."""

    def __init__(self, clock: Clock, org_id: str, *, idle_s: float = SESSION_IDLE_S) -> None:
        self._clock = clock
        self._org15 = org_id[:15]
        self._idle_s = idle_s
        self._last_used: dict[str, float] = {}
        self._refresh: set[str] = set()

    def issue(self) -> str:
        now = self._clock.now()
        if len(self._last_used) >= SWEEP_AT:  # forget lapsed sessions now and then
            for stale in [t for t, last in self._last_used.items() if now - last > self._idle_s]:
                del self._last_used[stale]
        token = f"{self._org15}!{secrets.token_urlsafe(48)}"
        self._last_used[token] = now
        return token

    def issue_refresh(self) -> str:
        token = "5Aep" + secrets.token_urlsafe(40)
        self._refresh.add(token)
        return token

    def knows_refresh(self, token: str) -> bool:
        return token in self._refresh

    def touch(self, token: str) -> bool:
        """True (and the session kept alive) if `token` is a live session."""
        last = self._last_used.get(token)
        now = self._clock.now()
        if last is None:
            return False
        if now - last > self._idle_s:
            del self._last_used[token]
            return False
        self._last_used[token] = now
        return True

    def revoke(self, token: str) -> None:
        self._last_used.pop(token, None)

    def clear(self) -> None:
        self._last_used.clear()
        self._refresh.clear()


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and token.strip():
        return token.strip()
    return None


def require_session(sessions: Sessions, request: Request) -> str:
    token = bearer_token(request)
    if token is None or not sessions.touch(token):
        raise invalid_session()
    return token


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def _basic(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(value.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


class TokenEndpoint:
    def __init__(self, credentials: Credentials, sessions: Sessions, clock: Clock) -> None:
        self.credentials = credentials
        self.sessions = sessions
        self.clock = clock

    def _client(self, form: dict[str, str], request: Request, *, secret_required: bool) -> None:
        basic = _basic(request)
        client_id = form.get("client_id") or (basic[0] if basic else "")
        secret = form.get("client_secret") or (basic[1] if basic else "")
        if not client_id or not hmac.compare_digest(client_id, self.credentials.client_id):
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if (secret_required or secret) and not hmac.compare_digest(
            secret, self.credentials.client_secret
        ):
            raise OAuthError("invalid_client", "invalid client credentials")

    def _user(self, form: dict[str, str]) -> None:
        username, password = form.get("username", ""), form.get("password", "")
        creds = self.credentials
        # The password may carry the security token appended, as for SOAP login.
        if username != creds.username or not password.startswith(creds.password):
            raise OAuthError("invalid_grant", "authentication failure")

    def _jwt(self, assertion: str) -> None:
        creds = self.credentials
        try:
            if creds.jwt_public_key:
                claims: dict[str, Any] = jwt.decode(
                    assertion,
                    creds.jwt_public_key,
                    algorithms=["RS256"],
                    options={"verify_exp": False, "verify_aud": False},
                )
            else:
                claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise OAuthError("invalid_grant", f"invalid assertion: {exc}") from None
        if claims.get("iss") != creds.client_id:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if claims.get("sub") != creds.username:
            raise OAuthError("invalid_grant", "user hasn't approved this consumer")
        try:
            expires = float(claims.get("exp", ""))
        except (TypeError, ValueError):
            raise OAuthError("invalid_grant", "invalid assertion: exp missing") from None
        # Clients stamp `exp` from wall time; tests move the sandbox clock forward, so the
        # earlier of the two decides (moving the sandbox clock must not lock JWT clients out).
        if expires < min(self.clock.now(), time.time()):
            raise OAuthError("invalid_grant", "expired access/refresh token")

    def grant(self, form: dict[str, str], request: Request) -> dict[str, Any]:
        grant_type = form.get("grant_type", "")
        refresh: str | None = None
        if grant_type == "client_credentials":
            self._client(form, request, secret_required=True)
        elif grant_type == "password":
            self._client(form, request, secret_required=True)
            self._user(form)
            refresh = self.sessions.issue_refresh()
        elif grant_type == "refresh_token":
            self._client(form, request, secret_required=False)
            if not self.sessions.knows_refresh(form.get("refresh_token", "")):
                raise OAuthError("invalid_grant", "expired access/refresh token")
        elif grant_type == JWT_GRANT:
            self._jwt(form.get("assertion", ""))
        elif not grant_type:
            raise OAuthError("invalid_request", "grant type not specified")
        else:
            raise OAuthError("unsupported_grant_type", "grant type not supported")
        return self._success(request, grant_type, refresh)

    def _success(self, request: Request, grant_type: str, refresh: str | None) -> dict[str, Any]:
        token = self.sessions.issue()
        issued_at = str(self.clock.now_ms())
        instance_url = instance_url_of(request)
        creds = self.credentials
        identity = f"https://login.salesforce.com/id/{creds.org_id}/{creds.user_id}"
        signature = base64.b64encode(
            hmac.new(
                creds.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256
            ).digest()
        ).decode()
        body: dict[str, Any] = {
            "access_token": token,
            "instance_url": instance_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
            "signature": signature,
        }
        if grant_type == JWT_GRANT:
            body["scope"] = "id full api"
        if grant_type == "client_credentials":
            body["scope"] = "api"
            body["token_format"] = "opaque"  # noqa: S105 (not a secret)
        if refresh:
            body["refresh_token"] = refresh
        return body

    def router(self) -> APIRouter:
        router = APIRouter()

        @router.post("/services/oauth2/token")
        async def token(request: Request) -> JSONResponse:
            raw = (await request.body()).decode("utf-8", "replace")
            form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
            try:
                return JSONResponse(self.grant(form, request))
            except OAuthError as exc:
                return JSONResponse(
                    {"error": exc.error, "error_description": exc.description},
                    status_code=exc.status,
                )

        @router.post("/services/oauth2/revoke")
        async def revoke(request: Request) -> JSONResponse:
            raw = (await request.body()).decode("utf-8", "replace")
            form = {k: v[0] for k, v in parse_qs(raw).items()}
            self.sessions.revoke(form.get("token", ""))
            return JSONResponse({})

        return router


def instance_url_of(request: Request) -> str:
    host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    return f"https://{host}"


__all__ = [
    "Credentials",
    "SalesforceError",
    "Sessions",
    "TokenEndpoint",
    "bearer_token",
    "instance_url_of",
    "require_session",
]
