"""The budget against the HubSpot imitation's own rate limits, over a real socket.

The budget's clock and sleep are the sandbox clock, so pacing costs no real time: when the
budget waits, the sandbox's rolling windows see the same time pass. The claim under test is the
budget's reason to exist: spent before every call, it keeps a fast reader from ever earning a 429.
"""

from __future__ import annotations

import socket
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from connectors.http.budget import ApiBudget, hubspot_spec
from connectors.http.client import build_client, raise_for_status
from connectors.http.retry import Retrier
from connectors.records import System
from sandbox.hubspot import HubSpotOptions, HubSpotSandbox
from sandbox.shared.clock import Clock
from sandbox.shared.server import Listener, serve_in_thread


def test_paced_calls_never_hit_the_imitations_limits(tmp_path: Path) -> None:
    clock = Clock()
    options = HubSpotOptions(rate_limits=True, db_path=tmp_path / "hubspot.sqlite3")
    hubspot = HubSpotSandbox(options, clock=clock)
    hubspot.seed(contacts=5, seed=1)
    budget = ApiBudget(hubspot_spec(), clock=clock.now, sleep=clock.advance)
    retrier = Retrier(system=System.HUBSPOT, budget=budget, sleep=clock.advance)
    statuses: Counter[int] = Counter()

    def count(response: httpx.Response) -> None:
        statuses[response.status_code] += 1

    listener = Listener(hubspot.app)
    listener.bind()
    assert listener.sock is not None
    # Until sandbox/shared/server.py sets it: without TCP_NODELAY every keep-alive request
    # waits ~40 ms on delayed ACKs.
    listener.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    with serve_in_thread([listener]):
        client = build_client(
            base_url=listener.url,
            budget=budget,
            headers={"Authorization": f"Bearer {options.access_token}"},
        )
        client.event_hooks["response"].append(count)
        with client:

            def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
                response = client.request(method, path, **kwargs)
                raise_for_status(response, system=System.HUBSPOT, operation=path)
                return response

            start = clock.now()
            for _ in range(400):
                retrier.call(
                    lambda: call("GET", "/crm/v3/objects/contacts", params={"limit": 1}),
                    operation="contacts.list",
                )
            listed_in = clock.now() - start
            for _ in range(25):
                retrier.call(
                    lambda: call("POST", "/crm/v3/objects/contacts/search", json={}),
                    operation="contacts.search",
                    kind="search",
                )
            paced = dict(statuses)

            # Control: the same reader without the budget earns 429s at once.
            clock.advance(11)
            unpaced = [client.get("/crm/v3/objects/contacts").status_code for _ in range(200)]

    assert paced == {200: 425}
    assert unpaced.count(429) == 200 - 190
    # 400 calls at 90 % of 190 per 10 s, after the ~16-call burst: about 22 s of sandbox time.
    assert 0.95 * (400 - 19) / 17.1 <= listed_in <= (400 - 19) / 17.1 + 5
    snapshot = budget.snapshot()
    assert snapshot.spent == {"default": 400, "search": 25}
    assert snapshot.daily_limit == options.daily_limit
