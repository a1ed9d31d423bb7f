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
