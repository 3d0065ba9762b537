"""What a ledger belongs to: the env it was created for, its account set and its app key (a fingerprint).

The rules, strictest first (a trader's books must never mix, and a config edit must never brick them):

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

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from kisoms.errors import LedgerEnvMismatch
from kisoms.ledger.changes import record
from kisoms.ledger.db import Database, atomic


def _digest(label: str, text: str) -> str:
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
