"""`baton backfill` against a live sandbox (served in-thread): dry run, real run, rerun."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx

from sandbox.runtime import Sandbox
from sync.store.budget import budgets
from sync.store.engine import make_engine, sqlite_url
from sync.store.runs import RunStatus, recent_runs
from tests.e2e.live import BATON, writes


def baton_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(Path(__file__).parents[2]),  # this checkout's baton
        "COLUMNS": "200",
        "BATON_DATABASE_URL": f"sqlite:///{tmp_path / 'baton.db'}",
        **extra,
    }


def backfill(
    box: Sandbox, tmp_path: Path, *args: str, environ: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*BATON, "backfill", "--env-file", str(box.config.directory / "sandbox.env"), *args],
        cwd=tmp_path,
        env=environ if environ is not None else baton_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_dry_run_prints_the_plan_and_writes_nothing(box: Sandbox, tmp_path: Path) -> None:
    before = writes(box)
    result = backfill(box, tmp_path, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "Planned writes" in result.stdout
    assert "dry run: nothing written" in result.stdout
    assert "hubspot:contacts" in result.stdout
    assert writes(box) == before
    # A first install: the footer names the properties a real run creates first, and says
    # what is true of the plan: it holds some writes to them (a new contact's funnel stage)...
    assert "funnel_stage: None -> 'MQL'" in result.stdout
    text = " ".join(result.stdout.split())
    lacking = text[text.index("HubSpot lacks") :]
    assert "baton_id" in lacking
    assert "funnel_stage" in lacking
    assert "a real run creates them first; this plan shows some of its writes to them" in lacking
    assert "not in this plan" not in text


def test_backfill_writes_then_a_second_run_writes_nothing(box: Sandbox, tmp_path: Path) -> None:
    first = backfill(box, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Backfill done" in first.stdout
    store = make_engine(sqlite_url(tmp_path / "baton.db"))
    try:
        with store.connect() as conn:  # for `baton status`: the budgets as the run left them
            assert {str(b.system) for b in budgets(conn)} == {"hubspot", "salesforce"}
    finally:
        store.dispose()
    after_first = writes(box)
    assert after_first > 0
    second = backfill(box, tmp_path)
    assert second.returncode == 0, second.stderr
    assert writes(box) == after_first, second.stdout
    planned = backfill(box, tmp_path, "--dry-run")  # the properties exist by now
    assert planned.returncode == 0, planned.stderr
    assert "HubSpot lacks" not in planned.stdout


def test_one_system_and_object(box: Sandbox, tmp_path: Path) -> None:
    result = backfill(box, tmp_path, "--system", "hubspot", "--object", "contacts", "--dry-run")
    assert result.returncode == 0, result.stderr
    # Only HubSpot contacts are backfilled (Salesforce is still read to match people).
    labels = {w for line in result.stdout.splitlines() if "━" in line for w in line.split()}
    assert "hubspot:contacts" in labels
    assert not {"salesforce:Lead", "salesforce:Contact"} & labels


def test_a_bad_system_is_one_line_exit_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [*BATON, "backfill", "--system", "zoho"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--system" in result.stderr


def read_count(stdout: str, label: str) -> int:
    """The 'read' cell of `label`'s row in the summary table."""
    [row] = [line for line in stdout.splitlines() if f" {label} " in line and "│" in line]
    return int(row.split("│")[2].strip().replace(",", ""))


def test_since_reads_only_the_recent_records(box: Sandbox, tmp_path: Path) -> None:
    recent = backfill(box, tmp_path, "--since", "90d", "--system", "hubspot")
    assert recent.returncode == 0, recent.stderr
    assert "Backfilling records modified since" in recent.stdout
    assert "Scope: records modified since" in recent.stdout
    some = read_count(recent.stdout, "hubspot:contacts")
    assert 0 < some < 60  # the seed spreads modification times over a year
    everything = backfill(box, tmp_path, "--system", "hubspot", "--dry-run")
    assert everything.returncode == 0, everything.stderr
    assert read_count(everything.stdout, "hubspot:contacts") == 60


def test_a_since_in_the_future_is_one_line_exit_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [*BATON, "backfill", "--since", "2999-01-01"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert "--since" in result.stderr
    assert "is in the future" in result.stderr


def test_salesforce_alone_on_a_new_store_writes_no_hubspot_contact(
    box: Sandbox, tmp_path: Path
) -> None:
    """Its people's contacts would be upserts on email over contacts never read (found in
    review: lifecycle stages were moved backwards)."""
    result = backfill(box, tmp_path, "--system", "salesforce")
    assert result.returncode == 0, result.stderr
    assert box.hubspot.stats.writes == 0
    assert "No HubSpot contact was made" in result.stdout
    whole = backfill(box, tmp_path)  # HubSpot read: now the missing contacts are made
    assert whole.returncode == 0, whole.stderr
    assert box.hubspot.stats.writes > 0
    assert "No HubSpot contact was made" not in whole.stdout


def test_a_sigterm_while_it_makes_hubspots_properties_ends_it_cleanly(
    box: Sandbox, tmp_path: Path
) -> None:
    """Its handlers came after start-up, which asks HubSpot for Baton's properties (and makes
    them): a SIGTERM there killed it outright, without a word (or, as PID 1, was ignored)."""
    slow = {"slow_rate": 1.0, "slow_seconds": 3.0, "path_prefix": "/crm/v3/properties"}
    httpx.put(f"{box.hubspot_url}/_sandbox/faults", json=slow).raise_for_status()
    process = subprocess.Popen(
        [*BATON, "backfill", "--env-file", str(box.config.directory / "sandbox.env")],
        cwd=tmp_path,
        env=baton_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not any("properties" in route for route in box.hubspot.stats.by_route):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no HubSpot properties call in 60 s"
            time.sleep(0.05)
        # the properties were read: it is making them now, a call every 3 s
        process.send_signal(signal.SIGTERM)
        began = time.monotonic()
        out, err = process.communicate(timeout=60)
        took = time.monotonic() - began
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 143, out + err
    assert took < 5, f"took {took:.1f} s"  # at once, not after the call in hand
    assert err.strip().splitlines() == [
        "baton backfill: stopped during start-up, before reading any record; run it again to start"
    ]
    store = make_engine(sqlite_url(tmp_path / "baton.db"))
    with store.connect() as conn:
        assert recent_runs(conn) == []  # no backfill begun, none left running
    store.dispose()


def test_hubspot_refusing_the_token_for_its_properties_is_one_line_naming_the_fix(
    box: Sandbox, tmp_path: Path
) -> None:
    token = "pat-na1-not-the-right-token"
    result = backfill(box, tmp_path, environ=baton_env(tmp_path, BATON_HUBSPOT_ACCESS_TOKEN=token))
    assert result.returncode == 1, result.stderr
    [line] = result.stderr.strip().splitlines()  # no traceback
    assert line.startswith(
        "baton backfill: cannot create Baton's HubSpot properties: AuthError: "
        "hubspot contacts.properties"
    ), line
    assert line.endswith(
        "; check BATON_HUBSPOT_ACCESS_TOKEN (or the OAuth client and refresh token)"
    )
    assert token not in result.stderr


def test_a_sigterm_while_hubspot_refuses_calls_ends_it_within_dockers_grace(
    box: Sandbox, tmp_path: Path
) -> None:
    """HubSpot answering each batch call with its ten-second 429: a call's retries wait 10 s,
    then longer (minutes in all, which the stop waited out until Docker's SIGKILL). A SIGTERM
    ends the waits: the backfill stops well within 10 s, its run interrupted, not failed."""
    burst = {"rate_limit_rate": 1.0, "path_prefix": "/crm/v3/objects/contacts/batch"}
    httpx.put(f"{box.hubspot_url}/_sandbox/faults", json=burst).raise_for_status()
    process = subprocess.Popen(
        [*BATON, "backfill", "--env-file", str(box.config.directory / "sandbox.env")],
        cwd=tmp_path,
        env=baton_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        seen = []
        for line in process.stderr:  # until a call waits out HubSpot's back-off
            seen.append(line)
            if 'msg="retrying contacts.batch_' in line:
                break
        assert process.poll() is None, "".join(seen)
        process.send_signal(signal.SIGTERM)
        began = time.monotonic()
        out, err = process.communicate(timeout=300)
        took = time.monotonic() - began
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 143, out + err
    assert took < 8, f"took {took:.1f} s\n{err}"
    assert "baton backfill: stopped; what it did is kept" in err, err
    store = make_engine(sqlite_url(tmp_path / "baton.db"))
    with store.connect() as conn:
        [run] = recent_runs(conn)
    store.dispose()
    assert run.status is RunStatus.INTERRUPTED
