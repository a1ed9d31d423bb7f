"""The Bulk API 2.0 HTTP surface, relative to `/services/data/v{version}`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from sandbox.salesforce.bulk2.backend import Bulk2Backend
from sandbox.salesforce.bulk2.ingest import IngestJobs
from sandbox.salesforce.bulk2.jobs import JobIds
from sandbox.salesforce.bulk2.query import QueryJobs
from sandbox.salesforce.bulk2.wire import (
    DEFAULT_PAGE_RECORDS,
    INGEST_RESULTS,
    invalid_job,
    version_conflict,
)
from sandbox.salesforce.errors import SalesforceError, not_found
from sandbox.shared.clock import Clock


class _SalesforceRoute(APIRoute):
    """Renders SalesforceError as Salesforce's JSON error array, whatever the host app does."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                response: Response = await handler(request)
            except SalesforceError as exc:
                return exc.response()
            return response

        return answer


def _json(payload: Any) -> Response:
    return Response(orjson.dumps(payload), media_type="application/json")


def _listing(records: list[dict[str, Any]]) -> Response:
    return _json({"done": True, "records": records, "nextRecordsUrl": None})


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise SalesforceError(
            400, "JSON_PARSER_ERROR", "Unexpected character in JSON body"
        ) from None
    if not isinstance(body, dict):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "Expected a JSON object")
    return body


def _page_size(max_records: str | None) -> int:
    if max_records is None:
        return DEFAULT_PAGE_RECORDS
    if not max_records.isdigit() or int(max_records) < 1:
        raise SalesforceError(400, "INVALIDREQUEST", "maxRecords must be a positive integer")
    return int(max_records)


def bulk2_router(backend: Bulk2Backend, clock: Clock, *, api_version: str = "59.0") -> APIRouter:
    """Bulk API 2.0 routes; the core mounts them under `/services/data/v{version}`.

    Work that touches the backend or disk runs in the thread pool, so a large job never
    blocks the event loop.
    """
    ids = JobIds()
    queries = QueryJobs(backend, clock, ids)
    ingests = IngestJobs(backend, clock, ids)
    router = APIRouter(route_class=_SalesforceRoute)

    def version_of(request: Request) -> str:
        return str(request.path_params.get("version", api_version))

    # -- query jobs ---------------------------------------------------------------------------
    @router.post("/jobs/query")
    async def create_query_job(request: Request) -> Response:
        body = await _json_body(request)
        job = await run_in_threadpool(queries.create, body, version_of(request))
        return _json(job.created_info())

    @router.get("/jobs/query")
    def list_query_jobs() -> Response:
        return _listing([job.info() for job in queries.all()])

    @router.get("/jobs/query/{job_id}")
    def get_query_job(job_id: str) -> Response:
        job = queries.get(job_id)
        with job.lock:
            job.observe(clock)
            return _json(job.info())

    @router.patch("/jobs/query/{job_id}")
    async def abort_query_job(job_id: str, request: Request) -> Response:
        job = queries.get(job_id)
        if (await _json_body(request)).get("state") != "Aborted":
            raise invalid_job("InvalidJob : Query jobs can only be set to Aborted")
        queries.abort(job)
        return _json(job.info())

    @router.delete("/jobs/query/{job_id}")
    def delete_query_job(job_id: str) -> Response:
        queries.delete(queries.get(job_id))
        return Response(status_code=204)

    @router.get("/jobs/query/{job_id}/results")
    def query_job_results(
        job_id: str, request: Request, locator: str | None = None, maxRecords: str | None = None
    ) -> Response:
        job = queries.get(job_id)
        asked = version_of(request)
        if asked != job.api_version:
            raise version_conflict(job.id, job.api_version, asked)
        start = locator if locator not in (None, "", "null") else None
        page, count, next_locator = queries.page(job, start, _page_size(maxRecords))
        return Response(
            page.encode(),
            media_type="text/csv",
            headers={"Sforce-NumberOfRecords": str(count), "Sforce-Locator": next_locator},
        )

    # -- ingest jobs --------------------------------------------------------------------------
    @router.post("/jobs/ingest")
    async def create_ingest_job(request: Request) -> Response:
        body = await _json_body(request)
        job = await run_in_threadpool(ingests.create, body, version_of(request))
        return _json(job.info(full=False))

    @router.get("/jobs/ingest")
    def list_ingest_jobs() -> Response:
        return _listing([job.info(full=False) for job in ingests.all()])

    @router.get("/jobs/ingest/{job_id}")
    def get_ingest_job(job_id: str) -> Response:
        job = ingests.get(job_id)
        with job.lock:
            job.observe(clock)
            return _json(job.info(full=True))

    @router.put("/jobs/ingest/{job_id}/batches")
    async def upload_ingest_data(job_id: str, request: Request) -> Response:
        await ingests.upload(ingests.get(job_id), request.stream())
        return Response(status_code=201)

    @router.patch("/jobs/ingest/{job_id}")
    async def close_ingest_job(job_id: str, request: Request) -> Response:
        job = ingests.get(job_id)
        state = (await _json_body(request)).get("state")
        if state not in ("UploadComplete", "Aborted"):
            raise invalid_job(f"InvalidJob : Invalid state: {state}")
        await run_in_threadpool(ingests.close, job, state)
        info = job.info(full=False)
        info["state"] = state  # the answer reports the state asked for; polls show the rest
        return _json(info)

    @router.delete("/jobs/ingest/{job_id}")
    def delete_ingest_job(job_id: str) -> Response:
        ingests.delete(ingests.get(job_id))
        return Response(status_code=204)

    @router.get("/jobs/ingest/{job_id}/{kind}")
    def ingest_job_results(job_id: str, kind: str) -> Response:
        if kind.lower() not in INGEST_RESULTS:
            raise not_found()
        chunks = ingests.results(ingests.get(job_id), kind.lower())
        return StreamingResponse(chunks, media_type="text/csv")

    return router
