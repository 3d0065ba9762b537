"""SQL of the kill switches: the global one (``control``, one row, id = 1) and one per account
(``account_halts``, a row while that account is halted)."""

from __future__ import annotations

import sqlite3

from kisoms.ledger.records import HaltState
from kisoms.ledger.rows import as_dicts, first, row_to_halt


def global_state(conn: sqlite3.Connection) -> HaltState | None:
    """The global kill switch when on, else None."""
    return row_to_halt(first(conn.execute("SELECT * FROM control WHERE id = 1")))


def account_states(conn: sqlite3.Connection) -> list[HaltState]:
    """Every halted account, by account."""
    return [row_to_halt(r) for r in as_dicts(conn.execute("SELECT * FROM account_halts ORDER BY account"))]


def all_states(conn: sqlite3.Connection) -> list[HaltState]:
    """Every switch that is on: the global one first, then accounts."""
    on = global_state(conn)
    return ([on] if on else []) + account_states(conn)


def state(conn: sqlite3.Connection, account: str | None = None) -> HaltState | None:
    """The switch that stops ``account`` (the global one first); with no account, any switch that is on."""
    on = global_state(conn)
    if on is not None:
        return on
    if account is None:
        return next(iter(account_states(conn)), None)
    return row_to_halt(first(conn.execute("SELECT * FROM account_halts WHERE account = ?", (account,))))


def set_halt(conn: sqlite3.Connection, *, reason: str, set_by: str, set_at: str, account: str | None = None) -> None:
    """Turn a kill switch on (or replace its reason)."""
    if account is None:
        conn.execute("UPDATE control SET halted = 1, reason = ?, set_by = ?, set_at = ? WHERE id = 1",
                     (reason, set_by, set_at))
    else:
        conn.execute("INSERT OR REPLACE INTO account_halts (account, reason, set_by, set_at) VALUES (?, ?, ?, ?)",
                     (account, reason, set_by, set_at))


def clear(conn: sqlite3.Connection, *, set_by: str, set_at: str, account: str | None = None,
          everything: bool = False) -> None:
    """Turn off one account's switch, or (no account) the global one; ``everything``: every switch."""
    if account is not None:
        conn.execute("DELETE FROM account_halts WHERE account = ?", (account,))
        return
    conn.execute("UPDATE control SET halted = 0, reason = NULL, set_by = ?, set_at = ? WHERE id = 1",
                 (set_by, set_at))
    if everything:
        conn.execute("DELETE FROM account_halts")
