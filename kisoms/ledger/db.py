"""The SQLite connection: pragmas, and the one way to write (``atomic``: BEGIN IMMEDIATE … COMMIT; ``batch``
for many changes in one transaction, each a SAVEPOINT).

Durability choice: ``journal_mode=WAL`` with ``synchronous=FULL``. WAL with NORMAL survives a process
crash but may lose the last commits on power loss or an OS crash. Losing the commit of NEW → SENDING
after the request left would let a restart send the order a second time, so every commit is fsynced,
except a request's settle (``atomic(durable=False)``): losing it leaves the request ``sending``, which
recovery resolves from the broker's books (never by a resend), and the next fsynced commit covers it.

Readers never wait for a writer: in WAL mode a read sees the last commit while another process holds the
write lock, and opening the file takes no write lock unless there is something to migrate or record. A
writer that waits longer than the busy timeout gets ``LedgerBusy`` (retryable; nothing was written).
The file is created 0600 before SQLite opens it; SQLite gives its -wal and -shm files the same mode.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from kisoms.errors import LedgerBusy, LedgerError

BUSY_TIMEOUT = 10.0  # seconds a writer waits for another process's write lock


class Database:
    """The ledger's open connection (plain sqlite3: a heavier wrapper would only slow every start-up)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.batching = False  # inside ``batch``: each ``atomic`` is a SAVEPOINT of the batch's transaction

    def table_names(self) -> list[str]:
        """The tables in the file, by name."""
        rows = self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        return [r[0] for r in rows]

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


def is_busy(exc: sqlite3.Error) -> bool:
    """Whether SQLite gave up waiting for a lock another connection holds."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc) or "busy" in str(exc)


def busy_error(path: Path | str, timeout: float) -> LedgerBusy:
    """The retryable error for a write lock not obtained within ``timeout`` seconds."""
    return LedgerBusy(f"ledger {path} is busy: another kisoms process held its write lock for more than "
                      f"{timeout:g} s; this change was not written: run the command again")


def connect(path: Path, busy_timeout: float = BUSY_TIMEOUT) -> Database:
    """Open (creating if needed) the file with the ledger's pragmas. No implicit transactions."""
    try:
        conn = sqlite3.connect(str(path), isolation_level=None, timeout=busy_timeout)
    except sqlite3.Error as exc:
        raise LedgerError(f"cannot open ledger {path}: {exc}") from exc
    db = Database(conn)
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = FULL")
    return db


def enable_wal(db: Database, attempts: int = 50) -> None:
    """Switch to WAL. The switch needs a moment alone with the file, so retry while others hold it."""
    for _ in range(attempts):
        try:
            mode = db.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
            time.sleep(0.05)
            continue
        if str(mode).lower() == "wal":
            return
        time.sleep(0.05)
    raise LedgerBusy("could not switch the ledger to WAL mode: another process keeps the file busy; "
                     "nothing was written: run the command again")


@contextmanager
def atomic(db: Database, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
    """One write transaction. BEGIN IMMEDIATE takes the write lock first, so writers serialise across
    processes and a read-then-write inside never works on a stale read. Inside ``batch`` it is a SAVEPOINT:
    a failure undoes this change alone, and the batch's COMMIT makes every surviving change durable at once.
    ``durable=False`` commits with ``synchronous=NORMAL`` (no fsync): a power loss may take back this commit
    and any later non-durable ones, never one before the last durable commit (see ``relaxed``)."""
    conn = db.conn
    if conn.in_transaction:
        if not db.batching:
            raise LedgerError("nested ledger transaction")
        with _savepoint(db) as nested:
            yield nested
        return
    with relaxed(db, not durable), _transaction(db) as conn:
        yield conn


@contextmanager
def relaxed(db: Database, on: bool = True) -> Iterator[None]:
    """``synchronous=NORMAL`` for the block (outside any transaction), ``FULL`` again after it. In WAL
    mode a NORMAL commit is appended to the WAL without an fsync; the next FULL commit's fsync covers it,
    since the WAL is written in order. Only commits whose loss recovery resolves from the broker's books
    use it (a request's settle). A connection set to less than FULL keeps its own setting."""
    if not on:
        yield
        return
    level = db.conn.execute("PRAGMA synchronous").fetchone()[0]
    if level <= 1:  # already NORMAL or OFF
        yield
        return
    db.conn.execute("PRAGMA synchronous = NORMAL")
    try:
        yield
    finally:
        db.conn.execute(f"PRAGMA synchronous = {int(level)}")


@contextmanager
def batch(db: Database) -> Iterator[sqlite3.Connection]:
    """One write transaction holding many ``atomic`` changes (one fsync for all). Nothing in it is visible
    to other connections, nor durable, before it returns; an exception escaping it rolls every change back."""
    if db.conn.in_transaction:
        raise LedgerError("nested ledger transaction")
    with _transaction(db) as conn:
        db.batching = True
        try:
            yield conn
        finally:
            db.batching = False


@contextmanager
def _transaction(db: Database) -> Iterator[sqlite3.Connection]:
    conn = db.conn
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        if is_busy(exc):
            raise busy_error(_path_of(db), _timeout_of(conn)) from exc
        raise LedgerError(f"ledger write lock not obtained: {exc}") from exc
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        _raise_mapped(db, exc)
        raise


@contextmanager
def _savepoint(db: Database) -> Iterator[sqlite3.Connection]:
    conn = db.conn
    conn.execute("SAVEPOINT change")
    try:
        yield conn
        conn.execute("RELEASE change")
    except BaseException as exc:
        conn.execute("ROLLBACK TO change")
        conn.execute("RELEASE change")
        _raise_mapped(db, exc)
        raise


def _raise_mapped(db: Database, exc: BaseException) -> None:
    """A busy or failed SQLite write as the ledger's own errors (other exceptions pass unchanged)."""
    if isinstance(exc, sqlite3.Error) and is_busy(exc):
        raise busy_error(_path_of(db), _timeout_of(db.conn)) from exc
    if isinstance(exc, sqlite3.Error):
        raise LedgerError(f"ledger write failed, nothing written: {exc}") from exc


@contextmanager
def snapshot(db: Database) -> Iterator[sqlite3.Connection]:
    """A read transaction: every query inside sees the same committed state (WAL snapshot)."""
    conn = db.conn
    conn.execute("BEGIN DEFERRED")
    try:
        yield conn
    finally:
        conn.execute("COMMIT")


def _timeout_of(conn: sqlite3.Connection) -> float:
    return conn.execute("PRAGMA busy_timeout").fetchone()[0] / 1000


def _path_of(db: Database) -> str:
    row = db.conn.execute("PRAGMA database_list").fetchone()
    return row[2] if row else "(ledger)"
