"""Query results as plain JSON data, for `--json` output and the HTTP service.

Conventions, so machines can rely on them: datetimes are ISO 8601 in UTC, durations are
seconds (float, key unchanged), UUIDs and enums are strings, record keys are objects
`{"system", "object", "id"}`, mappings keep their keys as strings, tuples become lists.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import Enum
from typing import Any


def to_jsonable(value: Any) -> Any:
    """A JSON-serialisable copy of `value` (dataclasses, mappings, sequences, scalars)."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(to_jsonable(k)): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(item) for item in value]
    raise TypeError(f"cannot turn {type(value).__name__} into JSON data")
