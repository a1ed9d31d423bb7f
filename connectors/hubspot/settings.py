"""HubSpot connection settings, read from the environment (prefix `BATON_HUBSPOT_`) or `.env`.

Two ways to authenticate, checked when settings are built so a bad setup fails at start-up
with the setting's name and the fix, not at the first API call:

- a private-app token (`BATON_HUBSPOT_ACCESS_TOKEN`), sent as a Bearer token;
- OAuth 2 (`BATON_HUBSPOT_CLIENT_ID`, `_CLIENT_SECRET`, `_REFRESH_TOKEN`): the connector trades
  the refresh token for short-lived access tokens itself.

The base URL is a setting so the sandbox or a proxy can stand in for api.hubapi.com.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from connectors.errors import ConfigError
from connectors.invalid import first_setting_error
from connectors.records import System

ENV_PREFIX = "BATON_HUBSPOT_"
PRIVATE_APP_LIMIT_PER_10S = 190  # Professional and Enterprise portals (hubspot-api.md §6)
OAUTH_LIMIT_PER_10S = 110  # marketplace OAuth apps, per installing account (§6)


class HubSpotSettings(BaseSettings):
    """Everything the HubSpot connector needs to reach one portal."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", frozen=True
    )

    base_url: str = Field("https://api.hubapi.com", description="API root (sandbox or proxy).")
    access_token: SecretStr | None = Field(None, description="Private-app token (pat-...).")
    client_id: str | None = Field(None, description="OAuth app client id.")
    client_secret: SecretStr | None = Field(
        None, description="OAuth app client secret; also the webhook signing key."
    )
    refresh_token: SecretStr | None = Field(None, description="OAuth refresh token.")
    app_id: int | None = Field(None, description="HubSpot app id (webhook subscriptions).")
    webhook_url: str | None = Field(
        None,
        description="The app's webhook target URL, when a proxy in front of Baton changes the "
        "scheme, host or path: signatures are checked against it (as written when it has a "
        "query string; else with the request's query added).",
    )
    webhook_accept_v1: bool = Field(
        False,
        description="Also accept deliveries signed only with v1/v2 (no timestamp, so a captured "
        "one can be replayed); HubSpot signs every delivery with v3 as well.",
    )
    request_timeout_s: float = Field(30.0, gt=0, le=600, description="Per-request timeout.")
    # The budget's bucket holds at most (1 - fraction) x limit of burst, so even at 0.95 no
    # rolling window ever sees more than the limit; the headers correct for other clients.
    budget_fraction: float = Field(
        0.95, gt=0, le=1, description="Share of the published rate limits the budget may spend."
    )
    deletions_in_changes: bool = Field(
        True,
        description="Merge the recycling bin (archived records) into incremental reads; costs "
        "one list call per 100 archived records per run.",
    )
    limit_per_10s: int | None = Field(
        None,
        ge=1,
        description="Published burst limit of the app: unset, 190 for a private app "
        "(Professional/Enterprise) and 110 for an OAuth (marketplace) app.",
    )
    daily_floor: int = Field(0, ge=0, description="Stop when this many daily calls remain.")

    @field_validator("access_token", "client_id", "client_secret", "refresh_token", mode="before")
    @classmethod
    def _trimmed(cls, value: object) -> object:
        """A token pasted with a space, or read from a CRLF file, is the token: HubSpot would
        refuse the raw value (httpx refuses a header ending in CR). Blank means unset."""
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(text, str):
            return text.strip() or None
        return value

    @field_validator("base_url", "webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError(f"{value!r} is not an http(s):// URL, e.g. https://api.hubapi.com")
        return value

    @model_validator(mode="after")
    def _one_way_to_authenticate(self) -> HubSpotSettings:
        if self.access_token is not None:
            return self
        oauth = {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": self.refresh_token,
        }
        missing = [name for name, value in oauth.items() if not value]
        if len(missing) == len(oauth):
            raise ValueError(
                f"no credentials: set {ENV_PREFIX}ACCESS_TOKEN (private app) or "
                f"{ENV_PREFIX}CLIENT_ID, {ENV_PREFIX}CLIENT_SECRET and "
                f"{ENV_PREFIX}REFRESH_TOKEN (OAuth)"
            )
        if missing:
            names = ", ".join(ENV_PREFIX + m.upper() for m in missing)
            raise ValueError(f"OAuth needs {names} as well (or set {ENV_PREFIX}ACCESS_TOKEN)")
        return self

    @property
    def uses_oauth(self) -> bool:
        return self.access_token is None

    @property
    def burst_limit(self) -> int:
        """The burst limit to pace at: HubSpot's applies per app, and an OAuth app gets a
        lower one than a private app (hubspot-api.md §6). The response headers correct it."""
        if self.limit_per_10s is not None:
            return self.limit_per_10s
        return OAUTH_LIMIT_PER_10S if self.uses_oauth else PRIVATE_APP_LIMIT_PER_10S

    def secrets(self) -> tuple[str, ...]:
        """The secret values, for registering with the redaction layer."""
        values = (self.access_token, self.client_secret, self.refresh_token)
        return tuple(v.get_secret_value() for v in values if v is not None)


def load_settings(**overrides: object) -> HubSpotSettings:
    """Build settings from the environment (and `overrides`), as a `ConfigError` on failure.

    The error names the first bad setting by its environment variable and says how to fix it.
    """
    try:
        return HubSpotSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        named, fix = first_setting_error(exc, ENV_PREFIX)
        raise ConfigError(
            "invalid HubSpot settings",
            setting=named or ENV_PREFIX + "*",
            fix=fix,
            system=System.HUBSPOT,
        ) from None
