"""SQL of ``external_orders``: orders at the broker that kisoms did not place."""

from __future__ import annotations

import sqlite3
from typing import Any

from kisoms.ledger import requests
from kisoms.ledger.redaction import clean_text
from kisoms.ledger.rows import as_dicts, external_row


def insert(conn: sqlite3.Connection, *, order_date: str, broker_order_no: str, account: str, symbol: str,
           side: str, qty: int, price: int | None, raw: Any, first_seen: str) -> bool:
    """Record one; False when (order_date, broker_order_no) is already known, as external or as ours."""
    if requests.by_number(conn, broker_order_no, order_date) is not None:
        return False
    cursor = conn.execute(
        "INSERT OR IGNORE INTO external_orders (order_date, broker_order_no, account, symbol, side, qty, price,"
        " raw, first_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (order_date, broker_order_no, account, symbol, side, qty, price, clean_text(raw), first_seen))
    return cursor.rowcount == 1


def select_all(conn: sqlite3.Connection, *, include_claimed: bool = False) -> list[dict[str, Any]]:
    """Every external order, first seen first (without those later found to be ours, unless asked)."""
    where = "" if include_claimed else " WHERE claimed_by_order_id IS NULL"
    return [external_row(r) for r in as_dicts(conn.execute(f"SELECT * FROM external_orders{where} ORDER BY id"))]
