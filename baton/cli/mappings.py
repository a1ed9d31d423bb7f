"""`baton mappings show|check`: the funnel dictionary as a handout, and checked against picklists.

`check` reads the systems' picklists from a JSON file for now
(`{"hubspot": {"contacts": {"hs_lead_status": ["NEW", ...]}}, "salesforce": {...}}`); the live
check against HubSpot property options and Salesforce describe arrives with the connectors.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mappings import handout
from mappings.check import CheckReport, PicklistFileError, check, parse_picklists
from mappings.dictionary import Dictionary
from mappings.loader import DictionaryError, load

FileOption = Annotated[
    Path | None,
    typer.Option(
        "--file",
        envvar="BATON_FUNNEL_FILE",
        help="Funnel dictionary YAML (default: the one shipped with Baton).",
        show_default=False,
    ),
]


class Format(StrEnum):
    TABLE = "table"
    MARKDOWN = "markdown"


def build_app() -> typer.Typer:
    """The `mappings` sub-app (built on demand, never at import time)."""
    app = typer.Typer(
        name="mappings",
        help="The shared funnel dictionary: show it, check it against the systems' picklists.",
        no_args_is_help=True,
    )
    app.command(name="show")(show)
    app.command(name="check")(check_command)
    return app


def _load(path: Path | None) -> Dictionary:
    """The dictionary, or every problem in it (each naming file and line) and exit status 2."""
    try:
        return load(path)
    except DictionaryError as exc:
        err = Console(stderr=True, highlight=False)
        for line in exc.lines:
            err.print(escape(line), soft_wrap=True)
        err.print("Fix the lines above (or pass another --file) and run again.")
        raise SystemExit(2) from exc


def show(
    file: FileOption = None,
    output: Annotated[
        Format, typer.Option("--format", help="table (for the terminal) or markdown (to share).")
    ] = Format.TABLE,
) -> None:
    """Show the funnel dictionary as the one-page handout both teams agree on."""
    dictionary = _load(file)
    if output is Format.MARKDOWN:
        typer.echo(handout.markdown(dictionary))
        return
    console = Console()
    for section in handout.sections(dictionary):
        table = Table(title=section.title, show_lines=True, title_justify="left")
        for column in section.columns:
            table.add_column(column, overflow="fold")
        for row in section.rows:
            table.add_row(*(escape(cell) for cell in row))
        console.print(table)


def check_command(
    picklists: Annotated[
        Path,
        typer.Option(
            "--picklists",
            help="JSON file of the systems' picklists: {system: {object: {field: [values]}}}. "
            "(The live check against HubSpot and Salesforce arrives with the connectors.)",
        ),
    ],
    file: FileOption = None,
) -> None:
    """Name every system value the dictionary doesn't map and every value a system lacks.

    Exits 1 when anything is missing or unmapped, 2 on bad input.
    """
    dictionary = _load(file)
    try:
        data = json.loads(picklists.read_text(encoding="utf-8"))
        options = parse_picklists(data)
    except OSError as exc:
        _bad_input(f"--picklists: cannot read {picklists} ({exc.strerror}); pass a JSON file")
    except json.JSONDecodeError as exc:
        _bad_input(f"--picklists: {picklists}:{exc.lineno}: not valid JSON ({exc.msg})")
    except PicklistFileError as exc:
        _bad_input(f"--picklists: {picklists}: {exc}")
    report = check(dictionary, options)
    _print_report(report)
    if not report.ok:
        raise SystemExit(1)


def _bad_input(line: str) -> NoReturn:
    """One line naming the input and the fix, exit status 2.

    SystemExit rather than typer.Exit, so the status survives `standalone_mode=False`.
    """
    Console(stderr=True, highlight=False).print(escape(line), soft_wrap=True)
    raise SystemExit(2)


def _print_report(report: CheckReport) -> None:
    console = Console(highlight=False)
    for field in report.fields:
        name = escape(field.name)
        if not field.checked:
            console.print(f"[yellow]not checked[/] {name}: no picklist supplied")
        elif field.ok:
            console.print(f"[green]ok[/] {name}")
        else:
            for value in field.unmapped:
                console.print(
                    f"[red]unmapped[/] {name}: '{escape(value)}' is in the system but means "
                    "nothing in the dictionary"
                )
            for value in field.missing:
                console.print(
                    f"[red]missing[/] {name}: '{escape(value)}' is in the dictionary but not an "
                    "active value in the system"
                )
    problems = sum(len(f.unmapped) + len(f.missing) for f in report.fields)
    checked = sum(1 for f in report.fields if f.checked)
    if problems:
        console.print(f"{problems} problem(s) in {checked} checked field(s).")
    else:
        console.print(f"All {checked} checked field(s) agree with the dictionary.")
