"""CLI lines print what they say: a file position like `funnel.yaml:100:` is not an emoji code."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from baton.cli import app
from baton.cli.common import fail


def test_an_error_line_quoting_line_100_prints_it_as_written(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        fail("funnel.yaml:100: stages.opportunity: unknown key", 2)
    assert capsys.readouterr().err == "funnel.yaml:100: stages.opportunity: unknown key\n"


def test_a_dictionary_error_on_line_100_names_the_line(tmp_path: Path) -> None:
    shipped = Path(__file__).parents[3] / "mappings" / "funnel.yaml"
    lines = shipped.read_text(encoding="utf-8").splitlines()
    indent = len(lines[99]) - len(lines[99].lstrip())
    lines.insert(99, " " * indent + "bogus_key: 1")  # an unknown key, on line 100
    broken = tmp_path / "funnel.yaml"
    broken.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(
        app, ["mappings", "show"], env={"BATON_DICTIONARY_PATH": str(broken)}
    )
    assert result.exit_code == 2
    assert "funnel.yaml:100:" in result.output
    assert "\N{HUNDRED POINTS SYMBOL}" not in result.output


def test_the_cli_is_named_as_this_shell_can_type_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After `make demo` nothing is activated: `baton` is not on PATH, `.venv/bin/baton` is."""
    import sys

    from baton.cli.common import baton_command

    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "baton").write_text("#!/bin/sh\n")
    (bin_dir / "baton").chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(bin_dir / "python"))
    monkeypatch.chdir(tmp_path)

    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert baton_command() == ".venv/bin/baton"
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")  # an activated venv
    assert baton_command() == "baton"
    elsewhere = tmp_path.parent / f"{tmp_path.name}-elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # not under the checkout: the whole path
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert baton_command() == str(bin_dir / "baton")
