"""The ledger file's schema (migrations) and its identity (env, accounts, app-key fingerprint).

Schema versions: ``PRAGMA user_version`` counts the migrations applied. ``MIGRATIONS[i]`` takes a file
from version ``i`` to ``i + 1``. Migrations only ever move forward and run together in one transaction. A
file from a newer kisoms is refused before anything is written: its version is read over a read-only
connection first, and checked again under the write lock. Migration statements are frozen text: never edit
a released one, append a new one.

Identity, what a ledger belongs to. The rules, strictest first (a trader's books must never mix, and a
config edit must never brick them):

* Another env: refused (``LedgerEnvMismatch``), always. A paper ledger never opens as real, nor the reverse.
* Accounts: the record keeps every account the ledger has been opened with. Adding (or dropping) an
  account is fine: the new ones are added to the record (audited). A configured account set that shares
  no account with the record is refused: it is another trader's or another book's ledger (say, two
  configs that both fell back to the same default file).
* App key: KIS reissues app keys, so a new key for the same env is accepted, recorded (audited), and
  reported as a warning the caller shows.
* A file with no record (new, or from a kisoms before schema 5) adopts the identity it is opened with.

Nothing is written, and no write lock is taken, while the record already matches.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from kisoms.errors import LedgerEnvMismatch, LedgerError, LedgerVersionError
from kisoms.ledger.db import Database, atomic

# migrations --------------------------------------------------------------------------------------


_STATUSES = ("'NEW','SENDING','UNKNOWN','SENT','ACCEPTED','PART_FILLED','PENDING_MODIFY','PENDING_CANCEL',"
             "'FILLED','CANCELLED','REJECTED','ERROR'")
V1_STATEMENTS: tuple[str, ...] = (
    f"""CREATE TABLE orders (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        idempotency_key TEXT NOT NULL UNIQUE,
        account TEXT NOT NULL,
        strategy_version TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
        order_type TEXT NOT NULL,
        qty INTEGER NOT NULL CHECK (qty > 0),
        price INTEGER,
        exchange TEXT NOT NULL,
        signal_ts TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ({_STATUSES})),
        filled_qty INTEGER NOT NULL DEFAULT 0 CHECK (filled_qty >= 0),
        filled_amount INTEGER NOT NULL DEFAULT 0 CHECK (filled_amount >= 0),
        cancelled_qty INTEGER NOT NULL DEFAULT 0 CHECK (cancelled_qty >= 0),
        broker_order_no TEXT,
        krx_orgno TEXT,
        order_date TEXT,
        reject_code TEXT,
        reject_reason TEXT,
        price_note TEXT,
        tags TEXT NOT NULL DEFAULT '{{}}',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        version INTEGER NOT NULL DEFAULT 1,
        CHECK (filled_qty + cancelled_qty <= qty)
    )""",
    "CREATE INDEX orders_status ON orders (status)",
    "CREATE INDEX orders_symbol ON orders (account, symbol)",
    "CREATE INDEX orders_order_date ON orders (order_date)",
    """CREATE TABLE broker_order_map (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        order_id INTEGER NOT NULL REFERENCES orders (id),
        broker_order_no TEXT,
        krx_orgno TEXT,
        order_date TEXT,
        tr_id TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('new', 'modify', 'cancel')),
        request TEXT NOT NULL DEFAULT '{}',
        state TEXT NOT NULL
            CHECK (state IN ('sending', 'unknown', 'accepted', 'rejected', 'not_sent', 'not_found')),
        response TEXT,
        sent_at TEXT NOT NULL,
        resolved_at TEXT,
        CHECK (broker_order_no IS NULL OR order_date IS NOT NULL)
    )""",
    """CREATE UNIQUE INDEX broker_order_map_number ON broker_order_map (order_date, broker_order_no)
        WHERE broker_order_no IS NOT NULL""",
    "CREATE INDEX broker_order_map_order ON broker_order_map (order_id)",
    "CREATE INDEX broker_order_map_open ON broker_order_map (state) WHERE state IN ('sending', 'unknown')",
    """CREATE TABLE order_status_history (
        history_id INTEGER PRIMARY KEY AUTOINCREMENT,
        order_id INTEGER NOT NULL REFERENCES orders (id),
        status TEXT NOT NULL,
        prev_status TEXT,
        event TEXT NOT NULL,
        event_ts TEXT NOT NULL,
        source TEXT NOT NULL,
        raw_payload TEXT,
        version INTEGER NOT NULL
    )""",
    "CREATE INDEX order_status_history_order ON order_status_history (order_id)",
    """CREATE TABLE fills (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        order_id INTEGER NOT NULL REFERENCES orders (id),
        broker_order_no TEXT NOT NULL,
        qty INTEGER NOT NULL CHECK (qty > 0),
        price INTEGER NOT NULL CHECK (price >= 0),
        fill_time TEXT NOT NULL,
        source TEXT NOT NULL CHECK (source IN ('notice', 'inquiry', 'reconcile')),
        dedupe_key TEXT NOT NULL UNIQUE,
        recorded_at TEXT NOT NULL
    )""",
    "CREATE INDEX fills_order ON fills (order_id)",
    """CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts TEXT NOT NULL,
        kind TEXT NOT NULL,
        order_id INTEGER,
        payload TEXT NOT NULL
    )""",
    """CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts TEXT NOT NULL,
        source TEXT NOT NULL,
        action TEXT NOT NULL,
        order_id INTEGER,
        payload TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE
    )""",
    """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END""",
    """CREATE TABLE external_orders (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        order_date TEXT NOT NULL,
        broker_order_no TEXT NOT NULL,
        account TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL,
        qty INTEGER NOT NULL,
        price INTEGER,
        raw TEXT,
        first_seen TEXT NOT NULL,
        UNIQUE (order_date, broker_order_no)
    )""",
    """CREATE TABLE control (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        halted INTEGER NOT NULL DEFAULT 0 CHECK (halted IN (0, 1)),
        reason TEXT,
        set_by TEXT,
        set_at TEXT
    )""",
    "INSERT INTO control (id, halted) VALUES (1, 0)",
)


def _execute(conn: sqlite3.Connection, statements: tuple[str, ...]) -> None:
    """Run a migration's statements in order (inside the caller's transaction)."""
    for statement in statements:
        conn.execute(statement)


def _v1(conn: sqlite3.Connection) -> None:
    """The first schema: every table, index and trigger."""
    _execute(conn, V1_STATEMENTS)


_CLAIM_EXTERNAL = """UPDATE external_orders SET claimed_by_order_id = NEW.order_id
            WHERE order_date = NEW.order_date AND broker_order_no = NEW.broker_order_no
              AND claimed_by_order_id IS NULL;"""


V2_STATEMENTS: tuple[str, ...] = (
    # A number first seen as external (its notice beat our own reply) is claimed when mapped to an order.
    "ALTER TABLE external_orders ADD COLUMN claimed_by_order_id INTEGER REFERENCES orders (id)",
    f"""CREATE TRIGGER external_claimed_on_insert AFTER INSERT ON broker_order_map
        WHEN NEW.broker_order_no IS NOT NULL BEGIN {_CLAIM_EXTERNAL} END""",
    f"""CREATE TRIGGER external_claimed_on_update AFTER UPDATE OF broker_order_no ON broker_order_map
        WHEN NEW.broker_order_no IS NOT NULL BEGIN {_CLAIM_EXTERNAL} END""",
)


def _v2(conn: sqlite3.Connection) -> None:
    """External orders can be claimed by the order whose number they turn out to be."""
    _execute(conn, V2_STATEMENTS)


V3_STATEMENTS: tuple[str, ...] = (
    # Who claimed a request (host|pid|start) and when its owner last tried to send it: a live owner's
    # claim is never taken over, and a dead one's is recovered without waiting out a lease.
    "ALTER TABLE broker_order_map ADD COLUMN owner TEXT",
    "ALTER TABLE broker_order_map ADD COLUMN last_attempt_at TEXT",
)


def _v3(conn: sqlite3.Connection) -> None:
    """Requests record their owner process and its last attempt."""
    _execute(conn, V3_STATEMENTS)


V4_STATEMENTS: tuple[str, ...] = (
    # The kill switch per account: doubt about one account's orders stops that account, not every account.
    """CREATE TABLE account_halts (
        account TEXT PRIMARY KEY,
        reason TEXT NOT NULL,
        set_by TEXT NOT NULL,
        set_at TEXT NOT NULL
    )""",
)


def _v4(conn: sqlite3.Connection) -> None:
    """A kill switch per account beside the global one."""
    _execute(conn, V4_STATEMENTS)


V5_STATEMENTS: tuple[str, ...] = (
    # What the ledger belongs to: the env it was created for, and fingerprints of the account set and the
    # app key (hashes, never the key). One row, written on the first open that knows them (an older file
    # adopts the env it is next opened with).
    """CREATE TABLE ledger_identity (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        env TEXT NOT NULL CHECK (env IN ('sim', 'paper', 'real')),
        accounts TEXT NOT NULL,
        accounts_fingerprint TEXT NOT NULL,
        app_key_fingerprint TEXT,
        recorded_at TEXT NOT NULL
    )""",
)


def _v5(conn: sqlite3.Connection) -> None:
    """The ledger records which env (and which accounts and app key) it belongs to."""
    _execute(conn, V5_STATEMENTS)


V6_STATEMENTS: tuple[str, ...] = (
    # Alerts: an outbox filled from the events (cursor advanced in the same transaction, so a crash loses
    # none), one row per alert and target, kept until delivered; a lease stops two processes sending one.
    """CREATE TABLE alert_outbox (
        alert_id TEXT NOT NULL,
        target TEXT NOT NULL,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        leased_until TEXT,
        delivered_at TEXT,
        last_error TEXT,
        PRIMARY KEY (alert_id, target)
    )""",
    "CREATE INDEX alert_outbox_due ON alert_outbox (delivered_at, next_attempt_at)",
    "CREATE TABLE alert_cursor (id INTEGER PRIMARY KEY CHECK (id = 1), last_event_id INTEGER NOT NULL)",
    "INSERT INTO alert_cursor (id, last_event_id) SELECT 1, COALESCE(MAX(id), 0) FROM events",  # from now on
)


def _v6(conn: sqlite3.Connection) -> None:
    """The alert outbox and its event cursor (v6)."""
    _execute(conn, V6_STATEMENTS)


V7_STATEMENTS: tuple[str, ...] = (
    # The audit log without the UNIQUE index on its hash (a second copy of every hash, checked by nothing
    # the chain does not check already); hashes are stored as raw bytes from now on (BLOB columns keep the
    # older rows' hex text as it is). Rows, ids and hashes are copied unchanged, so the chain still verifies;
    # the id counter is carried over by _v7 (ids continue after the highest ever issued).
    """CREATE TABLE audit_log_v7 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts TEXT NOT NULL,
        source TEXT NOT NULL,
        action TEXT NOT NULL,
        order_id INTEGER,
        payload TEXT NOT NULL,
        prev_hash BLOB NOT NULL,
        hash BLOB NOT NULL
    )""",
    "INSERT INTO audit_log_v7 (id, ts, source, action, order_id, payload, prev_hash, hash) "
    "SELECT id, ts, source, action, order_id, payload, prev_hash, hash FROM audit_log ORDER BY id",
    "DROP TABLE audit_log",
    "ALTER TABLE audit_log_v7 RENAME TO audit_log",
    """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END""",
)


def _v7(conn: sqlite3.Connection) -> None:
    """A slimmer audit log (v7): no second index of the hashes. Rows written from v7 on keep each payload
    once (``journal.append_audit``, ``journal.record``); older rows stay byte for byte as they were
    hashed."""
    seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'").fetchone()
    _execute(conn, V7_STATEMENTS)
    if seq is not None:
        conn.execute("UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = 'audit_log'", (seq[0],))


V8_STATEMENTS: tuple[str, ...] = (
    # An order's history is read from its events from here on (no order_status_history row per change;
    # the rows written before v8 stay and are read as they are): the events of an order, by index.
    "CREATE INDEX events_order ON events (order_id) WHERE order_id IS NOT NULL",
    # An audit row written with its event names it here (an integer, not a payload prefix) and stores
    # neither the event's ts nor its order_id (its hash covers the event row).
    "ALTER TABLE audit_log ADD COLUMN event_id INTEGER",
    # Where the events-as-history begin, and how an event finds its audit row without an index: from v8
    # on every event is written with exactly one audit row, so their ids differ by a constant.
    """CREATE TABLE history_start (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        first_event INTEGER NOT NULL,
        audit_offset INTEGER NOT NULL
    )""",
    """INSERT INTO history_start (id, first_event, audit_offset)
        SELECT 1, next_event, next_audit - next_event FROM (SELECT
            MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0),
                COALESCE((SELECT MAX(id) FROM events), 0)) + 1 AS next_event,
            MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'), 0),
                COALESCE((SELECT MAX(id) FROM audit_log), 0)) + 1 AS next_audit)""",
)


def _v8(conn: sqlite3.Connection) -> None:
    """History from the events, leaner audit rows (v8): a change writes its order row, one event and one
    audit row; rows written before stay byte for byte as they were (the chain still verifies)."""
    _execute(conn, V8_STATEMENTS)


V9_STATEMENTS: tuple[str, ...] = (
    # Where the dense events begin: from this id on an order's change event is stored without what its kind,
    # its order's terms or its fills row hold (``records.dense_event``) and is read back whole
    # (``records.full_event``); the events before it stay and read as they were written.
    "ALTER TABLE history_start ADD COLUMN dense_from INTEGER",
    """UPDATE history_start SET dense_from = MAX(
        COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0),
        COALESCE((SELECT MAX(id) FROM events), 0)) + 1 WHERE id = 1""",
)


def _v9(conn: sqlite3.Connection) -> None:
    """Denser change events (v9): rows written before stay byte for byte (the chain still verifies, the
    events and histories read the same); an older kisoms, which would misread the dense ones, refuses the
    file."""
    _execute(conn, V9_STATEMENTS)


Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[Migration] = [_v1, _v2, _v3, _v4, _v5, _v6, _v7, _v8, _v9]


def latest_version() -> int:
    """The schema version this kisoms writes."""
    return len(MIGRATIONS)


def _refuse_newer(found: int, path: Path | str) -> None:
    if found > latest_version():
        raise LedgerVersionError(
            f"ledger {path} has schema version {found}, newer than this kisoms understands "
            f"({latest_version()}); upgrade kisoms. The file was not modified.")


def check_not_newer(path: Path) -> None:
    """Refuse a file from a newer kisoms, reading it over a read-only connection (nothing written)."""
    if not path.exists() or path.stat().st_size == 0:
        return
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            found = conn.execute("PRAGMA user_version").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise LedgerError(f"{path} is not a readable ledger: {exc}") from exc
    _refuse_newer(found, path)


def migrate(db: Database, path: Path | str) -> int:
    """Apply pending migrations in one IMMEDIATE transaction. Returns the version now in the file.
    A file already at the latest version is only read: opening it never waits for another writer."""
    conn = db.conn
    found = conn.execute("PRAGMA user_version").fetchone()[0]
    _refuse_newer(found, path)
    if found == latest_version():
        return found
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = conn.execute("PRAGMA user_version").fetchone()[0]
        _refuse_newer(found, path)
        for version in range(found, latest_version()):
            MIGRATIONS[version](conn)
            conn.execute(f"PRAGMA user_version = {version + 1}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return max(found, latest_version())


# identity ----------------------------------------------------------------------------------------


def _digest(label: str, text: str) -> str:
    import hashlib  # (here: reading a ledger never hashes, and it costs ~5 ms of start-up)

    return hashlib.sha256(f"kisoms-ledger:{label}:{text}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class LedgerIdentity:
    """The env, the configured accounts and the app key fingerprint a process opens a ledger with."""

    env: str
    accounts: tuple[str, ...] = ()
    app_key_fingerprint: str | None = None

    @classmethod
    def of(cls, env: str, accounts: Iterable[str], app_key: str | None) -> "LedgerIdentity":
        """Build one from the raw app key, which is hashed here and never kept."""
        return cls(env=env, accounts=tuple(sorted(set(accounts))),
                   app_key_fingerprint=_digest("app-key", app_key) if app_key else None)

    @property
    def accounts_fingerprint(self) -> str:
        return _digest("accounts", "\n".join(self.accounts))

    def describe(self, *, with_accounts: bool) -> str:
        accounts = ", ".join(self.accounts) or "none"
        return f"env {self.env} (accounts {accounts})" if with_accounts else f"env {self.env}"


@dataclass(frozen=True)
class _Decision:
    record: LedgerIdentity | None  # what to write, or None: the record stands
    warnings: tuple[str, ...] = ()


def _read(conn: sqlite3.Connection) -> LedgerIdentity | None:
    row = conn.execute("SELECT env, accounts, app_key_fingerprint FROM ledger_identity WHERE id = 1").fetchone()
    if row is None:
        return None
    return LedgerIdentity(env=row[0], accounts=tuple(json.loads(row[1])), app_key_fingerprint=row[2])


def recorded_identity_at(path: Path) -> LedgerIdentity | None:
    """The identity recorded in the ledger at ``path``, read without opening it as the ledger (no migration,
    no identity check, no file created beside it); None if there is no file, no record, or it cannot be
    read (a caller then opens the ledger the usual way)."""
    if not Path(path).is_file():
        return None
    try:  # immutable: no -wal/-shm is created (they would take the file's mode, not 0600) and no lock taken;
        # a record still in another process's WAL is not seen (an app key, once recorded, is never removed)
        conn = sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro&immutable=1", uri=True)
    except sqlite3.Error:
        return None
    try:
        return _read(conn)
    except (sqlite3.Error, ValueError):
        return None
    finally:
        conn.close()


def _refuse(path: Path, recorded: LedgerIdentity, current: LedgerIdentity) -> LedgerEnvMismatch:
    differ = recorded.accounts != current.accounts and bool(current.accounts)
    belongs = recorded.describe(with_accounts=differ)
    asked = current.describe(with_accounts=differ)
    fix = (f"open it with --env {recorded.env}" if recorded.env != current.env
           else "keep it with the config it belongs to")
    return LedgerEnvMismatch(f"ledger {path} belongs to {belongs}, not {asked}; nothing was changed: {fix}, "
                             "or give this config its own ledger (--ledger or `ledger` in the config)")


def _decide(path: Path, recorded: LedgerIdentity | None, current: LedgerIdentity) -> _Decision:
    if recorded is None:
        return _Decision(current)
    if recorded.env != current.env:
        raise _refuse(path, recorded, current)
    if recorded.accounts and current.accounts and not set(recorded.accounts) & set(current.accounts):
        raise _refuse(path, recorded, current)
    accounts = tuple(sorted(set(recorded.accounts) | set(current.accounts)))
    key = current.app_key_fingerprint or recorded.app_key_fingerprint
    if accounts == recorded.accounts and key == recorded.app_key_fingerprint:
        return _Decision(None)
    warnings = ()
    if recorded.app_key_fingerprint and key != recorded.app_key_fingerprint:
        warnings = (f"ledger {path} was last used with another app key for env {current.env}; the new key is "
                    "recorded (fine after KIS reissued it; otherwise check which key this config uses)",)
    return _Decision(LedgerIdentity(current.env, accounts, key), warnings)


def _write(conn: sqlite3.Connection, identity: LedgerIdentity, ts: str, first: bool) -> None:
    from kisoms.ledger.journal import record  # (only here: opening a ledger to read it does not load it)

    conn.execute(
        "INSERT OR REPLACE INTO ledger_identity (id, env, accounts, accounts_fingerprint, app_key_fingerprint, "
        "recorded_at) VALUES (1, ?, ?, ?, ?, ?)",
        (identity.env, json.dumps(list(identity.accounts)), identity.accounts_fingerprint,
         identity.app_key_fingerprint, ts))
    payload = {"env": identity.env, "accounts": list(identity.accounts),
               "accounts_fingerprint": identity.accounts_fingerprint,
               "app_key_fingerprint": identity.app_key_fingerprint}
    kind = "ledger.identity_recorded" if first else "ledger.identity_changed"
    record(conn, ts=ts, kind=kind, source="ledger", order_id=None, event_payload=payload, audit_payload=payload)


def recorded_identity(db: Database) -> LedgerIdentity | None:
    """The identity recorded in the file, or None (never opened with one)."""
    return _read(db.conn)


def check_identity(db: Database, path: Path, current: LedgerIdentity, ts: str) -> list[str]:
    """Refuse a ledger of another env or account set; record what changed. Returns warnings to show."""
    decision = _decide(path, _read(db.conn), current)
    if decision.record is None:
        return []
    with atomic(db) as conn:  # decide again under the write lock: another process may have recorded first
        recorded = _read(conn)
        decision = _decide(path, recorded, current)
        if decision.record is not None:
            _write(conn, decision.record, ts, first=recorded is None)
    return list(decision.warnings)
