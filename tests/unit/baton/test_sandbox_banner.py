"""`baton sandbox`'s banner: the command that loads its settings is copied whole from any
terminal."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

from rich.console import Console

from baton.cli.sandbox import announce


def test_the_load_command_is_one_line_outside_the_panel_at_60_columns(tmp_path: Path) -> None:
    folder = tmp_path / "a rather long folder name for the sandbox" / ".baton" / "sandbox"
    env_file = folder / "sandbox.env"
    box = SimpleNamespace(
        hubspot_url="http://127.0.0.1:8911",
        salesforce_url="https://127.0.0.1:8912",
        tls=SimpleNamespace(ca_cert=folder / "sandbox-ca.pem"),
        config=SimpleNamespace(rate_limits=True, simulate=False),
    )
    out = Console(file=io.StringIO(), width=60, force_terminal=False)

    announce(box, env_file, out)  # type: ignore[arg-type]

    lines = out.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert f'set -a; . "{env_file}"; set +a' in lines
