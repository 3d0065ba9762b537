"""What the account holds and traded: `kisoms positions`, `kisoms fills`, `kisoms export`."""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import date, datetime
from typing import Optional

import typer
from rich.table import Table

from kisoms.cli.context import app, options
from kisoms.cli.render import console, print_json
from kisoms.config import load_settings
from kisoms.errors import UsageError


def parse_day(text: str, flag: str) -> date:
    """A KST trading date from YYYY-MM-DD or YYYYMMDD; anything else is a usage error."""
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise UsageError(f"{flag} takes a date as YYYY-MM-DD or YYYYMMDD, got {text!r}")


def _today(env: str) -> date:
    from kisoms.engine.clock import clock_for, kst_date

    return kst_date(clock_for(env).now())


def _money(value) -> str:
    if value is None:
        return "-"
    return f"{value:,.2f}" if isinstance(value, float) and not value.is_integer() else f"{int(value):,}"


# ---------------------------------------------------------------------------------------------- positions

@app.command()
def positions(
    ctx: typer.Context,
    account: Optional[str] = typer.Option(None, "--account", help="Account CANO-ACNT_PRDT_CD (default: default_account)."),
) -> None:
    """Holdings from the broker's inquire-balance (every page): quantity, orderable quantity, average and
    last price, valuation, unrealised P&L; plus cash and buying power."""
    from kisoms.api import connect

    opts = options(ctx)
    with connect(opts.config, opts.ledger, env=opts.env, recover=False) as oms:
        balance = oms.positions(account)
    if opts.json:
        print_json(balance.as_dict())
        return
    table = Table(title=f"Positions {balance.account}", header_style="bold")
    for col in ("symbol", "name", "qty", "orderable", "avg price", "last", "valuation", "unrealised P&L"):
        table.add_column(col, justify="left" if col in ("symbol", "name") else "right")
    for h in balance.holdings:
        table.add_row(h.symbol, h.name, f"{h.qty:,}", _money(h.orderable_qty), _money(h.avg_price),
                      _money(h.last_price), _money(h.valuation), _money(h.unrealised_pnl))
    console.print(table if balance.holdings else "[dim]no holdings[/]")
    console.print(f"cash {_money(balance.cash)}  buying power {_money(balance.buying_power)}  "
                  f"total valuation {_money(balance.total_valuation)}", highlight=False)


# -------------------------------------------------------------------------------------------------- fills

@app.command()
def fills(
    ctx: typer.Context,
    day: Optional[str] = typer.Option(None, "--date", help="KST trading date YYYY-MM-DD (default: today)."),
    symbol: Optional[str] = typer.Option(None, "--symbol", help="Only this symbol."),
    account: Optional[str] = typer.Option(None, "--account", help="Only this account."),
    summary: bool = typer.Option(False, "--summary", help="With --json: the per-symbol lines, not the fills."),
) -> None:
    """The day's fills from the ledger (source: notice, inquiry or reconcile) with amounts, and per symbol the
    net quantity and the average price bought and sold. No broker call."""
    from kisoms.engine.books import day_fills, summarise
    from kisoms.engine.queries import open_ledger

    opts = options(ctx)
    settings = load_settings(opts.config, env=opts.env)
    when = parse_day(day, "--date") if day else _today(settings.env)
    with open_ledger(settings, opts.ledger) as ledger:
        rows = day_fills(ledger, when, symbol=symbol.upper() if symbol else None, account=account)
    per_symbol = summarise(rows)
    if opts.json:
        for item in ([s.as_dict() for s in per_symbol] if summary else rows):
            print_json(item)
        return
    _print_fills(when, rows, per_symbol)


def _print_fills(when: date, rows: list[dict], per_symbol: list) -> None:
    if not rows:
        console.print(f"[dim]no fills on {when:%Y-%m-%d}[/]")
        return
    table = Table(title=f"Fills {when:%Y-%m-%d}", header_style="bold")
    for col in ("order", "number", "time", "symbol", "side", "qty", "price", "amount", "source"):
        table.add_column(col, justify="right" if col in ("order", "qty", "price", "amount") else "left")
    for f in rows:
        table.add_row(str(f["order_id"]), f["broker_order_no"], f["fill_time"] or "-", f["symbol"], f["side"],
                      f"{f['qty']:,}", f"{f['price']:,}", f"{f['amount']:,}", f["source"])
    console.print(table)
    sums = Table(title="By symbol", header_style="bold")
    for col in ("symbol", "bought", "avg buy", "sold", "avg sell", "net"):
        sums.add_column(col, justify="left" if col == "symbol" else "right")
    for s in per_symbol:
        sums.add_row(s.symbol, f"{s.bought_qty:,}", _money(s.avg_buy_price), f"{s.sold_qty:,}",
                     _money(s.avg_sell_price), f"{s.net_qty:,}")
    console.print(sums)


# ------------------------------------------------------------------------------------------------- export

def render_rows(rows: list[dict], fmt: str, columns: list[str]) -> str:
    """CSV (header first) or JSON Lines text of ``rows``."""
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def write_private(path: str, text: str) -> None:
    """Write ``text`` to a new or replaced file readable by its owner only (0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)


EXPORT_KINDS = ("orders", "fills")
EXPORT_FORMATS = ("csv", "jsonl")


@app.command()
def export(
    ctx: typer.Context,
    what: str = typer.Argument(..., help="orders or fills."),
    first: str = typer.Option(..., "--from", help="First KST trading date, YYYY-MM-DD."),
    last: str = typer.Option(..., "--to", help="Last KST trading date, YYYY-MM-DD (inclusive)."),
    fmt: str = typer.Option("csv", "--format", help="csv or jsonl."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Write to this file (0600) instead of stdout."),
) -> None:
    """Orders or fills from the ledger for bookkeeping, by KST trading date (an order the broker never booked
    counts on the day it was created). No broker call."""
    from kisoms.engine.books import EXPORT_COLUMNS, export_rows
    from kisoms.engine.queries import open_ledger

    if what not in EXPORT_KINDS:
        raise UsageError(f"export takes orders or fills, got {what!r}")
    if fmt not in EXPORT_FORMATS:
        raise UsageError(f"--format takes csv or jsonl, got {fmt!r}")
    start, end = parse_day(first, "--from"), parse_day(last, "--to")
    if end < start:
        raise UsageError(f"--to {last} is before --from {first}")
    opts = options(ctx)
    with open_ledger(load_settings(opts.config, env=opts.env), opts.ledger) as ledger:
        text = render_rows(export_rows(ledger, what, start, end), fmt, EXPORT_COLUMNS[what])
    if output:
        write_private(output, text)
    else:
        typer.echo(text, nl=False)
