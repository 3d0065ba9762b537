"""What a row of orders says, as plain strings and JSON, with no rendering library: the table in
``kisoms.cli.render`` styles these cells; ``kisoms.cli.quick`` writes them as tab-separated lines."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from kisoms.cli.report import with_env
from kisoms.engine.clock import KST

NOTE_MAX = 60
NOT_SENT_NOTE = "not sent: submit the same intent again to send it"


def kst(value: datetime | None) -> str:
    """A time in KST with its offset (2026-11-25T09:01:02+09:00); '' for none."""
    if value is None:
        return ""
    if value.tzinfo is None:
        return value.isoformat(timespec="seconds")
    return value.astimezone(KST).isoformat(timespec="seconds")


def order_dict(order) -> dict[str, Any]:
    """An order as JSON-ready data (with the env it belongs to)."""
    return with_env({
        "id": order.id, "idempotency_key": order.idempotency_key, "account": order.account,
        "strategy_version": order.strategy_version, "symbol": order.symbol, "side": order.side.value,
        "order_type": order.order_type.value, "qty": order.qty, "price": order.price,
        "exchange": order.exchange.value, "signal_ts": kst(order.signal_ts), "status": order.status.value,
        "filled_qty": order.filled_qty, "avg_fill_price": order.avg_fill_price, "filled_amount": order.filled_amount,
        "cancelled_qty": order.cancelled_qty, "remaining_qty": order.remaining_qty,
        "broker_order_no": order.broker_order_no, "order_date": order.order_date,
        "reject_code": order.reject_code, "reject_reason": order.reject_reason, "price_note": order.price_note,
        "tags": order.tags, "version": order.version,
        "created_at": kst(order.created_at) or None, "updated_at": kst(order.updated_at) or None,
    })


def plain_cell(text: str) -> str:
    """A cell for a tab-separated line: no tabs, no newlines inside."""
    return " ".join(text.split("\t")).replace("\n", " ")


def tsv_lines(env: str, names: list[str], rows: list[list[str]]) -> list[str]:
    """What a pipe gets instead of a table: a header, then one tab-separated line per row, each led by the env."""
    return ["\t".join(["env", *names])] + ["\t".join([env, *map(plain_cell, cells)]) for cells in rows]


def _avg(order) -> str:
    return f"{order.avg_fill_price:,.2f}" if order.avg_fill_price is not None else "-"


def _note(order) -> str:
    note = order.reject_reason or order.price_note or (NOT_SENT_NOTE if order.status.value == "NEW" else "")
    return note if len(note) <= NOTE_MAX else note[:NOTE_MAX - 1] + "…"


def _cell(name: str, cell: Callable[[Any], str], *, drop: int = 0, right: bool = False) -> tuple:
    return name, cell, drop, right


ORDER_CELLS = [  # (name, cell, drop: 0 = a key column, higher dropped first to fit, right-aligned)
    _cell("id", lambda o: str(o.id), right=True),
    _cell("symbol", lambda o: o.symbol),
    _cell("side", lambda o: o.side.value),
    _cell("type", lambda o: o.order_type.value, drop=4),
    _cell("qty", lambda o: f"{o.qty:,}", right=True),
    _cell("price", lambda o: f"{o.price:,}" if o.price else "-", right=True),
    _cell("filled", lambda o: f"{o.filled_qty:,}", right=True, drop=2),  # = qty - left - cxl
    _cell("left", lambda o: f"{o.remaining_qty:,}", right=True),
    _cell("cxl", lambda o: f"{o.cancelled_qty:,}", right=True),
    _cell("avg", _avg, right=True, drop=5),
    _cell("status", lambda o: o.status.value),
    _cell("broker no", lambda o: o.broker_order_no or "-"),
    _cell("updated", lambda o: kst(o.updated_at), drop=6),
    _cell("note", _note, drop=7),
]
