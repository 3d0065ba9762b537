"""What the account holds and traded: `kisoms positions`, `kisoms fills`, `kisoms export`."""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import date, datetime
from typing import Optional

import typer

from kisoms.cli.context import app, ledger_for, options, settings_for
from kisoms.cli.render import Column, console, kst, print_json_lines, say, show_table, styled
from kisoms.cli.report import print_json, with_env
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


def kst_text(value: str | None) -> str | None:
    """A stored UTC ISO time as KST with its offset (the ledger keeps UTC; people and exports see KST)."""
    if not value:
        return value
    try:
        return kst(datetime.fromisoformat(value))
    except ValueError:
        return value


TIME_FIELDS = ("signal_ts", "created_at", "recorded_at")


def in_kst(row: dict) -> dict:
    """The row with its stored times in KST (fill_time is the broker's own HHMMSS, already KST)."""
    return {k: kst_text(v) if k in TIME_FIELDS else v for k, v in row.items()}


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
    settings_for(ctx)  # the env every line names; a foreign ledger refused before the broker is asked
    with connect(opts.config, opts.ledger, env=opts.env, recover=False) as oms:
        balance = oms.positions(account)
    if opts.json:
        print_json(with_env(balance.as_dict()))
        return
    if balance.holdings or not console.is_terminal:
        show_table(f"Positions {balance.account}", HOLDING_COLUMNS, list(balance.holdings))
    else:
        say(styled(f"no holdings in {balance.account}", "dim"))
    show_table("Cash", CASH_COLUMNS, [balance])


HOLDING_COLUMNS = [
    Column("symbol", lambda h: h.symbol), Column("name", lambda h: h.name, drop=3),
    Column("qty", lambda h: f"{h.qty:,}", right=True), Column("orderable", lambda h: _money(h.orderable_qty), right=True),
    Column("avg price", lambda h: _money(h.avg_price), right=True, drop=2),
    Column("last", lambda h: _money(h.last_price), right=True),
    Column("valuation", lambda h: _money(h.valuation), right=True, drop=1),
    Column("unrealised P&L", lambda h: _money(h.unrealised_pnl), right=True),
]
CASH_COLUMNS = [
    Column("account", lambda b: b.account), Column("cash", lambda b: _money(b.cash), right=True),
    Column("buying power", lambda b: _money(b.buying_power), right=True),
    Column("total valuation", lambda b: _money(b.total_valuation), right=True),
]

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

    opts = options(ctx)
    settings = settings_for(ctx)
    when = parse_day(day, "--date") if day else _today(settings.env)
    with ledger_for(ctx) as ledger:
        rows = [in_kst(r) for r in day_fills(ledger, when, symbol=symbol.upper() if symbol else None,
                                             account=account)]
    per_symbol = summarise(rows)
    if opts.json:
        print_json_lines([s.as_dict() for s in per_symbol] if summary else rows)
        return
    _print_fills(when, rows, per_symbol)


FILL_COLUMNS = [
    Column("order", lambda f: str(f["order_id"]), right=True), Column("number", lambda f: f["broker_order_no"]),
    Column("time", lambda f: f["fill_time"] or "-"), Column("symbol", lambda f: f["symbol"]),
    Column("side", lambda f: f["side"]), Column("qty", lambda f: f"{f['qty']:,}", right=True),
    Column("price", lambda f: f"{f['price']:,}", right=True),
    Column("amount", lambda f: f"{f['amount']:,}", right=True, drop=2), Column("source", lambda f: f["source"], drop=1),
]
# "By symbol" names the block: off a terminal (no titles) it still tells the two blocks apart.
SUMMARY_COLUMNS = [
    Column("By symbol", lambda s: s.symbol), Column("bought", lambda s: f"{s.bought_qty:,}", right=True),
    Column("avg buy", lambda s: _money(s.avg_buy_price), right=True),
    Column("sold", lambda s: f"{s.sold_qty:,}", right=True),
    Column("avg sell", lambda s: _money(s.avg_sell_price), right=True),
    Column("net", lambda s: f"{s.net_qty:,}", right=True),
]


def _print_fills(when: date, rows: list[dict], per_symbol: list) -> None:
    if not rows and console.is_terminal:
        say(styled(f"no fills on {when:%Y-%m-%d}", "dim"))
        return
    show_table(f"Fills {when:%Y-%m-%d}", FILL_COLUMNS, rows)
    show_table("By symbol", SUMMARY_COLUMNS, per_symbol)


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

    settings_for(ctx)  # first: even a usage error below names the env
    if what not in EXPORT_KINDS:
        raise UsageError(f"export takes orders or fills, got {what!r}")
    if fmt not in EXPORT_FORMATS:
        raise UsageError(f"--format takes csv or jsonl, got {fmt!r}")
    start, end = parse_day(first, "--from"), parse_day(last, "--to")
    if end < start:
        raise UsageError(f"--to {last} is before --from {first}")
    opts = options(ctx)
    with ledger_for(ctx) as ledger:
        rows = [in_kst(r) for r in export_rows(ledger, what, start, end)]
    text = render_rows(rows, fmt, EXPORT_COLUMNS[what])
    if not output:
        typer.echo(text, nl=False)  # the data itself, in the format asked for
        return
    write_private(output, text)
    if opts.json:
        print_json(with_env({"written": output, "what": what, "rows": len(rows), "format": fmt}))
    else:
        say(f"{len(rows)} {what} written to {output} (0600)")
