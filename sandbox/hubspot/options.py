"""How one HubSpot imitation is configured: credentials, account ids, limits, storage."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict


class HubSpotOptions(BaseModel):
    """Defaults describe a Professional-tier portal with one private app and one OAuth app."""

    model_config = ConfigDict(frozen=True)

    access_token: str = "pat-na1-00000000-0000-4000-8000-000000sandbox"  # noqa: S105 (sandbox)
    client_id: str = "00000000-0000-4000-8000-00000000c11e"
    client_secret: str = "sandbox-client-secret-0000000000000000"  # noqa: S105 (sandbox)
    app_id: int = 1_234_567
    portal_id: int = 7_654_321
    rate_limits: bool = True
    ten_second_limit: int = 190  # the private app's burst window (Professional tier)
    oauth_ten_second_limit: int = 110  # the OAuth app's: a marketplace app's, per account
    daily_limit: int = 625_000
    search_per_second: int = 5
    search_index_lag_s: float = 0.0  # records modified this recently are not searchable yet
    db_path: Path | None = None
