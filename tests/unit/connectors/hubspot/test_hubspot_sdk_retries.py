"""The SDK's own retries are off: a failing connection is attempted once per policy attempt."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from connectors.errors import TransientError
from connectors.http.budget import ApiBudget, hubspot_spec
from connectors.http.retry import RetryPolicy
from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.settings import HubSpotSettings


class SlammingServer:
    """Accepts each connection and closes it at once, counting the attempts."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.accepted = 0
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            conn.recv(65536)
            conn.close()

    def stop(self) -> None:
        self.running = False
        self.thread.join()
        self.sock.close()


@pytest.fixture
def slamming() -> Iterator[SlammingServer]:
    server = SlammingServer()
    yield server
    server.stop()


@pytest.mark.parametrize("attempts", [1, 3])
def test_given_dropped_connections_then_each_policy_attempt_is_one_connection(
    slamming: SlammingServer, attempts: int
) -> None:
    settings = HubSpotSettings(base_url=slamming.url, access_token="pat-na1-test-0000000000")
    budget = ApiBudget(hubspot_spec(), sleep=lambda _s: None)
    hubspot = HubSpotConnector(
        settings,
        budget=budget,
        policy=RetryPolicy(max_attempts=attempts),
        sleep=lambda _s: None,
    )
    with pytest.raises(TransientError) as err:
        list(hubspot.read_all("contacts"))
    assert "connection failed" in str(err.value)
    assert slamming.accepted == attempts
    assert budget.snapshot().spent == {"default": attempts}
