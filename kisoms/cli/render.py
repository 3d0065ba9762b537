"""Rich rendering and JSON shapes of orders, trades and reports. No business logic."""

from __future__ import annotations

import json
from typing import Any, Iterable

from rich.console import Console
from rich.table import Table

console = Console()

STATUS_STYLE = {
    "FILLED": "green", "PART_FILLED": "cyan", "ACCEPTED": "blue", "SENT": "blue", "CANCELLED": "dim",
    "REJECTED": "red", "ERROR": "bold red", "UNKNOWN": "bold yellow", "SENDING": "yellow",
    "PENDING_MODIFY": "magenta", "PENDING_CANCEL": "magenta", "NEW": "white",
}


def order_dict(order) -> dict[str, Any]:
    """An order as JSON-ready data."""
    return {
        "id": order.id, "idempotency_key": order.idempotency_key, "account": order.account,
        "strategy_version": order.strategy_version, "symbol": order.symbol, "side": order.side.value,
        "order_type": order.order_type.value, "qty": order.qty, "price": order.price,
        "exchange": order.exchange.value, "signal_ts": order.signal_ts.isoformat(), "status": order.status.value,
        "filled_qty": order.filled_qty, "avg_fill_price": order.avg_fill_price, "filled_amount": order.filled_amount,
        "cancelled_qty": order.cancelled_qty, "remaining_qty": order.remaining_qty,
        "broker_order_no": order.broker_order_no, "order_date": order.order_date,
        "reject_code": order.reject_code, "reject_reason": order.reject_reason, "price_note": order.price_note,
        "tags": order.tags, "version": order.version,
        "created_at": order.created_at.isoformat() if order.created_at else None,
        "updated_at": order.updated_at.isoformat() if order.updated_at else None,
    }


def print_json(data: Any) -> None:
    """One JSON document on stdout."""
    print(json.dumps(data, ensure_ascii=False, default=str), flush=True)


def _status(text: str) -> str:
    return f"[{STATUS_STYLE.get(text, 'white')}]{text}[/]"


def _avg(order) -> str:
    return f"{order.avg_fill_price:,.2f}" if order.avg_fill_price is not None else "-"


def orders_table(orders: Iterable, title: str = "Orders") -> Table:
    """A table of orders."""
    table = Table(title=title, header_style="bold")
    for col in ("id", "symbol", "side", "type", "qty", "price", "filled", "avg", "status", "broker no", "note"):
        table.add_column(col, justify="right" if col in ("id", "qty", "price", "filled", "avg") else "left")
    for o in orders:
        note = o.reject_reason or o.price_note or ""
        table.add_row(str(o.id), o.symbol, o.side.value, o.order_type.value, f"{o.qty:,}",
                      f"{o.price:,}" if o.price else "-", f"{o.filled_qty:,}", _avg(o), _status(o.status.value),
                      o.broker_order_no or "-", note[:60])
    return table


def print_orders(orders: list, title: str = "Orders") -> None:
    console.print(orders_table(orders, title) if orders else "[dim]no orders[/]")


def print_trade(order, history: list, fills: list, numbers: list) -> None:
    """An order with its status history, fills and broker numbers (the whole trade)."""
    from kisoms.ledger.owner import pid_at_host

    console.print(orders_table([order], title=f"Order {order.id} ({order.idempotency_key})"))
    nums = Table(title="Broker numbers", header_style="bold")
    for col in ("kind", "number", "state", "sent at", "last attempt", "owner"):
        nums.add_column(col)
    for n in numbers:
        nums.add_row(n.kind, n.broker_order_no or "-", n.state, str(n.sent_at or ""), str(n.last_attempt_at or ""),
                     pid_at_host(n.owner))
    console.print(nums)
    fl = Table(title="Fills", header_style="bold")
    for col in ("number", "qty", "price", "time", "source"):
        fl.add_column(col)
    for f in fills:
        fl.add_row(f.broker_order_no, f"{f.qty:,}", f"{f.price:,}", f.fill_time, f.source)
    console.print(fl)
    hist = Table(title="History", header_style="bold")
    for col in ("at", "event", "status", "source"):
        hist.add_column(col)
    for h in history:
        hist.add_row(str(h.event_ts), h.event or "", _status(h.status), h.source)
    console.print(hist)
