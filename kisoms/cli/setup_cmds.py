"""Setting up and checking: `kisoms config show`, and `kisoms sim` (serve, status, stop)."""

from __future__ import annotations

from typing import Optional

import typer
from rich.table import Table

from kisoms.cli.app import app
from kisoms.cli.commands import _opts
from kisoms.cli.render import console, print_json
from kisoms.config import load_settings

config_app = typer.Typer(help="The effective configuration.", no_args_is_help=True)
sim_app = typer.Typer(help="The KIS protocol simulator: run one, or see and stop the local daemon.",
                      invoke_without_command=True)
app.add_typer(config_app, name="config")
app.add_typer(sim_app, name="sim")


@config_app.command("show")
def config_show(ctx: typer.Context) -> None:
    """Every effective setting with where it came from (flag, env var, file, sim default, default); the
    credentials only say where they were found, never what they are."""
    from kisoms.config_sources import explain

    opts = _opts(ctx)
    entries = explain(opts.config, opts.ledger)
    if opts.json:
        print_json({e.key: {"value": e.value, "source": e.source} for e in entries})
        return
    table = Table(title="Configuration", header_style="bold")
    for col in ("key", "value", "source"):
        table.add_column(col, overflow="fold")
    for e in entries:
        table.add_row(e.key, "-" if e.value is None else str(e.value), e.source)
    console.print(table)


@sim_app.callback()
def sim(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", help="Listen address (loopback by default)."),
    port: int = typer.Option(0, help="REST port (0 = pick a free one)."),
    ws_port: int = typer.Option(0, "--ws-port", help="WebSocket port (0 = pick a free one)."),
    seed: int = typer.Option(0, help="Seed for prices, fills and faults."),
    state: Optional[str] = typer.Option(None, help="State file: a restarted simulator keeps its orders."),
    ready_file: Optional[str] = typer.Option(None, "--ready-file", help="Write the URLs here as JSON once listening."),
    scenario: Optional[str] = typer.Option(None, help="Scenario file (TOML/JSON): keys, accounts, symbols, faults."),
) -> None:
    """Run the KIS protocol simulator (REST + WebSocket) until Ctrl-C or SIGTERM; `kisoms sim status` and
    `kisoms sim stop` show and stop the daemon that env "sim" starts on demand."""
    if ctx.invoked_subcommand is not None:
        return
    from kisoms.sim.cli_entry import serve

    raise typer.Exit(serve(host, port, ws_port, seed, state, ready_file, scenario))


def _state_dir(ctx: typer.Context):
    return load_settings(_opts(ctx.find_root()).config).state_path


@sim_app.command("status")
def sim_status(ctx: typer.Context) -> None:
    """Whether the local simulator daemon runs (pid, URLs, log), from the state dir."""
    from kisoms.engine.sim_daemon import status

    found = status(_state_dir(ctx))
    if _opts(ctx.find_root()).json:
        print_json(found.as_dict())
    elif found.running:
        console.print(f"simulator running: pid {found.pid}  REST {found.rest_url}  WebSocket {found.ws_url}\n"
                      f"  state dir {found.state_dir}", highlight=False)
    else:
        console.print(f"simulator not running (state dir {found.state_dir})", highlight=False)


@sim_app.command("stop")
def sim_stop(ctx: typer.Context) -> None:
    """Stop the local simulator daemon (SIGTERM, then wait for it to exit); its state file is kept, so the
    next kisoms command starts it again with the same orders."""
    from kisoms.engine.sim_daemon import stop

    stopped = stop(_state_dir(ctx))
    if _opts(ctx.find_root()).json:
        print_json({"stopped": stopped is not None, "pid": stopped.pid if stopped else None})
    else:
        console.print(f"simulator stopped (pid {stopped.pid})" if stopped else "simulator was not running",
                      highlight=False)
