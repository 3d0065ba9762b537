"""Corrections built ahead of their write, and written many at once.

Reconcile judges its orders while the rate limit spaces the pages of the broker's books. For an order whose
rows so far call for a correction, ``prepare`` builds, ahead, all that ``orders.correct`` would write for it
that does not depend on when it is written: the order's new column values, and the event's and the audit
row's payload texts (serialised and redacted). ``write`` later writes, for each prepared correction in
turn, the very rows ``orders.correct`` writes (an inferred fill, the orders row, an event and the audit row
covering it, the ids AUTOINCREMENT gives, the hash chain carried on in order), with one ``executemany`` per
table; it stops before the first one whose order moved since (another version) or whose inferred fill's key
is known, which the caller then corrects the usual way.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass
from typing import Any

from kisoms.domain.order import Fill, Order
from kisoms.domain.states import OrderStatus, Quantities
from kisoms.errors import LedgerError
from kisoms.ledger import fills
from kisoms.ledger.db import from_iso, to_iso
from kisoms.ledger.journal import entry_texts, lean, record_many
from kisoms.ledger.orders import (Change, _check_fill, _record_of, check_fields, check_forward, evolve,
                                  execute_updates, update_statement, versions_by_id)
from kisoms.ledger.records import changed_columns, column_value


@dataclass(frozen=True)
class PreparedCorrection:
    """``orders.correct``'s rows for ``before`` (at its version), but for the write's time: ``changed`` holds
    the columns it moves except ``updated_at``; ``entry`` is the ``journal.record_many`` entry of its event
    and audit row, texts included, without ``ts``."""

    before: Order
    after: Order
    fill: Fill | None
    changed: dict[str, tuple[Any, Any]]
    entry: dict[str, Any]
    stamped: Stamped  # its UPDATE, but for the write's time


@dataclass(frozen=True)
class Stamped:
    """The UPDATE ``orders.update`` writes for a prepared correction at any time other than the order's own
    ``updated_at`` (``was``): ``update_statement`` with ``updated_at`` changed too, whose new value, at
    ``values[at]``, is the write's time (``statement``)."""

    was: str
    sql: str
    values: list[Any]
    at: int

    def statement(self, stamp: str) -> tuple[str, list[Any]]:
        values = self.values.copy()
        values[self.at] = stamp
        return self.sql, values


def _stamped(before: Order, after: Order, changed: dict[str, tuple[Any, Any]]) -> Stamped:
    was = column_value("updated_at", before.updated_at)
    sql, values = update_statement(before, after, {**changed, "updated_at": (was, _STAMP)})
    return Stamped(was, sql, values, next(n for n, v in enumerate(values) if v is _STAMP))


_STAMP = object()  # where the write's time goes among an UPDATE's values


def prepare(conn: sqlite3.Connection, order: Order, target: OrderStatus, *, source: str, raw_payload: Any,
            quantities: Quantities, filled_amount: int, inferred_fill: Fill | None,
            fields: dict[str, Any]) -> PreparedCorrection | None:
    """The correction ``orders.correct`` would write for ``order`` as it is, built now (no I/O). Refuses as
    ``correct`` does (LedgerError, CorrectionRefused); None for a file kept at a schema before v8 (whose
    changes also write a history row)."""
    if not lean(conn):
        return None
    check_fields(fields)
    check_forward(order, quantities)
    extra: dict[str, Any] = {}
    if inferred_fill is not None:
        _check_fill(order.id, inferred_fill)
        extra["inferred_fill"] = {**asdict(inferred_fill), "recorded": True}  # (``write`` checks its key is new)
    after = evolve(order, status=OrderStatus(target), q=quantities, filled_amount=filled_amount, fields=fields,
                   ts=to_iso(order.updated_at))  # (its time is the write's: left as it was here)
    changed = changed_columns(order, after)
    change = Change("corrected", "order.corrected", source, raw_payload, extra)
    entry = _record_of(conn, order, after, change, "", changed)  # (the audit diff never shows updated_at)
    del entry["ts"]
    entry.update(entry_texts(entry))
    return PreparedCorrection(order, after, inferred_fill, changed, entry, _stamped(order, after, changed))


def write(conn: sqlite3.Connection, items: list[PreparedCorrection], ts: str) -> int:
    """Write the longest run of ``items``, from the first, whose orders are still at the versions they were
    prepared from and whose inferred fills have new keys, as ``orders.correct`` would write them one after
    another at ``ts``; returns how many were written (the caller corrects the next one the usual way)."""
    versions = versions_by_id(conn, [p.before.id for p in items])
    known = fills.known_keys(conn, [p.fill.dedupe_key for p in items if p.fill is not None])
    count = next((at for at, p in enumerate(items) if versions.get(p.before.id) != p.before.version
                  or (p.fill is not None and p.fill.dedupe_key in known)), len(items))
    items = items[:count]
    if not items:
        return 0
    inferred = [p.fill for p in items if p.fill is not None]
    if inferred and fills.insert_many(conn, inferred, ts) != len(inferred):
        raise LedgerError("a fill key appeared under a write transaction")
    _update_orders(conn, items, column_value("updated_at", from_iso(ts)))
    record_many(conn, [{**p.entry, "ts": ts} for p in items])
    return count


def _update_orders(conn: sqlite3.Connection, items: list[PreparedCorrection], stamp: str) -> None:
    """Each order's row, as ``orders.update`` writes it at ``stamp`` (``orders.execute_updates``): the UPDATE
    built ahead with the time filled in (one built now in the rare case the time is the order's own)."""
    statements = []
    for p in items:
        if p.stamped.was != stamp:
            statements.append(p.stamped.statement(stamp))
        else:
            statements.append(update_statement(p.before, p.after, p.changed))
    execute_updates(conn, statements)
