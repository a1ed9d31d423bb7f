"""Admin routes both imitations share, under `/_sandbox/` only (never under real API paths)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Body, HTTPException, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError

from sandbox.shared.clock import Clock
from sandbox.shared.faults import FaultInjector, UnknownPlanKey, UnsupportedFault, parse_plan
from sandbox.shared.stats import Stats


class LimitControls(Protocol):
    """What an imitation's rate limiter exposes to the admin routes."""

    enabled: bool

    def set_daily_remaining(self, remaining: int) -> None: ...

    def snapshot(self) -> dict[str, Any]: ...

    def reset(self) -> None: ...


class LimitsUpdate(BaseModel):
    enabled: bool | None = None
    daily_remaining: int | None = Field(None, ge=0)


class ClockAdvance(BaseModel):
    seconds: float = Field(gt=0, le=90 * 86400)


def shared_admin_router(
    *,
    stats: Stats,
    faults: FaultInjector,
    limits: LimitControls,
    clock: Clock,
    reset: Callable[[], None],
) -> APIRouter:
    router = APIRouter(prefix="/_sandbox", tags=["sandbox admin"])

    @router.get("/stats")
    async def get_stats() -> dict[str, Any]:
        return stats.snapshot()

    @router.delete("/stats", status_code=204)
    async def reset_stats() -> Response:
        stats.reset()
        return Response(status_code=204)

    @router.get("/faults")
    async def get_faults() -> dict[str, Any]:
        return {"plan": faults.plan.model_dump(), "injected": dict(faults.injected)}

    @router.put("/faults")
    async def put_faults(body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        try:
            faults.configure(parse_plan(body))
        except (UnknownPlanKey, UnsupportedFault) as exc:
            raise HTTPException(400, str(exc)) from None
        except ValidationError as exc:  # a value out of range: answered as any bad body is
            raise RequestValidationError(exc.errors()) from None
        return {"plan": faults.plan.model_dump()}

    @router.delete("/faults", status_code=204)
    async def clear_faults() -> Response:
        faults.clear()
        return Response(status_code=204)

    @router.get("/limits")
    async def get_limits() -> dict[str, Any]:
        return limits.snapshot()

    @router.put("/limits")
    async def put_limits(update: LimitsUpdate) -> dict[str, Any]:
        if update.enabled is not None:
            limits.enabled = update.enabled
        if update.daily_remaining is not None:
            limits.set_daily_remaining(update.daily_remaining)
        return limits.snapshot()

    @router.post("/clock/advance")
    async def advance_clock(body: ClockAdvance) -> dict[str, float]:
        clock.advance(body.seconds)
        return {"now": clock.now()}

    @router.post("/reset", status_code=204)
    async def reset_everything() -> Response:
        reset()
        faults.clear()
        limits.reset()
        stats.reset()
        return Response(status_code=204)

    return router


class Configurable(Protocol):
    """A delivery feature (webhooks, Outbound Messages) configured through its admin routes."""

    def snapshot(self) -> dict[str, Any]: ...

    def configure(self, settings: Any) -> None: ...

    def reset(self) -> None: ...


def settings_router(prefix: str, model: type[BaseModel], feature: Configurable) -> APIRouter:
    """`GET` / `PUT` (a `model` body) / `DELETE` of one feature's settings under `prefix`."""
    router = APIRouter(prefix=prefix, tags=["sandbox admin"])

    async def get_settings() -> dict[str, Any]:
        return feature.snapshot()

    async def put_settings(settings: BaseModel) -> dict[str, Any]:
        feature.configure(settings)
        return feature.snapshot()

    async def delete_settings() -> Response:
        feature.reset()
        return Response(status_code=204)

    put_settings.__annotations__["settings"] = model  # FastAPI parses the body by this type
    router.get("")(get_settings)
    router.put("")(put_settings)
    router.delete("", status_code=204)(delete_settings)
    return router
