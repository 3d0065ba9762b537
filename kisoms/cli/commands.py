"""The kisoms commands. Each parses its input, calls the engine, and renders the result."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Iterator, Optional

import typer
from pydantic import ValidationError as PydanticValidationError

from kisoms.cli.app import GlobalOptions, app
from kisoms.cli.exit_codes import ExitCode, exit_code_for
from kisoms.cli.render import console, order_dict, print_json, print_orders, print_trade
from kisoms.config import load_settings
from kisoms.domain.intent import ApprovedOrderIntent, parse_intent
from kisoms.domain.states import NON_TERMINAL, OrderStatus
from kisoms.errors import Halted, KisomsError, UsageError

STATUS_EXIT = {
    OrderStatus.REJECTED: ExitCode.BROKER_REJECT,
    OrderStatus.UNKNOWN: ExitCode.UNKNOWN_OR_HALTED,
    OrderStatus.SENDING: ExitCode.UNKNOWN_OR_HALTED,
    OrderStatus.ERROR: ExitCode.BROKER_UNREACHABLE,
}


def _opts(ctx: typer.Context) -> GlobalOptions:
    return ctx.obj if isinstance(ctx.obj, GlobalOptions) else GlobalOptions()


@contextmanager
def runtime(ctx: typer.Context, *, recover_first: bool = True) -> Iterator:
    """Open the runtime for a command; first resolve sends a crash may have left open."""
    from kisoms.engine.recovery import recover
    from kisoms.engine.runtime import open_runtime

    opts = _opts(ctx)
    with open_runtime(load_settings(opts.config, env=opts.env), opts.ledger) as rt:
        if recover_first:
            report = recover(rt, source="startup")
            for line in report.resolved + report.unresolved:
                typer.echo(f"recovery: {line}", err=True)
        yield rt


# ----------------------------------------------------------------------------------------------- submit

def _parse_line(text: str, where: str) -> ApprovedOrderIntent:
    try:
        return parse_intent(text)
    except PydanticValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'intent'}: {e['msg']}" for e in exc.errors())
        raise UsageError(f"{where}: {problems}") from None


def read_intents(path: str) -> list[ApprovedOrderIntent]:
    """Intents from a JSON file (one object or a list) or JSON Lines; ``-`` reads stdin."""
    try:
        text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
    except OSError as exc:
        raise UsageError(f"cannot read intent file {path}: {exc.strerror}") from None
    stripped = text.strip()
    if not stripped:
        raise UsageError(f"{path}: no intent in the file")
    if stripped.startswith("["):
        try:
            items = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}: not valid JSON: {exc}") from None
        return [_parse_line(json.dumps(item), f"{path}[{i}]") for i, item in enumerate(items)]
    lines = [(n, line) for n, line in enumerate(stripped.splitlines(), 1) if line.strip()]
    if len(lines) > 1 or stripped.startswith("{") and stripped.count("\n") == 0:
        return [_parse_line(line, f"{path}:{n}") for n, line in lines]
    return [_parse_line(stripped, path)]


def intent_from_flags(settings, account, strategy, symbol, side, order_type, qty, price, signal_ts, exchange, tags):
    if not (symbol and side and qty is not None):
        raise UsageError("give --symbol, --side and --qty (and --price for priced order types), or --intent FILE")
    account = account or settings.default_account
    if not account:
        raise UsageError("no account: pass --account or set default_account in the config")
    data = {"account": account, "strategy_version": strategy, "symbol": symbol, "side": side,
            "order_type": order_type, "qty": qty, "price": price,
            "signal_ts": signal_ts or datetime.now(timezone.utc).isoformat(), "exchange": exchange,
            "tags": dict(_split_tag(t) for t in tags)}
    return _parse_line(json.dumps({k: v for k, v in data.items() if v is not None}), "flags")


def _split_tag(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UsageError(f"--tag takes KEY=VALUE, got {text!r}")
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
    from kisoms.engine.submit import submit as submit_intent

    opts = _opts(ctx)
    settings = load_settings(opts.config, env=opts.env)
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
            _show_batch_error(n, str(exc), code, as_json)
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
    if as_json:
        print_json({"intent": n, "error": message, "exit_code": int(code)})
    else:
        typer.echo(f"error: intent {n}: {message}", err=True)


def _show_submit(result, as_json: bool) -> None:
    if as_json:
        print_json({**order_dict(result.order), "created": result.created, "sent": result.sent})
        return
    o = result.order
    verb = "created and sent" if result.created and result.sent else ("sent" if result.sent else "existing")
    console.print(f"order [bold]{o.id}[/] ({verb}) {o.side.value} {o.qty:,} {o.symbol} "
                  f"@ {o.price if o.price else o.order_type.value}: [bold]{o.status.value}[/] "
                  f"broker no {o.broker_order_no or '-'}  key {o.idempotency_key}", highlight=False)
    if o.reject_reason:
        console.print(f"  reason: {o.reject_reason}", highlight=False)
    if o.price_note:
        console.print(f"  price: {o.price_note}", highlight=False)


# --------------------------------------------------------------------------------------- modify / cancel

@app.command()
def modify(
    ctx: typer.Context,
    order_id: int = typer.Argument(..., help="kisoms order id."),
    price: Optional[int] = typer.Option(None, help="New limit price in KRW."),
    qty: Optional[int] = typer.Option(None, help="Quantity to amend (must be all remaining)."),
) -> None:
    """Amend the remaining quantity of an open order to a new price (KIS gives it a new number)."""
    from kisoms.engine.amend import modify as modify_order

    if price is None and qty is None:
        raise UsageError("give --price (and optionally --qty)")
    with runtime(ctx) as rt:
        _show_order(modify_order(rt, order_id, price=price, qty=qty), _opts(ctx).json)


@app.command()
def cancel(
    ctx: typer.Context,
    order_id: int = typer.Argument(..., help="kisoms order id."),
    qty: Optional[int] = typer.Option(None, help="Cancel only this many of the remaining shares."),
) -> None:
    """Cancel the remaining quantity of an open order (or part of it with --qty)."""
    from kisoms.engine.amend import cancel as cancel_order

    with runtime(ctx) as rt:
        _show_order(cancel_order(rt, order_id, qty=qty), _opts(ctx).json)


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
    limit: int = typer.Option(50, help="At most this many orders, newest first."),
) -> None:
    """Show orders from the ledger (no broker call)."""
    from kisoms.engine.queries import open_ledger, trade

    opts = _opts(ctx)
    with open_ledger(load_settings(opts.config, env=opts.env), opts.ledger) as ledger:
        if order_id is not None:
            t = trade(ledger, order_id)
            if opts.json:
                print_json(t.as_dict(order_dict))
            else:
                print_trade(t.order, t.history, t.fills, t.numbers)
            return
        statuses = list(NON_TERMINAL) if open_only else None
        orders = ledger.list_orders(statuses=statuses, symbol=symbol.upper() if symbol else None, limit=limit)
        if opts.json:
            print_json([order_dict(o) for o in orders])
        else:
            print_orders(orders)
            for halt in ledger.halts():
                console.print(f"[bold red]HALTED[/] ({halt.scope}): {halt.reason}", highlight=False)
