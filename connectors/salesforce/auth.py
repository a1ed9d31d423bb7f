"""OAuth token grants against `{login_url}/services/oauth2/token`, over httpx.

Baton obtains its own access token (simple-salesforce only ever gets a session id), so every
auth mode goes through one small, respx-testable path, and a refresh after
`INVALID_SESSION_ID` is just "grant again":

- client credentials: `grant_type=client_credentials`, client id/secret as HTTP Basic auth;
- JWT bearer: an RS256 assertion `{iss: client_id, sub: username, aud, exp: now + 3 min}`;
- refresh token: `grant_type=refresh_token` with the stored refresh token;
- password (deprecated fallback): `grant_type=password`, password + security token.

Error bodies are `{"error", "error_description"}` (salesforce-api.md §2.2); they become an
`AuthError` (or a `ConfigError` when the mode itself is wrong) naming the grant and the
vendor's words, never a secret.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

from connectors.errors import AuthError, ConfigError, ConnectorError
from connectors.http.classify import classify_exception, classify_response
from connectors.http.client import build_client
from connectors.http.clock import VendorClock
from connectors.records import System
from connectors.salesforce.settings import ENV_PREFIX, SalesforceSettings

log = logging.getLogger(__name__)

TOKEN_PATH = "/services/oauth2/token"  # noqa: S105 - a path, not a secret
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_LIFETIME_S = 180  # Salesforce accepts assertions that expire within 3 minutes

# Vendor error codes that mean "the settings are wrong", with the setting to fix.
_CONFIG_ERRORS: Mapping[str, tuple[str, str]] = {
    "unsupported_grant_type": ("AUTH", "enable this OAuth flow on the connected app"),
    "invalid_client_id": ("CLIENT_ID", "use the connected app's consumer key"),
}


@dataclass(frozen=True, slots=True)
class Token:
    """An access token and the instance it is valid for (secret: repr hides it)."""

    access_token: str = field(repr=False)
    instance_url: str


class TokenClient:
    """Runs the configured grant and returns a fresh `Token`.

    Args:
        settings: the connector's settings (auth mode and credentials).
        transport: injectable for tests (respx also works without it).
        clock: epoch seconds, for the JWT expiry.
        vendor_clock: learns the vendor's clock from the token endpoint's `Date`.
    """

    def __init__(
        self,
        settings: SalesforceSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        vendor_clock: VendorClock | None = None,
    ) -> None:
        self.settings = settings
        self._transport = transport
        self._clock = clock
        self._vendor_clock = vendor_clock

    def grant(self) -> Token:
        """Obtain a new access token.

        Raises:
            AuthError: the credentials were refused (the vendor's code and description kept).
            ConfigError: the auth mode or client id is wrong for this org.
            TransientError: the token endpoint failed or could not be reached.
        """
        s = self.settings
        form, auth = self._form()
        operation = f"oauth2.token.{s.auth}"
        with build_client(
            base_url=s.login_url,
            ca_file=s.ca_file,
            timeout=httpx.Timeout(s.request_timeout_s, connect=s.connect_timeout_s),
            transport=self._transport,
            clock=self._vendor_clock,
            trust_env=True,
            proxy=s.proxy_url,
        ) as client:
            try:
                if auth is None:
                    response = client.post(TOKEN_PATH, data=form)
                else:
                    response = client.post(TOKEN_PATH, data=form, auth=auth)
            except httpx.TransportError as exc:
                classified = classify_exception(
                    exc, system=System.SALESFORCE, operation=operation, proxy=s.proxy_url
                )
                raise (classified or exc) from None
        if response.is_success:
            return self._token(response, operation)
        raise self._error(response, operation)

    def _form(self) -> tuple[dict[str, str], tuple[str, str] | None]:
        s = self.settings
        client_id = s.client_id or ""
        secret = s.client_secret.get_secret_value() if s.client_secret else None
        match s.auth:
            case "client_credentials":
                return {"grant_type": "client_credentials"}, (client_id, secret or "")
            case "jwt_bearer":
                return {"grant_type": JWT_GRANT, "assertion": self._assertion()}, None
            case "refresh_token":
                assert s.refresh_token is not None  # settings validation guarantees it
                form = {
                    "grant_type": "refresh_token",
                    "client_id": client_id,
                    "refresh_token": s.refresh_token.get_secret_value(),
                }
                if secret:
                    form["client_secret"] = secret
                return form, None
            case "password":
                assert s.password is not None
                log.warning(
                    "Salesforce auth=password is deprecated (Salesforce is retiring "
                    "username-password logins); switch to client_credentials or jwt_bearer"
                )
                token = s.security_token.get_secret_value() if s.security_token else ""
                return {
                    "grant_type": "password",
                    "client_id": client_id,
                    "client_secret": secret or "",
                    "username": s.username or "",
                    "password": s.password.get_secret_value() + token,
                }, None
        raise ConfigError(  # pragma: no cover - the Literal type makes this unreachable
            f"unknown auth mode {s.auth!r}",
            setting=ENV_PREFIX + "AUTH",
            fix="use client_credentials, jwt_bearer, refresh_token or password",
        )

    def _assertion(self) -> str:
        s = self.settings
        claims = {
            "iss": s.client_id,
            "sub": s.username,
            "aud": s.jwt_aud(),
            "exp": int(self._clock()) + JWT_LIFETIME_S,
        }
        try:
            return jwt.encode(claims, s.private_key_pem(), algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise ConfigError(
                f"cannot sign the JWT assertion ({type(exc).__name__})",
                setting=ENV_PREFIX + "PRIVATE_KEY_FILE",
                fix="use the PEM RSA private key whose certificate is on the connected app",
                system=System.SALESFORCE,
            ) from None

    def _token(self, response: httpx.Response, operation: str) -> Token:
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        access = body.get("access_token") if isinstance(body, dict) else None
        instance = body.get("instance_url") if isinstance(body, dict) else None
        instance = self.settings.instance_url or instance
        if not isinstance(access, str) or not access or not isinstance(instance, str):
            raise AuthError(
                "the token endpoint answered without an access token and instance URL",
                system=System.SALESFORCE,
                operation=operation,
                status=response.status_code,
            )
        return Token(access_token=access, instance_url=instance.rstrip("/"))

    def _error(self, response: httpx.Response, operation: str) -> ConnectorError:
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        code = body.get("error") if isinstance(body, dict) else None
        description = body.get("error_description") if isinstance(body, dict) else None
        if isinstance(code, str) and code in _CONFIG_ERRORS:
            setting, fix = _CONFIG_ERRORS[code]
            return ConfigError(
                f"Salesforce refused the {self.settings.auth} grant: {code}: {description}",
                setting=ENV_PREFIX + setting,
                fix=fix,
                system=System.SALESFORCE,
                operation=operation,
                vendor_code=code,
                vendor_message=description if isinstance(description, str) else None,
                status=response.status_code,
            )
        if response.status_code >= 500 or response.status_code == 429:
            return classify_response(
                system=System.SALESFORCE,
                status=response.status_code,
                headers=response.headers,
                body=response.content,
                operation=operation,
            )
        said = f": {code}: {description}" if code else f" (HTTP {response.status_code})"
        return AuthError(
            f"Salesforce refused the {self.settings.auth} grant{said}",
            system=System.SALESFORCE,
            operation=operation,
            vendor_code=code if isinstance(code, str) else None,
            vendor_message=description if isinstance(description, str) else None,
            status=response.status_code,
        )
