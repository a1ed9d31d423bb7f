"""How one imitated org is set up: credentials, API version, allocation, storage."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_ORG_ID = "00D8d0000000BaTEAU"  # 15-char id + its real case-safety suffix


class SalesforceOptions(BaseModel):
    model_config = ConfigDict(frozen=True)

    client_id: str = "3MVG9BatonSandboxConsumerKey.local"
    client_secret: str = "baton-sandbox-consumer-secret"  # noqa: S105 (sandbox default)
    org_id: str = Field(DEFAULT_ORG_ID, min_length=18, max_length=18, pattern=r"^00D")
    username: str = "integration@baton.sandbox"
    password: str = "sandbox-password"  # noqa: S105 (sandbox default)
    api_version: str = "59.0"
    rate_limits: bool = True
    daily_limit: int = Field(100_000, ge=0)
    db_path: Path | None = None  # None = in-memory SQLite
    jwt_public_key: str | None = None  # PEM; when set, JWT bearer assertions are verified
