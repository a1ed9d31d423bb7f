"""A small seeded sandbox per test, served from this process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.runtime import Sandbox
from tests.e2e.live import served_sandbox


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Sandbox]:
    with served_sandbox(tmp_path / "sandbox", contacts=60, leads=30, seed=42) as sandbox:
        yield sandbox
