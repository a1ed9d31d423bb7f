"""SIGKILL `baton backfill` and `baton run` at random points; after restarts everything converges.

One sandbox (400 HubSpot contacts, 200 Salesforce Leads, limits off) served in-thread; Baton
runs as real subprocesses on a SQLite store. Phase 1 kills the backfill again and again (job
titles edited on either side between attempts, so every attempt has writes to be killed in),
then lets it finish: it must create exactly what an uninterrupted backfill of an identical
sandbox creates, and each latest title must be on both sides. Phase 2 changes both systems
between kills of the daemon
(HubSpot contacts reaching MQL, score changes, Salesforce rejections and new Leads), then runs
`baton run --once` until a cycle writes nothing: no duplicate on either side, and every change
reached the other side as the dictionary says.

Randomness is seeded (BATON_CRASH_SEED replays another schedule); a failure prints the kill
schedule and the tail of Baton's logs.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mappings.loader import load_default
from sandbox.runtime import Sandbox
from tests.e2e.crash_world import (
    Attempt,
    Census,
    Schedule,
    baton,
    baton_env,
    created_since,
    email,
    run_to_end,
    shared,
    start_and_kill,
)
from tests.e2e.live import served_sandbox, writes

SEED = int(os.environ.get("BATON_CRASH_SEED", "20261125"))
CONTACTS, LEADS = 400, 200
BACKFILL_KILLS = 12
DAEMON_KILLS = 12
#: Change batches are made before these daemon attempts (0 = before the first start).
CHANGE_BEFORE = (0, 3, 6, 9)
#: The poll's upper bound is now minus this settle time (SyncPolicy.settle, 2 s) plus margin:
#: a change younger than that is, by design, left for the next cycle.
SETTLE_S = 2.5
MAX_FINAL_RUNS = 5
#: HubSpot stages past a Lead's life (an opportunity's verdict outranks a Lead's rejection).
LATE_STAGES = ("salesqualifiedlead", "opportunity", "customer", "evangelist")
REJECTED = "Closed - Not Converted"


@dataclass
class Expected:
    """Phase 2's changes, keyed so a later change to the same record replaces the earlier."""

    new_mqls: dict[str, int] = field(default_factory=dict)  # HubSpot email -> score
    scores: dict[str, int] = field(default_factory=dict)  # HubSpot contact id -> score
    rejections: dict[str, str] = field(default_factory=dict)  # Lead Id -> reason label
    new_leads: set[str] = field(default_factory=set)  # Salesforce Lead emails
    titles: dict[str, tuple[str, str]] = field(default_factory=dict)  # Baton id -> side, title


@dataclass
class World:
    box: Sandbox
    tmp: Path
    rng: random.Random
    schedule: Schedule
    expected: Expected = field(default_factory=Expected)
    taken: set[str] = field(default_factory=set)  # Baton ids already given a change
    batch: int = 0
    last_activity: float = 0.0  # monotonic time of the last change or write to either system

    def touched(self) -> None:
        self.last_activity = time.monotonic()

    def settle(self) -> None:
        """Wait until the last change or write is older than the poll's settle time: a cycle
        reads only up to now minus that time, so a younger change (the echo of Baton's own
        create included) is by design left for the next cycle."""
        wait = self.last_activity + SETTLE_S - time.monotonic()
        if wait > 0:
            time.sleep(wait)

    @property
    def state_db(self) -> Path:
        return self.tmp / "state.db"

    @property
    def log(self) -> Path:
        return self.tmp / "baton.log"

    def env(self, **extra: str) -> dict[str, str]:
        return baton_env(self.box, self.state_db, **extra)

    def count(self) -> int:
        return writes(self.box)

    def explain(self) -> str:
        tail = self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""
        return f"{self.schedule}\n--- last Baton log lines ---\n{tail}"


@contextmanager
def explained(world: World) -> Iterator[None]:
    """Any assertion failure carries the kill schedule and the end of Baton's logs."""
    try:
        yield
    except (AssertionError, KeyError, ValueError) as exc:
        raise AssertionError(f"{type(exc).__name__}: {exc}\n\n{world.explain()}") from exc
    finally:
        (world.tmp / "schedule.txt").write_text(f"{world.schedule}\n")


def make_changes(world: World) -> str:
    """One batch of team work on both sides (actor edits, like the UI; no Baton runs now)."""
    rng, box, exp = world.rng, world.box, world.expected
    world.batch += 1
    census = Census.take(box)
    hs_by_baton = {k: v[0] for k, v in census.hubspot_by_baton_id().items() if len(v) == 1}
    sf_by_baton = {k: v[0] for k, v in census.salesforce_by_baton_id().items() if len(v) == 1}
    linked = sorted(set(hs_by_baton) & set(sf_by_baton) - world.taken)
    # Marketing: new inquiries that are MQLs at once (each must become exactly one Lead).
    for n in range(3):
        address = f"crash.mql.{world.batch}.{n}@example.com"
        score = rng.randint(60, 100)
        box.hubspot.create(
            "contacts",
            {
                "email": address,
                "firstname": "Mql",
                "lastname": f"Crash{world.batch}{n}",
                "company": f"Crashco {world.batch}-{n}",
                "jobtitle": "Head of Growth",
                "lifecyclestage": "marketingqualifiedlead",
                "hubspotscore": str(score),
            },
        )
        exp.new_mqls[address] = score
    # Marketing: score changes on linked people (hubspot_to_salesforce: must reach Salesforce).
    scored = rng.sample(linked, 4)
    for baton_id in scored:
        contact_id = str(hs_by_baton[baton_id]["hs_object_id"])
        score = rng.randint(1, 100)
        box.hubspot.update("contacts", contact_id, {"hubspotscore": str(score)})
        exp.scores[contact_id] = score
        if (address := email(hs_by_baton[baton_id].get("email"))) in exp.new_mqls:
            exp.new_mqls[address] = score  # an earlier batch's MQL, scored again
    world.taken.update(scored)
    # Sales: rejections with a reason (salesforce_to_hubspot: must reach HubSpot).
    open_leads = [
        b
        for b in linked
        if b not in world.taken
        and sf_by_baton[b]["attributes"]["type"] == "Lead"
        and sf_by_baton[b]["Status"] in ("Open - Not Contacted", "Working - Contacted")
        and hs_by_baton[b].get("lifecyclestage") not in LATE_STAGES
    ]
    rejected = rng.sample(open_leads, 3)
    for baton_id in rejected:
        lead_id = str(sf_by_baton[baton_id]["Id"])
        reason = rng.choice(("No Need", "Bad Timing", "Competitor", "No Budget"))
        box.salesforce.update("Lead", lead_id, {"Status": REJECTED, "Rejection_Reason__c": reason})
        exp.rejections[lead_id] = reason
    world.taken.update(rejected)
    # Sales: new Leads typed into Salesforce (each must become exactly one HubSpot contact).
    for n in range(2):
        address = f"crash.sf.{world.batch}.{n}@example.com"
        box.salesforce.create(
            "Lead",
            {
                "FirstName": "Sal",
                "LastName": f"Crash{world.batch}{n}",
                "Company": f"Salesco {world.batch}-{n}",
                "Email": address,
                "Status": "Open - Not Contacted",
                "LeadSource": "Phone Inquiry",
            },
        )
        exp.new_leads.add(address)
    world.touched()
    return f"batch {world.batch}: 3 MQLs, 4 scores, 3 rejections, 2 SF leads"


def no_duplicates(before: Census, after: Census) -> None:
    """Nothing Baton created shares a Baton id or an email with another record of its system."""
    assert shared(after.hubspot_by_baton_id(), "hs_object_id") == {}, "HubSpot baton_id twice"
    assert shared(after.salesforce_by_baton_id(), "Id") == {}, "Salesforce Baton_Id__c twice"
    hs_emails, sf_emails = after.hubspot_by_email(), after.salesforce_by_email()
    twins = {
        email(c.get("email")): [str(x["hs_object_id"]) for x in hs_emails[email(c.get("email"))]]
        for i, c in after.contacts.items()
        if i not in before.contacts and len(hs_emails[email(c.get("email"))]) > 1
    }
    assert twins == {}, "a HubSpot contact Baton created shares its email"
    twins = {
        email(r.get("Email")): [str(x["Id"]) for x in sf_emails[email(r.get("Email"))]]
        for i, r in after.leads.items()
        if i not in before.leads and len(sf_emails[email(r.get("Email"))]) > 1
    }
    assert twins == {}, "a Salesforce Lead Baton created shares its email"


def edit_titles(world: World) -> str:
    """Job titles edited on one side per person (two_way), so the next backfill has writes
    to be killed in; the latest title of each must win on the other side."""
    census = Census.take(world.box)
    hs_by_baton = {k: v[0] for k, v in census.hubspot_by_baton_id().items() if len(v) == 1}
    sf_by_baton = {k: v[0] for k, v in census.salesforce_by_baton_id().items() if len(v) == 1}
    linked = sorted(set(hs_by_baton) & set(sf_by_baton))
    if not linked:
        return ""
    titles = world.expected.titles
    chosen = world.rng.sample(linked, min(20, len(linked)))
    for n, baton_id in enumerate(chosen):
        side = titles.get(baton_id, ("hubspot" if n % 3 else "salesforce", ""))[0]
        title = f"Crash title {world.rng.randrange(10**6)}"
        if side == "hubspot":
            contact_id = str(hs_by_baton[baton_id]["hs_object_id"])
            world.box.hubspot.update("contacts", contact_id, {"jobtitle": title})
        else:
            record = sf_by_baton[baton_id]
            world.box.salesforce.update(
                record["attributes"]["type"], record["Id"], {"Title": title}
            )
        titles[baton_id] = (side, title)
    return f"{len(chosen)} titles"


def phase_1_backfill(world: World) -> Census:
    """Kill the backfill again and again (editing titles in between), then let it finish."""
    number = 0
    while world.schedule.kills_in("backfill") < BACKFILL_KILLS and number < 3 * BACKFILL_KILLS:
        number += 1
        changes = edit_titles(world)
        world.touched()
        attempt = start_and_kill(
            baton(world.box, "backfill"),
            env=world.env(),
            cwd=world.tmp,
            log=world.log,
            count_writes=world.count,
            rng=world.rng,
            attempt=Attempt("backfill", number, "", 0.0, changes=changes),
            window_s=(0.3, 2.5),
        )
        world.schedule.attempts.append(attempt)
        assert attempt.killed or attempt.returncode == 0, "a backfill failed on its own"
    assert world.schedule.kills_in("backfill") >= BACKFILL_KILLS
    hit = [a for a in world.schedule.attempts if a.killed and a.writes]
    assert len(hit) >= BACKFILL_KILLS // 4, "too few kills landed among writes"
    # A resumed backfill reads what changed since the interrupted run began up to its own
    # start less the settle time, as a poll does: a younger edit is by design the daemon's.
    world.settle()
    done = run_to_end(baton(world.box, "backfill"), env=world.env(), cwd=world.tmp, log=world.log)
    assert done.returncode == 0, done.stderr
    assert "Backfill done" in done.stdout
    return Census.take(world.box)


def titles_arrived(world: World, census: Census) -> None:
    """Every title edited during phase 1 is the same on both sides: the latest edit's."""
    hs_by_baton, sf_by_baton = census.hubspot_by_baton_id(), census.salesforce_by_baton_id()
    lost = {
        baton_id: (
            title,
            hs_by_baton[baton_id][0].get("jobtitle"),
            sf_by_baton[baton_id][0].get("Title"),
        )
        for baton_id, (_, title) in world.expected.titles.items()
        if hs_by_baton[baton_id][0].get("jobtitle") != title
        or sf_by_baton[baton_id][0].get("Title") != title
    }
    assert lost == {}, "titles edited during the backfill kills: (edited, HubSpot, Salesforce)"


def reference_backfill(tmp: Path) -> tuple[Census, Census]:
    """An identical sandbox backfilled once, without interruption: what phase 1 must equal."""
    with served_sandbox(tmp / "ref-sandbox", contacts=CONTACTS, leads=LEADS, seed=SEED) as ref:
        before = Census.take(ref)
        state_db = tmp / "ref-state.db"
        done = run_to_end(
            baton(ref, "backfill"), env=baton_env(ref, state_db), cwd=tmp, log=tmp / "ref.log"
        )
        assert done.returncode == 0, done.stderr
        return before, Census.take(ref)


def phase_2_daemon(world: World) -> None:
    """Kill the daemon at random points while both teams keep working."""
    for number in range(1, DAEMON_KILLS + 1):
        changes = make_changes(world) if number - 1 in CHANGE_BEFORE else ""
        attempt = start_and_kill(
            baton(world.box, "run"),
            env=world.env(BATON_POLL_INTERVAL_S="0.5", BATON_HTTP_PORT="0"),
            cwd=world.tmp,
            log=world.log,
            count_writes=world.count,
            rng=world.rng,
            attempt=Attempt("daemon", number, "", 0.0, changes=changes),
            window_s=(0.5, 4.0),
            # After a change batch a write is certain: wait for it however slow the start;
            # otherwise there may be none to wait for (the daemon never exits on its own).
            give_up_s=30.0 if changes else 6.0,
        )
        world.schedule.attempts.append(attempt)
        if attempt.writes:
            world.touched()
        assert attempt.killed, "the daemon exited on its own"
    assert any(a.killed and a.writes for a in world.schedule.attempts if a.phase == "daemon")


def converge(world: World) -> int:
    """`baton run --once` until a cycle that sees every change writes nothing; returns how
    many cycles that took."""
    for cycle in range(1, MAX_FINAL_RUNS + 1):
        world.settle()
        before = world.count()
        done = run_to_end(
            baton(world.box, "run", "--once"), env=world.env(), cwd=world.tmp, log=world.log
        )
        assert done.returncode == 0, done.stderr
        if world.count() == before:
            return cycle
        world.touched()
    raise AssertionError(f"still writing after {MAX_FINAL_RUNS} `baton run --once` cycles")


def no_lost_update(world: World, census: Census) -> None:
    """Every phase 2 change reached the other side, per the dictionary's field rules."""
    exp = world.expected
    reasons = {r.label: r.hubspot.hs_lead_status for r in load_default().rejection_reasons}
    hs_emails, sf_emails = census.hubspot_by_email(), census.salesforce_by_email()
    sf_by_baton = census.salesforce_by_baton_id()
    hs_by_baton = census.hubspot_by_baton_id()
    lost: list[str] = []
    for address, score in exp.new_mqls.items():
        [contact] = hs_emails[address]
        twins = sf_emails.get(address, [])
        if len(twins) != 1:
            lost.append(f"MQL {address}: {len(twins)} Salesforce records")
            continue
        [lead] = twins
        if not contact.get("baton_id") or lead.get("Baton_Id__c") != contact.get("baton_id"):
            lost.append(f"MQL {address}: Baton ids {contact.get('baton_id')} / {lead}")
        if lead.get("Marketing_Score__c") != score:
            lost.append(f"MQL {address}: score {lead.get('Marketing_Score__c')} != {score}")
    for contact_id, score in exp.scores.items():
        baton_id = str(census.contacts[contact_id].get("baton_id"))
        [record] = sf_by_baton[baton_id]
        if record.get("Marketing_Score__c") != score:
            lost.append(f"score of {contact_id}: {record.get('Marketing_Score__c')} != {score}")
    for lead_id, reason in exp.rejections.items():
        lead = census.leads[lead_id]
        if (lead.get("Status"), lead.get("Rejection_Reason__c")) != (REJECTED, reason):
            lost.append(f"rejection of {lead_id} ({reason}) undone in Salesforce: {lead}")
        baton_id = str(lead.get("Baton_Id__c"))
        [contact] = hs_by_baton[baton_id]
        got = (contact.get("hs_lead_status"), contact.get("rejection_reason"))
        if got != (reasons[reason], reason):
            lost.append(f"rejection of {lead_id} ({reason}): HubSpot has {got}")
    for address in sorted(exp.new_leads):
        [lead] = sf_emails[address]
        contacts = hs_emails.get(address, [])
        if len(contacts) != 1:
            lost.append(f"SF lead {address}: {len(contacts)} HubSpot contacts")
        elif not lead.get("Baton_Id__c") or contacts[0].get("baton_id") != lead["Baton_Id__c"]:
            lost.append(f"SF lead {address}: Baton ids {lead.get('Baton_Id__c')} / {contacts}")
    assert lost == [], "lost updates"


@pytest.mark.slow
def test_sigkill_at_random_points_then_everything_converges(tmp_path: Path) -> None:
    ref_before, ref_after = reference_backfill(tmp_path)
    expected_contacts, expected_leads = created_since(ref_before, ref_after)
    with served_sandbox(tmp_path / "sandbox", contacts=CONTACTS, leads=LEADS, seed=SEED) as box:
        world = World(box, tmp_path, random.Random(SEED), Schedule(SEED))
        with explained(world):
            seeded = Census.take(box)
            backfilled = phase_1_backfill(world)
            assert created_since(seeded, backfilled) == (expected_contacts, expected_leads), (
                "the crashed backfill created other records than an uninterrupted one"
            )
            no_duplicates(seeded, backfilled)
            titles_arrived(world, backfilled)

            phase_2_daemon(world)
            cycles = converge(world)
            final = Census.take(box)
            no_duplicates(seeded, final)
            made_contacts, made_leads = created_since(backfilled, final)
            # Besides the teams' own new records, exactly one twin each on the other side.
            made = sorted([*world.expected.new_leads, *world.expected.new_mqls])
            assert made_leads == made, "Salesforce Leads created in phase 2"
            assert made_contacts == made, "HubSpot contacts created in phase 2"
            no_lost_update(world, final)
            titles_arrived(world, final)

            quiet = world.count()
            again = run_to_end(
                baton(box, "run", "--once"), env=world.env(), cwd=tmp_path, log=world.log
            )
            assert again.returncode == 0, again.stderr
            assert world.count() == quiet, f"converged after {cycles} cycle(s), then wrote again"
            assert world.schedule.kills >= 20
