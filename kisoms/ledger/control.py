"""SQL of the ``control`` table: the persistent kill switch (one row, id = 1)."""

from __future__ import annotations

import sqlite3

from kisoms.ledger.records import HaltState
from kisoms.ledger.rows import first, row_to_halt


def state(conn: sqlite3.Connection) -> HaltState | None:
    """The kill switch when on, else None."""
    return row_to_halt(first(conn.execute("SELECT * FROM control WHERE id = 1")))


def set_halt(conn: sqlite3.Connection, *, reason: str, set_by: str, set_at: str) -> None:
    """Turn the kill switch on (or replace its reason)."""
    conn.execute("UPDATE control SET halted = 1, reason = ?, set_by = ?, set_at = ? WHERE id = 1",
                 (reason, set_by, set_at))


def clear(conn: sqlite3.Connection, *, set_by: str, set_at: str) -> None:
    """Turn the kill switch off."""
    conn.execute("UPDATE control SET halted = 0, reason = NULL, set_by = ?, set_at = ? WHERE id = 1",
                 (set_by, set_at))
