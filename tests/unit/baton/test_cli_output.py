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
