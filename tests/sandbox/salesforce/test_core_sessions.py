"""Session lifetime on the sandbox clock (its own module: it ages every session it serves)."""

from __future__ import annotations

from typing import Any

import pytest
from simple_salesforce.exceptions import SalesforceExpiredSession


def test_session_survives_use_within_two_hours(served: Any) -> None:
    sf = served.client()
    for _ in range(3):
        served.box.clock.advance(3600)
        assert sf.query("SELECT Id FROM Lead LIMIT 1")["totalSize"] == 1


def test_session_lapses_after_two_idle_hours(served: Any) -> None:
    sf = served.client()
    sf.query("SELECT Id FROM Lead LIMIT 1")
    served.box.clock.advance(2 * 3600 + 5)
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Lead LIMIT 1")
