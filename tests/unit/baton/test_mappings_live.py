"""`baton mappings check` live: picklists read from both imitations through the connectors."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from baton.cli.sandbox import write_env_file
from sandbox.runtime import Sandbox, SandboxConfig
from sandbox.shared.server import serve_in_thread


@pytest.fixture
def env_file(tmp_path: Path) -> Iterator[Path]:
    config = SandboxConfig(
        directory=tmp_path / "sandbox", hubspot_port=0, salesforce_port=0, contacts=5, leads=5
    )
    box = Sandbox(config)
    box.bind()
    box.seed()
    path = write_env_file(box)
    with serve_in_thread(box.listeners, background=box.background()):
        yield path


def check(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "baton", "mappings", "check", *args],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "300"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_live_check_reads_both_systems_and_names_each_problem(
    env_file: Path, tmp_path: Path
) -> None:
    result = check(tmp_path, "--env-file", str(env_file))
    out = result.stdout
    # Both systems answered: Salesforce describe and HubSpot property options were compared.
    assert "ok salesforce.Lead.Status" in out, out + result.stderr
    assert "hubspot.contacts.lifecyclestage" in out
    # The imitation's portal carries values the default dictionary does not map.
    assert "unmapped hubspot.contacts.hs_lead_status: 'RECYCLED'" in out
    assert result.returncode == 1


def test_live_check_without_credentials_is_one_line_exit_2(tmp_path: Path) -> None:
    result = check(tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("baton: BATON_HUBSPOT_")
    assert len(result.stderr.strip().splitlines()) == 1


def test_live_check_names_a_mapped_field_the_system_does_not_have(
    env_file: Path, tmp_path: Path
) -> None:
    """Not only picklists: a misspelt plain field (`Titel`) would fail every read of the
    object at run time (`INVALID_FIELD`), so the check names it."""
    shipped = Path(__file__).parents[3] / "mappings" / "funnel.yaml"
    text = shipped.read_text(encoding="utf-8")
    assert "Lead: Title" in text
    edited = tmp_path / "funnel.yaml"
    edited.write_text(text.replace("Lead: Title", "Lead: Titel", 1), encoding="utf-8")
    result = check(tmp_path, "--env-file", str(env_file), "--file", str(edited))
    assert "salesforce.Lead.Titel" in result.stdout + result.stderr, result.stdout
    assert result.returncode == 1


def test_live_check_that_cannot_reach_a_system_exits_3_not_1(tmp_path: Path) -> None:
    """Drift (exit 1) and an outage are told apart: a script alerting on drift must not
    page the dictionary's owners because a system was down."""
    env = tmp_path / "unreachable.env"
    env.write_text(
        "BATON_HUBSPOT_ACCESS_TOKEN=pat-na1-test\n"
        "BATON_HUBSPOT_BASE_URL=http://127.0.0.1:9\n"
        "BATON_SALESFORCE_INSTANCE_URL=https://127.0.0.1:9\n"
        "BATON_SALESFORCE_LOGIN_URL=https://127.0.0.1:9\n"
        "BATON_SALESFORCE_AUTH=client_credentials\n"
        "BATON_SALESFORCE_CLIENT_ID=id\n"
        "BATON_SALESFORCE_CLIENT_SECRET=secret\n",
        encoding="utf-8",
    )
    result = check(tmp_path, "--env-file", str(env))
    assert result.returncode == 3, result.stdout + result.stderr
    assert "cannot read the systems' picklists" in result.stderr
