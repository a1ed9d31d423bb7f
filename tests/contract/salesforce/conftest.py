"""A served Salesforce imitation (HTTPS) and `SalesforceConnector`s pointed at it.

The connector goes through the real simple-salesforce over a real TLS socket, trusting the
sandbox's CA file. The sandbox runs on a clock the tests set, so records written "at the same
instant" share a SystemModstamp (ties) and windows can be placed exactly. Waits are no-ops, so
retry tests are fast; every request is still counted by `/_sandbox/stats`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.http.budget import ApiBudget, salesforce_spec
from connectors.http.retry import RetryPolicy
from connectors.salesforce.connector import SalesforceConnector
from connectors.salesforce.settings import SalesforceSettings
from sandbox.salesforce import SalesforceOptions, SalesforceSandbox
from sandbox.shared.clock import FrozenClock
from sandbox.shared.server import Listener, serve_in_thread
from sandbox.shared.tls import ensure_tls_files
from tests.contract.admin import SandboxAdmin

SEED_LEADS = 2_300
SEED_CONTACTS = 400


@dataclass
class Served(SandboxAdmin):
    box: SalesforceSandbox
    url: str
    ca_file: Path
    clock: FrozenClock

    def api_calls(self, fragment: str = "/services/data/") -> int:
        """Requests counted on routes containing `fragment` (data API by default, not OAuth)."""
        routes: dict[str, int] = self.stats()["by_route"]
        return sum(n for route, n in routes.items() if fragment in route)

    def settings(self, **overrides: Any) -> SalesforceSettings:
        options = self.box.options
        values: dict[str, Any] = {
            "login_url": self.url,
            "auth": "client_credentials",
            "client_id": options.client_id,
            "client_secret": options.client_secret,
            "org_id": options.org_id,
            "ca_file": self.ca_file,
            "bulk_poll_s": 0.01,
        }
        values.update(overrides)
        return SalesforceSettings(**values)

    def connector(self, **overrides: Any) -> SalesforceConnector:
        kwargs: dict[str, Any] = {
            "budget": ApiBudget(salesforce_spec(), sleep=lambda _s: None),
            "sleep": lambda _s: None,
            "policy": RetryPolicy(max_attempts=6),
        }
        for name in ("budget", "sleep", "policy", "extra_fields"):
            if name in overrides:
                kwargs[name] = overrides.pop(name)
        return SalesforceConnector(self.settings(**overrides), **kwargs)

    def slot(self) -> datetime:
        """Move the clock to a fresh hour no other test has written in, and return it."""
        self.clock.advance(3600)
        return datetime.fromtimestamp(self.clock.now(), tz=UTC)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp("salesforce-contract")
    tls = ensure_tls_files(directory)
    clock = FrozenClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    box = SalesforceSandbox(SalesforceOptions(rate_limits=False), clock=clock)
    box.seed(contacts=SEED_CONTACTS, leads=SEED_LEADS, seed=11)
    listener = Listener(box.app, tls=tls)
    with serve_in_thread([listener]):
        yield Served(box=box, url=listener.url, ca_file=tls.ca_cert, clock=clock)


@pytest.fixture
def salesforce(served: Served) -> Iterator[SalesforceConnector]:
    connector = served.connector()
    yield connector
    connector.close()
    served.clear_faults()


def after(when: datetime, **delta: float) -> datetime:
    return when + timedelta(**delta)
