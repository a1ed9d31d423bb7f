"""How fast the HubSpot imitation serves records: seeding, batch read, list pages, memory.

Seeds N contacts (BENCH_HUBSPOT_CONTACTS, default 50,000) into a file-backed store, serves the
app on loopback with rate limits off, and reads records with one keep-alive httpx client:
batch read (100 ids per call) and list pages (limit 100). Then it seeds 1,000,000 contacts into
a second store and reports how much the resident memory grew (about 15 s; BENCH_QUICK=1 skips it).
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from pathlib import Path

import httpx

from bench.report import Target, emit, peak_rss_mb
from sandbox.hubspot import HubSpotOptions, HubSpotSandbox
from sandbox.shared.server import Listener, serve_in_thread

READ_SECONDS = 5.0
FULL_CONTACTS = 1_000_000


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _batch_read(http: httpx.Client, contacts: int) -> float:
    served, start, next_id = 0, time.perf_counter(), 1
    while time.perf_counter() - start < READ_SECONDS:
        ids = [{"id": str((next_id + i - 1) % contacts + 1)} for i in range(100)]
        next_id += 100
        response = http.post(
            "/crm/v3/objects/contacts/batch/read",
            json={"inputs": ids, "properties": ["email", "lifecyclestage"]},
        )
        response.raise_for_status()
        served += len(response.json()["results"])
    return served / (time.perf_counter() - start)


def _list_pages(http: httpx.Client) -> float:
    served, start, after = 0, time.perf_counter(), None
    while time.perf_counter() - start < READ_SECONDS:
        params: dict[str, str | int] = {"limit": 100, "properties": "email,lifecyclestage"}
        if after:
            params["after"] = after
        body = http.get("/crm/v3/objects/contacts", params=params).json()
        served += len(body["results"])
        after = body.get("paging", {}).get("next", {}).get("after")
    return served / (time.perf_counter() - start)


def _full_seed_rss(directory: Path) -> float:
    box = HubSpotSandbox(HubSpotOptions(rate_limits=False, db_path=directory / "full.sqlite3"))
    before = _rss_mb()
    box.seed(contacts=FULL_CONTACTS, seed=42)
    return _rss_mb() - before


def run() -> bool:
    contacts = int(os.environ.get("BENCH_HUBSPOT_CONTACTS", "50000"))
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        box = HubSpotSandbox(HubSpotOptions(rate_limits=False, db_path=directory / "hs.sqlite3"))
        started = time.perf_counter()
        box.seed(contacts=contacts, seed=42)
        seed_s = time.perf_counter() - started
        listener = Listener(box.app)
        with (
            serve_in_thread([listener]),
            httpx.Client(
                base_url=listener.url,
                headers={"Authorization": f"Bearer {box.options.access_token}"},
                timeout=30,
            ) as http,
        ):
            batch_rps = _batch_read(http, contacts)
            list_rps = _list_pages(http)
        figures: dict[str, float | int | str] = {
            "contacts": contacts,
            "seed_s": seed_s,
            "seed_records_per_s": contacts / seed_s,
            "batch_read_records_per_s": batch_rps,
            "list_records_per_s": list_rps,
            "records_per_s": min(batch_rps, list_rps),
            "peak_rss_mb": peak_rss_mb(),
        }
        if os.environ.get("BENCH_QUICK") == "1":
            figures["rss_after_1m_seed"] = "skipped (BENCH_QUICK=1)"
        else:
            figures["rss_growth_mb_after_1m_seed"] = _full_seed_rss(directory)
    return emit(
        "sandbox_hubspot",
        figures,
        {"records_per_s": Target(20_000), "rss_growth_mb_after_1m_seed": Target(512, False)},
    )


if __name__ == "__main__":
    run()
