"""The README's configuration reference stays current: every setting is documented there."""

from __future__ import annotations

import re
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


def _exported_metrics(tmp_path: Path) -> dict[str, str]:
    """Every metric /metrics can export, by its family name: the name as scraped."""
    from baton.metrics import BatonMetrics
    from baton.wiring import open_store
    from connectors.http.budget import ApiBudget, hubspot_spec
    from sync.store.engine import sqlite_url

    store = open_store(str(sqlite_url(tmp_path / "baton.db")))
    try:
        budgets = {"hubspot": ApiBudget(hubspot_spec(limit_per_10s=190))}
        families = list(BatonMetrics(budgets=budgets, store=store).registry.collect())
    finally:
        store.dispose()
    return {f.name: f"{f.name}_total" if f.type == "counter" else f.name for f in families}


def test_every_metric_is_in_the_readme_under_the_name_it_is_scraped_by(tmp_path: Path) -> None:
    """The README's metrics table lists each metric as scraped (a counter's `_total` too), and
    names none by its family name alone, which no query would find."""
    text = README.read_text()
    exported = _exported_metrics(tmp_path)
    missing = [name for name in exported.values() if f"| `{name}` |" not in text]
    assert missing == [], f"add these to README.md's metrics table: {missing}"
    quoted = set(re.findall(r"`(baton_[a-z_]+)", text))
    misnamed = {name: exported[name] for name in quoted if exported.get(name, name) != name}
    assert misnamed == {}, f"README.md names these metrics as they are not scraped: {misnamed}"


def test_every_key_of_the_readyz_body_is_in_the_readme() -> None:
    """The README's paragraph on /readyz names each key of its JSON body, the loop's nested
    ones too, as a monitor would read them."""
    from types import SimpleNamespace

    from fastapi.testclient import TestClient

    from baton.daemon import Daemon
    from baton.service.app import ServiceDeps, create_app

    daemon = Daemon(SimpleNamespace(), interval_s=60)
    app = create_app(ServiceDeps(sink=lambda *_: None, ready=daemon.readiness))
    body = TestClient(app).get("/readyz").json()
    keys = [*body, *(key for value in body.values() if isinstance(value, dict) for key in value)]
    text = README.read_text()
    start = text.index("`GET /readyz` says")
    paragraph = text[start : text.index("\n\n", start)]
    missing = [key for key in keys if f"`{key}`" not in paragraph]
    assert missing == [], f"say what these /readyz keys are in README.md: {missing}"
