"""How economically the Salesforce connector spends API calls, counted by the imitation.

Calls per 1,000 records (rate limits off, counted by `/_sandbox/stats` on the data API routes;
the OAuth token grant is reported separately, it does not count against the allocation)
against the minimum the batch sizes allow:

- incremental read (queryAll + nextRecordsUrl, 2,000 per page): 0.5;
- full read (query, 2,000 per page): 0.5;
- read by ids (Id IN): as many ids as fit Salesforce's 16,384 bytes of request URI plus
  headers (431 beyond), less the headers the connector really sent, computed by packing the
  same query: 1.9 for these leads (the connector keeps a margin for headers that vary by
  org, about 500 bytes);
- sObject Collections update and upsert (200 per call): 5 (per record sent, refusals included:
  the seeded org keeps converted leads and junk phones that the org refuses per record).

Target: within 1.05x of the minimum.

Then the daily cap with the imitation's limits on: the org allows DAILY_CAP_CALLS calls and
the connector reads more than that needs. The run must end with `DailyLimitExhausted` having
spent exactly the allocation, and without one refused (403) call, because the budget learns the
remaining allocation from every response's `Sforce-Limit-Info` and stops first. (Salesforce has
no per-second limit on ordinary calls, so there is no throughput ceiling to measure against.)

Environment: BENCH_SALESFORCE_RECORDS (default 10,000 leads).
"""

from __future__ import annotations

import os
import ssl
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import requests

from bench.report import Target, emit
from connectors.errors import DailyLimitExhausted
from connectors.http.budget import ApiBudget, salesforce_spec
from connectors.records import RecordKey, RecordPatch, System
from connectors.salesforce.connector import SalesforceConnector
from connectors.salesforce.objects import MAX_URI_BYTES, spec_for
from connectors.salesforce.reader import pack_ids
from connectors.salesforce.settings import SalesforceSettings
from sandbox.salesforce import SalesforceOptions, SalesforceSandbox
from sandbox.shared.clock import Clock
from sandbox.shared.server import Listener, serve_in_thread
from sandbox.shared.tls import ensure_tls_files

MINIMUM = {
    "query_changes": 0.5,
    "query_all": 0.5,
    "read_by_ids": None,  # computed from the request-size limit (`_by_ids_minimum`)
    "collections_update": 5.0,
    "collections_upsert": 5.0,
}
DATA_ROUTES = "/services/data/"
DAILY_CAP_CALLS = 4


def _counted(admin: httpx.Client, work: Callable[[], int]) -> tuple[int, int, float]:
    """(records handled, data-API requests the imitation saw, seconds) for `work`."""
    admin.delete("/_sandbox/stats").raise_for_status()
    started = time.perf_counter()
    handled = work()
    elapsed = time.perf_counter() - started
    routes: dict[str, int] = admin.get("/_sandbox/stats").json()["by_route"]
    return handled, sum(n for r, n in routes.items() if DATA_ROUTES in r), elapsed


def _by_ids_minimum(
    sf: SalesforceConnector, ids: list[str], sent: list[requests.PreparedRequest]
) -> float:
    """Calls per 1,000 ids at Salesforce's limit: the same by-id query packed into the bytes
    a request's URI and headers may take, less the headers the connector really sent."""
    request = sent[0]
    headers = sum(len(k) + len(v) + 4 for k, v in request.headers.items())  # ": ", CRLF
    headers += len(f"Host: {urlsplit(str(request.url)).netloc}\r\n")
    path = sf.sdk.query_path(include_deleted=True)
    spec = spec_for("Lead")
    budget = MAX_URI_BYTES - headers - len(path)
    calls = sum(1 for _ in pack_ids(spec, ids, sf.reader.fields(spec), budget=budget))
    return calls * 1000 / len(ids)


def _figures(box: SalesforceSandbox, url: str, ca_file: Path, records: int) -> dict[str, Any]:
    settings = SalesforceSettings(
        login_url=url,
        client_id=box.options.client_id,
        client_secret=box.options.client_secret,  # type: ignore[arg-type]
        ca_file=ca_file,
        bulk_threshold=records * 10,
    )
    sf = SalesforceConnector(settings, budget=ApiBudget(salesforce_spec(), sleep=lambda _s: None))
    until = box.clock.now_dt() + timedelta(seconds=1)
    ids = [r.key.id for r in sf.read_all("Lead")]

    def update() -> int:
        patches = [
            RecordPatch(RecordKey(System.SALESFORCE, "Lead", i), {"Title": "Bench"}) for i in ids
        ]
        outcomes = sf.write("Lead", patches)
        refused["collections_update_refused"] = sum(not o.ok for o in outcomes)
        return len(outcomes)

    def upsert() -> int:
        patches = [
            RecordPatch(
                RecordKey(System.SALESFORCE, "Lead", ""),
                {"Baton_Id__c": f"bench-{n}", "LastName": f"Bench{n}", "Company": "Bench"},
                match_on="Baton_Id__c",
            )
            for n in range(len(ids))
        ]
        outcomes = sf.write("Lead", patches)
        refused["collections_upsert_refused"] = sum(not o.ok for o in outcomes)
        return len(outcomes)

    sent: list[requests.PreparedRequest] = []

    def by_ids() -> int:
        def keep(response: requests.Response, *args: Any, **kwargs: Any) -> None:
            sent.append(response.request)

        sf.sdk.session.hooks["response"].append(keep)
        try:
            return len(sf.read_by_ids("Lead", ids))
        finally:
            sf.sdk.session.hooks["response"].remove(keep)

    refused: dict[str, int] = {}
    work: dict[str, Callable[[], int]] = {
        "query_changes": lambda: sum(1 for _ in sf.read_changes("Lead", None, until)),
        "query_all": lambda: sum(1 for _ in sf.read_all("Lead")),
        "read_by_ids": by_ids,
        "collections_update": update,
        "collections_upsert": upsert,
    }
    figures: dict[str, Any] = {"records": len(ids)}
    context = ssl.create_default_context(cafile=str(ca_file))
    with httpx.Client(base_url=url, verify=context, trust_env=False, timeout=120) as admin:
        for name, run_it in work.items():
            handled, calls, seconds = _counted(admin, run_it)
            if handled != len(ids):
                raise RuntimeError(f"{name} handled {handled} of {len(ids)} records")
            per_1000 = calls * 1000 / handled
            minimum = MINIMUM[name] or _by_ids_minimum(sf, ids, sent)
            figures[f"{name}_calls_per_1000"] = per_1000
            figures[f"{name}_vs_minimum"] = per_1000 / minimum
            if name == "read_by_ids":
                figures["read_by_ids_minimum_calls_per_1000"] = minimum
            figures[f"{name}_records_per_s"] = handled / seconds
    sf.close()
    # Seeded leads keep real-org mess (converted leads, junk phones the validation rule
    # refuses): those come back as per-record refusals, still sent in the same calls.
    figures.update(refused)
    return figures


def _daily_cap(tls_dir: Path) -> dict[str, Any]:
    tls = ensure_tls_files(tls_dir)
    box = SalesforceSandbox(
        SalesforceOptions(rate_limits=True, daily_limit=DAILY_CAP_CALLS), clock=Clock()
    )
    box.seed(contacts=0, leads=2_000 * (DAILY_CAP_CALLS + 2), seed=6)
    listener = Listener(box.app, tls=tls)
    stopped = 0
    read = 0
    with serve_in_thread([listener]):
        settings = SalesforceSettings(
            login_url=listener.url,
            client_id=box.options.client_id,
            client_secret=box.options.client_secret,  # type: ignore[arg-type]
            ca_file=tls.ca_cert,
        )
        sf = SalesforceConnector(settings, budget=ApiBudget(salesforce_spec()))
        try:
            for _ in sf.read_changes("Lead", None, box.clock.now_dt() + timedelta(seconds=1)):
                read += 1
        except DailyLimitExhausted:
            stopped = 1
        finally:
            sf.close()
        refused = int(box.stats.by_status.get("403", 0))
        spent = sum(n for r, n in box.stats.by_route.items() if DATA_ROUTES in r)
    return {
        "daily_cap_calls_allowed": DAILY_CAP_CALLS,
        "daily_cap_calls_spent": spent,
        "daily_cap_records_read": read,
        "daily_cap_stopped_loudly": stopped,
        "daily_cap_refused_403": refused,
    }


def run() -> bool:
    records = int(os.environ.get("BENCH_SALESFORCE_RECORDS", "10000"))
    with tempfile.TemporaryDirectory() as tmp:
        tls = ensure_tls_files(Path(tmp))
        box = SalesforceSandbox(SalesforceOptions(rate_limits=False), clock=Clock())
        box.seed(contacts=0, leads=records, seed=5)
        listener = Listener(box.app, tls=tls)
        with serve_in_thread([listener]):
            figures = _figures(box, listener.url, tls.ca_cert, records)
        figures.update(_daily_cap(Path(tmp) / "cap"))
    targets = {f"{name}_vs_minimum": Target(1.05, at_least=False) for name in MINIMUM}
    targets["daily_cap_stopped_loudly"] = Target(1)
    targets["daily_cap_refused_403"] = Target(0, at_least=False)
    targets["daily_cap_calls_spent"] = Target(DAILY_CAP_CALLS, at_least=False)
    return emit("connector_salesforce", figures, targets)


if __name__ == "__main__":
    run()
