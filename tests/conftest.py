"""Suite-wide fixtures and policies."""

from __future__ import annotations

import os

import pytest


def require_service(reason: str) -> None:
    """Skip with a one-line reason on a machine without the service; in CI, fail instead.

    CI machines run PostgreSQL, so a skip there would hide a broken test, not a missing server.
    """
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run this test, not skip it)")
    pytest.skip(reason)
