"""Salesforce connection settings, from the environment (prefix `BATON_SALESFORCE_`) or `.env`.

The auth mode is an explicit choice (`auth`), and each mode's required settings are checked when
settings are built, so a bad setup fails at start-up with the setting's name and the fix:

- `client_credentials`: CLIENT_ID + CLIENT_SECRET, against the org's My Domain login URL;
- `jwt_bearer`: CLIENT_ID + USERNAME + PRIVATE_KEY_FILE or PRIVATE_KEY (RS256);
- `refresh_token`: CLIENT_ID + REFRESH_TOKEN (+ CLIENT_SECRET when the app requires it);
- `password`: CLIENT_ID + CLIENT_SECRET + USERNAME + PASSWORD (+ SECURITY_TOKEN). Deprecated:
  Salesforce is retiring username-password logins; kept only as a fallback.

`login_url` and `instance_url` are settings so the sandbox or a proxy can stand in, and
`ca_file` is the TLS trust anchor (the sandbox's CA, or a corporate proxy's).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from connectors.errors import ConfigError
from connectors.invalid import first_setting_error
from connectors.records import System

ENV_PREFIX = "BATON_SALESFORCE_"

# The characters a URL query carries unchanged (RFC 3986 unreserved): a token with '+', '/' or
# '=' (base64) would be read back from the endpoint URL altered, and every message refused.
_TOKEN_CHARACTERS = re.compile(r"[A-Za-z0-9._~-]+")
# Nothing limits failed guesses at the webhook route: 16 characters of `openssl rand -hex` are
# 64 bits, the least worth calling a secret.
MIN_WEBHOOK_TOKEN_LENGTH = 16
_PROXY_SCHEMES = ("http", "https")

AuthMode = Literal["client_credentials", "jwt_bearer", "refresh_token", "password"]

# What each auth mode needs, as data: one tuple of alternatives per requirement.
_REQUIRED: dict[str, tuple[tuple[str, ...], ...]] = {
    "client_credentials": (("client_id",), ("client_secret",)),
    "jwt_bearer": (("client_id",), ("username",), ("private_key_file", "private_key")),
    "refresh_token": (("client_id",), ("refresh_token",)),
    "password": (("client_id",), ("client_secret",), ("username",), ("password",)),
}


# What a grant also sends when it is set: (setting, when), for the hint after a refusal.
_OPTIONAL: dict[str, tuple[tuple[str, str], ...]] = {
    "refresh_token": (("client_secret", "if set or the connected app requires it"),),
    "password": (("security_token", "if set"),),
}


def mode_needs(auth: str) -> str:
    """The settings an auth mode uses, as the environment names them ('A, B and C or D'), then
    those its grant sends only when set ('..., and E if set')."""
    names = [" or ".join(ENV_PREFIX + n.upper() for n in alt) for alt in _REQUIRED.get(auth, ())]
    text = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)
    for name, when in _OPTIONAL.get(auth, ()):
        text += f", and {ENV_PREFIX}{name.upper()} {when}"
    return text


class SalesforceSettings(BaseSettings):
    """Everything the Salesforce connector needs to reach one org."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", frozen=True
    )

    instance_url: str | None = Field(
        None, description="The org's instance URL; learned from the token response when unset."
    )
    login_url: str = Field(
        "https://login.salesforce.com", description="Token endpoint host (My Domain, sandbox)."
    )
    auth: AuthMode = Field("client_credentials", description="How to obtain an access token.")
    client_id: str | None = Field(None, description="Connected app consumer key.")
    client_secret: SecretStr | None = Field(None, description="Connected app consumer secret.")
    username: str | None = Field(None, description="Integration user (jwt_bearer, password).")
    private_key_file: Path | None = Field(None, description="PEM RSA key for jwt_bearer.")
    private_key: SecretStr | None = Field(None, description="PEM RSA key text for jwt_bearer.")
    jwt_audience: str | None = Field(
        None,
        description="JWT `aud`; default https://login.salesforce.com (test.salesforce.com for "
        "sandbox orgs), never the My Domain URL.",
    )
    refresh_token: SecretStr | None = Field(None, description="OAuth refresh token.")
    password: SecretStr | None = Field(None, description="Password (deprecated fallback).")
    security_token: SecretStr | None = Field(None, description="Appended to the password.")
    org_id: str | None = Field(
        None, description="18-char org id; Outbound Messages from other orgs are rejected."
    )
    webhook_token: SecretStr | None = Field(
        None,
        description="Turns the Outbound Messages route on: each must carry it as the endpoint "
        "URL's `token` query parameter (the org id is no secret: it is in every Web-to-Lead "
        "form); 16 or more of A-Z a-z 0-9 . _ ~ - (e.g. `openssl rand -hex 24`).",
    )
    ca_file: Path | None = Field(None, description="PEM bundle to verify TLS with.")
    proxy_url: str | None = Field(
        None,
        description="HTTPS proxy for REST, Bulk and token calls.",
    )
    api_version: str = Field("59.0", description="REST API version, e.g. 59.0 (no 'v').")
    bulk_threshold: int = Field(
        10_000, ge=1, description="Reads and writes larger than this use Bulk API 2.0."
    )
    request_timeout_s: float = Field(30.0, gt=0, le=600, description="Per-request timeout.")
    connect_timeout_s: float = Field(10.0, gt=0, le=120, description="Connect timeout.")
    bulk_poll_s: float = Field(1.0, gt=0, le=60, description="First wait when polling jobs.")
    daily_floor: int = Field(0, ge=0, description="Stop when this many daily calls remain.")

    @field_validator(
        "client_id",
        "client_secret",
        "private_key",
        "refresh_token",
        "security_token",
        "webhook_token",
        mode="before",
    )
    @classmethod
    def _trimmed(cls, value: object) -> object:
        """A secret pasted with a space, or read from a CRLF file, is the secret; blank means
        unset. The password is kept as written: a space may be part of it."""
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(text, str):
            return text.strip() or None
        return value

    @field_validator("webhook_token")
    @classmethod
    def _token_survives_a_url(cls, value: SecretStr | None) -> SecretStr | None:
        """The token travels in the endpoint URL's query, where '+' reads as a space and '%'
        starts an escape: only unreserved characters come back as they were written."""
        if value is not None and not _TOKEN_CHARACTERS.fullmatch(value.get_secret_value()):
            raise ValueError(
                "use only the characters A-Z a-z 0-9 . _ ~ - (a URL query changes '+', '/' and "
                "'=', so every Outbound Message would be refused 401), e.g. `openssl rand -hex 24`"
            )
        if value is not None and len(value.get_secret_value()) < MIN_WEBHOOK_TOKEN_LENGTH:
            raise ValueError(
                f"use at least {MIN_WEBHOOK_TOKEN_LENGTH} characters (nothing limits guesses at "
                "the webhook route), e.g. `openssl rand -hex 24`"
            )
        return value

    @field_validator("proxy_url", mode="before")
    @classmethod
    def _proxy_shape(cls, value: object) -> object:
        """A proxy URL is checked here, where its error can leave it out: it may carry a
        password, and a malformed one otherwise fails each call with the URL in the message."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        if not text:
            return None
        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError:
            port, parts = None, None
        if parts is None or parts.scheme.lower() not in _PROXY_SCHEMES or not parts.hostname:
            raise ValueError(
                "write it as http://host:port or https://host:port, with user:password@ before "
                "the host if the proxy needs them (the value is not repeated here: it may hold "
                "a password)"
            )
        if port is None:
            raise ValueError("give the proxy's port, e.g. http://proxy.example.com:3128")
        return text

    @field_validator("api_version")
    @classmethod
    def _version_shape(cls, value: str) -> str:
        text = value.strip()
        if text.lower().startswith("v"):
            bare = text[1:] if "." in text else f"{text[1:]}.0"
            raise ValueError(f"write the API version without 'v', e.g. {bare!r}")
        major, _, minor = text.partition(".")
        if not (major.isdigit() and minor.isdigit()):
            raise ValueError("write the API version as NN.0, e.g. '59.0'")
        return text

    @field_validator("login_url", "instance_url")
    @classmethod
    def _https_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        text = value.strip().rstrip("/")
        if not text.startswith("https://"):
            raise ValueError(
                "use an https:// URL (simple-salesforce always speaks HTTPS; for the sandbox "
                "use its https address and set CA_FILE)"
            )
        return text

    @field_validator("org_id")
    @classmethod
    def _org_id_shape(cls, value: str | None) -> str | None:
        if value is not None and not (len(value) in (15, 18) and value.startswith("00D")):
            raise ValueError("an org id starts with 00D and has 15 or 18 characters")
        return value

    @model_validator(mode="after")
    def _mode_has_its_settings(self) -> SalesforceSettings:
        for alternatives in _REQUIRED[self.auth]:
            if not any(getattr(self, name) for name in alternatives):
                names = " or ".join(ENV_PREFIX + n.upper() for n in alternatives)
                raise ValueError(f"auth={self.auth} needs {names}")
        return self

    @field_validator("ca_file", "private_key_file", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        """`BATON_SALESFORCE_CA_FILE=` (as a template leaves it) means unset: the system's
        trust store, not a file named '.'."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("ca_file", "private_key_file")
    @classmethod
    def _a_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no file at {str(value)!r}; point it at an existing PEM file")
        return value

    def private_key_pem(self) -> str:
        """The JWT signing key, from the file or the inline setting."""
        if self.private_key is not None:
            return self.private_key.get_secret_value()
        if self.private_key_file is not None:
            return self.private_key_file.read_text()
        raise ConfigError(
            "no JWT signing key",
            setting=ENV_PREFIX + "PRIVATE_KEY_FILE",
            fix="point it at the connected app's PEM private key",
            system=System.SALESFORCE,
        )

    def jwt_aud(self) -> str:
        """The JWT audience: Salesforce accepts login or test.salesforce.com (or an Experience
        Cloud site URL), not the My Domain host the token request goes to."""
        if self.jwt_audience:
            return self.jwt_audience
        sandbox_org = "test.salesforce.com" in self.login_url or ".sandbox.my." in self.login_url
        return "https://test.salesforce.com" if sandbox_org else "https://login.salesforce.com"

    def secrets(self) -> tuple[str, ...]:
        """The secret values, for registering with the redaction layer."""
        values = (
            self.client_secret,
            self.private_key,
            self.refresh_token,
            self.password,
            self.security_token,
            self.webhook_token,
        )
        found = [v.get_secret_value() for v in values if v is not None]
        password = urlsplit(self.proxy_url).password if self.proxy_url else None
        if password:  # as written in the URL and as the proxy is sent it
            found.extend(dict.fromkeys((password, unquote(password))))
        return tuple(found)


def load_settings(**overrides: object) -> SalesforceSettings:
    """Build settings from the environment (and `overrides`), as a `ConfigError` on failure.

    The error names the first bad setting by its environment variable and says how to fix it.
    """
    try:
        return SalesforceSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        setting, fix = first_setting_error(exc, ENV_PREFIX)
        if setting is None:  # a check across settings: the first it names
            named = [w for w in fix.replace(",", " ").split() if w.startswith(ENV_PREFIX)]
            setting = named[0] if named else ENV_PREFIX + "AUTH"
        raise ConfigError(
            "invalid Salesforce settings", setting=setting, fix=fix, system=System.SALESFORCE
        ) from None
