"""The webhook seam: writes announce events to an `EventSink`; `webhooks.WebhookDispatcher`
is the one that delivers them (tests pass a recorder)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class EventSink(Protocol):
    def emit(
        self,
        subscription_type: str,
        object_id: int,
        *,
        property_name: str | None = None,
        property_value: str | None = None,
        change_source: str = "API",
        extra: Mapping[str, object] | None = None,
    ) -> None: ...

    async def run(self) -> None: ...
