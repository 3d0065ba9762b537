"""The order list (``kisoms status``, ``Ledger.list_orders``): a read-only query kept apart from the write path,
so a command that only lists orders does not import the modules that change them (``orders``, ``requests``,
``journal``) and their start-up cost."""

from __future__ import annotations

import sqlite3
from typing import Any, Iterable

from kisoms.domain.order import Order
from kisoms.ledger.db import as_dicts
from kisoms.ledger.records import row_to_order


def where_clause(statuses: Iterable[Any] | None, symbol: str | None, account: str | None,
                 order_date: str | None) -> tuple[str, list[Any]]:
    """The WHERE clause (or "") and its parameters for orders matching every filter given."""
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
    where, params = where_clause(statuses, symbol, account, order_date)
    sql = f"SELECT * FROM orders{where} ORDER BY id DESC"
    if limit is not None:
        sql, params = sql + " LIMIT ?", params + [int(limit)]
    return [row_to_order(r) for r in reversed(as_dicts(conn.execute(sql, params)))]
