"""`baton demo` as `make demo` runs it: the sandbox, the simulated teams, and an honest summary."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_demo_runs_for_a_while_and_reports_what_the_teams_did(tmp_path: Path) -> None:
    # An earlier demo's store describes a sandbox that is gone: the demo starts a new one.
    (tmp_path / "baton.db").write_text("an earlier demo's store")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "baton",
            "demo",
            "--dir",
            str(tmp_path),
            "--duration",
            "4",
            "--pace",
            "50",
            "--hubspot-port",
            "0",
            "--salesforce-port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert "What the simulated teams did" in result.stdout
    # Both teams acted: marketing in HubSpot, sales in Salesforce.
    assert "score contact" in result.stdout
    assert any(
        action in result.stdout
        for action in ("accept lead", "work lead", "reject lead", "convert lead")
    ), result.stdout
    assert (tmp_path / "sandbox.env").exists()
