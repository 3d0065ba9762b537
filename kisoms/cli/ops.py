"""Operational commands: reconcile, halt/resume/resolve, audit (the simulator: setup_cmds.py)."""

from __future__ import annotations

import typer
from rich.progress import Progress

from kisoms.cli.app import app
from kisoms.cli.commands import _opts, runtime
from kisoms.cli.exit_codes import ExitCode
from kisoms.cli.render import console, print_json
from kisoms.config import load_settings


@app.command()
def reconcile(
    ctx: typer.Context,
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would change; write nothing."),
) -> None:
    """Force the ledger to the broker's books (the cron job).

    Exit 0: in sync. 7: the ledger was corrected. 5: a discrepancy could not be fixed (halt set).
    """
    from kisoms.engine.reconcile import reconcile as run_reconcile

    opts = _opts(ctx)
    with runtime(ctx, recover_first=False) as rt, Progress(console=console, transient=True,
                                                           disable=opts.json) as progress:
        task = progress.add_task("reconciling", total=None)
        report = run_reconcile(rt, dry_run=dry_run,
                               progress=lambda done, total: progress.update(task, completed=done, total=total))
    _show_report(report, opts.json)
    raise typer.Exit(int(_reconcile_exit(report)))


def _reconcile_exit(report) -> ExitCode:
    if report.unresolved:
        return ExitCode.UNKNOWN_OR_HALTED
    return ExitCode.OK if report.in_sync else ExitCode.RECONCILE_CORRECTED


def _show_report(report, as_json: bool) -> None:
    if as_json:
        print_json(report.as_dict())
        return
    prefix = "[dry run] " if report.dry_run else ""
    console.print(f"{prefix}checked {report.checked} orders: "
                  + ("in sync" if report.in_sync else f"{len(report.changes)} corrections"), highlight=False)
    for line in report.recovered:
        console.print(f"  recovered: {line}", highlight=False)
    for c in report.changes:
        console.print(f"  order {c.order_id}: {c.before} → {c.after} ({c.detail})", highlight=False)
    for e in report.external:
        console.print(f"  [yellow]not placed by kisoms[/]: {e}", highlight=False)
    for line in report.in_flight:
        console.print(f"  in flight: {line}", highlight=False)
    for u in report.unresolved:
        console.print(f"  [bold red]unresolved[/]: {u}", highlight=False)


@app.command()
def halt(
    ctx: typer.Context,
    reason: str = typer.Argument("halted by hand", help="Why."),
    account: str = typer.Option(None, "--account", help="Halt only this account (default: all accounts)."),
) -> None:
    """Turn the kill switch on: no new order or amend goes out (for the account) until `kisoms resume`;
    cancels still do, since they only take risk off."""
    from kisoms.engine.control import set_halt
    from kisoms.engine.queries import open_ledger

    opts = _opts(ctx)
    with open_ledger(load_settings(opts.config, env=opts.env), opts.ledger) as ledger:
        set_halt(ledger, reason, account)
    console.print(f"[bold red]halted[/] ({f'account {account}' if account else 'all accounts'}): {reason}",
                  highlight=False)


@app.command()
def resume(
    ctx: typer.Context,
    force: bool = typer.Option(False, "--force", help="Resume even with orders still UNKNOWN."),
    account: str = typer.Option(None, "--account", help="Turn off this account's switch."),
    everything: bool = typer.Option(False, "--all", help="Turn off every switch, global and per account."),
) -> None:
    """Turn a kill switch off: the global one, one account's (--account) or every one (--all); refused
    while orders of unknown outcome remain, unless --force. Says which switches are still on."""
    from kisoms.engine.control import resume as resume_sending
    from kisoms.engine.queries import open_ledger

    opts = _opts(ctx)
    with open_ledger(load_settings(opts.config, env=opts.env), opts.ledger) as ledger:
        still = resume_sending(ledger, force=force, account=account, everything=everything)
    console.print(f"resumed: {'every switch' if everything else (f'account {account}' if account else 'global')}")
    for halt in still:
        console.print(f"[bold red]still halted[/] ({halt.scope}): {halt.reason}", highlight=False)


@app.command()
def resolve(
    ctx: typer.Context,
    order_id: int = typer.Argument(..., help="An order stuck in UNKNOWN or SENDING."),
    not_at_broker: bool = typer.Option(False, "--not-at-broker",
                                       help="You checked KIS: the order is not there. Marks it ERROR."),
    resend: bool = typer.Option(False, "--resend", help="You checked KIS: send it again."),
) -> None:
    """Settle an order of unknown outcome after looking at the broker once more."""
    from kisoms.engine.control import resolve_unknown

    if not_at_broker == resend:
        raise typer.BadParameter("give exactly one of --not-at-broker or --resend")
    with runtime(ctx, recover_first=False) as rt:
        order = resolve_unknown(rt, order_id, resend=resend)
    console.print(f"order {order.id}: {order.status.value}", highlight=False)


@app.command("verify-audit")
def verify_audit(ctx: typer.Context) -> None:
    """Check the audit log's hash chain: exit 10 if any row was edited, inserted or deleted."""
    from kisoms.engine.queries import open_ledger

    opts = _opts(ctx)
    with open_ledger(load_settings(opts.config, env=opts.env), opts.ledger) as ledger:
        rows = ledger.verify_audit_chain()
    console.print(f"audit chain intact: {rows} rows")


@app.command()
def events(
    ctx: typer.Context,
    since: int = typer.Option(0, "--since", help="Only events after this id."),
    limit: int = typer.Option(1000, help="At most this many."),
) -> None:
    """Print ledger events as JSON Lines (order changes, fills, connection state)."""
    from kisoms.engine.queries import open_ledger

    opts = _opts(ctx)
    with open_ledger(load_settings(opts.config, env=opts.env), opts.ledger) as ledger:
        for event in ledger.events_since(since, limit):
            print_json(event.as_dict())

