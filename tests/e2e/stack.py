"""The engine against both sandboxes through the real connectors (real SDKs, real sockets):
the stack the end-to-end engine tests share, and the check that both systems agree."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy

from baton.wiring import hubspot_properties
from connectors.http.budget import ApiBudget, hubspot_spec, salesforce_spec
from connectors.http.retry import RetryPolicy
from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.settings import HubSpotSettings
from connectors.records import RecordKey, System
from connectors.salesforce.connector import SalesforceConnector
from connectors.salesforce.settings import SalesforceSettings
from mappings.apply import Mapper
from mappings.dictionary import Dictionary, Rule
from mappings.loader import load_default
from sandbox.hubspot import HubSpotOptions, HubSpotSandbox
from sandbox.salesforce import SalesforceOptions, SalesforceSandbox
from sandbox.shared.clock import FrozenClock
from sandbox.shared.server import Listener, serve_in_thread
from sandbox.shared.tls import ensure_tls_files
from sync.engine import SyncEngine, SyncPolicy
from sync.store.engine import for_reading, make_engine, sqlite_url
from sync.store.migrate import upgrade
from sync.store.schema import IdentityLink


@dataclass
class Stack:
    clock: FrozenClock
    hs_box: HubSpotSandbox
    sf_box: SalesforceSandbox
    hubspot: HubSpotConnector
    salesforce: SalesforceConnector
    dictionary: Dictionary
    db: sqlalchemy.Engine
    engine: SyncEngine

    def writes(self) -> int:
        return self.hs_box.stats.writes + self.sf_box.stats.writes

    def later(self, seconds: float = 10) -> None:
        self.clock.advance(seconds)

    def read(self) -> sqlalchemy.Connection:
        return for_reading(self.db).connect()

    def pairs(self) -> list[tuple[str, RecordKey]]:
        """(HubSpot contact id, Salesforce key) for every person linked on both sides."""
        with self.read() as conn:
            rows = conn.execute(
                sqlalchemy.select(
                    IdentityLink.person_id,
                    IdentityLink.system,
                    IdentityLink.object,
                    IdentityLink.record_id,
                ).where(IdentityLink.active)
            ).all()
        by_person: dict[Any, dict[str, tuple[str, str]]] = {}
        for pid, system, obj, rid in rows:
            by_person.setdefault(pid, {})[system] = (obj, rid)
        return [
            (sides["hubspot"][1], RecordKey(System.SALESFORCE, *sides["salesforce"]))
            for sides in by_person.values()
            if len(sides) == 2
        ]


@contextmanager
def open_stack(directory: Path, *, contacts: int, leads: int, **policy: object) -> Iterator[Stack]:
    """Both imitations served from this process, the real connectors, and an engine on a
    SQLite store in `directory`, its clock a minute after seeding."""
    tls = ensure_tls_files(directory)
    clock = FrozenClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    hs_box = HubSpotSandbox(HubSpotOptions(rate_limits=False), clock=clock)
    sf_box = SalesforceSandbox(SalesforceOptions(rate_limits=False), clock=clock)
    hs_box.seed(contacts=contacts, seed=7)
    sf_box.seed(contacts=contacts, leads=leads, seed=7)
    dictionary = load_default()
    mapper = Mapper(dictionary)
    hs_listener, sf_listener = Listener(hs_box.app), Listener(sf_box.app, tls=tls)
    with serve_in_thread([hs_listener, sf_listener]):
        hubspot = HubSpotConnector(
            HubSpotSettings(
                base_url=hs_listener.url,
                access_token=hs_box.options.access_token,
                client_secret=hs_box.options.client_secret,
            ),
            budget=ApiBudget(hubspot_spec(), sleep=lambda _s: None),
            sleep=lambda _s: None,
            policy=RetryPolicy(max_attempts=4),
            extra_properties={"contacts": mapper.fields_for(System.HUBSPOT, "contacts")},
        )
        options = sf_box.options
        salesforce = SalesforceConnector(
            SalesforceSettings(
                login_url=sf_listener.url,
                auth="client_credentials",
                client_id=options.client_id,
                client_secret=options.client_secret,
                org_id=options.org_id,
                ca_file=tls.ca_cert,
                bulk_poll_s=0.01,
            ),
            budget=ApiBudget(salesforce_spec(), sleep=lambda _s: None),
            sleep=lambda _s: None,
            policy=RetryPolicy(max_attempts=4),
            extra_fields={
                obj: mapper.fields_for(System.SALESFORCE, obj) for obj in ("Lead", "Contact")
            },
        )
        hubspot.ensure_properties("contacts", hubspot_properties(dictionary))
        path = Path(directory) / "state.db"
        upgrade(sqlite_url(path))
        db = make_engine(sqlite_url(path))
        engine = SyncEngine(
            hubspot=hubspot,
            salesforce=salesforce,
            dictionary=dictionary,
            db=db,
            policy=SyncPolicy(**{"page_size": 100, **policy}),  # type: ignore[arg-type]
            now=clock.now_dt,
        )
        clock.advance(60)
        yield Stack(clock, hs_box, sf_box, hubspot, salesforce, dictionary, db, engine)
        salesforce.close()
        db.dispose()


def agree(stack: Stack, hs_id: str, sf_key: RecordKey) -> list[str]:
    """The fields on which a linked pair disagrees, per the dictionary's rules."""
    mapper = Mapper(stack.dictionary)
    [contact] = stack.hubspot.read_by_ids("contacts", [hs_id])
    [record] = stack.salesforce.read_by_ids(sf_key.object, [sf_key.id])
    hs, sf = mapper.to_person(contact).value, mapper.to_person(record).value
    bad = []
    for name, fmap in stack.dictionary.fields.items():
        if name.startswith("entered.") or name == "funnel_stage":
            continue
        if sf_key.object not in fmap.salesforce or fmap.hubspot is None:
            continue
        if name == "owner" and not stack.dictionary.owners:
            continue  # owners without a HubSpot counterpart are not synced (mapped owners only)
        hv, sv = getattr(hs, name), getattr(sf, name)
        one_way_from_blank = (fmap.rule is Rule.HUBSPOT_TO_SALESFORCE and hv is None) or (
            fmap.rule is Rule.SALESFORCE_TO_HUBSPOT and sv is None
        )
        if fmap.rule is not Rule.NONE and not one_way_from_blank and hv != sv:
            bad.append(f"{name}: {hv!r} != {sv!r}")
    hs_at, sf_at = hs.outcome or hs.stage, sf.outcome or sf.stage
    if hs_at != sf_at:
        bad.append(f"funnel: {hs_at} != {sf_at}")
    else:
        # The lead status is written only where it agrees with the funnel position the state
        # machine resolved (a HubSpot contact "in progress" beats a Lead still "open"; every
        # rejection is "Closed - Not Converted" in Salesforce): the position must agree.
        bad = [b for b in bad if not b.startswith("lead_status")]
    return bad
