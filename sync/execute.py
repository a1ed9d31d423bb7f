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


def classify(outcome: WriteOutcome) -> Result:
    if outcome.ok and outcome.id:
        return Result.OK
    return Result.RETRY if outcome.retryable else Result.REJECTED


def send(
    connectors: Mapping[System, Connector], writes: Sequence[tuple[uuid.UUID, Write]]
) -> list[Sent]:
    """Send every write, one `connector.write` call per system and object (the connector
    splits into the system's batch sizes); results in the order of `writes`."""
    groups: dict[tuple[System, str], list[int]] = defaultdict(list)
    for n, (_, write) in enumerate(writes):
        groups[(write.key.system, write.key.object)].append(n)
    results: dict[int, Sent] = {}
    for (system, obj), indexes in groups.items():
        patches = [
            RecordPatch(writes[n][1].key, writes[n][1].fields, writes[n][1].match_on)
            for n in indexes
        ]
        try:
            outcomes = connectors[system].write(obj, patches)
        except ConnectorError as exc:
            if not (exc.retryable or isinstance(exc, PermanentError)):
                raise
            result = Result.RETRY if exc.retryable else Result.REJECTED
            code = exc.vendor_code or type(exc).__name__
            message = exc.vendor_message or exc.message
            for n in indexes:
                pid, write = writes[n]
                results[n] = Sent(pid, write, result, code=code, message=message)
            continue
        for n, outcome in zip(indexes, outcomes, strict=True):
            pid, write = writes[n]
            results[n] = Sent(
                pid,
                write,
                classify(outcome),
                id=outcome.id,
                created=outcome.created or write.creates,
                code=outcome.error_code,
                message=outcome.error_message,
            )
    return [results[n] for n in range(len(writes))]
