"""`baton mappings show|check`: the funnel dictionary as a handout, and checked against picklists.

`check` reads the systems' picklists live, through the connectors (HubSpot property options,
Salesforce describe), with the settings `baton run` uses; `--picklists FILE` checks a JSON file
instead (`{"hubspot": {"contacts": {"hs_lead_status": ["NEW", ...]}}, "salesforce": {...}}`),
offline.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn, Protocol

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from baton.cli.common import EnvFileOption, fail
from baton.daemon import one_line
from baton.settings import SettingsError, load_baton
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
        help="Funnel dictionary YAML (default: BATON_DICTIONARY_PATH as `baton run` reads it, "
        "from the environment, --env-file or .env; else the one shipped with Baton).",
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


def _load(path: Path | None, env_file: Path | None) -> Dictionary:
    """The dictionary the daemon would run (`BATON_DICTIONARY_PATH` read as `baton run` reads
    it) unless `path` names another, or every problem in it (each naming file and line) and
    exit status 2."""
    if path is None:
        try:
            path = load_baton(env_file).dictionary_path
        except SettingsError as exc:
            fail(f"baton mappings: {exc}", 2)
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
    env_file: EnvFileOption = None,
) -> None:
    """Show the funnel dictionary as the one-page handout both teams agree on."""
    dictionary = _load(file, env_file)
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
    Exits 1 when anything is missing or unmapped, 2 on bad input, 3 when the systems could not
    be read (a script tells drift from an outage).
    """
    dictionary = _load(file, env_file)
    live = _Live()
    options: Picklists
    if picklists is None:
        options, live = _live_picklists(dictionary, env_file)
    else:
        options = _file_picklists(picklists)
    report = check(dictionary, options)
    if picklists is not None and report.fields and not any(f.checked for f in report.fields):
        _bad_input(f"--picklists: {picklists}: {_checks_nothing(report)}")
    owned = {("hubspot", "contacts", p.name) for p in hubspot_properties(dictionary)}
    console = _console()
    missing_keys: set[PicklistKey] = {
        (system, obj, name) for system, obj, name in (n.split(".", 2) for n in live.missing)
    }
    problems, checked = _print_report(report, owned, skip={*live.wrong_type, *missing_keys})
    wanted = expected_values(dictionary)
    for key, kind in live.wrong_type.items():
        system, _, _ = key
        what = "property" if system == "hubspot" else "field"
        values = ", ".join(wanted.get(key, []))
        fix = (
            "Baton cannot change a property's type: delete it and let Baton create it (baton run)"
            if key in owned
            else f"change its type to a {'dropdown select' if system == 'hubspot' else 'picklist'}"
        )
        console.print(
            f"[red]wrong type[/] {escape('.'.join(key))}: a {escape(kind)} {what}; the dictionary "
            f"needs a dropdown with {escape(values)} ({escape(fix)})"
        )
    for name in live.missing:
        if tuple(name.split(".", 2)) in owned:
            fix = "Baton creates it when it starts (baton run, baton backfill)"
        else:
            fix = "create it (see the README's set-up for each system)"
        console.print(f"[red]missing field[/] {escape(name)}: the dictionary uses it; {fix}")
    problems += len(live.wrong_type) + len(live.missing)
    checked += len(live.wrong_type)
    if problems:
        console.print(f"{problems} problem(s) in {checked} checked field(s).")
        raise SystemExit(1)
    console.print(f"All {checked} checked field(s) agree with the dictionary.")


def _console() -> Console:
    """stdout for the check's lines: one line per finding even off a terminal (a pipe, CI),
    where Rich would otherwise wrap at 80 columns."""
    return Console(emoji=False, highlight=False, soft_wrap=True)


# Field types that hold a closed list of values (HubSpot property type, Salesforce field type).
DROPDOWN_TYPES = frozenset({"enumeration", "picklist", "multipicklist"})


@dataclass(frozen=True, slots=True)
class _Live:
    """What only a live check finds: fields the systems lack, as `system.object.field`, and
    fields that exist as plain text (or a number...) where the dictionary needs a dropdown."""

    missing: list[str] = dataclass_field(default_factory=list)
    wrong_type: dict[PicklistKey, str] = dataclass_field(default_factory=dict)


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


def _checks_nothing(report: CheckReport) -> str:
    """Why a picklists file with none of the dictionary's fields is no check, and what it lacks."""
    lacking: dict[str, list[str]] = {}
    for system, obj, name in (f.key for f in report.fields):
        lacking.setdefault(f"{system}.{obj}", []).append(name)
    wanted = "; ".join(f"{where}: {', '.join(names)}" for where, names in sorted(lacking.items()))
    return f"holds no picklist the dictionary uses, so nothing would be checked; give {wanted}"


def _live_picklists(
    dictionary: Dictionary, env_file: Path | None
) -> tuple[dict[PicklistKey, list[PicklistOption]], _Live]:
    """The options of every field the dictionary names, read from the systems' schemas; the
    fields that do not exist at all, and the ones whose type holds no list of values."""
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
    valued = {key for key, values in expected_values(dictionary).items() if values}
    options: dict[PicklistKey, list[PicklistOption]] = {}
    live = _Live()
    try:
        for (system, obj), names in sorted(wanted.items()):
            schemas = connectors[system].describe(obj)
            present = {s.name: s for s in schemas}
            live.missing.extend(f"{system}.{obj}.{n}" for n in names if n not in present)
            options.update(from_schemas(system, obj, schemas))
            for name, schema in present.items():
                key = (system, obj, name)
                if key not in valued or schema.options:
                    continue
                if schema.type in DROPDOWN_TYPES:  # a dropdown without values: all missing
                    options[key] = []
                else:
                    live.wrong_type[key] = schema.type
    except Exception as exc:
        fail(f"baton mappings check: cannot read the systems' picklists: {one_line(exc)}", 3)
    return options, live


def _bad_input(line: str) -> NoReturn:
    """One line naming the input and the fix, exit status 2.

    SystemExit rather than typer.Exit, so the status survives `standalone_mode=False`.
    """
    Console(emoji=False, stderr=True, highlight=False).print(escape(line), soft_wrap=True)
    raise SystemExit(2)


def _print_report(
    report: CheckReport,
    owned: Collection[PicklistKey] = (),
    skip: Collection[PicklistKey] = (),
) -> tuple[int, int]:
    """Each problem with its fix; `owned` are the properties Baton creates and keeps the
    options of itself (see `baton.wiring.hubspot_properties`), `skip` the fields reported
    otherwise (missing, or of the wrong type). Returns (problems, checked fields)."""
    console = _console()
    for field in report.fields:
        name = escape(field.name)
        if field.key in skip:
            continue
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
    return problems, checked
