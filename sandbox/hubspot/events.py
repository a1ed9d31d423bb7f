"""The webhook seam: writes announce events; `webhooks.WebhookDispatcher` delivers them.

The dispatcher lives in its own module (written separately); until it exists this falls back
to a sink that drops events, so the imitation always imports and serves.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Mapping
from typing import Any, Protocol

from sandbox.shared.clock import Clock


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


class DroppingSink:
    """No dispatcher available: events go nowhere and `run` just idles."""

    def emit(
        self,
        subscription_type: str,
        object_id: int,
        *,
        property_name: str | None = None,
        property_value: str | None = None,
        change_source: str = "API",
        extra: Mapping[str, object] | None = None,
    ) -> None:
        return None

    async def run(self) -> None:
        await asyncio.Event().wait()


def make_dispatcher(
    clock: Clock, *, app_id: int, portal_id: int, client_secret: str
) -> tuple[EventSink, Any]:
    """`(sink, admin_router or None)` from `sandbox.hubspot.webhooks` when it is present."""
    try:
        module = importlib.import_module("sandbox.hubspot.webhooks")
    except ImportError:
        return DroppingSink(), None
    dispatcher = module.WebhookDispatcher(
        clock, app_id=app_id, portal_id=portal_id, client_secret=client_secret
    )
    router = dispatcher.admin_router() if hasattr(dispatcher, "admin_router") else None
    return dispatcher, router
