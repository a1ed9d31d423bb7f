"""`baton demo`: the main job on embedded defaults, as a newcomer first sees it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from baton.cli.sandbox import run_until_stopped, start, write_env_file
from sandbox.runtime import SandboxConfig

DEFAULT_DIR = Path(".baton/demo")


def demo(
    duration: Annotated[
        float | None,
        typer.Option(min=1.0, help="Stop after this many seconds (default: run until Ctrl-C)."),
    ] = None,
    directory: Annotated[
        Path, typer.Option("--dir", help="Where the demo keeps its files.")
    ] = DEFAULT_DIR,
    pace: Annotated[
        float, typer.Option(min=0.1, max=1000.0, help="Simulated actions per second.")
    ] = 5.0,
    hubspot_port: Annotated[int, typer.Option(min=0, max=65535)] = 8911,
    salesforce_port: Annotated[int, typer.Option(min=0, max=65535)] = 8912,
) -> None:
    """Start the sandbox with its simulated teams and show what they do."""
    console = Console()
    config = SandboxConfig(
        directory=directory,
        simulate=True,
        pace=pace,
        hubspot_port=hubspot_port,
        salesforce_port=salesforce_port,
    )
    box = start(config, console)
    write_env_file(box)
    console.print(
        f"Sandbox up: HubSpot {box.hubspot_url}, Salesforce {box.salesforce_url}.\n"
        "Simulated marketing is scoring contacts and creating MQLs in HubSpot; simulated sales is "
        "accepting, working, rejecting and converting leads in Salesforce.\n"
        "[bold]Two-way syncing is not in this build yet:[/bold] it arrives with the sync engine, "
        "and then this demo will show MQLs reaching Salesforce and sales' verdicts reaching "
        "HubSpot. Ctrl-C stops."
    )
    run_until_stopped(box, duration=duration)
    table = Table(title="What the simulated teams did")
    table.add_column("action")
    table.add_column("count", justify="right")
    for action, count in sorted(box.simulator.moves.items()):
        table.add_row(action.replace("_", " "), str(count))
    for action, count in sorted(box.simulator.failures.items()):
        table.add_row(f"{action.replace('_', ' ')} (rejected by the system)", str(count))
    console.print(table)
