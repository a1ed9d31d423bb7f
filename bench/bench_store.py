"""State store throughput on SQLite: snapshot upserts in pages of 1,000, as the engine writes them.

Measures fresh inserts and updates of existing rows separately (an update also bumps the
version), each page in its own transaction, plus the page read the planner does first.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.report import Target, emit, peak_rss_mb
from connectors.records import RecordKey, System
from sync.store.engine import for_reading, make_engine, sqlite_url
from sync.store.migrate import upgrade
from sync.store.snapshots import SnapshotWrite, get_snapshots, put_snapshots

PAGE = 1_000
PAGES = 20
TARGET = Target(20_000)


def _page(start: int, round_: int) -> list[SnapshotWrite]:
    return [
        SnapshotWrite(
            RecordKey(System.HUBSPOT, "contacts", str(i)),
            {
                "email": f"person{i}@example.com",
                "firstname": "Ann",
                "lastname": f"Lee{i}",
                "lifecyclestage": "marketingqualifiedlead",
                "hs_lead_status": "OPEN",
                "score": i % 100 + round_,
                "company": "Acme Ltd",
                "phone": None,
            },
            written_by_us=round_ % 2 == 1,
        )
        for i in range(start, start + PAGE)
    ]


def run() -> bool:
    with tempfile.TemporaryDirectory(prefix="baton-bench-") as folder:
        engine = make_engine(sqlite_url(Path(folder) / "baton.db"))
        try:
            upgrade(engine)
            pages = [[_page(p * PAGE, r) for p in range(PAGES)] for r in (0, 1)]
            rates: list[float] = []
            for round_pages in pages:
                started = time.perf_counter()
                for page in round_pages:
                    with engine.begin() as conn:
                        put_snapshots(conn, page)
                rates.append(PAGE * PAGES / (time.perf_counter() - started))
            keys = [w.key for page in pages[0] for w in page]
            started = time.perf_counter()
            with for_reading(engine).connect() as conn:
                for p in range(PAGES):
                    found = get_snapshots(conn, keys[p * PAGE : (p + 1) * PAGE])
                    assert len(found) == PAGE
            read_rate = len(keys) / (time.perf_counter() - started)
        finally:
            engine.dispose()
    return emit(
        "store",
        {
            "page_size": PAGE,
            "records": PAGE * PAGES,
            "snapshot_inserts_per_s": round(rates[0], 1),
            "snapshot_updates_per_s": round(rates[1], 1),
            "snapshot_reads_per_s": round(read_rate, 1),
            "peak_rss_mb": round(peak_rss_mb(), 1),
        },
        {
            "snapshot_inserts_per_s": TARGET,
            "snapshot_updates_per_s": TARGET,
            "snapshot_reads_per_s": TARGET,
        },
    )
