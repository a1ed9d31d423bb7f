"""One sandbox: both imitations, their seed data, simulators and sockets, built from a config."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.hubspot import HubSpotOptions, HubSpotSandbox
from sandbox.salesforce import SalesforceOptions, SalesforceSandbox
from sandbox.shared.clock import Clock
from sandbox.shared.server import Listener, serve
from sandbox.shared.tls import TlsFiles, ensure_tls_files
from sandbox.simulate import Simulator


@dataclass(frozen=True)
class SandboxConfig:
    directory: Path
    host: str = "127.0.0.1"
    hubspot_port: int = 8911
    salesforce_port: int = 8912
    contacts: int = 2_000
    leads: int = 1_000
    seed: int = 42
    simulate: bool = False
    pace: float = 2.0
    rate_limits: bool = True


class Sandbox:
    """Both imitations on one clock, stored under `config.directory` (fresh on every start)."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.clock = Clock()
        directory = config.directory
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.sqlite3*"):
            stale.unlink()
        self.tls: TlsFiles = ensure_tls_files(directory)
        self.hubspot_options = HubSpotOptions(
            rate_limits=config.rate_limits, db_path=directory / "hubspot.sqlite3"
        )
        self.salesforce_options = SalesforceOptions(
            rate_limits=config.rate_limits, db_path=directory / "salesforce.sqlite3"
        )
        self.hubspot = HubSpotSandbox(self.hubspot_options, clock=self.clock)
        self.salesforce = SalesforceSandbox(self.salesforce_options, clock=self.clock)
        self.simulator = Simulator(
            hubspot=self.hubspot,
            salesforce=self.salesforce,
            today=lambda: self.clock.now_dt().date().isoformat(),
            pace=config.pace,
            seed=config.seed,
        )
        self.listeners = [
            Listener(self.hubspot.app, host=config.host, port=config.hubspot_port),
            Listener(
                self.salesforce.app, host=config.host, port=config.salesforce_port, tls=self.tls
            ),
        ]

    @property
    def hubspot_url(self) -> str:
        return self.listeners[0].url

    @property
    def salesforce_url(self) -> str:
        return self.listeners[1].url

    def seed(self) -> None:
        self.hubspot.seed(contacts=self.config.contacts, seed=self.config.seed)
        self.salesforce.seed(
            contacts=self.config.contacts, leads=self.config.leads, seed=self.config.seed
        )

    def bind(self) -> None:
        """Claim both ports now, so a clash is one clear error before any seeding starts."""
        for listener in self.listeners:
            listener.bind()
        self.salesforce.instance_url = self.salesforce_url  # Outbound Messages name it

    def background(self) -> list[Callable[[], Coroutine[Any, Any, None]]]:
        jobs = [self.hubspot.background, self.salesforce.background]
        if self.config.simulate:
            jobs.append(self.simulator.run)
        return jobs

    async def serve(self, stop: asyncio.Event) -> None:
        await serve(self.listeners, background=self.background(), stop=stop)
