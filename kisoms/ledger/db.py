"""The SQLite connection: pragmas, and the one way to write (``atomic``: BEGIN IMMEDIATE … COMMIT).

Durability choice: ``journal_mode=WAL`` with ``synchronous=FULL``. WAL with NORMAL survives a process
crash but may lose the last commits on power loss or an OS crash. Losing the commit of NEW → SENDING
after the request left would let a restart send the order a second time, so every commit is fsynced.
The cost (one fsync of the WAL per transaction) is small next to a broker round trip.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlite_utils import Database

from kisoms.errors import LedgerError

BUSY_TIMEOUT_MS = 10_000


def connect(path: Path) -> Database:
    """Open (creating if needed) the file with the ledger's pragmas. No implicit transactions."""
    try:
        conn = sqlite3.connect(str(path), isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error as exc:
        raise LedgerError(f"cannot open ledger {path}: {exc}") from exc
    db = Database(conn, recursive_triggers=False, execute_plugins=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = FULL")
    return db


def enable_wal(db: Database, attempts: int = 50) -> None:
    """Switch to WAL. The switch needs a moment alone with the file, so retry while others hold it."""
    for _ in range(attempts):
        try:
            mode = db.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            time.sleep(0.05)
            continue
        if str(mode).lower() == "wal":
            return
        time.sleep(0.05)
    raise LedgerError("could not switch the ledger to WAL mode (file busy)")


@contextmanager
def atomic(db: Database) -> Iterator[sqlite3.Connection]:
    """One write transaction. BEGIN IMMEDIATE takes the write lock first, so writers serialise across
    processes and a read-then-write inside never works on a stale read."""
    conn = db.conn
    if conn.in_transaction:
        raise LedgerError("nested ledger transaction")
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        raise LedgerError(f"ledger write lock not obtained: {exc}") from exc
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            raise LedgerError(f"ledger write failed, nothing written: {exc}") from exc
        raise


@contextmanager
def snapshot(db: Database) -> Iterator[sqlite3.Connection]:
    """A read transaction: every query inside sees the same committed state (WAL snapshot)."""
    conn = db.conn
    conn.execute("BEGIN DEFERRED")
    try:
        yield conn
    finally:
        conn.execute("COMMIT")
