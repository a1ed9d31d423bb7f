"""Propagated deletes: a person's record deleted on one side deletes its twin on the other.

Only with `SyncPolicy.propagate_deletes` (BATON_PROPAGATE_DELETES); otherwise the unit of work
flags a delete and reports it. A merge is never a delete (the survivor takes the link), and
only the person's *active* record on the other side is deleted (not a converted Lead, not an
Opportunity). A unit plans its deletions from the store (`plan`), sends them after its writes
(`send`), and records them in its one transaction (`commit`):

- deleted: both links end (inactive rows, still naming the person), so reading the twin's own
  deletion later finds no active link and deletes nothing back (no echo); one
  `delete_propagated` decision says what was deleted, by which trigger, and why;
- refused: a dead letter with the vendor's code and message on the twin; the links stay, so
  the person is neither re-created on the deleted side nor deleted again while it is open;
- refused for now (a row lock, a connection lost): the page is read again, and so is the delete;
- a person with no record on the other side: flagged, as without the policy.

A dry run counts and lists the deletions and sends none (`rehearse`). Retrying a refused
delete's dead letter sends that delete again (`from_letters`), unless the deleted record is
back (restored from its bin: `moot`), which closes the letter with a `delete_moot` note.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from connectors.errors import ConnectorError
from connectors.protocol import Connector
from connectors.records import FieldValue, RecordKey, System
from sync.execute import Result, classify, refusal
from sync.report import CycleReport, PlannedWrite
from sync.store.dead_letters import (
    DeadLetter,
    Direction,
    NewDeadLetter,
    add_dead_letters,
    open_payloads,
)
from sync.store.decisions import Decision, note_about, record_decisions, unrepeated
from sync.store.links import active_keys_for, end_links, find_links
from sync.store.snapshots import unread_snapshots

PROPAGATED = "delete_propagated"
MOOT = "delete_moot"
FLAGGED = "delete_flagged"
REJECTED = "rejected"
SETTING = "BATON_PROPAGATE_DELETES"


@dataclass(frozen=True, slots=True)
class Deletion:
    """The record someone deleted (`gone`) and the person's record to delete on the other
    side (`twin`, None when there is none); `held` when that delete was already refused."""

    person_id: uuid.UUID
    gone: RecordKey
    twin: RecordKey | None
    held: bool = False

    @property
    def sendable(self) -> bool:
        return self.twin is not None and not self.held

    def payload(self) -> dict[str, FieldValue]:
        """What a dead letter keeps: the delete and what caused it."""
        return {"delete": True, "because": str(self.gone)}


@dataclass(frozen=True, slots=True)
class Deleted:
    """How a sent deletion ended (`result` None: nothing was sent)."""

    deletion: Deletion
    result: Result | None
    code: str | None = None
    message: str | None = None


def plan(conn: Connection, gone: Sequence[tuple[uuid.UUID, RecordKey]]) -> list[Deletion]:
    """One deletion per person whose active record was deleted (not merged) in this unit."""
    if not gone:
        return []
    firsts: dict[uuid.UUID, RecordKey] = {}  # a person's first record deleted here
    for pid, key in gone:
        firsts.setdefault(pid, key)
    active = active_keys_for(conn, firsts)
    deletions = []
    for pid, key in firsts.items():
        other = System.SALESFORCE if key.system is System.HUBSPOT else System.HUBSPOT
        deletions.append(Deletion(pid, key, active.get(pid, {}).get(other)))
    twins = [d.twin for d in deletions if d.twin is not None]
    refused = open_payloads(conn, twins) if twins else {}
    return [
        Deletion(d.person_id, d.gone, d.twin, held=True)
        if d.twin is not None and dict(refused.get(d.twin) or {}) == d.payload()
        else d
        for d in deletions
    ]


def is_delete(payload: Mapping[str, FieldValue]) -> bool:
    """Whether a dead letter's payload is a refused delete (`Deletion.payload`)."""
    return payload.get("delete") is True and isinstance(payload.get("because"), str)


def from_letters(conn: Connection, letters: Sequence[DeadLetter]) -> list[Deletion]:
    """The refused deletes among these dead letters, to send again as they are: the letter's
    record is the twin, its person the one the twin's link names. A twin that is no longer
    its person's active record has nothing left to delete."""
    wanted = {letter.key: letter.payload for letter in letters if is_delete(letter.payload)}
    links = find_links(conn, list(wanted)) if wanted else {}
    deletions = []
    for twin, payload in wanted.items():
        link_ = links.get(twin)
        if link_ is not None and link_.active:
            system, obj, ident = str(payload["because"]).split(":", 2)
            gone = RecordKey(System(system), obj, ident)
            deletions.append(Deletion(link_.person_id, gone, twin))
    return deletions


def moot(
    deletions: Sequence[Deletion], back: Collection[RecordKey]
) -> tuple[list[Deletion], list[Deletion]]:
    """(to send, moot): a deletion whose deleted record is `back` (read again, live: restored
    since the delete was refused) has nothing left to propagate."""
    return [d for d in deletions if d.gone not in back], [d for d in deletions if d.gone in back]


def note_moot(
    tx: Connection,
    deletions: Sequence[Deletion],
    *,
    trigger: str,
    run_id: uuid.UUID | None,
    now: datetime,
) -> None:
    notes = [
        note_about(
            d.person_id,
            "record",
            MOOT,
            trigger,
            now,
            run_id,
            d.twin,
            f"not deleted: {d.gone} is back, so there is no delete to propagate",
        )
        for d in deletions
        if d.twin is not None  # (a letter's deletion always names its twin)
    ]
    record_decisions(tx, notes)


def rehearse(report: CycleReport, deletions: Sequence[Deletion]) -> None:
    """A dry run: count and list the deletes a real run would send, and send none."""
    for d in deletions:
        if d.twin is None:
            report.deletes_flagged += 1
        elif not d.held:
            report.deletes_propagated += 1
            why = f"delete: {d.gone} was deleted ({SETTING})"
            report.planned.append(PlannedWrite(d.twin.id, d.twin.system, d.twin.object, {}, why))


def send(connectors: Mapping[System, Connector], deletions: Sequence[Deletion]) -> list[Deleted]:
    """Delete the twins, one `connector.delete` call per system and object; in order."""
    groups: dict[tuple[System, str], list[tuple[int, str]]] = defaultdict(list)
    for n, d in enumerate(deletions):
        if d.sendable and d.twin is not None:
            groups[(d.twin.system, d.twin.object)].append((n, d.twin.id))
    done: dict[int, Deleted] = {}
    for (system, obj), chosen in groups.items():
        indexes = [n for n, _ in chosen]
        ids = [ident for _, ident in chosen]
        try:
            outcomes = connectors[system].delete(obj, ids)
        except ConnectorError as exc:
            result, code, message = refusal(exc)
            for n in indexes:
                done[n] = Deleted(deletions[n], result, code, message)
            continue
        for n, outcome in zip(indexes, outcomes, strict=True):
            done[n] = Deleted(
                deletions[n], classify(outcome), outcome.error_code, outcome.error_message
            )
    return [done.get(n) or Deleted(d, None) for n, d in enumerate(deletions)]


def blocked(deleted: Sequence[Deleted]) -> bool:
    """A delete refused for now holds the page's checkpoint, as a write's would."""
    return any(item.result is Result.RETRY for item in deleted)


def commit(
    tx: Connection,
    deleted: Sequence[Deleted],
    report: CycleReport,
    *,
    trigger: str,
    run_id: uuid.UUID | None,
    now: datetime,
    letter_retries: bool = False,
    purged: Collection[RecordKey] = (),
) -> None:
    """Record the deletions in the unit's transaction: links, decisions, dead letters.

    `letter_retries`: a delete refused for now is kept as an open dead letter too (a retried
    letter has no page to be read again with, so nothing else would send it again); so is one
    for a record of `purged` (deleted for good: in no recycle bin a poll would read)."""
    ended: list[RecordKey] = []
    notes: list[Decision] = []
    flags: list[Decision] = []  # said again each time the deleted record is read again
    letters: list[NewDeadLetter] = []
    for item in deleted:
        d = item.deletion
        if d.twin is None:
            report.deletes_flagged += 1
            why = f"{d.gone} was deleted; no linked record on the other side to delete"
            flags.append(
                note_about(d.person_id, "record", FLAGGED, trigger, now, run_id, d.gone, why)
            )
        elif item.result is Result.OK:
            report.deletes_propagated += 1
            ended += [d.gone, d.twin]
            why = f"deleted: {d.gone} was deleted and {SETTING} is on"
            notes.append(
                note_about(d.person_id, "record", PROPAGATED, trigger, now, run_id, d.twin, why)
            )
        elif item.result is Result.RETRY and not (letter_retries or d.gone in purged):
            report.retry_later += 1
        elif item.result in (Result.REJECTED, Result.RETRY):
            report.dead_letters += 1
            direction = (
                Direction.TO_HUBSPOT if d.twin.system is System.HUBSPOT else Direction.TO_SALESFORCE
            )
            letters.append(NewDeadLetter(d.twin, direction, d.payload(), item.code, item.message))
            why = f"delete refused: {item.code}: {item.message}"
            notes.append(
                note_about(d.person_id, "record", REJECTED, trigger, now, run_id, d.twin, why)
            )
    end_links(tx, ended, at=now)
    unread_snapshots(tx, ended, at=now)
    record_decisions(tx, [*unrepeated(tx, flags), *notes])
    add_dead_letters(tx, letters, at=now)
