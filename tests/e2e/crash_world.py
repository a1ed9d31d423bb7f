"""Crash test helpers: a served sandbox, SIGKILL at a random point, a census of both systems.

Kept apart from `test_crash.py` so the test reads as the story it tells: crash, crash, crash,
converge. Everything random comes from one seeded `random.Random`, and every attempt is
recorded in a `Schedule`, so a failure names the exact run to reproduce.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.runtime import Sandbox
from tests.e2e.live import BATON

#: How often the killer looks at the process and the sandbox's write counter.
TICK_S = 0.01


def baton_env(box: Sandbox, state_db: Path, **extra: str) -> dict[str, str]:
    """A clean environment for Baton (settings come from `sandbox.env`); PYTHONPATH is passed
    on so the test can run against a source tree other than the installed one."""
    passed = {k: os.environ[k] for k in ("PYTHONPATH",) if k in os.environ}
    return {
        **passed,
        "PATH": "/usr/bin:/bin",
        "COLUMNS": "200",
        "BATON_DATABASE_URL": f"sqlite:///{state_db}",
        **extra,
    }


def baton(box: Sandbox, *args: str) -> list[str]:
    return [*BATON, *args, "--env-file", str(box.config.directory / "sandbox.env")]


@dataclass
class Attempt:
    """One start of a Baton process and how it ended."""

    phase: str
    number: int
    mode: str
    delay_s: float
    killed: bool = False
    lived_s: float = 0.0
    writes: int = 0
    returncode: int | None = None
    changes: str = ""

    def __str__(self) -> str:
        end = "SIGKILL" if self.killed else f"exited rc={self.returncode}"
        note = f" after changes [{self.changes}]" if self.changes else ""
        return (
            f"{self.phase} #{self.number:02d}{note}: {self.mode} delay={self.delay_s:.3f}s -> "
            f"{end} at {self.lived_s:.2f}s, {self.writes} API writes during the attempt"
        )


@dataclass
class Schedule:
    """Every attempt so far, for the failure message."""

    seed: int
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def kills(self) -> int:
        return sum(a.killed for a in self.attempts)

    def kills_in(self, phase: str) -> int:
        return sum(a.killed for a in self.attempts if a.phase == phase)

    def __str__(self) -> str:
        lines = [f"seed={self.seed} (set BATON_CRASH_SEED to replay), {self.kills} kills:"]
        lines += [f"  {a}" for a in self.attempts]
        return "\n".join(lines)


def start_and_kill(
    argv: list[str],
    *,
    env: dict[str, str],
    cwd: Path,
    log: Path,
    count_writes: Callable[[], int],
    rng: random.Random,
    attempt: Attempt,
    window_s: tuple[float, float],
    after_write_p: float = 0.5,
    give_up_s: float = 30.0,
) -> Attempt:
    """Start `argv`, then SIGKILL it at a random point, unless it exits first.

    Two kinds of random point, chosen per attempt: a delay drawn from `window_s` after the
    start (anywhere: imports, reads, writes, commits), or a short delay after the attempt's
    first API write (so many kills land between a write and its commit, the case that would
    duplicate records if creates were not idempotent). The first write is waited for up to
    `give_up_s`: long, so a loaded machine's slow start still has its kills land among writes
    (an attempt with writes to make ends the wait at its first).
    """
    before = count_writes()
    after_write = rng.random() < after_write_p
    if after_write:
        attempt.mode = "after-first-write"
        attempt.delay_s = rng.uniform(0.0, 0.4)
    else:
        attempt.mode = "timed"
        attempt.delay_s = rng.uniform(*window_s)
    began = time.monotonic()
    with log.open("ab") as sink:
        sink.write(f"\n===== {attempt.phase} #{attempt.number} {attempt.mode} =====\n".encode())
        sink.flush()
        process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=sink, stderr=sink)
    try:
        deadline = began + attempt.delay_s
        if after_write:
            give_up = began + give_up_s
            while process.poll() is None and count_writes() == before:
                if time.monotonic() > give_up:
                    attempt.mode = "after-first-write (none came)"
                    break
                time.sleep(TICK_S)
            deadline = time.monotonic() + attempt.delay_s
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(TICK_S)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            attempt.killed = True
        attempt.returncode = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    attempt.lived_s = time.monotonic() - began
    attempt.writes = count_writes() - before
    return attempt


def run_to_end(
    argv: list[str], *, env: dict[str, str], cwd: Path, log: Path, timeout_s: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run `argv` to its end; its output is returned and appended to `log` too."""
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout_s)
    with log.open("a") as sink:
        sink.write(f"\n===== {' '.join(argv[2:4])} (to the end) rc={done.returncode} =====\n")
        sink.write(done.stdout + done.stderr)
    return done


def email(value: Any) -> str:
    return str(value or "").strip().lower()


@dataclass
class Census:
    """Every live record of both systems, read through the imitations' actor API (only while
    no Baton process runs, so the reads never interleave with a request in flight)."""

    contacts: dict[str, dict[str, Any]]  # HubSpot contacts by id
    leads: dict[str, dict[str, Any]]  # Salesforce Leads by Id
    sf_contacts: dict[str, dict[str, Any]]  # Salesforce Contacts by Id

    @classmethod
    def take(cls, box: Sandbox) -> Census:
        contacts = {
            str(c["hs_object_id"]): dict(c) for c in box.hubspot.find("contacts", limit=10_000_000)
        }
        leads = {str(r["Id"]): r for r in box.salesforce.find("Lead", limit=None)}
        sf_contacts = {str(r["Id"]): r for r in box.salesforce.find("Contact", limit=None)}
        return cls(contacts, leads, sf_contacts)

    def salesforce_people(self) -> list[dict[str, Any]]:
        """Salesforce's current records of people: unconverted Leads and Contacts (a converted
        Lead hands its person, and its Baton id, to its Contact)."""
        return [r for r in self.leads.values() if not r.get("IsConverted")] + list(
            self.sf_contacts.values()
        )

    def hubspot_by_baton_id(self) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        for contact in self.contacts.values():
            if contact.get("baton_id"):
                found.setdefault(str(contact["baton_id"]), []).append(contact)
        return found

    def salesforce_by_baton_id(self) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        for record in self.salesforce_people():
            if record.get("Baton_Id__c"):
                found.setdefault(str(record["Baton_Id__c"]), []).append(record)
        return found

    def hubspot_by_email(self) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        for contact in self.contacts.values():
            found.setdefault(email(contact.get("email")), []).append(contact)
        return found

    def salesforce_by_email(self) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        for record in self.salesforce_people():
            found.setdefault(email(record.get("Email")), []).append(record)
        return found


def shared(groups: dict[str, list[dict[str, Any]]], id_field: str) -> dict[str, list[str]]:
    """The keys that more than one record carries, with those records' ids."""
    return {k: [str(r[id_field]) for r in rs] for k, rs in groups.items() if k and len(rs) > 1}


def created_since(before: Census, after: Census) -> tuple[list[str], list[str]]:
    """Emails of the HubSpot contacts and of the Salesforce Leads that appeared in between."""
    contacts = sorted(
        email(c.get("email")) for i, c in after.contacts.items() if i not in before.contacts
    )
    leads = sorted(email(r.get("Email")) for i, r in after.leads.items() if i not in before.leads)
    return contacts, leads
