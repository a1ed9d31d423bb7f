"""The `baton` command line: the composition root's front door."""

from __future__ import annotations

import sys

import click
import typer

from baton.cli import demo, sandbox

app = typer.Typer(
    name="baton",
    help="Keeps HubSpot and Salesforce aligned on one funnel language.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command(name="sandbox")(sandbox.sandbox)
app.command(name="demo")(demo.demo)


def main() -> None:
    """Run the CLI; bad input ends with one line naming the input and the fix, exit status 2."""
    try:
        app(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.exceptions.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "baton"
        print(f"{command}: {exc.format_message()} (see '{command} --help')", file=sys.stderr)
        sys.exit(2)
    except click.exceptions.ClickException as exc:
        print(f"baton: {exc.format_message()}", file=sys.stderr)
        sys.exit(exc.exit_code)
