"""`HubSpotSandbox`: one imitated HubSpot portal, its app, its seed data and its actor API."""

# ruff: noqa: S608 -- table names come from the fixed object catalog; values are bound.
from __future__ import annotations

from collections.abc import Mapping

from sandbox.hubspot.app import build_app
from sandbox.hubspot.catalog import ObjectType
from sandbox.hubspot.crm import Crm
from sandbox.hubspot.errors import not_found
from sandbox.hubspot.limits import HubSpotLimits
from sandbox.hubspot.oauth import OAuthTokens
from sandbox.hubspot.options import HubSpotOptions
from sandbox.hubspot.parsing import resolve_type
from sandbox.hubspot.properties import PropertyRegistry
from sandbox.hubspot.search import SearchEngine
from sandbox.hubspot.seed import seed_contacts
from sandbox.hubspot.store import ROW_COLUMNS, VISIBLE, Store
from sandbox.hubspot.webhooks import WebhookDispatcher
from sandbox.shared.clock import Clock
from sandbox.shared.faults import Fault, FaultInjector
from sandbox.shared.stats import Stats

UI = "CRM_UI"


class HubSpotSandbox:
    def __init__(self, options: HubSpotOptions, *, clock: Clock | None = None) -> None:
        self.options = options
        self.clock = clock or Clock()
        self.stats = Stats()
        self.faults = FaultInjector(vendor_faults=[Fault.LOCKED])
        self.store = Store(options.db_path)
        self.registry = PropertyRegistry()
        self.events = WebhookDispatcher(
            self.clock,
            app_id=options.app_id,
            portal_id=options.portal_id,
            client_secret=options.client_secret,
        )
        self.crm = Crm(self.store, self.registry, self.clock, self.stats, self.events)
        self.engine = SearchEngine(
            self.store, self.registry, self.clock, index_lag_s=options.search_index_lag_s
        )
        self.limits = HubSpotLimits(options, self.clock)
        self.tokens = OAuthTokens(options, self.clock)
        self.app = build_app(
            options=options,
            clock=self.clock,
            crm=self.crm,
            engine=self.engine,
            limits=self.limits,
            tokens=self.tokens,
            stats=self.stats,
            faults=self.faults,
            reset=self.reset,
            seed=self.seed,
            webhook_admin=self.events.admin_router(),
        )

    def seed(self, *, contacts: int, seed: int) -> None:
        seed_contacts(
            self.store, self.registry, contacts=contacts, seed=seed, now_ms=self.clock.now_ms()
        )

    def reset(self) -> None:
        """Empty portal: no records, default properties, no OAuth tokens or subscriptions, the
        search index lag of the options."""
        self.store.reset()
        self.registry.reset()
        self.tokens.reset()
        self.events.reset()
        self.engine.reset()

    async def background(self) -> None:
        await self.events.run()

    # Actor API: edits as a person makes them in the UI (webhooks fire; not API writes)

    def _type(self, object_type: str) -> ObjectType:
        return resolve_type(object_type)

    def find(
        self, object_type: str, *, equals: Mapping[str, str | None] = {}, limit: int = 50
    ) -> list[dict[str, str | None]]:
        """Live records whose properties equal `equals` (None = unset), least recently touched
        first, so repeated finds walk through the portal instead of circling a few records."""
        t = self._type(object_type)
        clauses, params = [VISIBLE], []
        for name, value in equals.items():
            if name == "hs_object_id":
                clauses.append("id = ?")
                params.append(value)
                continue
            params.append(f'$."{name}"')
            if value is None:
                clauses.append("json_extract(props, ?) IS NULL")
            else:
                clauses.append("json_extract(props, ?) = ?")
                params.append(value)
        rows = self.store.query(
            f"SELECT {ROW_COLUMNS} FROM {t.name} WHERE {' AND '.join(clauses)} "
            "ORDER BY updated_ms, id LIMIT ?",
            [*params, limit],
        )
        return [dict(self.crm.full_properties(t, row)) for row in rows]

    def create(self, object_type: str, properties: Mapping[str, str]) -> str:
        t = self._type(object_type)
        with self.store.lock:
            return str(self.crm.create(t, properties, source=UI, count=False).id)

    def update(self, object_type: str, object_id: str, properties: Mapping[str, str]) -> None:
        t = self._type(object_type)
        with self.store.lock:
            row = self.crm.lookup(t, str(object_id))
            if row is None or row.archived:
                raise not_found()
            self.crm.update(t, row, properties, source=UI, count=False)

    def merge(self, object_type: str, primary_id: str, merged_id: str) -> None:
        t = self._type(object_type)
        with self.store.lock:
            self.crm.merge(t, str(primary_id), str(merged_id), source=UI, count=False)

    def restore(self, object_type: str, object_id: str) -> None:
        """Bring an archived record back from the recycling bin (fires `*.restore`)."""
        t = self._type(object_type)
        with self.store.lock:
            row = self.crm.lookup(t, str(object_id))
            if row is None:
                raise not_found()
            self.crm.restore(t, row)
