"""The alert outbox: filled from the event feed under a durable cursor, drained by whichever process runs.

At least once: a row is marked delivered only after its target took it, so a crash in between sends it
again (with the same ``alert_id``, for the receiver to de-duplicate). A lease keeps two processes from
sending one row at the same time; an expired lease (its sender died) frees the row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from kisoms.domain.order import Order
from kisoms.ledger import journal, orders
from kisoms.ledger.db import as_dicts, atomic
from kisoms.ledger.records import LedgerEvent

Mapper = Callable[[list[LedgerEvent], Callable[[int], Order]], list[dict[str, Any]]]


@dataclass(frozen=True)
class OutboxRow:
    """One alert for one target."""

    alert_id: str
    target: str
    kind: str
    payload: dict[str, Any]
    attempts: int


def _insert(conn, alerts: list[dict], targets: list[str], ts: str) -> int:
    added = 0
    for alert in alerts:
        for target in targets:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO alert_outbox (alert_id, target, kind, payload, created_at, next_attempt_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (alert["id"], target, alert["kind"], json.dumps(alert, ensure_ascii=False, default=str), ts, ts))
            added += cursor.rowcount
    return added


def scan(ledger, mapper: Mapper, targets: list[str], ts: str, batch: int = 500) -> int:
    """Turn the events after the cursor into outbox rows and advance the cursor, in one transaction.
    Returns how many rows were added."""
    with atomic(ledger.db) as conn:
        last = conn.execute("SELECT last_event_id FROM alert_cursor WHERE id = 1").fetchone()[0]
        feed = journal.events_since(conn, last, batch)
        if not feed:
            return 0
        added = _insert(conn, mapper(feed, lambda order_id: orders.load(conn, order_id)), targets, ts)
        conn.execute("UPDATE alert_cursor SET last_event_id = ? WHERE id = 1", (feed[-1].id,))
    return added + (scan(ledger, mapper, targets, ts, batch) if len(feed) == batch else 0)


def enqueue(ledger, alerts: list[dict], targets: list[str], ts: str) -> int:
    """Add alerts that come from no event (timers); an id already known is ignored."""
    if not alerts:
        return 0
    with atomic(ledger.db) as conn:
        return _insert(conn, alerts, targets, ts)


def lease_due(ledger, now: str, lease_until: str, max_attempts: int, limit: int = 50) -> list[OutboxRow]:
    """Rows due now (undelivered, retry time reached, attempts left, no live lease), leased to the caller."""
    with atomic(ledger.db) as conn:
        rows = as_dicts(conn.execute(
            "SELECT * FROM alert_outbox WHERE delivered_at IS NULL AND next_attempt_at <= ? AND attempts < ? "
            "AND (leased_until IS NULL OR leased_until <= ?) ORDER BY created_at, alert_id LIMIT ?",
            (now, max_attempts, now, limit)))
        for r in rows:
            conn.execute("UPDATE alert_outbox SET leased_until = ? WHERE alert_id = ? AND target = ?",
                         (lease_until, r["alert_id"], r["target"]))
    return [OutboxRow(r["alert_id"], r["target"], r["kind"], json.loads(r["payload"]), r["attempts"]) for r in rows]


def delivered(ledger, row: OutboxRow, ts: str) -> None:
    with atomic(ledger.db) as conn:
        conn.execute("UPDATE alert_outbox SET delivered_at = ?, attempts = attempts + 1, leased_until = NULL, "
                     "last_error = NULL WHERE alert_id = ? AND target = ?", (ts, row.alert_id, row.target))


def failed(ledger, row: OutboxRow, error: str, next_attempt_at: str) -> None:
    with atomic(ledger.db) as conn:
        conn.execute("UPDATE alert_outbox SET attempts = attempts + 1, next_attempt_at = ?, leased_until = NULL, "
                     "last_error = ? WHERE alert_id = ? AND target = ?",
                     (next_attempt_at, error[:500], row.alert_id, row.target))


def pending_work(conn, max_attempts: int) -> tuple[int, str | None]:
    """(undelivered rows with attempts left, the earliest time one may be tried: retry time or lease end)."""
    count, first = conn.execute("SELECT COUNT(*), MIN(MAX(next_attempt_at, COALESCE(leased_until, next_attempt_at))) "
                                "FROM alert_outbox WHERE delivered_at IS NULL AND attempts < ?",
                                (max_attempts,)).fetchone()
    return int(count), first


def unscanned(conn) -> bool:
    """True when events exist past the cursor."""
    last = conn.execute("SELECT last_event_id FROM alert_cursor WHERE id = 1").fetchone()[0]
    return journal.last_event_id(conn) > last


def health(conn, max_attempts: int) -> dict[str, Any]:
    """Delivery state for doctor: pending, retrying (failed at least once), given up, the latest error."""
    row = conn.execute(
        "SELECT SUM(delivered_at IS NULL AND attempts < ?), SUM(delivered_at IS NULL AND attempts > 0 AND attempts < ?),"
        " SUM(delivered_at IS NULL AND attempts >= ?) FROM alert_outbox", (max_attempts,) * 3).fetchone()
    error = conn.execute("SELECT target, last_error FROM alert_outbox WHERE delivered_at IS NULL AND last_error IS NOT "
                         "NULL ORDER BY next_attempt_at DESC LIMIT 1").fetchone()
    return {"pending": int(row[0] or 0), "retrying": int(row[1] or 0), "given_up": int(row[2] or 0),
            "last_error": f"{error[0]}: {error[1]}" if error else None}
