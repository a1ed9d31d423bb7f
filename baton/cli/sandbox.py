"""`baton sandbox`: serve the local HubSpot and Salesforce imitations and point Baton at them."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.panel import Panel

from baton.cli.common import shell_word
from sandbox.runtime import Sandbox, SandboxConfig

DEFAULT_DIR = Path(".baton/sandbox")


def env_lines(box: Sandbox) -> list[str]:
    """The settings that point Baton at this sandbox, in `.env` form."""
    hubspot, salesforce = box.hubspot_options, box.salesforce_options
    values = {
        "BATON_HUBSPOT_BASE_URL": box.hubspot_url,
        "BATON_HUBSPOT_ACCESS_TOKEN": hubspot.access_token,
        "BATON_HUBSPOT_CLIENT_SECRET": hubspot.client_secret,
        "BATON_SALESFORCE_INSTANCE_URL": box.salesforce_url,
        "BATON_SALESFORCE_LOGIN_URL": box.salesforce_url,
        "BATON_SALESFORCE_AUTH": "client_credentials",
        "BATON_SALESFORCE_CLIENT_ID": salesforce.client_id,
        "BATON_SALESFORCE_CLIENT_SECRET": salesforce.client_secret,
        "BATON_SALESFORCE_ORG_ID": salesforce.org_id,
        "BATON_SALESFORCE_CA_FILE": str(box.tls.ca_cert.resolve()),
    }
    return [f"{key}={value}" for key, value in values.items()]


def write_env_file(box: Sandbox, *, database_url: str | None = None) -> Path:
    """`sandbox.env` in the sandbox folder; with `database_url` (the demo's store) it names the
    store too, so `--env-file` points a command at everything that sandbox's Baton uses."""
    path = box.config.directory / "sandbox.env"
    store = [f"BATON_DATABASE_URL={database_url}"] if database_url is not None else []
    path.write_text(
        "# Written by `baton sandbox`: settings that point Baton at the local sandbox.\n"
        + "\n".join([*env_lines(box), *store])
        + "\n"
    )
    path.chmod(0o600)
    return path


def start(config: SandboxConfig, console: Console) -> Sandbox:
    """Build, bind and seed a sandbox, reporting as it goes; errors are one clear line."""
    try:
        config.directory.mkdir(parents=True, exist_ok=True)
        (config.directory / ".write-check").touch()
        (config.directory / ".write-check").unlink()
    except OSError as exc:
        raise typer.BadParameter(
            f"cannot write to {config.directory} ({exc.strerror}); choose a writable folder",
            param_hint="--dir",
        ) from exc
    try:
        box = Sandbox(config)
        box.bind()
    except OSError as exc:
        raise typer.BadParameter(str(exc), param_hint="--hubspot-port/--salesforce-port") from exc
    began = time.perf_counter()
    with console.status(
        f"Seeding {config.contacts:,} HubSpot contacts and {config.leads:,} Salesforce leads…"
    ):
        box.seed()
    console.print(f"Seeded in {time.perf_counter() - began:.1f} s.")
    return box


def run_until_stopped(box: Sandbox, *, duration: float | None = None) -> None:
    """Serve until Ctrl-C, SIGTERM or `duration` seconds."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if duration is not None:
            loop.call_later(duration, stop.set)
        await box.serve(stop)

    asyncio.run(main())


def sandbox(
    directory: Annotated[
        Path, typer.Option("--dir", help="Where sandbox.env, the CA file and the data go.")
    ] = DEFAULT_DIR,
    contacts: Annotated[
        int, typer.Option(min=0, max=5_000_000, help="HubSpot contacts to seed.")
    ] = 2_000,
    leads: Annotated[
        int, typer.Option(min=0, max=5_000_000, help="Salesforce leads to seed.")
    ] = 1_000,
    seed: Annotated[int, typer.Option(help="Seed for deterministic data.")] = 42,
    simulate: Annotated[
        bool, typer.Option("--simulate", help="Run the simulated marketing and sales teams.")
    ] = False,
    pace: Annotated[
        float, typer.Option(min=0.0, max=1000.0, help="Simulated actions per second.")
    ] = 2.0,
    no_rate_limits: Annotated[
        bool, typer.Option("--no-rate-limits", help="Turn the vendors' rate limits off.")
    ] = False,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    hubspot_port: Annotated[int, typer.Option(min=0, max=65535)] = 8911,
    salesforce_port: Annotated[int, typer.Option(min=0, max=65535)] = 8912,
) -> None:
    """Serve local imitations of HubSpot (HTTP) and Salesforce (HTTPS) with realistic data."""
    console = Console(emoji=False)
    config = SandboxConfig(
        directory=directory,
        host=host,
        hubspot_port=hubspot_port,
        salesforce_port=salesforce_port,
        contacts=contacts,
        leads=leads,
        seed=seed,
        simulate=simulate,
        pace=pace,
        rate_limits=not no_rate_limits,
    )
    box = start(config, console)
    announce(box, write_env_file(box), console)
    run_until_stopped(box)


def announce(box: Sandbox, env_file: Path, console: Console) -> None:
    """Where the imitations listen, in a panel, then the command that loads `env_file` on a
    line of its own, never wrapped: copied from a narrow terminal, a command wrapped inside
    the panel would carry its border."""
    config = box.config
    console.print(
        Panel.fit(
            f"HubSpot     {box.hubspot_url}\n"
            f"Salesforce  {box.salesforce_url}  (CA: {box.tls.ca_cert})\n"
            f"Settings    {env_file}\n"
            f"Admin       {box.hubspot_url}/_sandbox/stats  and  "
            f"{box.salesforce_url}/_sandbox/stats\n"
            f"Rate limits {'on' if config.rate_limits else 'off'}; "
            f"simulators {'on' if config.simulate else 'off'}.  Ctrl-C stops.",
            title="Baton sandbox",
        )
    )
    console.print("Point Baton (or your own scripts) at it:", highlight=False)
    console.print(f"set -a; . {shell_word(str(env_file))}; set +a", soft_wrap=True, highlight=False)
