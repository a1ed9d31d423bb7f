"""Read-only queries over the state store: status, one person's story, errors, the scorecard.

Each query takes a caller-owned `Session` or `Connection` and the time to measure against
(`now` / `as_of`), so it is pure over the store: the same rows and the same clock give the same
answer, which is what lets both teams trust (and tests pin) every figure. Results are frozen
dataclasses; `sync.queries.export.to_jsonable` turns any of them into plain JSON data.
"""

from __future__ import annotations
