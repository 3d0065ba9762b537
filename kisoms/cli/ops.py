"""Operational commands: reconcile, halt/resume/resolve, audit (the simulator: setup_cmds.py)."""

from __future__ import annotations

import typer

from kisoms.cli.context import app, ledger_for, options, runtime
from kisoms.cli.exit_codes import ExitCode
from kisoms.cli.render import console, event_dict, print_json, print_json_lines, say, styled
from kisoms.cli.report import one_line, with_env
from kisoms.errors import UsageError


@app.command()
def reconcile(
    ctx: typer.Context,
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would change; write nothing."),
) -> None:
    """Force the ledger to the broker's books (the cron job).

    Exit 0: in sync. 7: the ledger was corrected. 5: a discrepancy could not be fixed (halt set).
    """
    from rich.progress import Progress

    from kisoms.engine.reconcile import reconcile as run_reconcile

    opts = options(ctx)
    with runtime(ctx, recover_first=False) as rt, Progress(console=console, transient=True,
                                                           disable=opts.json or not console.is_terminal) as progress:
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
        print_json(with_env({**report.as_dict(), "exit": int(_reconcile_exit(report))}))
        return
    prefix = styled("[dry run] ", "bold yellow") if report.dry_run else ""
    verdict = "in sync" if report.in_sync else f"{len(report.changes)} corrections"
    would = " (nothing written)" if report.dry_run else ""
    say(prefix, f"checked {report.checked} orders: {verdict}{would}")
    for line in report.recovered:
        say(prefix, f"  recovered: {one_line(line)}")
    for c in report.changes:
        say(prefix, f"  order {c.order_id}: {c.before} → {c.after} ({one_line(c.detail)})")
    for e in report.external:
        say(prefix, styled("  not placed by kisoms", "yellow"), f": {external_line(e)}")
    for line in report.in_flight:
        say(prefix, f"  in flight: {one_line(line)}")
    for u in report.unresolved:
        say(prefix, styled("  unresolved", "bold red"), f": {one_line(u)}")


def external_line(e: dict) -> str:
    """An order kisoms did not place, as a readable line."""
    price = f"{e['price']:,}" if e.get("price") else "market"
    return (f"account {e.get('account')} {e.get('side')} {e.get('qty', 0):,} {e.get('symbol')} @ {price}, "
            f"broker no {e.get('odno')}")


@app.command()
def halt(
    ctx: typer.Context,
    reason: str = typer.Argument("halted by hand", help="Why."),
    account: str = typer.Option(None, "--account", help="Halt only this account (default: all accounts)."),
) -> None:
    """Turn the kill switch on: no new order or amend goes out (for the account) until `kisoms resume`;
    cancels still do, since they only take risk off."""
    from kisoms.engine.control import set_halt

    opts = options(ctx)
    with ledger_for(ctx) as ledger:
        set_halt(ledger, reason, account)
    scope = f"account {account}" if account else "all accounts"
    if opts.json:
        print_json(with_env({"halted": True, "scope": scope, "account": account, "reason": reason}))
    else:
        say(styled("halted", "bold red"), f" ({scope}): {one_line(reason)}")


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

    opts = options(ctx)
    with ledger_for(ctx) as ledger:
        still = resume_sending(ledger, force=force, account=account, everything=everything)
    scope = "every switch" if everything else (f"account {account}" if account else "global")
    if opts.json:
        print_json(with_env({"resumed": scope, "still_halted": [
            {"scope": h.scope, "account": h.account, "reason": h.reason} for h in still]}))
        return
    say(f"resumed: {scope}")
    for halt in still:
        say(styled("still halted", "bold red"), f" ({halt.scope}): {one_line(halt.reason)}")


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
        raise UsageError("give exactly one of --not-at-broker or --resend")
    with runtime(ctx, recover_first=False) as rt:
        order = resolve_unknown(rt, order_id, resend=resend)
    if options(ctx).json:
        from kisoms.cli.render import order_dict

        print_json(order_dict(order))
    else:
        say(f"order {order.id}: ", styled(order.status.value, "bold"))


@app.command("verify-audit")
def verify_audit(ctx: typer.Context) -> None:
    """Check the audit log's hash chain: exit 10 if any row was edited, inserted or deleted."""

    opts = options(ctx)
    with ledger_for(ctx) as ledger:
        rows = ledger.verify_audit_chain()
    if opts.json:
        print_json(with_env({"intact": True, "rows": rows}))
    else:
        say(f"audit chain intact: {rows} rows")


@app.command()
def events(
    ctx: typer.Context,
    since: int = typer.Option(0, "--since", min=0, help="Only events after this id."),
    limit: int = typer.Option(1000, min=0, help="At most this many."),
) -> None:
    """Print ledger events as JSON Lines (order changes, fills, connection state)."""
    with ledger_for(ctx) as ledger:
        print_json_lines(event_dict(e) for e in ledger.events_since(since, limit))

