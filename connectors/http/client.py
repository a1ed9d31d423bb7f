"""The httpx client for the calls Baton makes itself (OAuth token endpoints, not the SDKs).

One factory so every such client has the same explicit timeouts, CA file, user agent and a
response hook that feeds the system's `ApiBudget` from the vendor's limit headers (and its
`VendorClock` from `Date`). Failed
responses are turned into classified `ConnectorError`s by `raise_for_status` (the classifier's
verdict, not httpx's bare `HTTPStatusError`), so the retry layer can act on them.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from connectors._redact import redact
from connectors.errors import ConfigError
from connectors.http.budget import ApiBudget
from connectors.http.classify import classify_response
from connectors.http.clock import VendorClock
from connectors.records import System

USER_AGENT = "baton-sync/0.1 (+https://github.com/baton-sync/baton)"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)

log = logging.getLogger(__name__)


def build_client(
    *,
    base_url: str,
    ca_file: str | Path | None = None,
    timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
    user_agent: str = USER_AGENT,
    budget: ApiBudget | None = None,
    clock: VendorClock | None = None,
    headers: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
    trust_env: bool = True,
    proxy: str | None = None,
) -> httpx.Client:
    """An `httpx.Client` for one system's own endpoints.

    Args:
        base_url: the system's base URL (a setting, so the sandbox or a proxy can stand in).
        ca_file: PEM bundle to verify TLS with (the sandbox's CA, a corporate proxy's); None
            uses the system trust store.
        budget: corrected from every response's limit headers when given.
        clock: learns the vendor's clock from every response's `Date` when given.
        transport: injectable for tests.
        trust_env: honour proxy environment variables (corporate proxies need them).
        proxy: an explicit proxy URL; it wins over the environment.

    Raises:
        ConfigError: `ca_file` names a file that does not exist.
    """
    verify: ssl.SSLContext | bool = True
    if ca_file is not None:
        path = Path(ca_file)
        if not path.is_file():
            raise ConfigError(
                f"CA file {str(path)!r} does not exist",
                setting="ca_file",
                fix="point it at a PEM certificate bundle, or leave it empty for the system store",
            )
        verify = ssl.create_default_context(cafile=str(path))
    hooks: dict[str, list[Callable[..., Any]]] = {
        "request": [_log_request],
        "response": [_log_response],
    }
    if budget is not None:
        hooks["response"].append(lambda response: budget.observe_headers(response.headers))
    if clock is not None:
        hooks["response"].append(lambda response: clock.observe_headers(response.headers))
    return httpx.Client(
        base_url=base_url,
        verify=verify,
        timeout=timeout,
        headers={"User-Agent": user_agent, **(headers or {})},
        event_hooks=hooks,
        transport=transport,
        trust_env=trust_env,
        proxy=proxy,
    )


def _log_request(request: httpx.Request) -> None:
    log.debug("%s %s", request.method, redact(str(request.url)))


def _log_response(response: httpx.Response) -> None:
    request = response.request
    log.debug("%s %s -> %d", request.method, redact(str(request.url)), response.status_code)


def raise_for_status(response: httpx.Response, *, system: System | str, operation: str) -> None:
    """Raise the classified `ConnectorError` for a non-2xx response; return on success."""
    if response.is_success:
        return
    response.read()
    raise classify_response(
        system=system,
        status=response.status_code,
        headers=response.headers,
        body=response.content,
        operation=operation,
    )
