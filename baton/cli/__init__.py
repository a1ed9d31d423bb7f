"""The `baton` command line: the composition root's front door."""

from __future__ import annotations

import sys

import typer

# typer >= 0.26 raises its bundled copy of click's exceptions, not `click.exceptions`.
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

from baton.cli import backfill, db, demo, errors, mappings, run, sandbox, scorecard, status, why
from baton.cli.usage import usage_message
from connectors.http.redaction import redact

app = typer.Typer(
    name="baton",
    help="Keeps HubSpot and Salesforce aligned on one funnel language.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command(name="run")(run.run)
app.command(name="backfill")(backfill.backfill)
app.command(name="sandbox")(sandbox.sandbox)
app.command(name="demo")(demo.demo)
app.add_typer(mappings.build_app(), name="mappings")
app.add_typer(db.build_app(), name="db")
app.command(name="status")(status.status)
app.command(name="why")(why.why)
app.add_typer(errors.build_app(), name="errors")
app.command(name="scorecard")(scorecard.scorecard)


def main() -> None:
    """Run the CLI; bad input ends with one line naming the input and the fix, exit status 2."""
    try:
        # Named as typed, however the interpreter was started (under `python -m pytest` Click
        # would call it 'python -m pytest.baton' in its usage lines).
        result = app(standalone_mode=False, prog_name="baton")
    except typer.Abort:
        sys.exit(130)
    except NoArgsIsHelpError:  # Typer has printed the help already
        sys.exit(0)
    except UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "baton"
        line = f"{command}: {usage_message(exc)} (see '{command} --help')"
        print(redact(line), file=sys.stderr)
        sys.exit(2)
    except ClickException as exc:
        print(redact(f"baton: {exc.format_message()}"), file=sys.stderr)
        sys.exit(exc.exit_code)
    # Without standalone mode, typer returns (not raises) the code of a `typer.Exit`.
    sys.exit(result if isinstance(result, int) else 0)
