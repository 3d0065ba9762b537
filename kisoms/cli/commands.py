"""The kisoms commands. Each parses its input, calls the engine, and renders the result."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

import typer

from kisoms.cli.context import app, ledger_for, options, runtime, settings_for
from kisoms.cli.exit_codes import ExitCode, exit_code_for
from kisoms.cli.render import (order_dict, print_json, print_json_lines, print_orders, print_trade, say, show_halts,
                               styled)
from kisoms.cli.report import describe, one_line, report_error, with_env
from kisoms.domain.states import OrderStatus
from kisoms.errors import Halted, KisomsError, UsageError

STATUS_EXIT = {
    OrderStatus.REJECTED: ExitCode.BROKER_REJECT,
    OrderStatus.UNKNOWN: ExitCode.UNKNOWN_OR_HALTED,
    OrderStatus.SENDING: ExitCode.UNKNOWN_OR_HALTED,
    OrderStatus.ERROR: ExitCode.BROKER_UNREACHABLE,
}


# ----------------------------------------------------------------------------------------------- submit

def intent_from_flags(settings, account, strategy, symbol, side, order_type, qty, price, signal_ts, exchange, tags):
    from kisoms.cli.intents import intent_from_data  # the intent model loads only for commands that take one

    if not (symbol and side and qty is not None):
        raise UsageError("give --symbol, --side and --qty (and --price for priced order types), or --intent FILE")
    account = account or settings.default_account
    if not account:
        raise UsageError("no account: pass --account or set default_account in the config")
    data = {"account": account, "strategy_version": strategy, "symbol": symbol, "side": side,
            "order_type": order_type, "qty": qty, "price": price,
            "signal_ts": signal_ts or datetime.now(timezone.utc).isoformat(), "exchange": exchange,
            "tags": dict(_split_tag(t) for t in tags)}
    return intent_from_data({k: v for k, v in data.items() if v is not None}, "flags")


def _split_tag(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UsageError(f"--tag takes KEY=VALUE, got {text[:80]!r}")
    return key, value


@app.command()
def submit(
    ctx: typer.Context,
    intent: Optional[str] = typer.Option(None, "--intent", help="Intent file: JSON, JSON Lines for a batch, - for stdin."),
    account: Optional[str] = typer.Option(None, help="Account CANO-ACNT_PRDT_CD, e.g. 50000001-01."),
    strategy: str = typer.Option("manual", "--strategy", help="strategy_version of the intent."),
    symbol: Optional[str] = typer.Option(None, help="6-character KRX code, e.g. 005930."),
    side: Optional[str] = typer.Option(None, help="buy or sell."),
    order_type: str = typer.Option("limit", "--type", help="limit, market, best_limit, ioc_limit, ..."),
    qty: Optional[int] = typer.Option(None, help="Quantity in shares."),
    price: Optional[int] = typer.Option(None, help="Limit price in KRW (priced order types only)."),
    signal_ts: Optional[str] = typer.Option(None, "--signal-ts", help="Signal time with zone (default: now)."),
    exchange: Optional[str] = typer.Option(None, help="KRX, NXT or SOR (default from config)."),
    tag: list[str] = typer.Option([], "--tag", help="KEY=VALUE tag, repeatable."),
) -> None:
    """Create an order from an approved intent and send it to the broker exactly once.

    The same intent (account, strategy_version, symbol, signal_ts, side) twice returns the same order
    and sends nothing.
    """
    from kisoms.cli.intents import read_intents
    from kisoms.engine.submit import submit as submit_intent

    opts = options(ctx)
    settings = settings_for(ctx)
    intents = read_intents(intent) if intent else [intent_from_flags(
        settings, account, strategy, symbol, side, order_type, qty, price, signal_ts, exchange, tag)]
    if len(intents) == 1:
        with runtime(ctx) as rt:
            result = submit_intent(rt, intents[0])
            _show_submit(result, opts.json)
        raise typer.Exit(int(STATUS_EXIT.get(result.order.status, ExitCode.OK)))
    with runtime(ctx) as rt:
        raise typer.Exit(int(_submit_batch(rt, intents, submit_intent, opts.json)))


def _submit_batch(rt, intents: list, submit_intent, as_json: bool) -> ExitCode:
    """Every intent of a batch, each reported; one refused does not stop the rest. A kill switch does: an
    account's stops that account's later intents (listed as not attempted), the global one the whole rest.
    Returns the worst exit code."""
    worst, halted = ExitCode.OK, set()
    for n, item in enumerate(intents, 1):
        if item.account in halted:
            _show_batch_error(n, f"not attempted: account {item.account} is halted", ExitCode.UNKNOWN_OR_HALTED,
                              as_json)
            continue
        try:
            result = submit_intent(rt, item)
        except KisomsError as exc:
            code = exit_code_for(exc)
            worst = max(worst, code)
            _show_batch_error(n, describe(exc), code, as_json)
            halt = rt.ledger.halt_state(item.account) if isinstance(exc, Halted) else None
            if halt is not None and halt.account is None:
                _show_batch_error(n + 1, f"intents {n + 1}..{len(intents)} not attempted: halted",
                                  code, as_json) if n < len(intents) else None
                break
            if halt is not None:
                halted.add(item.account)
            continue
        _show_submit(result, as_json)
        worst = max(worst, STATUS_EXIT.get(result.order.status, ExitCode.OK))
    return worst


def _show_batch_error(n: int, message: str, code: ExitCode, as_json: bool) -> None:
    """One intent of a batch refused: with --json a line of the batch's JSON Lines (the error shape, with
    the intent's number); else one error line on stderr."""
    if as_json:
        print_json(with_env({"intent": n, "code": code.name.lower(), "exit": int(code), "message": one_line(message)}))
    else:
        report_error(f"intent {n}: {message}", code, False)


def _show_submit(result, as_json: bool) -> None:
    if as_json:
        print_json({**order_dict(result.order), "created": result.created, "sent": result.sent})
        return
    o = result.order
    verb = "created and sent" if result.created and result.sent else ("sent" if result.sent else "existing")
    say("order ", styled(str(o.id), "bold"), f" ({verb}) {o.side.value} {o.qty:,} {o.symbol} "
        f"@ {f'{o.price:,}' if o.price else o.order_type.value}: ", styled(o.status.value, "bold"),
        f" broker no {o.broker_order_no or '-'} key {o.idempotency_key}")
    if o.reject_reason:
        say(f"  reason: {one_line(o.reject_reason)}")
    if o.price_note:
        say(f"  price: {o.price_note}")


# --------------------------------------------------------------------------------------- modify / cancel

@app.command()
def modify(
    ctx: typer.Context,
    order_id: int = typer.Argument(..., help="kisoms order id."),
    price: Optional[int] = typer.Option(None, help="New limit price in KRW."),
    qty: Optional[int] = typer.Option(None, help="Quantity to amend (must be all remaining)."),
) -> None:
    """Amend the remaining quantity of an open order to a new price (KIS gives it a new number)."""
    from kisoms.api import OMS

    if price is None and qty is None:
        raise UsageError("give --price (and optionally --qty)")
    with runtime(ctx) as rt:  # the API over this command's runtime (alerts: the CLI's own hook delivers them)
        _show_order(OMS(rt).modify(order_id, price=price, qty=qty).order, options(ctx).json)


@app.command()
def cancel(
    ctx: typer.Context,
    order_id: int = typer.Argument(..., help="kisoms order id."),
    qty: Optional[int] = typer.Option(None, help="Cancel only this many of the remaining shares."),
) -> None:
    """Cancel the remaining quantity of an open order (or part of it with --qty)."""
    from kisoms.api import OMS

    with runtime(ctx) as rt:
        _show_order(OMS(rt).cancel(order_id, qty=qty).order, options(ctx).json)


def _show_order(order, as_json: bool) -> None:
    if as_json:
        print_json(order_dict(order))
    else:
        print_orders([order], title=f"Order {order.id}")
    if order.status in STATUS_EXIT:
        raise typer.Exit(int(STATUS_EXIT[order.status]))


# ------------------------------------------------------------------------------------------------ status

@app.command()
def status(
    ctx: typer.Context,
    order_id: Optional[int] = typer.Argument(None, help="Show one order in full (history, fills, numbers)."),
    open_only: bool = typer.Option(False, "--open", help="Only orders not yet in a final state."),
    symbol: Optional[str] = typer.Option(None, help="Only this symbol."),
    limit: int = typer.Option(50, min=0, help="At most this many orders, newest first."),
) -> None:
    """Show orders from the ledger (no broker call)."""
    from kisoms.engine.queries import orders as find_orders, trade

    opts = options(ctx)
    with ledger_for(ctx) as ledger:
        if order_id is not None:
            t = trade(ledger, order_id)
            if opts.json:
                print_json(with_env(t.as_dict(order_dict)))
            else:
                print_trade(t.order, t.history, t.fills, t.numbers)
            return
        orders = find_orders(ledger, open_only=open_only, symbol=symbol, limit=limit)  # as OMS.trades() finds them
        if opts.json:
            print_json_lines(order_dict(o) for o in orders)
            return
        print_orders(orders)
        show_halts(ledger.halts())
