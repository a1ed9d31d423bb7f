"""Access tokens for HubSpot: a private-app token, or OAuth 2 access tokens kept fresh.

HubSpot's guidance: "401 requests are not a valid indicator that a new access token must be
retrieved" (hubspot-api.md §2). So `OAuthTokens` refreshes *before* `expires_in` elapses (minus
a margin), not on a 401; a 401 still triggers one forced refresh through the retry layer's
`SessionExpired` path, as a safety net for revoked or clock-skewed tokens.

Token calls go over httpx (`POST /oauth/v1/token`, form-encoded), not through the SDK, so they
are tested with respx.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import httpx
from pydantic import SecretStr

from connectors.errors import AuthError
from connectors.http.client import raise_for_status
from connectors.http.redaction import register_secrets
from connectors.http.retry import Retrier
from connectors.records import System

TOKEN_PATH = "/oauth/v1/token"  # noqa: S105 (an endpoint path, not a secret)
DEFAULT_MARGIN_S = 120.0  # refresh this long before the token's stated expiry


class TokenSource(Protocol):
    """Where the connector gets the Bearer token for its next call."""

    def token(self) -> str: ...

    @property
    def refreshable(self) -> bool: ...

    def refresh(self) -> None: ...


class PrivateAppToken:
    """A static private-app token: nothing to refresh (a 401 is a plain `AuthError`)."""

    refreshable = False

    def __init__(self, token: SecretStr) -> None:
        self._token = token
        register_secrets(token.get_secret_value())

    def token(self) -> str:
        return self._token.get_secret_value()

    def refresh(self) -> None:
        raise AuthError(
            "a private-app token cannot be refreshed; create a new one in HubSpot",
            system=System.HUBSPOT,
            operation="auth.refresh",
        )


class OAuthTokens:
    """OAuth 2 access tokens from a refresh token, refreshed ahead of expiry. Thread-safe.

    Args:
        http: an httpx client whose base URL is the HubSpot API root.
        client_id, client_secret, refresh_token: the OAuth app and grant.
        retrier: the retry layer for token calls (no API budget: token calls are not CRM calls).
        margin_s: refresh when fewer than this many seconds of validity remain.
        clock: monotonic seconds; injectable for tests.
    """

    refreshable = True

    def __init__(
        self,
        *,
        http: httpx.Client,
        client_id: str,
        client_secret: SecretStr,
        refresh_token: SecretStr,
        retrier: Retrier | None = None,
        margin_s: float = DEFAULT_MARGIN_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._retrier = retrier
        self._margin = margin_s
        self._clock = clock
        self._lock = threading.Lock()
        self._access: str | None = None
        self._expires_at = 0.0
        register_secrets(client_secret.get_secret_value(), refresh_token.get_secret_value())

    def token(self) -> str:
        """A valid access token, refreshed first if it expires within the margin."""
        with self._lock:
            if self._access is None or self._clock() >= self._expires_at - self._margin:
                self._refresh_locked()
            assert self._access is not None
            return self._access

    def refresh(self) -> None:
        """Force a refresh (the retry layer calls this once after a 401)."""
        with self._lock:
            self._refresh_locked()

    @property
    def expires_in(self) -> float:
        """Seconds of validity left on the current token (0 when there is none)."""
        return max(0.0, self._expires_at - self._clock()) if self._access else 0.0

    def _refresh_locked(self) -> None:
        form = {
            "grant_type": "refresh_token",
            "client_id": self._client_id,
            "client_secret": self._client_secret.get_secret_value(),
            "refresh_token": self._refresh_token.get_secret_value(),
        }

        def post() -> dict[str, Any]:
            response = self._http.post(TOKEN_PATH, data=form)
            raise_for_status(response, system=System.HUBSPOT, operation="oauth.refresh")
            body: dict[str, Any] = response.json()
            return body

        started = self._clock()
        body = post() if self._retrier is None else self._retrier.call(post, operation="oauth")
        access = body.get("access_token")
        if not isinstance(access, str) or not access:
            raise AuthError(
                "HubSpot's token response carried no access_token",
                system=System.HUBSPOT,
                operation="oauth.refresh",
            )
        register_secrets(access)
        self._access = access
        self._expires_at = started + float(body.get("expires_in") or 0)
        rotated = body.get("refresh_token")
        if isinstance(rotated, str) and rotated:
            register_secrets(rotated)
            self._refresh_token = SecretStr(rotated)
