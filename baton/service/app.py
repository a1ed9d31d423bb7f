"""The FastAPI app factory: routes only translate HTTP; every decision is a dependency's.

Webhook bodies are verified by the connectors (HubSpot v3 signatures, Salesforce endpoint
tokens and org ids) on the raw bytes; a failed verification answers 401, a body that cannot be
read (not JSON, not XML, not the vendor's shape) and any other failure 400, never 500, and
nothing unverified reaches the sink. A body is read only once the headers pass
(`ServiceDeps.screen_hubspot`), and only up to `MAX_BODY_BYTES` (413 past it). What passes is
only a hint: the sink queues the record keys and the daemon re-reads those records
(`SyncEngine.sync_keys`), so a forged or replayed body cannot write data. A hint is answered
2xx once queued in memory (a crash loses it, and the polls, which are the truth, read the same
records); only a purge (a privacy deletion, which no poll sees) is kept in the store first. The
sink raising answers 503 so the sender retries: a purge the store cannot keep, or a queue that
holds its maximum (`baton.daemon.MAX_QUEUED_KEYS`). A sender whose deliveries keep failing
verification is answered 429 for a while, before its body is read (`baton.service.guard`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from baton.metrics import CONTENT_TYPE, BatonMetrics
from baton.service.guard import VerificationGuard, sender
from connectors.errors import ConfigError, WebhookMalformed, WebhookRejected
from connectors.records import ChangeKind, RecordKey, WebhookReceipt, WebhookRequest

log = logging.getLogger(__name__)

Verifier = Callable[[WebhookRequest], WebhookReceipt]
# Refuses a delivery on its headers alone (raising `WebhookRejected`), before the body is read.
Screen = Callable[[Mapping[str, str]], None]

# The largest webhook body read (a larger one is refused with 413, unread). A HubSpot delivery
# holds at most 100 events and an Outbound Message at most 100 Notifications, each well under
# 2 KiB unless it carries long text values; a body past this cap is not a delivery we lose
# anything by refusing (a hint only: the polls read the same records), and reading one whole
# would let any unsigned POST grow the process by its size.
MAX_BODY_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class Readiness:
    """Whether the process can receive webhooks; `problems` says why not, one phrase each.
    `details` are JSON values added to `/readyz`'s body that never make it fail (the sync's
    health: its failures are alerted on from `/metrics`)."""

    problems: tuple[str, ...] = ()
    details: Mapping[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class ServiceDeps:
    """What the routes need, injected by the composition root (tests pass fakes)."""

    # the keys to sync, and those of them hinted deleted (`SyncEngine.sync_keys`'s `gone`)
    sink: Callable[[Sequence[RecordKey], Collection[RecordKey], Collection[RecordKey]], None]
    verify_hubspot: Verifier | None = None
    verify_salesforce: Verifier | None = None
    screen_hubspot: Screen | None = None
    ready: Callable[[], Readiness] = field(default=lambda: Readiness())
    metrics: BatonMetrics | None = None
    dashboard: Callable[[], str] | None = None
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # counts failed verifications per sender and makes one that keeps failing wait (429)
    guard: VerificationGuard | None = None


def _keys(receipt: WebhookReceipt) -> tuple[list[RecordKey], set[RecordKey], set[RecordKey]]:
    """Every record the hints name (a merge names the survivor as well), those hinted
    deleted, and of those the ones deleted for good (a GDPR deletion), which are in no
    recycle bin a poll reads: this hint is the only word of them."""
    keys: list[RecordKey] = []
    gone: set[RecordKey] = set()
    purged: set[RecordKey] = set()
    for hint in receipt.hints:
        keys.append(hint.key)
        if hint.kind in (ChangeKind.DELETED, ChangeKind.PURGED):
            gone.add(hint.key)
        if hint.kind is ChangeKind.PURGED:
            purged.add(hint.key)
        if hint.merged_into:
            keys.append(RecordKey(hint.key.system, hint.key.object, hint.merged_into))
    return list(dict.fromkeys(keys)), gone, purged


class _BodyTooLarge(Exception):
    """A webhook body past `MAX_BODY_BYTES`: answered 413."""


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused (`_BodyTooLarge`) past `limit` bytes: by its Content-Length before a
    byte is read, else as soon as the bytes streamed in pass it."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise _BodyTooLarge(f"Content-Length {int(declared)}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _BodyTooLarge(f"more than {limit} bytes streamed")
    return bytes(body)


def _signed_url(request: Request) -> str:
    """The URL as the sender wrote it. Starlette's `request.url` carries the percent-decoded
    path, but HubSpot signs the raw target URL (decoding only a few escapes itself, see
    `connectors.hubspot.webhooks.signing_uri`): the raw path (`raw_path`, ASGI) is put back.
    The query string is already raw."""
    raw_path = request.scope.get("raw_path")
    if not raw_path:
        return str(request.url)
    return str(request.url.replace(path=raw_path.decode("latin-1")))


def _refused(system: str, exc: Exception) -> Response:
    """The answer to a webhook refused before its hints were read: 401 rejected (signature,
    timestamp, organization, token), 413 over the size cap, 503 when the receiver lacks a
    setting, else 400 (a body that cannot be read, named in the answer, or a verifier's
    crash); never a 500, since the sender would retry a body Baton cannot read."""
    reason = {"system": system, "reason": str(exc)}
    if isinstance(exc, WebhookRejected):
        log.warning("webhook rejected", extra={"kv": reason})
        return Response("rejected\n", status_code=401)
    if isinstance(exc, WebhookMalformed):
        log.warning("webhook malformed", extra={"kv": reason})
        # Named to the sender: only a verified one gets this far, and the reason holds none
        # of the body's values.
        return Response(f"bad request: {exc.message}\n", status_code=400)
    if isinstance(exc, _BodyTooLarge):
        log.warning("webhook too large", extra={"kv": reason})
        return Response("body too large\n", status_code=413)
    if isinstance(exc, ConfigError):
        log.error("webhook unverifiable", extra={"kv": reason})
        return Response("receiver not configured\n", status_code=503)
    log.warning("webhook unreadable", extra={"kv": {"system": system, "reason": repr(exc)}})
    return Response("bad request\n", status_code=400)


async def _receive(
    request: Request,
    verify: Verifier | None,
    deps: ServiceDeps,
    system: str,
    screen: Screen | None = None,
) -> Response:
    """The answer to a delivery, counted by system and status code; a failed verification
    (401) is counted against its sender too, which past the guard's limit is answered 429."""
    key = sender(request.client.host if request.client else None)
    wait = deps.guard.retry_after(key) if deps.guard is not None and verify else None
    if wait is not None:
        response = Response(
            "too many deliveries from this address failed verification; try again later\n",
            status_code=429,
            headers={"Retry-After": str(wait)},
        )
    else:
        response = await _answer(request, verify, deps, system, screen)
    if response.status_code == 401:
        if deps.metrics is not None:
            deps.metrics.webhook_verification_failures.labels(system).inc()
        if deps.guard is not None and deps.guard.failed(key):
            kv = {"system": system, "sender": key, "seconds": deps.guard.block_s}
            log.warning("webhook sender blocked", extra={"kv": kv})
    if deps.metrics is not None:
        deps.metrics.webhooks.labels(system, str(response.status_code)).inc()
    return response


async def _answer(
    request: Request,
    verify: Verifier | None,
    deps: ServiceDeps,
    system: str,
    screen: Screen | None,
) -> Response:
    if verify is None:
        return Response(f"{system} webhooks are not configured\n", status_code=404)
    try:
        if screen is not None:
            screen(request.headers)  # before the body is read
        webhook = WebhookRequest(
            method=request.method,
            url=_signed_url(request),
            headers=dict(request.headers),
            body=await _read_body(request, MAX_BODY_BYTES),
            received_at=deps.now(),
        )
        # Off the event loop: a 2 MiB XML body takes a good part of a second to parse, and
        # health checks and other deliveries would wait behind it.
        receipt = await run_in_threadpool(verify, webhook)
    except Exception as exc:
        return _refused(system, exc)
    if receipt.skipped and deps.metrics is not None:
        deps.metrics.webhook_events_skipped.labels(system).inc(receipt.skipped)
    keys, gone, purged = _keys(receipt)
    if keys:
        try:
            # off the event loop: keeping a purge may wait on the store's write lock
            await run_in_threadpool(deps.sink, keys, gone, purged)
        except Exception as exc:  # not kept: the sender retries what is not answered 2xx
            log.error("webhook not kept", extra={"kv": {"system": system, "reason": repr(exc)}})
            return Response("not kept, try again\n", status_code=503)
    log.info("webhook", extra={"kv": {"system": system, "keys": len(keys)}})
    return Response(
        receipt.response_body, status_code=receipt.status_code, media_type=receipt.media_type
    )


def create_app(deps: ServiceDeps) -> FastAPI:
    """The service's app; one per process, built by the daemon (or a test)."""
    app = FastAPI(title="Baton", docs_url=None, redoc_url=None, openapi_url=None)

    # A target URL saved with a trailing slash is served, not redirected: HubSpot and
    # Salesforce follow no redirect, and the URL HubSpot signed is the one it called.
    @app.post("/webhooks/hubspot")
    @app.post("/webhooks/hubspot/")
    async def hubspot_webhook(request: Request) -> Response:
        return await _receive(
            request, deps.verify_hubspot, deps, "hubspot", screen=deps.screen_hubspot
        )

    @app.post("/webhooks/salesforce")
    @app.post("/webhooks/salesforce/")
    async def salesforce_webhook(request: Request) -> Response:
        return await _receive(request, deps.verify_salesforce, deps, "salesforce")

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        readiness = deps.ready()
        body = {"ready": readiness.ok, "problems": list(readiness.problems), **readiness.details}
        return JSONResponse(body, status_code=200 if readiness.ok else 503)

    @app.get("/metrics")
    def metrics() -> Response:
        if deps.metrics is None:
            return Response("no metrics\n", status_code=404)
        return Response(deps.metrics.render(), media_type=CONTENT_TYPE)

    @app.get("/", response_class=HTMLResponse)
    def dashboard() -> HTMLResponse:
        if deps.dashboard is None:
            return HTMLResponse("<p>Baton is running.</p>")
        return HTMLResponse(deps.dashboard())

    return app
