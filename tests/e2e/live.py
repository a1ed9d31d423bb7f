"""What every end-to-end test needs: the `baton` command, both imitations served from this
process, and the writes they counted."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from baton.cli.sandbox import write_env_file
from sandbox.runtime import Sandbox, SandboxConfig
from sandbox.shared.server import serve_in_thread

BATON = [sys.executable, "-m", "baton"]


@contextmanager
def served_sandbox(directory: Path, *, contacts: int, leads: int, seed: int) -> Iterator[Sandbox]:
    """Both imitations, seeded deterministically, on free ports, with `sandbox.env` written."""
    config = SandboxConfig(
        directory=directory,
        hubspot_port=0,
        salesforce_port=0,
        contacts=contacts,
        leads=leads,
        seed=seed,
        rate_limits=False,
    )
    box = Sandbox(config)
    box.bind()
    box.seed()
    write_env_file(box)
    with serve_in_thread(box.listeners, background=box.background()):
        yield box


def writes(box: Sandbox) -> int:
    """API writes both imitations counted (actor edits and seeding never count)."""
    return int(box.hubspot.stats.writes) + int(box.salesforce.stats.writes)
