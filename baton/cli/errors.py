"""`baton errors list|retry|drop`: records a system refused, with its own code and message.

`retry` syncs the letters again now through the engine (`SyncEngine.retry_dead_letters`, built
by `baton.wiring` with the same settings as `baton run`): it re-reads and syncs their people,
and marks a letter `retried` once its retry committed; one refused again stays open.
`drop` closes letters for good; the reason is kept in the decision log (`baton why`).
"""

from __future__ import annotations

import importlib
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from baton.cli.common import EnvFileOption, fail, hint, settings_or_exit, store_errors
from baton.cli.status import JsonOption, baton_settings, open_store, print_json, when
from connectors.records import System
from sync.queries.errors import drop as drop_letters
from sync.queries.errors import get_errors, list_errors
from sync.store.dead_letters import DeadLetter, DeadLetterStatus


class StatusChoice(StrEnum):
    OPEN = "open"
    RETRIED = "retried"
    DROPPED = "dropped"
    ALL = "all"


IdsArgument = Annotated[
    list[int] | None, typer.Argument(help="Dead-letter ids (see 'baton errors list').")
]


def build_app() -> typer.Typer:
    """The `errors` sub-app (built on demand, never at import time)."""
    app = typer.Typer(
        name="errors",
        help="Dead letters: records a system refused, in its own words. List, retry, drop.",
        no_args_is_help=True,
    )
    app.command(name="list")(list_command)
    app.command(name="retry")(retry_command)
    app.command(name="drop")(drop_command)
    return app


def list_command(
    status: Annotated[
        StatusChoice, typer.Option(help="Which dead letters: open, retried, dropped or all.")
    ] = StatusChoice.OPEN,
    system: Annotated[
        System | None, typer.Option(help="Only the letters refused by this system.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="At most this many.")] = 100,
    json_output: JsonOption = False,
    env_file: EnvFileOption = None,
) -> None:
    """List dead letters, oldest first, with the vendor's error code and message."""
    chosen = None if status is StatusChoice.ALL else DeadLetterStatus(status.value)
    with open_store(baton_settings(env_file), env_file=env_file) as conn:
        letters = list_errors(conn, status=chosen, system=system, limit=limit)
    if json_output:
        print_json(letters)
        return
    console = Console(emoji=False, highlight=False)
    if not letters:
        console.print("No dead letters." if chosen is None else f"No {status.value} dead letters.")
        return
    console.print(_table(letters))
    retry, drop = hint("errors retry ID...", env_file), hint("errors drop ID...", env_file)
    console.print(
        f"Fix the data (or the mapping), then '{escape(retry)}'; "
        f"'{escape(drop)} --reason TEXT' gives up on one."
    )


def retry_command(
    ids: IdsArgument = None,
    all_open: Annotated[bool, typer.Option("--all", help="Retry every open dead letter.")] = False,
    env_file: EnvFileOption = None,
) -> None:
    """Sync these dead letters' records again now (or every open one with --all).

    The records are re-read first, so data fixed since the refusal is what gets written. Exits 1
    when a record is refused again (its letter stays open), an id is not an open dead letter, or
    a system cannot be reached or refuses the credentials; 2 when none of the ids is, or the
    settings, dictionary or store cannot be used.
    """
    chosen = _ids_or_all(ids, all_open, "retry", env_file)
    settings = settings_or_exit(env_file)
    with open_store(settings.baton, env_file=env_file) as conn:
        letters = (
            list_errors(conn, status=DeadLetterStatus.OPEN, limit=1)
            if chosen is None
            else get_errors(conn, chosen)
        )
    open_ids = [x.id for x in letters if x.status is DeadLetterStatus.OPEN]
    not_open = () if chosen is None else tuple(sorted(set(chosen) - set(open_ids)))
    console = Console(emoji=False, highlight=False)
    if not open_ids:
        if chosen is None:
            console.print("No open dead letters to retry.")
            return
        _not_open(not_open, "retry", code=2, env_file=env_file)
    wiring = _wiring()
    try:  # the settings, dictionary or store: one line, exit 2 (as `baton run`)
        with store_errors(settings.baton.database(), "baton errors retry", env_file):
            runtime = wiring.build(settings)
    except Exception as exc:
        fail(f"baton errors retry: cannot start: {wiring.one_line(exc)}", 2)
    try:  # a system unreachable, or refusing the credentials: one line, exit 1
        report = runtime.engine.retry_dead_letters(None if chosen is None else open_ids)
    except Exception as exc:
        fail(f"baton errors retry: {wiring.one_line(exc)}; the letters not retried stay open", 1)
    finally:
        runtime.close()
    failed = getattr(report, "dead_letters", 0)
    sent = sum(
        sum(getattr(report, name, {}).values()) for name in ("created", "updated")
    ) + getattr(report, "deletes_propagated", 0)
    if failed:
        verdict = f"{failed} refused again (see '{escape(hint('errors list', env_file))}')."
    elif sent:
        verdict = "All went through."
    else:
        verdict = "Nothing needed sending: the records already agree, or are gone."
    console.print(f"Retried: {_counts(report)}. {verdict}")
    _not_open(not_open, "retry", env_file=env_file)
    if failed:
        raise SystemExit(1)


def drop_command(
    ids: Annotated[list[int], typer.Argument(help="Dead-letter ids to give up on.")],
    reason: Annotated[
        str, typer.Option(help="Why (kept in the decision log; 'baton why' shows it).")
    ],
    env_file: EnvFileOption = None,
) -> None:
    """Close dead letters for good, with a reason.

    Exits 1 when an id is not an open dead letter (the others are dropped), 2 when none is.
    """
    if not reason.strip():
        fail("baton errors drop: --reason is empty; say why these records are given up on", 2)
    with open_store(baton_settings(env_file), write=True, env_file=env_file) as conn:
        result = drop_letters(conn, ids, reason=reason, at=datetime.now(UTC))
    if not result.dropped:  # nothing done: the ids are the mistake
        _not_open(result.not_open, "drop", code=2, env_file=env_file)
    console = Console(emoji=False, highlight=False)
    dropped = ", ".join(str(letter.id) for letter in result.dropped) or "none"
    console.print(
        f"Dropped {len(result.dropped)} dead letter(s) ({dropped}); the reason is logged on "
        f"{result.reasons_logged} linked person(s)."
    )
    _not_open(result.not_open, "drop", env_file=env_file)


def _ids_or_all(
    ids: list[int] | None, all_open: bool, verb: str, env_file: Path | None
) -> list[int] | None:
    if ids and all_open:
        fail(f"baton errors {verb}: give dead-letter ids or --all, not both", 2)
    if not ids and not all_open:
        listed = hint("errors list", env_file)
        fail(f"baton errors {verb}: give dead-letter ids (see '{listed}') or --all", 2)
    return None if all_open else ids


def _not_open(
    ids: tuple[int, ...], verb: str, *, code: int = 1, env_file: Path | None = None
) -> None:
    """One line naming the ids that are not open dead letters: exit 1 when others were done,
    2 when none was (then the ids are simply wrong)."""
    if ids:
        fail(
            f"baton errors {verb}: no open dead letter with id {', '.join(map(str, ids))}; "
            f"see '{hint('errors list --status all', env_file)}'",
            code,
        )


def _wiring() -> Any:
    """The composition root, imported only when a command needs the engine (it is heavy)."""
    return importlib.import_module("baton.wiring")


def _counts(report: Any) -> str:
    parts = []
    for name in ("created", "updated"):
        total = sum(getattr(report, name, {}).values())
        parts.append(f"{total} {name}")
    parts.append(f"{getattr(report, 'unchanged', 0)} unchanged")
    return ", ".join(parts)


def _table(letters: tuple[DeadLetter, ...]) -> Table:
    table = Table(title="Dead letters (times UTC)", title_justify="left")
    for column in ("id", "record", "direction", "code", "message", "tries", "first", "last"):
        table.add_column(column, overflow="fold")
    table.add_column("status")
    for letter in letters:
        table.add_row(
            str(letter.id),
            escape(str(letter.key)),
            str(letter.direction),
            escape(letter.vendor_code or "-"),
            escape(letter.vendor_message or ""),
            str(letter.attempts),
            when(letter.first_seen_at),
            when(letter.last_seen_at),
            str(letter.status),
        )
    return table
