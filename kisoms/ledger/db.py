"""The SQLite connection and how values are stored.

- Connection and pragmas, and the one way to write (``atomic``: BEGIN IMMEDIATE … COMMIT; ``batch`` for many
  changes in one transaction, each a SAVEPOINT; ``snapshot`` for a consistent read).
- Value encoding shared by every table: ISO UTC timestamps and canonical JSON; rows as dicts.
- Redaction: ``clean`` is the one door every payload goes through before it is stored (JSON-normalised,
  then every secret replaced).

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

import dataclasses
import json
import sqlite3
import time
from contextlib import contextmanager
from datetime import date, datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any, Iterable, Iterator

from kisoms.domain.redact import SECRET_KEYS, SECRET_SUFFIXES, redact
from kisoms.errors import LedgerBusy, LedgerError

BUSY_TIMEOUT = 10.0  # seconds a writer waits for another process's write lock


class LedgerConnection(sqlite3.Connection):
    """The ledger's sqlite3 connection, with what one write transaction may keep between its statements:
    the audit chain's head (``journal``), dropped at every BEGIN, COMMIT and ROLLBACK (``_transaction``,
    ``_savepoint``)."""

    audit_head: tuple[int, str] | None = None
    schema_version: int | None = None  # the file's, once opened (None: the latest)


class Database:
    """The ledger's open connection (plain sqlite3: a heavier wrapper would only slow every start-up)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.batching = False  # inside ``batch``: each ``atomic`` is a SAVEPOINT of the batch's transaction
        self.savepoints: list[int] = []  # per open savepoint: the connection's total_changes when it opened

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
        conn = sqlite3.connect(str(path), isolation_level=None, timeout=busy_timeout, factory=LedgerConnection)
    except sqlite3.Error as exc:
        raise LedgerError(f"cannot open ledger {path}: {exc}") from exc
    db = Database(conn)
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = FULL")
    # A savepoint inside a batch copies every page it touches that the batch made dirty before into a
    # statement journal; on disk that is ~13 writes per notice. In memory it is emptied at each RELEASE.
    conn.execute("PRAGMA temp_store = MEMORY")
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
    _forget(conn)
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        _raise_mapped(db, exc)
        raise
    finally:
        _forget(conn)


@contextmanager
def _savepoint(db: Database) -> Iterator[sqlite3.Connection]:
    """A savepoint of the batch; one opened inside another that has written nothing yet (a notice's
    savepoint around the one change it makes) shares it instead: undoing the outer one up to its start
    then undoes exactly this change, and a statement pair per change is saved."""
    conn = db.conn
    if db.savepoints and db.savepoints[-1] == conn.total_changes:
        with _undone_on_error(db, release=False):
            yield conn
        return
    conn.execute("SAVEPOINT change")
    db.savepoints.append(conn.total_changes)
    try:
        with _undone_on_error(db, release=True):
            yield conn
    finally:
        db.savepoints.pop()


@contextmanager
def _undone_on_error(db: Database, *, release: bool) -> Iterator[None]:
    """Roll back to the innermost savepoint if the block raises (and release it if it is the block's own)."""
    conn = db.conn
    try:
        yield
    except BaseException as exc:
        conn.execute("ROLLBACK TO change")  # (the audit head it may name is forgotten below)
        if release:
            conn.execute("RELEASE change")
        _forget(conn)
        _raise_mapped(db, exc)
        raise
    if release:
        conn.execute("RELEASE change")


def _forget(conn: sqlite3.Connection) -> None:
    """Drop what a transaction kept on the connection (it may have been rolled back)."""
    if isinstance(conn, LedgerConnection):
        conn.audit_head = None


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


# values: timestamps and JSON -----------------------------------------------------------------------


def to_iso(ts: datetime) -> str:
    """An aware datetime as fixed-width ISO 8601 UTC (sorts as text). Naive datetimes are refused."""
    global _LAST_WRITTEN
    last = _LAST_WRITTEN
    if ts is last[0]:  # (a change's time, converted again for each row that states it)
        return last[1]
    given = ts
    if ts.tzinfo is not timezone.utc:  # (most are: the clock's and the ledger's own)
        if ts.tzinfo is None or ts.utcoffset() is None:
            raise ValueError(f"naive datetime {ts!r}: the ledger stores aware UTC times only")
        ts = ts.astimezone(timezone.utc)
    text = ts.isoformat()  # (~2x faster than with timespec=, which only adds the microseconds when 0)
    text = text if ts.microsecond else f"{text[:19]}.000000{text[19:]}"
    _LAST_WRITTEN = (given, text)
    return text


def from_iso(text: str | None) -> datetime | None:
    """The inverse of ``to_iso`` (None stays None)."""
    global _LAST_READ
    if text is None:
        return None
    last = _LAST_READ
    if text == last[0]:  # (a datetime is immutable: the one read last from the same text is handed out again)
        return last[1]
    ts = datetime.fromisoformat(text)
    _LAST_READ = (text, ts)
    return ts


# the last datetime ``to_iso`` wrote and its text, the last text ``from_iso`` read and its datetime: a batch of
# changes writes and reads the same time over and over. Each replaced whole: a thread never sees half of one.
_LAST_WRITTEN: tuple[Any, str] = (None, "")
_LAST_READ: tuple[str | None, Any] = (None, None)


def _default(obj: Any) -> Any:
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, date):
        return obj.isoformat()
    if isinstance(obj, Enum):
        return obj.value
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=str)
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    return str(obj)


# what json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default) builds on
# every call, built once
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default)


def _c_encoder() -> Any:
    """The C encoder ``_CANONICAL.encode`` builds on each call for a container (``json.encoder.c_make_encoder``
    with its arguments), or None where there is none or it does not encode as ``_CANONICAL`` does (checked
    here on a sample): ``dumps`` then calls ``_CANONICAL``. Without a circular-reference check (the encoder
    is shared); a cyclic payload, which no ledger payload is, raises RecursionError instead of ValueError."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return None
    try:
        encoder = make(None, _default, json.encoder.encode_basestring, None, ":", ",", True, False, True)
        sample = {"b": [1, -2.5, None, True, "\u00e9\"\n"], "a": {"z": datetime(2026, 1, 2, tzinfo=timezone.utc)}}
        return encoder if "".join(encoder(sample, 0)) == _CANONICAL.encode(sample) else None
    except Exception:  # (another Python's signature)
        return None


_C_ENCODE = _c_encoder()


def dumps(obj: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, UTF-8 text kept as is."""
    if _C_ENCODE is None or type(obj) is str:  # (a text alone: ``encode``'s own fast path)
        return _CANONICAL.encode(obj)
    return "".join(_C_ENCODE(obj, 0))


def loads(text: str | None) -> Any:
    """Parse stored JSON (None stays None)."""
    return None if text is None else json.loads(text)


def plain(obj: Any) -> Any:
    """A JSON-safe deep copy made of dict/list/str/int/float/bool/None only."""
    return json.loads(dumps(obj))


# redaction and rows -------------------------------------------------------------------------------


def clean(payload: Any) -> Any:
    """What may be written: plain JSON data with every secret replaced. None stays None."""
    return None if payload is None else redact(plain(payload))


# Every text ``redact`` could change contains one of these once lower-cased without "-" and "_": a secret
# key's name (keys are compared so normalised) or the start of a bearer token or a JWT.
def _shortest(needles: set[str]) -> tuple[str, ...]:
    """The needles that contain no other one: a text holding a longer needle holds the shorter one too."""
    return tuple(sorted(n for n in needles if not any(other != n and other in n for other in needles)))


SECRET_NEEDLES = _shortest(SECRET_KEYS | set(SECRET_SUFFIXES) | {"bearer", "eyj"})


def may_hold_secrets(text: str) -> bool:
    """Whether ``text`` may hold something ``redact`` would change (holds a needle once folded)."""
    folded = text.lower().replace("-", "").replace("_", "")
    # (one substring search per needle: ~3x faster than one regex alternation of them all)
    for needle in SECRET_NEEDLES:
        if needle in folded:
            return True
    return False


def clean_text(payload: Any) -> str | None:
    """``dumps(clean(payload))`` (None stays None), in one pass when the serialised payload has nothing
    ``redact`` would change (no secret key name, no bearer token, no JWT anywhere in it)."""
    if payload is None:
        return None
    text = dumps(payload)
    return dumps(clean(payload)) if may_hold_secrets(text) else text


def clean_texts(first: Any, second: Any) -> tuple[str, str]:
    """``(clean_text(first), clean_text(second))`` for two payloads that are not None, both texts looked
    through for secrets at once (a NUL between them: no needle spans it)."""
    one, two = dumps(first), dumps(second)
    if not may_hold_secrets(f"{one}\0{two}"):
        return one, two
    return (dumps(clean(first)) if may_hold_secrets(one) else one,
            dumps(clean(second)) if may_hold_secrets(two) else two)


def as_dicts(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    """All rows of a cursor as column → value dicts."""
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r)) for r in cursor.fetchall()]


def first(cursor: sqlite3.Cursor) -> dict[str, Any] | None:
    """The first row of a cursor as a dict, or None."""
    rows = as_dicts(cursor)
    return rows[0] if rows else None


def write_marks(conn: sqlite3.Connection) -> tuple[int, int]:
    """(PRAGMA data_version, total_changes): the first moves when another connection commits to the file,
    the second when this one writes. Equal marks: nothing was written in between, by anyone."""
    return conn.execute("PRAGMA data_version").fetchone()[0], conn.total_changes


CHUNK = 900  # ids per query (SQLite's default bound on host parameters is 999)


def chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    """Distinct ids, sorted, in lists of at most ``CHUNK``: one ``IN (...)`` query each."""
    ids = sorted(set(ids))
    for at in range(0, len(ids), CHUNK):
        yield ids[at:at + CHUNK]


def marks(ids: list[int]) -> str:
    """The ``?, ?, ...`` of an ``IN`` list for these ids."""
    return ", ".join("?" * len(ids))
