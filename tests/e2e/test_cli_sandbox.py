"""`baton sandbox` as a user runs it: a real process, real sockets, the vendors' own SDKs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from hubspot import HubSpot
from simple_salesforce import Salesforce

from tests.e2e.live import BATON


def read_env(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs if not key.startswith("#")}


def wait_for(url: str, *, verify: str | bool = True, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2, verify=verify)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {timeout} s")


@pytest.fixture
def running_sandbox(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    process = subprocess.Popen(
        [
            *BATON,
            "sandbox",
            "--dir",
            str(tmp_path),
            "--contacts",
            "300",
            "--leads",
            "150",
            "--hubspot-port",
            "0",
            "--salesforce-port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    env_file = tmp_path / "sandbox.env"
    deadline = time.monotonic() + 60
    while not env_file.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "sandbox.env never appeared"
        time.sleep(0.1)
    env = read_env(env_file)
    wait_for(env["BATON_HUBSPOT_BASE_URL"] + "/_sandbox/stats")
    wait_for(
        env["BATON_SALESFORCE_INSTANCE_URL"] + "/_sandbox/stats",
        verify=env["BATON_SALESFORCE_CA_FILE"],
    )
    try:
        yield process, env
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def test_sandbox_serves_both_apis_to_the_vendor_sdks(
    running_sandbox: tuple[subprocess.Popen[str], dict[str, str]], tmp_path: Path
) -> None:
    process, env = running_sandbox
    assert (tmp_path / "sandbox-ca.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert oct((tmp_path / "sandbox.env").stat().st_mode & 0o777) == "0o600"

    hubspot = HubSpot(
        access_token=env["BATON_HUBSPOT_ACCESS_TOKEN"], host=env["BATON_HUBSPOT_BASE_URL"]
    )
    page = hubspot.crm.contacts.basic_api.get_page(limit=100)
    assert len(page.results) == 100
    assert page.paging.next.after

    session = requests.Session()
    session.verify = env["BATON_SALESFORCE_CA_FILE"]
    session.trust_env = False
    token = session.post(
        env["BATON_SALESFORCE_LOGIN_URL"] + "/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": env["BATON_SALESFORCE_CLIENT_ID"],
            "client_secret": env["BATON_SALESFORCE_CLIENT_SECRET"],
        },
        timeout=10,
    ).json()
    salesforce = Salesforce(
        instance_url=token["instance_url"], session_id=token["access_token"], session=session
    )
    leads = salesforce.query("SELECT Id, Email FROM Lead")
    assert leads["totalSize"] >= 150

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0


def test_given_a_bad_flag_then_one_clear_line_and_exit_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [*BATON, "sandbox", "--dir", str(tmp_path), "--contacts", "-5"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "--contacts" in lines[0]
    assert "-5 is too small; give 0 or more" in lines[0]  # the fix, not just the complaint


def test_given_a_port_in_use_then_one_clear_line_names_it(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*BATON, "sandbox", "--dir", str(tmp_path), "--hubspot-port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "COLUMNS": "200"},
        )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"127.0.0.1:{port}" in lines[0]


def test_given_an_unwritable_dir_then_one_clear_line_names_dir() -> None:
    result = subprocess.run(
        [*BATON, "sandbox", "--dir", "/proc/baton-cannot-write-here"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "--dir" in lines[0]
    assert "/proc/baton-cannot-write-here" in lines[0]
