"""The append-only, hash-chained audit log.

Each row's ``hash`` is SHA-256 of ``prev_hash`` + the canonical JSON of the row's content (id, ts,
source, action, order_id, payload text). Triggers refuse UPDATE and DELETE; ``verify`` catches what a
trigger cannot (someone dropped the triggers, or edited the file): an edited row breaks its own hash,
an inserted or deleted row breaks the links or the id sequence. Without a secret key a forger who
recomputes every later hash is not caught; the chain proves integrity against edits, not authorship.
"""

from __future__ import annotations

import hashlib
import sqlite3
from typing import Any

from kisoms.errors import AuditChainBroken
from kisoms.ledger.codec import dumps
from kisoms.ledger.redaction import clean

GENESIS = "0" * 64


def row_hash(prev_hash: str, row_id: int, ts: str, source: str, action: str, order_id: int | None,
             payload_text: str) -> str:
    """The chained hash of one row."""
    content = dumps({"id": row_id, "ts": ts, "source": source, "action": action, "order_id": order_id,
                     "payload": payload_text})
    return hashlib.sha256((prev_hash + content).encode("utf-8")).hexdigest()


def _head(conn: sqlite3.Connection) -> tuple[int, str]:
    """(next id, hash of the last row). Ids continue after the highest id ever issued."""
    seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'").fetchone()
    last = conn.execute("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    next_id = max(seq[0] if seq else 0, last[0] if last else 0) + 1
    return next_id, last[1] if last else GENESIS


def append(conn: sqlite3.Connection, *, ts: str, source: str, action: str, order_id: int | None,
           payload: Any) -> int:
    """Append one row (payload redacted) inside the caller's transaction. Returns its id."""
    row_id, prev = _head(conn)
    text = dumps(clean(payload) or {})
    digest = row_hash(prev, row_id, ts, source, action, order_id, text)
    conn.execute("INSERT INTO audit_log (id, ts, source, action, order_id, payload, prev_hash, hash) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (row_id, ts, source, action, order_id, text, prev, digest))
    return row_id


def _check_row(row: tuple, expected_id: int, prev: str) -> None:
    row_id, ts, source, action, order_id, payload, prev_hash, digest = row
    if row_id != expected_id:
        raise AuditChainBroken(f"audit row {row_id}: rows {expected_id}..{row_id - 1} are missing (deleted)")
    if prev_hash != prev:
        raise AuditChainBroken(f"audit row {row_id}: does not link to the row before it (inserted or reordered)")
    if row_hash(prev_hash, row_id, ts, source, action, order_id, payload) != digest:
        raise AuditChainBroken(f"audit row {row_id}: content does not match its hash (edited)")


def verify(conn: sqlite3.Connection) -> int:
    """Walk the whole chain; raise AuditChainBroken naming the first bad row. Returns rows checked."""
    prev, expected = GENESIS, 1
    cursor = conn.execute("SELECT id, ts, source, action, order_id, payload, prev_hash, hash "
                          "FROM audit_log ORDER BY id")
    for row in cursor:
        _check_row(row, expected, prev)
        prev, expected = row[7], expected + 1
    seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'").fetchone()
    if seq and seq[0] >= expected:
        raise AuditChainBroken(f"audit row {expected}: rows {expected}..{seq[0]} are missing (deleted at the end)")
    return expected - 1
