"""The `baton` console script. Importing the command line takes a second or so: Ctrl-C then,
or in a command that does not handle it itself, ends quietly with status 130, no traceback."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from baton.cli import main as run_cli

        run_cli()
    except KeyboardInterrupt:
        sys.exit(130)
