"""Sending planned writes: batched per system and object, every outcome classified.

- `ok`: the record now says what we planned; its snapshot becomes what we wrote.
- `retry`: refused for now (row lock, rate limit, a connection that never reached the system);
  nothing is stored for the person and the caller leaves its checkpoint where it was, so the
  next cycle reads and plans the record again.
- `rejected`: refused for good (validation rule, bad value); a dead letter keeps the vendor's
  own code and message until the data is fixed and the letter retried.

Creates carry `match_on` (the cross-system id, or email in HubSpot), so a write repeated after a
crash between sending and committing updates the record it made instead of making another.
Errors that end the run (daily cap, bad credentials, bad settings) are raised, not classified.

A HubSpot email is one contact's only, checked for each input against the contacts as they are
before the batch: contacts of one unit taking each other's emails (two people's Leads that
swapped them) are written in steps, each after the one freeing its new email; where they take
them round in a cycle, one of them is first cleared of its email (`_email_steps`).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum

from connectors.errors import ConnectorError, PermanentError
from connectors.protocol import Connector
from connectors.records import RecordPatch, System, WriteOutcome
from sync.plan import Write


class Result(StrEnum):
    OK = "ok"
    RETRY = "retry"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Sent:
    person_id: uuid.UUID
    write: Write
    result: Result
    id: str | None = None  # the record id (a create's new id) on success
    created: bool = False
    code: str | None = None
    message: str | None = None


def refusal(exc: ConnectorError) -> tuple[Result, str, str]:
    """What an error for a whole call means for each record in it: (result, code, message).
    An error that ends the run (daily cap, credentials, settings) is raised again."""
    if not (exc.retryable or isinstance(exc, PermanentError)):
        raise exc
    result = Result.RETRY if exc.retryable else Result.REJECTED
    return result, exc.vendor_code or type(exc).__name__, exc.vendor_message or exc.message


def classify(outcome: WriteOutcome) -> Result:
    if outcome.ok and outcome.id:
        return Result.OK
    return Result.RETRY if outcome.retryable else Result.REJECTED


def send(
    connectors: Mapping[System, Connector], writes: Sequence[tuple[uuid.UUID, Write]]
) -> list[Sent]:
    """Send every write, one `connector.write` call per system and object (the connector
    splits into the system's batch sizes); results in the order of `writes`.

    The two systems are written at the same time (one thread each, so a connector is never
    written to by two of these threads at once): a unit's HubSpot and Salesforce writes wait
    on different servers and different limits, so one need not wait for the other."""
    groups: dict[System, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for n, (_, write) in enumerate(writes):
        groups[write.key.system][write.key.object].append(n)

    def system_writes(system: System) -> dict[int, Sent]:
        sent: dict[int, Sent] = {}
        for obj, indexes in groups[system].items():
            if system is System.HUBSPOT:
                sent.update(_send_in_steps(connectors[system], obj, writes, indexes))
            else:
                sent.update(_send_group(connectors[system], obj, writes, indexes))
        return sent

    results: dict[int, Sent] = {}
    if len(groups) < 2:
        for system in groups:
            results.update(system_writes(system))
    else:
        with ThreadPoolExecutor(max_workers=len(groups), thread_name_prefix="send") as pool:
            futures = [pool.submit(system_writes, system) for system in groups]
        # Both finished (the pool waited); an error that ends the run is raised once the
        # other system's outcomes are known, in the order the systems came.
        for done in futures:
            results.update(done.result())
    return [results[n] for n in range(len(writes))]


def _send_group(
    connector: Connector,
    obj: str,
    writes: Sequence[tuple[uuid.UUID, Write]],
    indexes: Sequence[int],
) -> dict[int, Sent]:
    patches = [
        RecordPatch(writes[n][1].key, writes[n][1].fields, writes[n][1].match_on) for n in indexes
    ]
    try:
        outcomes = connector.write(obj, patches)
    except ConnectorError as exc:
        result, code, message = refusal(exc)
        return {
            n: Sent(writes[n][0], writes[n][1], result, code=code, message=message) for n in indexes
        }
    return {
        n: Sent(
            writes[n][0],
            writes[n][1],
            classify(outcome),
            id=outcome.id,
            created=outcome.created or writes[n][1].creates,
            code=outcome.error_code,
            message=outcome.error_message,
        )
        for n, outcome in zip(indexes, outcomes, strict=True)
    }


EMAIL = "email"  # the canonical field, and HubSpot's property: one contact's only


def _email_steps(
    writes: Sequence[tuple[uuid.UUID, Write]], indexes: Sequence[int]
) -> tuple[list[list[int]], list[int]]:
    """The updates of `indexes` in steps, each step's after the one before (an update whose new
    email another update of these frees goes after it), and the updates whose record is first
    cleared of its email: one per cycle of updates taking each other's emails."""
    moves: dict[int, tuple[str, str]] = {}
    for n in indexes:
        write = writes[n][1]
        old, new = write.changes.get(EMAIL, (None, None))
        if write.creates or write.match_on or not isinstance(new, str) or not new:
            continue
        if isinstance(old, str) and old and old.lower() != new.lower():
            moves[n] = (old.lower(), new.lower())
    holder = {old: n for n, (old, _) in moves.items()}
    pending, cleared = set(moves), []

    def blocker(n: int) -> int | None:
        m = holder.get(moves[n][1])
        return m if m is not None and m != n and m in pending and m not in cleared else None

    steps: list[list[int]] = [[n for n in indexes if n not in moves]]
    while pending:
        ready = [n for n in indexes if n in pending and blocker(n) is None]
        if ready:
            steps[-1].extend(ready)
            steps.append([])
            pending -= set(ready)
            continue
        walk: list[int] = []  # every update waits on another: follow them round to a cycle
        n = min(pending)
        while n not in walk:
            walk.append(n)
            waits_on = blocker(n)
            assert waits_on is not None  # none is ready
            n = waits_on
        cleared.append(n)
    return [step for step in steps if step], cleared


def _send_in_steps(
    connector: Connector,
    obj: str,
    writes: Sequence[tuple[uuid.UUID, Write]],
    indexes: Sequence[int],
) -> dict[int, Sent]:
    """`_send_group` in the steps `_email_steps` says: the emails cleared first, each step
    sent once the one before was; a cleared record whose update then fails gets its email
    back."""
    steps, cleared = _email_steps(writes, indexes)
    if len(steps) < 2 and not cleared:
        return _send_group(connector, obj, writes, indexes)
    _quietly(connector, obj, [RecordPatch(writes[n][1].key, {EMAIL: None}) for n in cleared])
    sent: dict[int, Sent] = {}
    for step in steps:
        sent.update(_send_group(connector, obj, writes, step))
    back = [
        RecordPatch(writes[n][1].key, {EMAIL: writes[n][1].changes[EMAIL][0]})
        for n in cleared
        if sent[n].result is not Result.OK
    ]
    _quietly(connector, obj, back)
    return sent


def _quietly(connector: Connector, obj: str, patches: Sequence[RecordPatch]) -> None:
    """A write whose outcome no planned write reports (its refusal shows in the writes after
    it); an error that ends the run is raised."""
    if not patches:
        return
    try:
        connector.write(obj, patches)
    except ConnectorError as exc:
        refusal(exc)
