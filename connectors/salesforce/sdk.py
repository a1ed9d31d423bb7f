"""The one module that imports simple-salesforce, and the one request path through it.

Every call goes `SalesforceSdk.<method>` -> `Retrier.call` (spends the budget, retries on the
classifier's verdict) -> one simple-salesforce call on a `requests.Session` that is ours:

- `verify` is the CA-file setting and `trust_env` is off, because `REQUESTS_CA_BUNDLE` would
  otherwise override `verify` (salesforce-api.md §1.6);
- a response hook feeds every response's `Sforce-Limit-Info` to the `ApiBudget`, including
  the Bulk 2.0 calls that simple-salesforce makes outside its `api_usage` bookkeeping;
- an adapter gives every request the timeout setting and no urllib3 retries, so attempts never
  multiply with ours;
- simple-salesforce is built from a session id, so its own re-login loop is off; an expired
  session surfaces as `SalesforceExpiredSession`, the classifier calls it `SessionExpired`, and
  the retrier calls `refresh`, which grants a new token and rebuilds the client.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import requests
from requests.adapters import HTTPAdapter
from simple_salesforce.api import Salesforce
from simple_salesforce.bulk2 import Operation, _Bulk2Client
from simple_salesforce.exceptions import (
    SalesforceBulkV2LoadError,
    SalesforceMalformedRequest,
    SalesforceOperationError,
)

from connectors.errors import ConnectorError, PermanentError
from connectors.http.budget import ApiBudget
from connectors.http.clock import VendorClock
from connectors.http.redaction import register_secrets
from connectors.http.retry import Retrier, RetryPolicy
from connectors.records import System
from connectors.salesforce.auth import Token

log = logging.getLogger(__name__)

T = TypeVar("T")

QUERY_KIND = "query"
WRITE_KIND = "write"
BULK_KIND = "bulk"

JOB_COMPLETE = "JobComplete"
# A Bulk 2.0 job that ended without completing: the code its error carries, by final state.
JOB_ENDED_CODES = {"Failed": "BULK_JOB_FAILED", "Aborted": "BULK_JOB_ABORTED"}


class _TimeoutAdapter(HTTPAdapter):
    """Applies a default timeout; urllib3 retries stay at the adapter default of none."""

    def __init__(self, timeout: tuple[float, float]) -> None:
        super().__init__(max_retries=0)
        self._timeout = timeout

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        return super().send(
            request,
            stream=stream,
            timeout=self._timeout if timeout is None else timeout,
            verify=verify,
            cert=cert,
            proxies=proxies,
        )


def build_session(
    *,
    ca_file: str | None,
    timeout: tuple[float, float],
    budget: ApiBudget | None,
    proxy_url: str | None = None,
    clock: VendorClock | None = None,
) -> requests.Session:
    """The `requests.Session` every simple-salesforce call (REST and Bulk 2.0) goes through.

    Proxies come only from `proxy_url`: with `trust_env` off, requests reads no proxy (and no
    CA bundle) from the environment, so what is configured is what is used.
    """
    session = requests.Session()
    session.trust_env = False
    session.verify = ca_file if ca_file is not None else True
    if proxy_url:
        session.proxies = {"https": proxy_url, "http": proxy_url}
    adapter = _TimeoutAdapter(timeout)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    if budget is not None:

        def observe(response: requests.Response, *args: Any, **kwargs: Any) -> None:
            budget.observe_headers(response.headers)

        session.hooks["response"].append(observe)
    if clock is not None:

        def observe_date(response: requests.Response, *args: Any, **kwargs: Any) -> None:
            clock.observe_headers(response.headers)

        session.hooks["response"].append(observe_date)
    return session


@dataclass(frozen=True, slots=True)
class BulkQueryPage:
    """One page of Bulk 2.0 query results: raw CSV text with its own header row."""

    csv: str
    records: int
    job_id: str = ""
    following: str | None = None  # the locator of the next page; None after the last


@dataclass(frozen=True, slots=True)
class IngestResult:
    """The outcome files of one Bulk 2.0 ingest job (CSV text).

    A job that ended Failed or Aborted has them too: the rows it wrote stay written and the
    rest are its unprocessed records. `ended` then says why, as (code, the vendor's text),
    for the rows it never processed."""

    job_id: str
    processed: int
    failed: int
    successful_csv: str
    failed_csv: str
    unprocessed_csv: str
    ended: tuple[str, str] | None = None  # None: JobComplete


def job_ended(job_id: str, info: Mapping[str, Any]) -> tuple[str, str]:
    """(code, message) for a job whose final state is Failed or Aborted: the state's code and
    the job's `errorMessage` (an aborted job usually has none)."""
    state = str(info.get("state"))
    message = info.get("errorMessage") or f"Bulk API 2.0 job {job_id} was {state.lower()}"
    return JOB_ENDED_CODES.get(state, "BULK_JOB_FAILED"), str(message)


class SalesforceSdk:
    """Typed access to the simple-salesforce calls the connector uses.

    Args:
        tokens: grants a fresh `Token` (called at start and after an expired session).
        api_version: REST API version (`59.0`).
        ca_file: PEM bundle for TLS verification (None: the system store).
        timeout: (connect, read) seconds for every request.
        budget: spent before each call, corrected from `Sforce-Limit-Info`.
        policy: retry limits.
        sleep: injectable for tests (retry waits).
        bulk_poll_s: first wait when polling a Bulk 2.0 job.
        proxy_url: HTTPS proxy for every REST and Bulk call (None: direct).
        clock: learns the org's clock from every response's `Date`.
    """

    def __init__(
        self,
        *,
        tokens: Callable[[], Token],
        api_version: str,
        ca_file: str | None,
        timeout: tuple[float, float],
        budget: ApiBudget | None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
        bulk_poll_s: float = 1.0,
        proxy_url: str | None = None,
        clock: VendorClock | None = None,
    ) -> None:
        self._tokens = tokens
        self._version = api_version
        self._bulk_poll_s = bulk_poll_s
        self._lock = threading.Lock()
        self.budget = budget
        self.session = build_session(
            ca_file=ca_file, timeout=timeout, budget=budget, proxy_url=proxy_url, clock=clock
        )
        retry_kwargs: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
        self.retrier = Retrier(
            system=System.SALESFORCE,
            policy=policy,
            budget=budget,
            on_session_expired=self.refresh,
            proxy=proxy_url,
            **retry_kwargs,
        )
        self._sf: Salesforce | None = None

    # session

    def refresh(self) -> None:
        """Grant a new token and rebuild the client around it (the session is kept)."""
        token = self._tokens()
        register_secrets(token.access_token)
        client = Salesforce(
            instance_url=token.instance_url,
            session_id=token.access_token,
            session=self.session,
            version=self._version,
        )
        with self._lock:
            self._sf = client

    @property
    def sf(self) -> Salesforce:
        with self._lock:
            client = self._sf
        if client is None:
            self.refresh()
            return self.sf
        return client

    def call(
        self,
        fn: Callable[[Salesforce], T],
        *,
        operation: str,
        kind: str = QUERY_KIND,
        idempotent: bool = True,
    ) -> T:
        """Run `fn(client)` under the retry layer (the client is re-read on every attempt)."""
        return self.retrier.call(
            lambda: fn(self.sf), operation=operation, kind=kind, idempotent=idempotent
        )

    # REST

    def query(self, soql: str, *, include_deleted: bool, operation: str) -> dict[str, Any]:
        """The first page of `query` (or `queryAll` with `include_deleted`)."""
        result: dict[str, Any] = self.call(
            lambda sf: sf.query(soql, include_deleted=include_deleted), operation=operation
        )
        return result

    def query_path(self, *, include_deleted: bool) -> str:
        """The request target `query` sends before the encoded SOQL (simple-salesforce's URL)."""
        return f"/services/data/v{self._version}/{'queryAll' if include_deleted else 'query'}/?q="

    def query_more(self, next_records_url: str, *, operation: str) -> dict[str, Any]:
        """The page at a `nextRecordsUrl` (a server path, used verbatim)."""
        result: dict[str, Any] = self.call(
            lambda sf: sf.query_more(next_records_url, identifier_is_url=True),
            operation=operation,
        )
        return result

    def restful(
        self,
        path: str,
        *,
        method: str = "GET",
        params: dict[str, Any] | None = None,
        json: Any = None,
        operation: str,
        kind: str = QUERY_KIND,
        idempotent: bool = True,
    ) -> Any:
        """`sf.restful(path)` relative to `/services/data/vNN.N/`; None for an empty reply."""
        extra: dict[str, Any] = {} if json is None else {"json": json}
        return self.call(
            lambda sf: sf.restful(path, params=params, method=method, **extra),
            operation=operation,
            kind=kind,
            idempotent=idempotent,
        )

    # Bulk API 2.0

    def _bulk(self, sobject: str) -> _Bulk2Client:
        # The job-level client rather than `sf.bulk2.<Object>`: its steps (create, poll, fetch
        # a page) are separate calls here, so each is retried on its own, and a refreshed
        # token is picked up (sf.bulk2 captures the token when first accessed, §1.4).
        sf = self.sf
        headers = {
            "Content-Type": "application/json",
            "Authorization": "Bearer " + sf.session_id,
            "X-PrettyPrint": "1",
        }
        return _Bulk2Client(sobject, sf.bulk2_url, headers, self.session)

    def _wait(self, sobject: str, job_id: str, *, is_query: bool, operation: str) -> bool:
        """Poll until the job ends: True when it completed, False when it ended otherwise."""

        def wait() -> bool:
            try:
                self._bulk(sobject).wait_for_job(job_id, is_query, self._bulk_poll_s)
            except SalesforceOperationError:  # Failed or Aborted (or the SDK's day-long wait)
                return False
            return True

        done: bool = self.retrier.call(wait, operation=operation, kind=BULK_KIND)
        return done

    def _final(self, sobject: str, job_id: str, *, is_query: bool, operation: str) -> Any:
        """The job's info once it ended; one that has not ended after the wait is an error."""
        info = self.retrier.call(
            lambda: self._bulk(sobject).get_job(job_id, is_query),
            operation=operation,
            kind=BULK_KIND,
        )
        state = info.get("state")
        if state != JOB_COMPLETE and state not in JOB_ENDED_CODES:
            raise PermanentError(
                f"Bulk API 2.0 job {job_id} did not end (state {state})",
                system=System.SALESFORCE,
                operation=operation,
            )
        return info

    def bulk_query(
        self, sobject: str, soql: str, *, include_deleted: bool, page_size: int, operation: str
    ) -> Iterator[BulkQueryPage]:
        """Run a Bulk 2.0 query job and yield its result pages (following `Sforce-Locator`)."""
        op = Operation.query_all if include_deleted else Operation.query
        job = self.retrier.call(
            lambda: self._bulk(sobject).create_job(op, soql),
            operation=operation,
            kind=BULK_KIND,
        )
        job_id = str(job["id"])
        if not self._wait(sobject, job_id, is_query=True, operation=operation):
            info = self._final(sobject, job_id, is_query=True, operation=operation)
            code, message = job_ended(job_id, info)
            raise PermanentError(
                f"Bulk API 2.0 job {job_id} did not complete",
                system=System.SALESFORCE,
                operation=operation,
                vendor_code=code,
                vendor_message=message,
            )
        yield from self.bulk_results(sobject, job_id, "", page_size=page_size, operation=operation)

    def bulk_results(
        self, sobject: str, job_id: str, locator: str, *, page_size: int, operation: str
    ) -> Iterator[BulkQueryPage]:
        """The result pages of a completed query job from `locator` on ("" for the first).
        A locator stays good as long as its job exists, so a listing can continue later."""
        seen: set[str] = set()
        while True:
            page = self.retrier.call(
                partial(self._results_page, sobject, job_id, locator, page_size),
                operation=operation,
                kind=BULK_KIND,
            )
            following = str(page["locator"] or "") or None
            yield BulkQueryPage(
                csv=page["records"],
                records=int(page["number_of_records"]),
                job_id=job_id,
                following=following,
            )
            if following is None:
                return
            if following in seen:
                raise PermanentError(
                    f"Bulk API 2.0 returned the locator {following!r} twice; stopping",
                    system=System.SALESFORCE,
                    operation=operation,
                )
            seen.add(following)
            locator = following

    def _results_page(self, sobject: str, job_id: str, locator: str, size: int) -> Any:
        return self._bulk(sobject).get_query_results(job_id, locator, size)

    def bulk_ingest(
        self,
        sobject: str,
        csv_text: str,
        *,
        operation_name: str,
        external_id: str | None,
        operation: str,
    ) -> IngestResult:
        """Run one Bulk 2.0 ingest job (`upsert`, `insert`, `update`) and fetch its results,
        also when it ended Failed or Aborted (Salesforce keeps the rows it processed)."""
        op = Operation(operation_name)
        job = self.retrier.call(
            lambda: self._bulk(sobject).create_job(op, external_id_field=external_id),
            operation=operation,
            kind=BULK_KIND,
            idempotent=False,
        )
        job_id = str(job["id"])
        attempts = 0

        def upload() -> None:
            nonlocal attempts
            attempts += 1
            try:
                self._bulk(sobject).upload_job_data(job_id, csv_text)
            except SalesforceMalformedRequest as exc:
                if attempts > 1 and _holds_data(exc):
                    return  # an earlier attempt landed; only its answer was lost
                raise
            except SalesforceBulkV2LoadError as exc:
                # Raised for a refused upload (not 201) or data over 100 MB: not transient.
                raise PermanentError(
                    f"Bulk API 2.0 refused the data for job {job_id}",
                    system=System.SALESFORCE,
                    operation=operation,
                    vendor_message=str(exc),
                ) from None

        try:
            self.retrier.call(upload, operation=operation, kind=BULK_KIND)
            self.retrier.call(
                lambda: self._bulk(sobject).close_job(job_id), operation=operation, kind=BULK_KIND
            )
        except ConnectorError:
            self._abort_open(sobject, job_id, operation=operation)
            raise
        self._wait(sobject, job_id, is_query=False, operation=operation)
        info = self._final(sobject, job_id, is_query=False, operation=operation)

        def results(kind: str) -> str:
            text: str = self.retrier.call(
                lambda: self._bulk(sobject).get_ingest_results(job_id, kind),
                operation=operation,
                kind=BULK_KIND,
            )
            return text

        return IngestResult(
            job_id=job_id,
            processed=int(info.get("numberRecordsProcessed") or 0),
            failed=int(info.get("numberRecordsFailed") or 0),
            successful_csv=results("successfulResults"),
            failed_csv=results("failedResults"),
            unprocessed_csv=results("unprocessedrecords"),
            ended=None if info.get("state") == JOB_COMPLETE else job_ended(job_id, info),
        )

    def _abort_open(self, sobject: str, job_id: str, *, operation: str) -> None:
        """Abort an ingest job whose data never went through: left Open, it would sit in the
        org's job list until Salesforce times it out. Best effort (the write's own failure is
        what the caller hears): a failed abort is logged."""
        try:
            self.retrier.call(
                lambda: self._bulk(sobject).abort_job(job_id, is_query=False),
                operation=operation,
                kind=BULK_KIND,
                idempotent=False,
            )
        except ConnectorError as exc:
            log.warning(
                "bulk job left open",
                extra={"kv": {"job": job_id, "error": f"{type(exc).__name__}: {exc}"}},
            )


def _holds_data(exc: SalesforceMalformedRequest) -> bool:
    """Whether an upload was refused because its job already holds data: a job takes one
    upload ("Found multipe contents for job", BULK_API_ERROR), so a retried upload whose
    first answer was lost (a 5xx, a read timeout) meets this once the first one landed."""
    content: list[object] = exc.content if isinstance(exc.content, list) else []
    return any(
        isinstance(e, dict)
        and e.get("errorCode") == "BULK_API_ERROR"
        and "contents for job" in str(e.get("message", ""))
        for e in content
    )
