"""The one module that imports hubspot-api-client, and the one request path through it.

Every HubSpot call goes `HubSpotSdk.call` -> `Retrier.call` (spends the budget, retries on the
classifier's verdict) -> one SDK method invoked with `_preload_content=False`, so that:

- the raw urllib3 response is ours: its headers feed the `ApiBudget` (the SDK's models would
  drop them), and the JSON body is parsed once, as plain dicts, without the SDK's per-field
  model and dateutil work;
- the SDK's own retries are off (`Retry(total=0)`), so attempts never multiply with ours;
- an `ApiException` (each SDK package has its own class) becomes the shared classification
  (`connectors.http.classify`) before anything decides to retry.

The SDK builds a new `ApiClient` (and connection pool) on every `crm.contacts.basic_api`
attribute access, so the API objects are built once here and reused: keep-alive matters at 190
calls per 10 seconds.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from hubspot import HubSpot
from urllib3.util.retry import Retry

from connectors.errors import ConnectorError
from connectors.http.budget import DEFAULT_KIND, SEARCH_KIND, ApiBudget
from connectors.http.classify import classify_response
from connectors.http.clock import VendorClock
from connectors.http.headers import lower_headers
from connectors.http.retry import Retrier
from connectors.records import System

__all__ = ["DEFAULT_KIND", "SEARCH_KIND", "HubSpotSdk", "Reply", "build_client"]

# SDK packages whose APIs the connector calls; each defines its own ApiException.
_PACKAGES = ("contacts", "companies", "deals", "objects", "properties")


@dataclass(frozen=True, slots=True)
class Reply:
    """One successful response: status, lower-cased headers, parsed JSON body (None if empty)."""

    status: int
    headers: Mapping[str, str]
    body: Any


def _api_exception_types() -> tuple[type[Exception], ...]:
    found: list[type[Exception]] = []
    for package in _PACKAGES:
        module = importlib.import_module(f"hubspot.crm.{package}.exceptions")
        found.append(module.ApiException)
    return tuple(found)


def build_client(*, base_url: str, access_token: str) -> Any:
    """A `HubSpot` client aimed at `base_url` with the SDK's retries switched off."""
    no_retries = Retry(total=0, redirect=0, raise_on_status=False)
    return HubSpot(access_token=access_token, host=base_url.rstrip("/"), retry=no_retries)


class HubSpotSdk:
    """Typed access to the handful of SDK operations the connector uses.

    Args:
        base_url: the API root (a setting; the sandbox stands in for api.hubapi.com).
        token: returns the access token to send; called before every attempt so a refreshed
            OAuth token is picked up without rebuilding the SDK.
        retrier: the one retry layer (owns the budget and the refresh callback).
        budget: corrected from every response's rate-limit headers.
        timeout_s: per-request timeout handed to urllib3.
        clock: learns the portal's clock from every response's `Date`.
    """

    def __init__(
        self,
        *,
        base_url: str,
        token: Callable[[], str],
        retrier: Retrier,
        budget: ApiBudget | None = None,
        timeout_s: float = 30.0,
        clock: VendorClock | None = None,
    ) -> None:
        self._token = token
        self._retrier = retrier
        self._budget = budget
        self._clock = clock
        self._timeout = timeout_s
        # The token is set per attempt (see `_once`), so none is fetched at construction.
        self._client = build_client(base_url=base_url, access_token="")
        self._apis: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._errors = _api_exception_types()

    def _api(self, path: str) -> Any:
        """`"contacts.batch_api"` -> the cached `client.crm.contacts.batch_api` object."""
        with self._lock:
            api = self._apis.get(path)
            if api is None:
                api = self._client.crm
                for step in path.split("."):
                    api = getattr(api, step)
                self._apis[path] = api
            return api

    def call(
        self,
        path: str,
        method: str,
        *args: Any,
        operation: str,
        kind: str = DEFAULT_KIND,
        idempotent: bool = True,
        **kwargs: Any,
    ) -> Reply:
        """Invoke `crm.<path>.<method>(*args, **kwargs)` under the retry layer.

        Raises:
            ConnectorError: the classified failure once retrying is over.
        """

        def once() -> Reply:
            return self._once(path, method, args, kwargs, operation)

        return self._retrier.call(once, operation=operation, kind=kind, idempotent=idempotent)

    def _once(
        self,
        path: str,
        method: str,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        operation: str,
    ) -> Reply:
        api = self._api(path)
        api.api_client.configuration.access_token = self._token()
        try:
            raw = getattr(api, method)(
                *args, _preload_content=False, _request_timeout=self._timeout, **kwargs
            )
        except self._errors as exc:
            # Chained on purpose: the writer reads the vendor's per-property details from it.
            raise self._classify(exc, operation) from exc
        try:
            data: bytes = raw.data
            headers = lower_headers(raw.headers)
        finally:
            raw.release_conn()
        if self._budget is not None:
            self._budget.observe_headers(headers)
        if self._clock is not None:
            self._clock.observe_headers(headers)
        body = orjson.loads(data) if data else None
        return Reply(status=int(raw.status), headers=headers, body=body)

    def _classify(self, exc: Exception, operation: str) -> ConnectorError:
        status = int(getattr(exc, "status", 0) or 0)
        headers = getattr(exc, "headers", None)
        if headers is not None:
            if self._budget is not None:
                self._budget.observe_headers(lower_headers(headers))
            if self._clock is not None:
                self._clock.observe_headers(headers)
        body = getattr(exc, "body", None)
        if status == 0:
            # The SDK reports TLS failures and unparsable payloads as status 0.
            body = body or str(getattr(exc, "reason", "") or exc)
        return classify_response(
            system=System.HUBSPOT,
            status=status,
            headers=headers,
            body=body,
            operation=operation,
        )
