"""`baton demo` as `make demo` runs it: the sandbox, the simulated teams, and an honest summary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# This checkout's baton, whichever one the virtual environment installed.
ENV = {"COLUMNS": "200", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).parents[2])}


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
        env=ENV,
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
    # Its closing hints can be typed as printed (`make demo` activates no venv).
    assert f"status --env-file {tmp_path / 'sandbox.env'}" in result.stdout
    # Its hints name the env file; with it, the read commands see the demo's store, from
    # anywhere (not the default .baton/baton.db of the working directory).
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def baton(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "baton", *args, "--env-file", str(tmp_path / "sandbox.env")],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=elsewhere,
            env=ENV,
        )

    status = baton("status", "--json")
    assert status.returncode == 0, status.stderr
    assert "backfill" in [run["kind"] for run in json.loads(status.stdout)["runs"]]
    listed = baton("errors", "list")
    assert listed.returncode == 0, listed.stderr
    assert not (elsewhere / ".baton").exists()
