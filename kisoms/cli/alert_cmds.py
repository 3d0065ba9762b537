"""`kisoms alerts deliver`, and the hooks that make every kisoms process deliver what is due."""

from __future__ import annotations

import threading

import typer

from kisoms.cli.context import app, options, run_settings, settings_for, show_warnings
from kisoms.cli.render import say
from kisoms.cli.report import print_json, with_env
from kisoms.errors import KisomsError

alerts_app = typer.Typer(help="Alerts (the alerts table of the config): deliver what is due.", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")


@alerts_app.command("deliver")
def deliver(
    ctx: typer.Context,
    until_idle: bool = typer.Option(False, "--until-idle", help="Keep going, waiting out retries, until none is left."),
) -> None:
    """Scan the ledger's events into the alert outbox and send what is due (kisoms processes start this by
    themselves; run it by hand or from cron to flush)."""
    from kisoms.engine.alerts import deliver_due, deliver_until_idle
    from kisoms.engine.clock import clock_for
    from kisoms.engine.queries import open_ledger

    opts = options(ctx.find_root())
    settings = settings_for(ctx)  # names the env of every line; a foreign ledger is refused
    with open_ledger(settings, opts.ledger) as ledger:
        show_warnings(ledger.warnings)
        if until_idle:
            drained = deliver_until_idle(ledger, settings, clock_for(settings.env))
            _show({"drained": drained}, opts.json,
                  "alerts: outbox drained" if drained else "alerts: another process is delivering")
            return
        report = deliver_due(ledger, settings, clock_for(settings.env))
    _show(dict(report.__dict__), opts.json,
          f"alerts: {report.queued} queued, {report.delivered} delivered, {report.failed} failed")


def _show(data: dict, as_json: bool, line: str) -> None:
    if as_json:
        print_json(with_env(data))
    else:
        say(line)


# ------------------------------------------------------------------------------------------------- hooks

def _global_flags(argv: list[str]) -> tuple[dict, str | None]:
    """({--config, --ledger, --env: value}, command name) from the command line, as typer will read them."""
    flags, command = {}, None
    args = iter(argv)
    for arg in args:
        name, _, inline = arg.partition("=")
        if name in ("--config", "--ledger", "--env"):
            flags[name] = inline or next(args, None)
        elif not arg.startswith("-"):
            command = arg
            break
    return flags, command


def _alerting(argv: list[str]):
    flags, command = _global_flags(argv)
    from kisoms.engine.alert_commands import ALERT_COMMANDS

    if command not in ALERT_COMMANDS:
        return None
    try:
        settings = run_settings(flags.get("--config"), flags.get("--env"))  # (the command's own, once loaded)
    except KisomsError:
        return None
    found = (flags.get("--config"), flags.get("--ledger"), flags.get("--env"))
    return (settings, *found) if settings.alerts.targets else None


def before_command(argv: list[str]) -> None:
    """For `watch`: deliver from a daemon thread while it runs (every poll interval)."""
    found = _alerting(argv)
    if found is None or _global_flags(argv)[1] != "watch":
        return
    threading.Thread(target=_deliver_forever, args=found, name="kisoms-alerts", daemon=True).start()


def _deliver_forever(settings, config, ledger_flag, env) -> None:
    from kisoms.engine.alerts import deliver_due, exclusive
    from kisoms.engine.clock import clock_for
    from kisoms.engine.queries import open_ledger

    clock = clock_for(settings.env)
    with open_ledger(settings, ledger_flag) as ledger:
        while True:
            with exclusive(settings.state_path) as mine:
                if mine:
                    try:
                        deliver_due(ledger, settings, clock)
                    except Exception as exc:  # a busy ledger, a bad row: one line, and the next round tries again
                        typer.echo(f"alerts: {type(exc).__name__}: {exc}", err=True)
            clock.sleep(settings.watch.poll_interval)


def after_command(argv: list[str]) -> None:
    """After a command that may have made alerts: a detached deliverer sends them (this process exits now)."""
    found = _alerting(argv)
    if found is None:
        return
    from kisoms.engine.alerts import spawn_deliverer

    settings, config, ledger_flag, env = found
    try:
        spawn_deliverer(config, ledger_flag, env, settings.state_path)
    except Exception as exc:  # never fail (nor print a traceback) for an alert: the next process delivers it
        typer.echo(f"warning: alerts not handed to a deliverer: {type(exc).__name__}: {exc}", err=True)
