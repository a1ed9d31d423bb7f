"""The README's configuration reference stays current: every setting is documented there."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from baton.settings import BatonSettings
from connectors.hubspot.settings import HubSpotSettings
from connectors.salesforce.settings import SalesforceSettings

README = Path(__file__).resolve().parents[3] / "README.md"


@pytest.mark.parametrize(
    ("settings", "prefix"),
    [
        (BatonSettings, "BATON_"),
        (HubSpotSettings, "BATON_HUBSPOT_"),
        (SalesforceSettings, "BATON_SALESFORCE_"),
    ],
)
def test_every_setting_is_in_the_readme(settings: type[BaseSettings], prefix: str) -> None:
    text = README.read_text()
    missing = [
        f"{prefix}{name.upper()}"
        for name in settings.model_fields
        if f"`{prefix}{name.upper()}`" not in text
    ]
    assert missing == [], f"document these in README.md's Configuration section: {missing}"
