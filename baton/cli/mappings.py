"""`baton mappings show|check`: the funnel dictionary as a handout, and checked against picklists.

`check` reads the systems' picklists live, through the connectors (HubSpot property options,
Salesforce describe), with the settings `baton run` uses; `--picklists FILE` checks a JSON file
instead (`{"hubspot": {"contacts": {"hs_lead_status": ["NEW", ...]}}, "salesforce": {...}}`),
offline.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn, Protocol

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from baton.cli.common import EnvFileOption, fail
from baton.daemon import one_line
from baton.settings import SettingsError
from baton.settings import load as load_settings
from baton.wiring import hubspot_properties
from connectors.hubspot.connector import HubSpotConnector
from connectors.records import FieldSchema, PicklistOption
from connectors.salesforce.connector import SalesforceConnector
from mappings import handout
from mappings.check import (
    CheckReport,
    PicklistFileError,
    PicklistKey,
    Picklists,
    check,
    expected_values,
    from_schemas,
    parse_picklists,
)
from mappings.dictionary import Dictionary
from mappings.loader import DictionaryError, load

FileOption = Annotated[
    Path | None,
    typer.Option(
        "--file",
        envvar="BATON_DICTIONARY_PATH",  # the daemon's own setting: check what it will load
        help="Funnel dictionary YAML (default: the one shipped with Baton).",
        show_default=False,
    ),
]


class Describes(Protocol):
    def describe(self, object: str) -> list[FieldSchema]: ...


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
        err = Console(emoji=False, stderr=True, highlight=False)
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
    console = Console(emoji=False)
    for section in handout.sections(dictionary):
        table = Table(title=section.title, show_lines=True, title_justify="left")
        for column in section.columns:
            table.add_column(column, overflow="fold")
        for row in section.rows:
            table.add_row(*(escape(cell) for cell in row))
        console.print(table)


def check_command(
    picklists: Annotated[
        Path | None,
        typer.Option(
            "--picklists",
            help="Check this JSON file of picklists ({system: {object: {field: \\[values]}}}) "
            "instead of asking the systems.",
            show_default=False,
        ),
    ] = None,
    file: FileOption = None,
    env_file: EnvFileOption = None,
) -> None:
    """Name every system value the dictionary doesn't map and every value a system lacks.

    Asks HubSpot and Salesforce live (settings as for `baton run`) unless --picklists is given.
    Exits 1 when anything is missing or unmapped, 2 on bad input.
    """
    dictionary = _load(file)
    missing_fields: list[str] = []
    options: Picklists
    if picklists is None:
        options, missing_fields = _live_picklists(dictionary, env_file)
    else:
        options = _file_picklists(picklists)
    report = check(dictionary, options)
    owned = {("hubspot", "contacts", p.name) for p in hubspot_properties(dictionary)}
    _print_report(report, owned)
    console = Console(emoji=False, highlight=False)
    for name in missing_fields:
        if tuple(name.split(".", 2)) in owned:
            fix = "Baton creates it when it starts (baton run, baton backfill)"
        else:
            fix = "create it (see the README's set-up for each system)"
        console.print(f"[red]missing field[/] {escape(name)}: the dictionary uses it; {fix}")
    if not report.ok or missing_fields:
        raise SystemExit(1)


def _file_picklists(picklists: Path) -> Picklists:
    try:
        data = json.loads(picklists.read_text(encoding="utf-8"))
        return parse_picklists(data)
    except OSError as exc:
        _bad_input(f"--picklists: cannot read {picklists} ({exc.strerror}); pass a JSON file")
    except UnicodeDecodeError as exc:
        _bad_input(f"--picklists: {picklists}: not UTF-8 text (byte {exc.start}); save it as UTF-8")
    except json.JSONDecodeError as exc:
        _bad_input(f"--picklists: {picklists}:{exc.lineno}: not valid JSON ({exc.msg})")
    except PicklistFileError as exc:
        _bad_input(f"--picklists: {picklists}: {exc}")


def _live_picklists(
    dictionary: Dictionary, env_file: Path | None
) -> tuple[dict[PicklistKey, list[PicklistOption]], list[str]]:
    """The options of every field the dictionary names, read from the systems' schemas, and
    the fields that do not exist at all (as `system.object.field`)."""
    try:
        settings = load_settings(env_file)
    except SettingsError as exc:
        fail(f"baton: {exc} (or pass --picklists FILE to check offline)", 2)
    connectors: dict[str, Describes] = {
        "hubspot": HubSpotConnector(settings.hubspot),
        "salesforce": SalesforceConnector(settings.salesforce),
    }
    wanted: dict[tuple[str, str], list[str]] = {}
    for system, obj, name in expected_values(dictionary):
        wanted.setdefault((system, obj), []).append(name)
    for fmap in dictionary.fields.values():
        if fmap.hubspot:
            wanted.setdefault(("hubspot", "contacts"), []).append(fmap.hubspot)
        for sobject, remote in fmap.salesforce.items():
            wanted.setdefault(("salesforce", sobject), []).append(remote)
    for sobject, fallbacks in dictionary.salesforce_required.items():
        wanted.setdefault(("salesforce", sobject), []).extend(fallbacks)
    wanted = {key: list(dict.fromkeys(names)) for key, names in wanted.items()}
    options: dict[PicklistKey, list[PicklistOption]] = {}
    missing: list[str] = []
    try:
        for (system, obj), names in sorted(wanted.items()):
            schemas = connectors[system].describe(obj)
            present = {s.name for s in schemas}
            missing += [f"{system}.{obj}.{n}" for n in names if n not in present]
            options.update(from_schemas(system, obj, schemas))
    except Exception as exc:
        fail(f"baton mappings check: cannot read the systems' picklists: {one_line(exc)}", 1)
    return options, missing


def _bad_input(line: str) -> NoReturn:
    """One line naming the input and the fix, exit status 2.

    SystemExit rather than typer.Exit, so the status survives `standalone_mode=False`.
    """
    Console(emoji=False, stderr=True, highlight=False).print(escape(line), soft_wrap=True)
    raise SystemExit(2)


def _print_report(report: CheckReport, owned: Collection[PicklistKey] = ()) -> None:
    """Each problem with its fix; `owned` are the properties Baton creates and keeps the
    options of itself (see `baton.wiring.hubspot_properties`)."""
    console = Console(emoji=False, highlight=False)
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
                    "nothing in the dictionary; list it under the stage, outcome or reason it "
                    "means, or deactivate it in the system"
                )
            for value in field.missing:
                if field.key in owned:
                    fix = "Baton adds it to its own property when it starts (baton run, backfill)"
                else:
                    fix = field.hint(value) or (
                        "add it to the system's picklist, or change the dictionary"
                    )
                console.print(
                    f"[red]missing[/] {name}: '{escape(value)}' is in the dictionary but not an "
                    f"active value in the system; {escape(fix)}"
                )
    problems = sum(len(f.unmapped) + len(f.missing) for f in report.fields)
    checked = sum(1 for f in report.fields if f.checked)
    if problems:
        console.print(f"{problems} problem(s) in {checked} checked field(s).")
    else:
        console.print(f"All {checked} checked field(s) agree with the dictionary.")
