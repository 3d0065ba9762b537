"""The `kisoms` typer app: global options, command registration, and the one place errors become exit codes."""

from __future__ import annotations

import os
import sys

import typer
import typer.main

from kisoms import __version__
from kisoms.cli.context import GlobalOptions, app, one_run
from kisoms.cli.exit_codes import ExitCode, exit_code_for
from kisoms.cli.pipes import flushed, reader_gone
from kisoms.cli.report import describe, report_error, report_internal
from kisoms.errors import KisomsError

# typer carries its own copy of click: take its exception classes from typer itself, never from `click`.
_CLICK_USAGE_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
_CLICK_EXCEPTION = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


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


def load_commands() -> None:
    """Import the command modules (they register themselves on `app`)."""
    from kisoms.cli import commands, ops, watch  # noqa: F401
    from kisoms.cli import account_cmds, alert_cmds, setup_cmds  # noqa: F401


_register = load_commands  # the name tests and older callers use


def _wants_json(args: list[str]) -> bool:
    """--json among the options, read before parsing can fail (so a usage error is JSON too)."""
    return "--json" in args[: args.index("--")] if "--" in args else "--json" in args


def json_first(args: list[str]) -> list[str]:
    """`kisoms status --json` means `kisoms --json status`: --json is accepted after the command name too
    (unless it is the value of an option, e.g. `--tag --json`, or comes after `--`)."""
    flags = _flag_options()
    moved, rest = [], []
    for n, token in enumerate(args):
        if token == "--":
            rest.extend(args[n:])
            break
        previous = args[n - 1] if n else ""
        takes_value = previous.startswith("-") and previous not in flags
        (moved if token == "--json" and n and not takes_value else rest).append(token)
    return moved[:1] + rest


def _flag_options() -> set[str]:
    """Every option of the app that takes no value."""
    group = typer.main.get_command(app)
    params = list(group.params) + [p for c in group.commands.values() for p in c.params]
    return {opt for p in params if getattr(p, "is_flag", False) for opt in p.opts}


def _alert_hook(name: str, args: list[str]) -> None:
    """Alerts ride along with every command (a deliverer after it, a thread in watch); they never fail one."""
    try:
        from kisoms.cli import alert_cmds

        getattr(alert_cmds, name)(args)
    except Exception:  # an undeliverable alert stays in the outbox; the next kisoms process delivers it
        pass


def main(argv: list[str] | None = None) -> int:
    """Console-script entry: run the app; every failure ends as one line (or one JSON object) and an exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    with one_run():
        as_json = _wants_json(args)
        rc = _run_app(args, as_json)
        try:
            return flushed(rc)  # what is still buffered, written now: a reader gone is answered here too
        except BrokenPipeError as exc:  # (not stdout's reader: a bug, said as one)
            return report_internal(exc, as_json)


def _run_app(args: list[str], as_json: bool) -> int:
    """The app on ``args``: every failure one line (or one JSON object) and an exit code."""
    try:
        load_commands()
        _alert_hook("before_command", args)
        rc = app(args=json_first(args), standalone_mode=False, prog_name="kisoms")
    except KeyboardInterrupt:
        return int(ExitCode.INTERRUPTED)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        return int(ExitCode.INTERRUPTED)
    except _CLICK_USAGE_ERROR as exc:
        return report_error(_usage_message(exc, args), ExitCode.USAGE, as_json)
    except _CLICK_EXCEPTION as exc:
        return report_error(exc.format_message(), ExitCode.USAGE, as_json)
    except KisomsError as exc:
        return report_error(describe(exc), exit_code_for(exc), as_json, kind=type(exc).__name__)
    except BrokenPipeError as exc:  # the reader of stdout left (`| head`): its choice, said by the exit code
        return reader_gone(exc) or report_internal(exc, as_json)
    except SystemExit as exc:  # (click answers any broken pipe with a silent exit 1: say which it was)
        broken = exc.__context__
        if not isinstance(broken, BrokenPipeError):
            raise
        return reader_gone(broken) or report_internal(broken, as_json)
    except Exception as exc:  # a bug: still one line, never a traceback (KISOMS_DEBUG=1 shows it)
        if os.environ.get("KISOMS_DEBUG"):
            raise
        return report_internal(exc, as_json)
    finally:
        _alert_hook("after_command", args)
    return rc if isinstance(rc, int) else 0


def _usage_message(exc: Exception, args: list[str]) -> str:
    """One line: what was wrong and how to get it right."""
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else _command_path(args)
    problem = exc.format_message().strip().rstrip(".")
    if type(exc).__name__ == "NoArgsIsHelpError" or problem == "Missing command":
        return f"no command given; run `{command} --help` to list the commands"
    joint = " Run" if problem.endswith("?") else "; run"
    return f"{problem}{joint} `{command} --help` for the usage"


def _command_path(args: list[str]) -> str:
    """``kisoms fills`` for ``kisoms --env paper fills --date``: the (sub)commands named in ``args``, for an
    error raised before click knew which command it was parsing."""
    command, path = typer.main.get_command(app), ["kisoms"]
    for token in args:
        sub = getattr(command, "commands", {}).get(token)
        if sub is not None:
            command = sub
            path.append(token)
        elif not token.startswith("-") and len(path) > 1:
            break
    return " ".join(path)


def run() -> None:
    """Console-script entry point (kept for older installs; new ones use kisoms.cli.entry:run)."""
    from kisoms.cli.entry import run as entry_run

    entry_run()
