"""The account activity guards compare against, measured inside the claim's transaction."""

from __future__ import annotations

import sqlite3
from datetime import datetime, time, timedelta, timezone

from kisoms.domain.guards import AccountActivity
from kisoms.domain.order import Order
from kisoms.domain.states import NON_TERMINAL, OrderStatus
from kisoms.ledger.codec import to_iso

KST = timezone(timedelta(hours=9), "KST")
_SENT_OPEN = tuple(s.value for s in NON_TERMINAL if s is not OrderStatus.NEW)
_IN_OPEN = f"({', '.join('?' for _ in _SENT_OPEN)})"


def _kst_midnight(ts: datetime) -> str:
    return to_iso(datetime.combine(ts.astimezone(KST).date(), time(0), KST))


def _scalar(conn: sqlite3.Connection, sql: str, params: list) -> int:
    value = conn.execute(sql, params).fetchone()[0]
    return int(value or 0)


def _orders_since(conn: sqlite3.Connection, account: str, since: str) -> int:
    return _scalar(conn, "SELECT COUNT(DISTINCT m.order_id) FROM broker_order_map m JOIN orders o ON o.id = m.order_id"
                         " WHERE o.account = ? AND m.kind = 'new' AND m.sent_at >= ?", [account, since])


def _open_orders(conn: sqlite3.Connection, account: str) -> int:
    return _scalar(conn, f"SELECT COUNT(*) FROM orders WHERE account = ? AND status IN {_IN_OPEN}",
                   [account, *_SENT_OPEN])


def _notional_since(conn: sqlite3.Connection, account: str, since: str) -> int:
    open_rest = (f"CASE WHEN status IN {_IN_OPEN} AND price IS NOT NULL "
                 "THEN (qty - filled_qty - cancelled_qty) * price ELSE 0 END")
    sql = (f"SELECT SUM(filled_amount + {open_rest}) FROM orders WHERE account = ? AND id IN "
           "(SELECT order_id FROM broker_order_map WHERE kind = 'new' AND sent_at >= ?)")
    return _scalar(conn, sql, [*_SENT_OPEN, account, since])


def _position(conn: sqlite3.Connection, account: str, symbol: str) -> int:
    sql = (f"SELECT SUM(CASE WHEN side = 'buy' THEN filled_qty ELSE -filled_qty END) + "
           f"SUM(CASE WHEN side = 'buy' AND status IN {_IN_OPEN} THEN qty - filled_qty - cancelled_qty ELSE 0 END) "
           "FROM orders WHERE account = ? AND symbol = ?")
    return _scalar(conn, sql, [*_SENT_OPEN, account, symbol])


def activity(conn: sqlite3.Connection, order: Order, ts: str) -> AccountActivity:
    """The account's activity at ``ts`` (the claim's time), ``order`` itself not counted (it is NEW)."""
    now = datetime.fromisoformat(ts)
    return AccountActivity(
        orders_last_minute=_orders_since(conn, order.account, to_iso(now - timedelta(seconds=60))),
        open_orders=_open_orders(conn, order.account),
        notional_today=_notional_since(conn, order.account, _kst_midnight(now)),
        position=_position(conn, order.account, order.symbol))
