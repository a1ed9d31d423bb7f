"""`baton mappings show|check` look at the dictionary `baton run` would load: its
BATON_DICTIONARY_PATH from the environment, `--env-file` or `.env`, not only the first."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from baton.cli import app

SHIPPED = Path(__file__).parents[3] / "mappings" / "funnel.yaml"


@pytest.fixture
def custom(tmp_path: Path) -> Path:
    text = SHIPPED.read_text(encoding="utf-8")
    assert "Open - Not Contacted" in text
    path = tmp_path / "custom.yaml"
    path.write_text(text.replace("Open - Not Contacted", "Open - Not Yet Called"), "utf-8")
    return path


def _show(*args: str) -> str:
    result = CliRunner().invoke(app, ["mappings", "show", "--format", "markdown", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_an_env_files_dictionary_is_the_one_shown(tmp_path: Path, custom: Path) -> None:
    env = tmp_path / "prod.env"
    env.write_text(f"BATON_DICTIONARY_PATH={custom}\n", "utf-8")

    assert "Open - Not Yet Called" in _show("--env-file", str(env))
    assert "Open - Not Yet Called" not in _show()


def test_a_dot_env_dictionary_is_the_one_shown(
    tmp_path: Path, custom: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(f"BATON_DICTIONARY_PATH={custom}\n", "utf-8")

    assert "Open - Not Yet Called" in _show()


def test_file_wins_over_the_setting(tmp_path: Path, custom: Path) -> None:
    env = tmp_path / "prod.env"
    env.write_text(f"BATON_DICTIONARY_PATH={custom}\n", "utf-8")

    assert "Open - Not Yet Called" not in _show("--file", str(SHIPPED), "--env-file", str(env))


def test_an_env_file_naming_no_dictionary_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = tmp_path / "prod.env"
    env.write_text("BATON_DICTIONARY_PATH=/nowhere/funnel.yaml\n", "utf-8")
    result = CliRunner().invoke(app, ["mappings", "check", "--env-file", str(env)])
    assert result.exit_code == 2
    assert "BATON_DICTIONARY_PATH: no file at '/nowhere/funnel.yaml'" in result.output
