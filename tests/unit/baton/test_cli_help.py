"""Help texts read as written: Rich markup swallows `[word]`, so brackets must be escaped."""

from __future__ import annotations

from collections.abc import Iterator

import typer
from rich.text import Text
from typer.testing import CliRunner

from baton.cli import app


def commands(command: object, path: str = "baton") -> Iterator[tuple[str, object]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from commands(sub, f"{path} {name}")


def test_picklists_help_shows_the_file_shape() -> None:
    result = CliRunner().invoke(app, ["mappings", "check", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "({system: {object: {field: [values]}}})" in result.stdout


def test_no_help_text_loses_a_bracket_to_markup() -> None:
    swallowed = []
    for path, command in commands(typer.main.get_command(app)):
        texts = [getattr(command, "help", None) or ""]
        texts += [getattr(p, "help", None) or "" for p in getattr(command, "params", [])]
        for text in texts:
            if Text.from_markup(text).plain.count("[") != text.count("["):
                swallowed.append((path, text))
    assert swallowed == []


def test_every_command_group_alone_prints_its_help() -> None:
    """`baton db` as `baton errors`: a group named alone shows its commands, not an error."""
    groups = [
        path.split()[1:]
        for path, command in commands(typer.main.get_command(app))
        if getattr(command, "commands", None) and path != "baton"
    ]
    assert ["db"] in groups
    for group in groups:
        result = CliRunner().invoke(app, group, env={"COLUMNS": "200"})
        assert "Usage:" in result.output, (group, result.output)
        assert "Missing command" not in result.output, group
