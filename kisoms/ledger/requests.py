"""SQL of ``broker_order_map``: one row per broker request (new order, amend, cancel)."""

from __future__ import annotations

import sqlite3
from typing import Any

from kisoms.errors import NumberTaken
from kisoms.ledger.records import OPEN_REQUEST_STATES, BrokerNumber
from kisoms.ledger.redaction import clean_text
from kisoms.ledger.rows import as_dicts, first, row_to_number

_OPEN = "state IN (" + ", ".join(f"'{s}'" for s in OPEN_REQUEST_STATES) + ")"


NUMBER_FIELDS = ("broker_order_no", "krx_orgno", "order_date")


def insert(conn: sqlite3.Connection, *, order_id: int, kind: str, tr_id: str, request: dict, state: str,
           sent_at: str, resolved_at: str | None = None, broker_order_no: str | None = None,
           krx_orgno: str | None = None, order_date: str | None = None, response: Any = None,
           owner: str | None = None) -> int:
    """Insert a request row; returns its id. IntegrityError if the broker number is already mapped."""
    cursor = conn.execute(
        "INSERT INTO broker_order_map (order_id, broker_order_no, krx_orgno, order_date, tr_id, kind, request,"
        " state, response, sent_at, resolved_at, owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (order_id, broker_order_no, krx_orgno, order_date, tr_id, kind, clean_text(request or {}), state,
         clean_text(response), sent_at, resolved_at, owner))
    return int(cursor.lastrowid)


def stamp_attempt(conn: sqlite3.Connection, map_id: int, ts: str) -> bool:
    """Record that the owner is about to try a ``sending`` request again; False if it is no longer sending."""
    cursor = conn.execute("UPDATE broker_order_map SET last_attempt_at = ? WHERE id = ? AND state = 'sending'",
                          (ts, map_id))
    return cursor.rowcount == 1


def release(conn: sqlite3.Connection, map_id: int) -> bool:
    """Clear the owner of a request left open: its process no longer works on it. False if none to clear."""
    cursor = conn.execute(f"UPDATE broker_order_map SET owner = NULL WHERE id = ? AND owner IS NOT NULL AND {_OPEN}",
                          (map_id,))
    return cursor.rowcount == 1


def get(conn: sqlite3.Connection, map_id: int) -> BrokerNumber | None:
    """One request by id."""
    row = first(conn.execute("SELECT * FROM broker_order_map WHERE id = ?", (map_id,)))
    return row_to_number(row) if row else None


def settle(conn: sqlite3.Connection, map_id: int, *, state: str, resolved_at: str | None, fields: dict,
           response: Any) -> None:
    """Set the state (and the broker number fields given) of an open request."""
    allowed = {k: fields[k] for k in NUMBER_FIELDS if fields.get(k) is not None}
    sets = "".join(f", {k} = ?" for k in allowed)
    try:
        conn.execute(f"UPDATE broker_order_map SET state = ?, resolved_at = ?, response = ?{sets} WHERE id = ?",
                     [state, resolved_at, clean_text(response),
                      *allowed.values(), map_id])
    except sqlite3.IntegrityError as exc:
        raise NumberTaken(f"request {map_id}: broker number {allowed.get('broker_order_no')} of "
                          f"{allowed.get('order_date')} is already mapped to another request ({exc})") from exc


def open_requests(conn: sqlite3.Connection, order_id: int | None = None) -> list[BrokerNumber]:
    """Requests whose outcome is not known yet (sending/unknown), oldest first."""
    if order_id is None:
        cursor = conn.execute(f"SELECT * FROM broker_order_map WHERE {_OPEN} ORDER BY id")
    else:
        cursor = conn.execute(f"SELECT * FROM broker_order_map WHERE {_OPEN} AND order_id = ? ORDER BY id",
                              (order_id,))
    return [row_to_number(r) for r in as_dicts(cursor)]


def for_order(conn: sqlite3.Connection, order_id: int) -> list[BrokerNumber]:
    """Every request of one order, oldest first."""
    cursor = conn.execute("SELECT * FROM broker_order_map WHERE order_id = ? ORDER BY id", (order_id,))
    return [row_to_number(r) for r in as_dicts(cursor)]


def by_number(conn: sqlite3.Connection, broker_order_no: str, order_date: str | None) -> BrokerNumber | None:
    """The request that got this broker number (on ``order_date``; the latest date when None)."""
    if order_date is None:
        cursor = conn.execute("SELECT * FROM broker_order_map WHERE broker_order_no = ? "
                              "ORDER BY order_date DESC, id DESC LIMIT 1", (broker_order_no,))
    else:
        cursor = conn.execute("SELECT * FROM broker_order_map WHERE broker_order_no = ? AND order_date = ?",
                              (broker_order_no, order_date))
    row = first(cursor)
    return row_to_number(row) if row else None


def known_numbers(conn: sqlite3.Connection, order_date: str | None) -> set[str]:
    """Every broker number mapped to one of our orders (on ``order_date``, or on any day)."""
    if order_date is None:
        cursor = conn.execute("SELECT broker_order_no FROM broker_order_map WHERE broker_order_no IS NOT NULL")
    else:
        cursor = conn.execute("SELECT broker_order_no FROM broker_order_map "
                              "WHERE broker_order_no IS NOT NULL AND order_date = ?", (order_date,))
    return {r[0] for r in cursor.fetchall()}
