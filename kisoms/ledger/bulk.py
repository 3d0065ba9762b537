"""Bulk reads for a pass over many orders (reconcile): a few queries for all of them instead of a few per
order. Read-only; what they return is a snapshot, so writers still guard with ``expected_version``."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from typing import Iterable, NamedTuple

from kisoms.domain.order import Order
from kisoms.ledger.records import BrokerNumber
from kisoms.ledger.requests import _OPEN
from kisoms.ledger.rows import as_dicts, row_to_number, row_to_order

CHUNK = 900  # ids per query (SQLite's default bound on host parameters is 999)


def _chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    ids = sorted(set(ids))
    for at in range(0, len(ids), CHUNK):
        yield ids[at:at + CHUNK]


def _select(conn: sqlite3.Connection, sql: str, ids: Iterable[int]) -> list[dict]:
    rows: list[dict] = []
    for part in _chunks(ids):
        rows += as_dicts(conn.execute(sql.format(marks=", ".join("?" * len(part))), part))
    return rows


def orders_by_id(conn: sqlite3.Connection, order_ids: Iterable[int]) -> dict[int, Order]:
    """The orders with these ids (those that exist), read in one query per ``CHUNK`` ids."""
    rows = _select(conn, "SELECT * FROM orders WHERE id IN ({marks})", order_ids)
    return {order.id: order for order in map(row_to_order, rows)}


def requests_by_order(conn: sqlite3.Connection, order_ids: Iterable[int], *,
                      open_only: bool = False) -> dict[int, list[BrokerNumber]]:
    """Every request (or only the open ones: sending/unknown) of each order, oldest first."""
    where = f" AND {_OPEN}" if open_only else ""
    rows = _select(conn, f"SELECT * FROM broker_order_map WHERE order_id IN ({{marks}}){where} ORDER BY id", order_ids)
    found: dict[int, list[BrokerNumber]] = defaultdict(list)
    for number in map(row_to_number, rows):
        found[number.order_id].append(number)
    return found


class RequestKey(NamedTuple):
    """What a pass over many orders needs of a request: no payloads decoded."""

    order_id: int
    kind: str
    state: str
    broker_order_no: str | None


def request_keys_by_order(conn: sqlite3.Connection, order_ids: Iterable[int]) -> dict[int, list[RequestKey]]:
    """Each order's requests (kind, state, number), oldest first, in one query per ``CHUNK`` orders."""
    found: dict[int, list[RequestKey]] = defaultdict(list)
    for part in _chunks(order_ids):
        sql = (f"SELECT order_id, kind, state, broker_order_no FROM broker_order_map "
               f"WHERE order_id IN ({', '.join('?' * len(part))}) ORDER BY id")
        for row in conn.execute(sql, part):
            found[row[0]].append(RequestKey(*row))
    return found


def versions_by_id(conn: sqlite3.Connection, order_ids: Iterable[int]) -> dict[int, int]:
    """Each order's version now (to re-read only the orders that moved since a snapshot)."""
    found: dict[int, int] = {}
    for part in _chunks(order_ids):
        sql = f"SELECT id, version FROM orders WHERE id IN ({', '.join('?' * len(part))})"
        found.update(conn.execute(sql, part).fetchall())
    return found
