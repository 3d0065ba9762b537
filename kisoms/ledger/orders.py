"""SQL of the ``orders`` and ``order_status_history`` tables."""

from __future__ import annotations

import sqlite3
from typing import Any, Iterable

from kisoms.domain.order import Order, confusable
from kisoms.errors import LedgerError, OrderNotFound
from kisoms.ledger.records import HistoryRow
from kisoms.ledger.rows import ORDER_COLUMNS, as_dicts, first, order_to_row, row_to_history, row_to_order


def insert(conn: sqlite3.Connection, order: Order) -> int:
    """Insert a new order row; returns its id. Raises sqlite3.IntegrityError on a known key."""
    row = order_to_row(order)
    marks = ", ".join("?" for _ in ORDER_COLUMNS)
    cursor = conn.execute(f"INSERT INTO orders ({', '.join(ORDER_COLUMNS)}) VALUES ({marks})",
                          [row[c] for c in ORDER_COLUMNS])
    return int(cursor.lastrowid)


def find(conn: sqlite3.Connection, order_id: int) -> Order | None:
    """The order with this id, or None."""
    row = first(conn.execute("SELECT * FROM orders WHERE id = ?", (order_id,)))
    return row_to_order(row) if row else None


def load(conn: sqlite3.Connection, order_id: int) -> Order:
    """The order with this id; OrderNotFound otherwise."""
    order = find(conn, order_id)
    if order is None:
        raise OrderNotFound(f"no order with id {order_id}")
    return order


def by_key(conn: sqlite3.Connection, key: str) -> Order | None:
    """The order with this idempotency key, or None."""
    row = first(conn.execute("SELECT * FROM orders WHERE idempotency_key = ?", (key,)))
    return row_to_order(row) if row else None


def update(conn: sqlite3.Connection, before: Order, after: Order,
           rows: tuple[dict[str, Any], dict[str, Any]] | None = None) -> None:
    """Write ``after`` over ``before``; refuses if the row is no longer at ``before.version``. ``rows``:
    (``order_to_row(before)``, ``order_to_row(after)``) when the caller has them."""
    old, row = rows or (order_to_row(before), order_to_row(after))
    # only the columns that change: SQLite then leaves the indexes of the others alone
    columns = [c for c in ORDER_COLUMNS if c != "idempotency_key" and row[c] != old[c]] or ["version"]
    sets = ", ".join(f"{c} = ?" for c in columns)
    cursor = conn.execute(f"UPDATE orders SET {sets} WHERE id = ? AND version = ?",
                          [row[c] for c in columns] + [before.id, before.version])
    if cursor.rowcount != 1:
        raise LedgerError(f"order {before.id} changed under a write transaction (version {before.version})")


def _where(statuses: Iterable[Any] | None, symbol: str | None, account: str | None,
           order_date: str | None) -> tuple[str, list[Any]]:
    clauses, params = [], []
    if statuses is not None:
        values = [getattr(s, "value", s) for s in statuses]
        clauses.append(f"status IN ({', '.join('?' for _ in values)})" if values else "0")
        params += values
    for column, value in (("symbol", symbol), ("account", account), ("order_date", order_date)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def select(conn: sqlite3.Connection, *, statuses=None, symbol=None, account=None, order_date=None,
           limit: int | None = None) -> list[Order]:
    """Orders matching every filter given, oldest first; with ``limit``, the newest ``limit`` of them."""
    where, params = _where(statuses, symbol, account, order_date)
    sql = f"SELECT * FROM orders{where} ORDER BY id DESC"
    if limit is not None:
        sql, params = sql + " LIMIT ?", params + [int(limit)]
    return [row_to_order(r) for r in reversed(as_dicts(conn.execute(sql, params)))]


RAW_REF = "@"  # a history row's raw_payload "@<id>": the payload is the audit row <id>'s (JSON never starts so)


def add_history(conn: sqlite3.Connection, order: Order, *, prev_status: str | None, event: str, ts: str,
                source: str, raw_ref: int | None = None) -> int:
    """One timeline entry: the order's status (and version) after ``event``; its raw payload, if any, is
    the one in audit row ``raw_ref`` (stored once, redacted there)."""
    cursor = conn.execute(
        "INSERT INTO order_status_history (order_id, status, prev_status, event, event_ts, source, raw_payload,"
        " version) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (order.id, order.status.value, prev_status, event, ts, source,
         None if raw_ref is None else f"{RAW_REF}{raw_ref}", order.version))
    return int(cursor.lastrowid)


_HISTORY_SQL = (
    "SELECT h.*, a.payload AS audit_payload FROM order_status_history h LEFT JOIN audit_log a "
    f"ON substr(h.raw_payload, 1, 1) = '{RAW_REF}' AND a.id = CAST(substr(h.raw_payload, 2) AS INTEGER) "
    "WHERE h.order_id = ? ORDER BY h.history_id")


def history(conn: sqlite3.Connection, order_id: int) -> list[HistoryRow]:
    """An order's timeline, oldest first (raw payloads read from the audit rows that hold them)."""
    return [row_to_history(r) for r in as_dicts(conn.execute(_HISTORY_SQL, (order_id,)))]


def unresolved_twins(conn: sqlite3.Connection, order: Order) -> list[Order]:
    """Other SENDING/UNKNOWN orders a broker lookup could confuse with ``order`` (``confusable``), oldest first."""
    cursor = conn.execute(
        # (+account, +symbol: look up by status, the few in flight, not by symbol, which grows with the ledger)
        "SELECT * FROM orders WHERE status IN ('SENDING', 'UNKNOWN') AND id != ? AND +account = ? AND +symbol = ?"
        " AND side = ? AND qty = ? ORDER BY id", (order.id, order.account, order.symbol, order.side.value, order.qty))
    return [o for o in map(row_to_order, as_dicts(cursor)) if confusable(o, order)]
