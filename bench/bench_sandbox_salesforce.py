"""Salesforce imitation: how fast query pages are served over HTTPS (2,000 records a page).

Seeds BENCH_SALESFORCE_LEADS leads (default 50,000) with rate limits off, then reads them all
with `query` + `nextRecordsUrl` through httpx, as a sync's full read would.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import httpx

from bench.report import Target, emit, peak_rss_mb
from sandbox.salesforce import SalesforceOptions, SalesforceSandbox
from sandbox.shared.server import Listener, serve_in_thread
from sandbox.shared.tls import ensure_tls_files

SOQL = (
    "SELECT Id, FirstName, LastName, Email, Company, Phone, Status, LeadSource, "
    "IsConverted, Marketing_Score__c, SystemModstamp FROM Lead"
)


def _read_all(client: httpx.Client, base: str) -> tuple[int, int]:
    reply = client.get(f"{base}/services/data/v59.0/query/", params={"q": SOQL})
    reply.raise_for_status()
    page = reply.json()
    records, pages = len(page["records"]), 1
    while not page["done"]:
        reply = client.get(base + page["nextRecordsUrl"])
        reply.raise_for_status()
        page = reply.json()
        records += len(page["records"])
        pages += 1
    return records, pages


def run() -> bool:
    leads = int(os.environ.get("BENCH_SALESFORCE_LEADS", "50000"))
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        tls = ensure_tls_files(directory)
        box = SalesforceSandbox(
            SalesforceOptions(rate_limits=False, db_path=directory / "salesforce.sqlite3")
        )
        started = time.perf_counter()
        box.seed(contacts=leads, leads=leads, seed=42)
        seed_s = time.perf_counter() - started
        listener = Listener(box.app, tls=tls)
        with serve_in_thread([listener]):
            options = box.options
            # Connection: close on the last request lets the server stop without waiting
            # for the idle keep-alive connection to time out.
            with httpx.Client(verify=str(tls.ca_cert), trust_env=False, timeout=60) as client:
                token = client.post(
                    f"{listener.url}/services/oauth2/token",
                    data={
                        "grant_type": "client_credentials",
                        "client_id": options.client_id,
                        "client_secret": options.client_secret,
                    },
                ).json()["access_token"]
                client.headers["Authorization"] = f"Bearer {token}"
                started = time.perf_counter()
                records, pages = _read_all(client, listener.url)
                read_s = time.perf_counter() - started
                client.headers["Connection"] = "close"
                client.get(f"{listener.url}/services/data/")
    return emit(
        "sandbox_salesforce_query",
        {
            "leads": leads,
            "records_read": records,
            "pages": pages,
            "seed_s": round(seed_s, 3),
            "read_s": round(read_s, 3),
            "records_per_s": round(records / read_s, 1),
            "peak_rss_mb": round(peak_rss_mb(), 1),
        },
        {"records_per_s": Target(20_000)},
    )


if __name__ == "__main__":
    run()
