"""Read-only queries for bookkeeping: fills and orders by KST trading date (YYYYMMDD)."""

from __future__ import annotations

import sqlite3
from typing import Any

from kisoms.ledger.rows import as_dicts, row_to_order

_FILL_COLUMNS = ("f.id AS fill_id, f.order_id, f.broker_order_no, f.qty, f.price, f.qty * f.price AS amount, "
                 "f.fill_time, f.source, f.dedupe_key, f.recorded_at, o.account, o.symbol, o.side, "
                 "o.strategy_version, o.order_date")


def fills_between(conn: sqlite3.Connection, first: str, last: str, *, symbol: str | None = None,
                  account: str | None = None) -> list[dict[str, Any]]:
    """Fills of orders booked from ``first`` to ``last`` (YYYYMMDD, inclusive), oldest first, each with its
    order's account, symbol, side and booking date."""
    where, params = ["o.order_date BETWEEN ? AND ?"], [first, last]
    for column, value in (("o.symbol", symbol), ("o.account", account)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    sql = (f"SELECT {_FILL_COLUMNS} FROM fills f JOIN orders o ON o.id = f.order_id "
           f"WHERE {' AND '.join(where)} ORDER BY f.id")
    return as_dicts(conn.execute(sql, params))


def orders_between(conn: sqlite3.Connection, first: str, last: str, created_from: str, created_to: str) -> list:
    """Orders booked from ``first`` to ``last`` (YYYYMMDD, inclusive), and orders never booked (refused
    before the broker) created in [``created_from``, ``created_to``) (UTC ISO texts), oldest first."""
    sql = ("SELECT * FROM orders WHERE order_date BETWEEN ? AND ? "
           "OR (order_date IS NULL AND created_at >= ? AND created_at < ?) ORDER BY id")
    return [row_to_order(r) for r in as_dicts(conn.execute(sql, (first, last, created_from, created_to)))]
