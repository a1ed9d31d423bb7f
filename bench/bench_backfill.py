"""Baton's backfill end to end, through `baton.wiring.build`, against the sandbox over sockets.

Four parts in one run:

1. Backfill of BENCH_BACKFILL_CONTACTS HubSpot contacts (default 100,000) and
   BENCH_BACKFILL_LEADS Salesforce Leads (default 50,000; the seed also converts some of them,
   which adds Contacts) with the sandbox's realistic rate limits on (HubSpot 190 / 10 s, search
   5 / s, daily quota; Salesforce's daily allocation). Baton runs in a child process and the
   imitations in this one, as the vendors' servers would be: their work is not Baton's time.
   Against two floors:

   - the minimum number of API calls the batch sizes allow for the reads and writes the
     backfill had to do (each record read once: HubSpot list 100 per call, Salesforce query
     2,000 per call; each write batched: HubSpot 100, Salesforce collections 200), counted by
     the sandboxes' own `/_sandbox/stats`. Target: actual <= 1.05x the minimum;
   - the wall time those calls take at the ceiling rate HubSpot's limit sets: its minimum
     calls at 19 / s, the sustained rate of 190 / 10 s (Salesforce has no short-window limit,
     only a daily allocation, which bounds the call count, not the time). bound / actual is
     the share of that ceiling the backfill sustained. Target: >= 0.9. (A first window's full
     190 calls could go out at once; Baton's budget paces from the first call instead, at
     95 % of the limit, so the share it can reach is at most about 0.95.)

2. Poll-mode latency: a linked contact's job title is changed in HubSpot (as a user would, not
   an API write), then poll cycles run back to back until the new title is on the Salesforce
   record. Reported with the cycles it took; a daemon adds up to its poll interval on top.
   Measured twice: right after the backfill (its writes are still inside the polls' lookback,
   so every cycle reads them again through HubSpot search), and once they are older than the
   lookback (the steady state).

3. Peak memory of the engine's backfill over BENCH_BACKFILL_MEMORY_RECORDS HubSpot contacts
   (default 1,000,000) with limits off, in a child process (so the sandbox's own memory is not
   counted): a real backfill (BENCH_BACKFILL_MEMORY_MODE=dry for a dry run, which keeps its
   identity decisions and plan in memory by design, so it grows with the records). Target
   < 300 MB. It also runs at a tenth of the size, so the growth per record is reported.

4. Resuming: a backfill of BENCH_BACKFILL_RESUME_CONTACTS contacts (20,000, the least) and half
   as many Leads, at the realistic limits, is killed (SIGKILL, as a crash would) once half of
   its HubSpot listing has committed; the next backfill goes on from there. Reported: what the
   killed run had listed and when it was killed, the HubSpot list calls and wall time of the
   run that went on, against the list calls a whole listing takes.

BENCH_BACKFILL_SCALE (default 1) multiplies the parts' sizes, for quick runs;
BENCH_BACKFILL_PARTS (default "backfill,resume,memory") picks the parts.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bench.report import Target, emit, peak_rss_mb

HUBSPOT_PER_10S = 190
HUBSPOT_LIST = 100
HUBSPOT_BATCH = 100
SALESFORCE_QUERY = 2_000
SALESFORCE_COLLECTION = 200


def _scale() -> float:
    return float(os.environ.get("BENCH_BACKFILL_SCALE", "1"))


def _size(name: str, default: int) -> int:
    return max(1, int(int(os.environ.get(name, str(default))) * _scale()))


@contextmanager
def _sandbox(folder: Path, *, contacts: int, leads: int, limits: bool) -> Iterator[Any]:
    """A seeded sandbox served in this process, and an env file pointing Baton at it."""
    from baton.cli.sandbox import write_env_file
    from sandbox.runtime import Sandbox, SandboxConfig
    from sandbox.shared.server import serve_in_thread

    config = SandboxConfig(
        directory=folder / "sandbox",
        hubspot_port=0,
        salesforce_port=0,
        contacts=contacts,
        leads=leads,
        rate_limits=limits,
    )
    box = Sandbox(config)
    box.bind()
    box.hubspot.seed(contacts=contacts, seed=config.seed)
    box.salesforce.seed(contacts=contacts, leads=leads, seed=config.seed)
    write_env_file(box)
    with serve_in_thread(box.listeners, background=box.background()):
        yield box


def _runtime(box: Any, database: Path) -> Any:
    from baton.settings import load
    from baton.wiring import build

    os.environ["BATON_DATABASE_URL"] = f"sqlite:///{database}"
    return build(load(box.config.directory / "sandbox.env"))


def _stats(box: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    return box.hubspot.stats.snapshot(), box.salesforce.stats.snapshot()


def _minimum_calls(report: Any, hs: Mapping[str, Any], sf: Mapping[str, Any]) -> tuple[int, int]:
    """(HubSpot, Salesforce) calls the batch sizes allow for what this backfill read and wrote:
    every record read once; every record the sandbox counted as written (a lifecycle stage
    moved back is two writes in HubSpot: clear, then set), creates and the rest in full batches.
    """
    reads = {"hubspot": 0, "salesforce": 0}
    creates = {"hubspot": 0, "salesforce": 0}
    for label, count in report.read.items():
        system = label.partition(":")[0]
        reads[system] += math.ceil(
            count / (HUBSPOT_LIST if system == "hubspot" else SALESFORCE_QUERY)
        )
    for label, count in report.created.items():
        creates[label.partition(":")[0]] += count
    minimum = {}
    for system, stats, batch in (
        ("hubspot", hs, HUBSPOT_BATCH),
        ("salesforce", sf, SALESFORCE_COLLECTION),
    ):
        rest = max(0, int(stats["writes"]) - creates[system])
        minimum[system] = (
            reads[system] + math.ceil(creates[system] / batch) + math.ceil(rest / batch)
        )
    return minimum["hubspot"], minimum["salesforce"]


def _by_route(snapshot: Mapping[str, Any], top: int = 8) -> str:
    routes = Counter(snapshot["by_route"]).most_common(top)
    return "; ".join(f"{route} {n}" for route, n in routes)


def _this_module(*args: str | Path) -> tuple[list[str], dict[str, str]]:
    """The command and environment that run this module again in a child process."""
    command = [sys.executable, "-m", "bench.bench_backfill", *map(str, args)]
    return command, {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}


def _backfill(folder: Path) -> dict[str, Any]:
    """Part 1. Baton runs in a child process, as it would against the vendors' servers: the
    imitations' own work (served from this process) must not slow the engine down."""
    contacts = _size("BENCH_BACKFILL_CONTACTS", 100_000)
    leads = _size("BENCH_BACKFILL_LEADS", 50_000)
    seeded = time.perf_counter()
    with _sandbox(folder, contacts=contacts, leads=leads, limits=True) as box:
        seed_s = time.perf_counter() - seeded
        database = folder / "baton.db"
        result = _finished(_engine(box, database))
        hs, sf = _stats(box)
        report = SimpleNamespace(
            read=Counter(result["read"]),
            created=Counter(result["created"]),
            writes=result["writes"],
            dead_letters=result["dead_letters"],
        )
        figures = _figures(contacts, leads, seed_s, result["wall_s"], report, hs, sf)
        figures["peak_rss_mb_engine"] = round(result["peak_mb"], 1)
        runtime = _runtime(box, database)
        try:
            figures.update(_latency(box, runtime))
        except Exception as exc:  # report what was measured, and why the rest was not
            figures["poll_error"] = f"{type(exc).__name__}: {exc}"[:200]
        finally:
            runtime.close()
    return figures


def _listed(database: Path, system: str, obj: str) -> int:
    """How many records of `obj` a running backfill's listing has committed (0 before it began)."""
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1) as conn:
            row = conn.execute(
                "SELECT listed FROM listing_positions WHERE system = ? AND object = ?",
                (system, obj),
            ).fetchone()
    except sqlite3.Error:  # no store or no table yet: nothing listed
        return 0
    return int(row[0]) if row else 0


def _engine(box: Any, database: Path) -> subprocess.Popen[str]:
    """A backfill child process, prepared and told to go, with the sandboxes' counts reset."""
    command, env = _this_module("--engine", box.config.directory / "sandbox.env", database)
    child = subprocess.Popen(
        command,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    if child.stdout.readline().strip() != "ready":  # systems prepared, nothing counted yet
        raise RuntimeError(f"backfill child failed: {child.communicate()[1][-2000:]}")
    box.hubspot.stats.reset()
    box.salesforce.stats.reset()
    child.stdin.write("go\n")
    child.stdin.flush()
    return child


def _finished(child: subprocess.Popen[str]) -> dict[str, Any]:
    """What a backfill child printed when it ended (its JSON line)."""
    out, err = child.communicate(timeout=4 * 3600)
    if child.returncode != 0:
        raise RuntimeError(f"backfill child failed: {err[-2000:]}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def _resume(folder: Path) -> dict[str, Any]:
    """Part 4: kill a backfill halfway through its HubSpot listing, then run the next one."""
    # At least four of the engine's 5,000-record backfill pages, so half is a page boundary.
    contacts = max(_size("BENCH_BACKFILL_RESUME_CONTACTS", 20_000), 20_000)
    with _sandbox(folder, contacts=contacts, leads=contacts // 2, limits=True) as box:
        database = folder / "baton.db"
        killed = _engine(box, database)
        began = time.monotonic()
        deadline = began + 3600
        while (listed := _listed(database, "hubspot", "contacts")) < contacts // 2:
            if killed.poll() is not None or time.monotonic() > deadline:
                why = killed.communicate()[1][-2000:]
                raise RuntimeError(f"the backfill to kill ended before half its listing: {why}")
            time.sleep(0.05)
        killed.kill()
        killed_after = time.monotonic() - began
        killed.communicate()
        before = _listed(database, "hubspot", "contacts")  # the last page may have committed
        result = _finished(_engine(box, database))
        hs, _ = _stats(box)
    list_calls = sum(
        n for route, n in hs["by_route"].items() if route == "GET /crm/v3/objects/{object_type}"
    )
    return {
        "resume_contacts": contacts,
        "resume_killed_at_listed": listed,
        "resume_killed_after_s": round(killed_after, 1),
        "resume_listed_before": before,
        "resume_went_on_after": result["resumed"].get("hubspot:contacts", 0),
        "resume_hubspot_read": result["read"].get("hubspot:contacts", 0),
        "resume_hubspot_list_calls": list_calls,
        "resume_hubspot_list_calls_whole": math.ceil(contacts / HUBSPOT_LIST),
        "resume_wall_s": round(result["wall_s"], 1),
    }


def _engine_child(env_file: str, database: str) -> None:
    """Run in the child: prepare the systems, say "ready", wait for "go", backfill, and print
    what the parent needs (the report's counts, wall time, own peak RSS) as one JSON line."""
    from baton.settings import load
    from baton.wiring import build

    os.environ["BATON_DATABASE_URL"] = f"sqlite:///{database}"
    runtime = build(load(Path(env_file)))
    try:
        runtime.prepare_systems()
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        if sys.stdin.readline().strip() != "go":
            return
        started = time.perf_counter()
        report = runtime.engine.backfill()
        wall = time.perf_counter() - started
    finally:
        runtime.close()
    summary = {
        "resumed": dict(report.resumed),
        "read": dict(report.read),
        "created": dict(report.created),
        "writes": report.writes,
        "dead_letters": report.dead_letters,
        "wall_s": wall,
        "peak_mb": _own_peak_mb(),
    }
    sys.stdout.write(json.dumps(summary) + "\n")


def _figures(
    contacts: int,
    leads: int,
    seed_s: float,
    wall: float,
    report: Any,
    hs: Mapping[str, Any],
    sf: Mapping[str, Any],
) -> dict[str, Any]:
    min_hs, min_sf = _minimum_calls(report, hs, sf)
    bound = min_hs / (HUBSPOT_PER_10S / 10)
    calls = int(hs["requests"]) + int(sf["requests"])
    records = sum(report.read.values())
    return {
        "contacts": contacts,
        "leads": leads,
        "seed_s": round(seed_s, 1),
        "records_read": records,
        "records_written": report.writes,
        "hubspot_records_written": int(hs["writes"]),
        "salesforce_records_written": int(sf["writes"]),
        "dead_letters": report.dead_letters,
        "wall_s": round(wall, 1),
        "records_per_s": round(records / wall, 1),
        "hubspot_calls": int(hs["requests"]),
        "hubspot_min_calls": min_hs,
        "salesforce_calls": int(sf["requests"]),
        "salesforce_min_calls": min_sf,
        "calls_vs_minimum": round(calls / max(1, min_hs + min_sf), 3),
        "hubspot_calls_vs_minimum": round(int(hs["requests"]) / max(1, min_hs), 3),
        "bound_s": round(bound, 1),
        "bound_over_actual": round(bound / wall, 3),
        "hubspot_429s": int(hs["by_status"].get("429", 0)),
        "hubspot_routes": _by_route(hs),
        "salesforce_routes": _by_route(sf),
    }


def _latency(box: Any, runtime: Any) -> dict[str, Any]:
    """A HubSpot edit made as a user would, then back-to-back polls until Salesforce has it."""
    backfilled = time.monotonic()
    from connectors.errors import ConnectorError

    # The backfill's own echoes first. A poll can fail here: the Salesforce imitation pages a
    # query by OFFSET over the live table, so the poll's own writes shift later pages and the
    # connector refuses the repeated cursor. Each failed poll still advanced its checkpoints
    # page by page, so the next one starts further on.
    failed: list[str] = []
    while True:
        try:
            runtime.engine.poll()
            break
        except ConnectorError as exc:
            failed.append(str(exc))
            if len(failed) >= 5:
                raise
    hubspot_id, twin = _linked_pair(runtime)
    first = _edit_until_delivered(box, runtime, hubspot_id, twin)
    # Again once the backfill's writes are older than the polls' lookback: the steady state.
    lookback = runtime.engine.policy.lookback.total_seconds()
    while time.monotonic() - backfilled < lookback:
        runtime.engine.poll()
    steady = _edit_until_delivered(box, runtime, hubspot_id, twin)
    return {
        "poll_latency_s": first["latency_s"],
        "poll_latency_cycles": first["cycles"],
        "poll_cycle_s": first["cycle_s"],
        "poll_delivered": str(first["delivered"]),
        "steady_poll_latency_s": steady["latency_s"],
        "steady_poll_cycle_s": steady["cycle_s"],
        "steady_poll_delivered": str(steady["delivered"]),
        "echo_polls_failed": len(failed),
        "echo_poll_error": failed[0][:160] if failed else "",
    }


def _edit_until_delivered(box: Any, runtime: Any, hubspot_id: str, twin: Any) -> dict[str, Any]:
    """A HubSpot edit made as a user would, then back-to-back polls until Salesforce has it."""
    title = f"Bench Title {time.time_ns()}"
    changed = time.perf_counter()
    box.hubspot.update("contacts", hubspot_id, {"jobtitle": title})
    cycle_s: list[float] = []
    delivered = False
    while not delivered and len(cycle_s) < 30:
        began = time.perf_counter()
        runtime.engine.poll()
        cycle_s.append(time.perf_counter() - began)
        [row] = box.salesforce.find(twin.object, equals={"Id": twin.id}, limit=1)
        delivered = row.get("Title") == title
    return {
        "latency_s": round(time.perf_counter() - changed, 2),
        "cycles": len(cycle_s),
        "cycle_s": round(sum(cycle_s) / len(cycle_s), 2),
        "delivered": delivered,
    }


def _linked_pair(runtime: Any) -> tuple[str, Any]:
    """A HubSpot contact id and the Salesforce key of the same person (linked on both sides)."""
    import sqlalchemy

    from connectors.records import RecordKey, System
    from sync.store.schema import IdentityLink

    hs, sf = IdentityLink.__table__.alias("hs"), IdentityLink.__table__.alias("sf")
    query = (
        sqlalchemy.select(hs.c.record_id, sf.c.object, sf.c.record_id)
        .where(hs.c.person_id == sf.c.person_id, hs.c.active, sf.c.active)
        .where(hs.c.system == "hubspot", sf.c.system == "salesforce", sf.c.object == "Lead")
        .limit(1)
    )
    with runtime.store.connect() as conn:
        hubspot_id, obj, record_id = conn.execute(query).one()
    return str(hubspot_id), RecordKey(System.SALESFORCE, obj, record_id)


# -- part 3: memory, in a child process ------------------------------------------------------


def _own_peak_mb() -> float:
    """This process's own peak RSS (VmHWM): unlike `ru_maxrss`, not inherited across exec from
    the parent that forked it (which holds the sandbox)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return peak_rss_mb()


def _child(env_file: str, database: str, mode: str) -> None:
    """Run in the child: a backfill over the sandbox (real or dry run); prints its peak RSS."""
    from baton.settings import load
    from baton.wiring import build

    os.environ["BATON_DATABASE_URL"] = f"sqlite:///{database}"
    runtime = build(load(Path(env_file)))
    dry_run = mode == "dry"
    if not dry_run:
        runtime.prepare_systems()
    baseline = _own_peak_mb()
    started = time.perf_counter()
    try:
        report = runtime.engine.backfill(dry_run=dry_run)
    finally:
        runtime.close()
    sys.stdout.write(
        json.dumps(
            {
                "read": sum(report.read.values()),
                "writes": report.writes if not dry_run else len(report.planned),
                "seconds": time.perf_counter() - started,
                "baseline_mb": baseline,
                "peak_mb": _own_peak_mb(),
            }
        )
        + "\n"
    )


def _memory_at(folder: Path, records: int) -> dict[str, Any]:
    with _sandbox(folder, contacts=records, leads=0, limits=False) as box:
        command, env = _this_module(
            "--child", box.config.directory / "sandbox.env", folder / "memory.db", _memory_mode()
        )
        done = subprocess.run(
            command,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"memory child failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _memory_mode() -> str:
    return os.environ.get("BENCH_BACKFILL_MEMORY_MODE", "real")


def _memory(folder: Path) -> dict[str, Any]:
    records = _size("BENCH_BACKFILL_MEMORY_RECORDS", 1_000_000)
    small = max(1, records // 10)
    low = _memory_at(folder / "small", small)
    high = _memory_at(folder / "large", records)
    per_record_kb = (high["peak_mb"] - low["peak_mb"]) * 1024 / max(1, records - small)
    return {
        "memory_records": records,
        "memory_records_read": high["read"],
        "memory_backfill_s": round(high["seconds"], 1),
        "memory_peak_mb": round(high["peak_mb"], 1),
        "memory_baseline_mb": round(high["baseline_mb"], 1),
        "memory_peak_mb_at_tenth": round(low["peak_mb"], 1),
        "memory_growth_kb_per_record": round(per_record_kb, 4),
        "memory_mode": _memory_mode(),
        "memory_writes": high["writes"],
    }


def run() -> bool:
    parts = os.environ.get("BENCH_BACKFILL_PARTS", "backfill,resume,memory").split(",")
    figures: dict[str, Any] = {
        "scale": _scale(),
    }
    with tempfile.TemporaryDirectory(prefix="baton-bench-backfill-") as folder:
        if "backfill" in parts:
            figures.update(_backfill(Path(folder) / "limited"))
        if "resume" in parts:
            try:
                figures.update(_resume(Path(folder) / "resume"))
            except Exception as exc:  # keep the other parts' figures; say why this one is missing
                figures["resume_error"] = f"{type(exc).__name__}: {exc}"[:300]
        if "memory" in parts:
            try:
                figures.update(_memory(Path(folder) / "memory"))
            except Exception as exc:  # keep the backfill's figures; say why memory is missing
                figures["memory_error"] = f"{type(exc).__name__}: {exc}"[:300]
    return emit(
        "backfill",
        figures,
        {
            "calls_vs_minimum": Target(1.05, at_least=False),
            "bound_over_actual": Target(0.9),
            "hubspot_429s": Target(0, at_least=False),
            "memory_peak_mb": Target(300, at_least=False),
        },
    )


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) == 4 and sys.argv[1] == "--engine":
        _engine_child(sys.argv[2], sys.argv[3])
    else:
        run()
