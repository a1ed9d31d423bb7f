"""How economically the HubSpot connector spends API calls, and how close it reads to the limit.

Part 1, calls per 1,000 records (rate limits off, counted by the imitation's `/_sandbox/stats`)
against the minimum the batch sizes allow: list 10 (100 per page), search 5 (200 per page),
batch read 10 and batch write 10 (100 per batch). Target: within 1.05x of the minimum.

Part 2, read throughput with the imitation's realistic rate limits on (190 calls / 10 s): a full
read by the list endpoint for BENCH_HUBSPOT_SECONDS (default 20) through the connector's own
budget, as a fraction of the ceiling those limits allow (190 / 10 s x 100 records per call =
1,900 records/s). Target: >= 0.9.

Environment: BENCH_HUBSPOT_RECORDS (default 10,000) for part 1.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from itertools import islice
from typing import Any

import httpx

from bench.report import Target, emit
from connectors.http.budget import ApiBudget, hubspot_spec
from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.settings import HubSpotSettings
from connectors.records import RecordKey, RecordPatch, System
from sandbox.hubspot import HubSpotOptions, HubSpotSandbox
from sandbox.shared.clock import Clock
from sandbox.shared.server import Listener, serve_in_thread

MINIMUM = {"list": 10.0, "search": 5.0, "batch_read": 10.0, "batch_write": 10.0}
LIMIT_PER_10S = 190
RECORDS_PER_LIST_CALL = 100


def _connector(box: HubSpotSandbox, url: str, *, paced: bool) -> HubSpotConnector:
    settings = HubSpotSettings(base_url=url, access_token=box.options.access_token)
    if paced:
        return HubSpotConnector(settings)
    return HubSpotConnector(settings, budget=ApiBudget(hubspot_spec(), sleep=lambda _s: None))


def _counted(url: str, work: Callable[[], int]) -> tuple[int, int]:
    """(records handled, API requests the imitation saw) for `work`."""
    with httpx.Client(base_url=url) as admin:
        admin.delete("/_sandbox/stats").raise_for_status()
        records = work()
        requests = int(admin.get("/_sandbox/stats").json()["requests"])
    return records, requests


def _calls_per_1000(box: HubSpotSandbox, url: str, records: int) -> dict[str, float]:
    hubspot = _connector(box, url, paced=False)
    until = box.clock.now_dt()
    ids = [r.key.id for r in hubspot.read_all("contacts")]
    work: dict[str, Callable[[], int]] = {
        "list": lambda: sum(1 for _ in hubspot.read_all("contacts")),
        "search": lambda: sum(1 for _ in hubspot.read_changes("contacts", None, until)),
        "batch_read": lambda: len(hubspot.read_by_ids("contacts", ids)),
        "batch_write": lambda: sum(
            o.ok
            for o in hubspot.write(
                "contacts",
                [
                    RecordPatch(RecordKey(System.HUBSPOT, "contacts", i), {"jobtitle": f"B{i}"})
                    for i in ids
                ],
            )
        ),
    }
    figures: dict[str, float] = {}
    for name, run_it in work.items():
        handled, requests = _counted(url, run_it)
        if handled != records:
            raise RuntimeError(f"{name} handled {handled} of {records} records")
        per_1000 = requests * 1000 / handled
        figures[f"{name}_calls_per_1000"] = per_1000
        figures[f"{name}_vs_minimum"] = per_1000 / MINIMUM[name]
    return figures


def _throughput(seconds: float) -> dict[str, float]:
    ceiling = LIMIT_PER_10S / 10 * RECORDS_PER_LIST_CALL
    box = HubSpotSandbox(HubSpotOptions(rate_limits=True), clock=Clock())
    box.seed(contacts=int(ceiling * seconds * 1.5), seed=9)
    listener = Listener(box.app)
    with serve_in_thread([listener]):
        hubspot = _connector(box, listener.url, paced=True)
        stream = hubspot.read_all("contacts")
        started = time.perf_counter()
        read = 0
        while time.perf_counter() - started < seconds:
            read += sum(1 for _ in islice(stream, RECORDS_PER_LIST_CALL))
        elapsed = time.perf_counter() - started
        refused = int(box.stats.by_status.get("429", 0))
    rate = read / elapsed
    return {
        "paced_records_per_s": rate,
        "ceiling_records_per_s": ceiling,
        "throughput_fraction": rate / ceiling,
        "paced_429s": refused,
    }


def run() -> bool:
    records = int(os.environ.get("BENCH_HUBSPOT_RECORDS", "10000"))
    seconds = float(os.environ.get("BENCH_HUBSPOT_SECONDS", "20"))
    box = HubSpotSandbox(HubSpotOptions(rate_limits=False), clock=Clock())
    box.seed(contacts=records, seed=8)
    listener = Listener(box.app)
    with serve_in_thread([listener]):
        figures: dict[str, Any] = {
            "records": records,
            **_calls_per_1000(box, listener.url, records),
        }
    figures.update(_throughput(seconds))
    targets = {f"{name}_vs_minimum": Target(1.05, at_least=False) for name in MINIMUM}
    targets["throughput_fraction"] = Target(0.9)
    targets["paced_429s"] = Target(0, at_least=False)
    return emit("connector_hubspot", figures, targets)


if __name__ == "__main__":
    run()
