"""The `kisoms` typer app: global options, command registration, and the one place errors become exit codes."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import typer
from rich.console import Console

from kisoms import __version__
from kisoms.cli.exit_codes import ExitCode, exit_code_for
from kisoms.errors import KisomsError

app = typer.Typer(
    name="kisoms",
    help="Order management and execution for the KIS Open API (domestic stocks). "
    "Runs against the built-in simulator unless configured for paper or real trading.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
)

err_console = Console(stderr=True)


@dataclass
class GlobalOptions:
    """Options every command sees (typer's ctx.obj)."""

    config: str | None = None
    ledger: str | None = None
    json: bool = False
    env: str | None = None  # --env: wins over the config file and KISOMS_ENV


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kisoms {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    ctx: typer.Context,
    config: str = typer.Option(None, "--config", envvar="KISOMS_CONFIG", help="Config file (TOML)."),
    ledger: str = typer.Option(None, "--ledger", envvar="KISOMS_LEDGER", help="Ledger file (SQLite)."),
    env: str = typer.Option(None, "--env", help="Environment: sim, paper or real (overrides the config)."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable JSON output."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Global options."""
    ctx.obj = GlobalOptions(config=config, ledger=ledger, json=json_out, env=env)


def _register() -> None:
    from kisoms.cli import commands, ops, watch  # noqa: F401  (registers commands on `app`)
    from kisoms.cli import account_cmds, alert_cmds, setup_cmds  # noqa: F401  (issue 13)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry: run the app and turn kisoms errors into documented exit codes."""
    _register()
    from kisoms.cli.alert_cmds import after_command, before_command

    args = sys.argv[1:] if argv is None else argv
    before_command(args)
    try:
        rc = app(args=argv, standalone_mode=False)
    except KisomsError as exc:
        code = exit_code_for(exc)
        err_console.print(f"[bold red]error[/]: {exc}", markup=True, highlight=False)
        return int(code)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # click's own usage errors and aborts
        return _click_exit(exc)
    finally:
        after_command(args)
    return rc if isinstance(rc, int) else 0


def _click_exit(exc: Exception) -> int:
    import click

    if isinstance(exc, click.exceptions.Exit):
        return exc.exit_code
    if isinstance(exc, click.ClickException):
        exc.show()
        return int(ExitCode.USAGE)
    if isinstance(exc, click.exceptions.Abort):
        return 130
    raise exc


def run() -> None:
    sys.exit(main())
