"""Orders and their history: the ``orders`` SQL, the history read back, and every change to an order
(create, transition, correct, fill), each run inside the caller's transaction.

Writing one change (``write``): the order row, one event and the audit row that covers it, all in the
caller's transaction; a failure anywhere rolls back all three. The event is the change's history entry
(since schema v8; older entries stay in ``order_status_history``); the raw payload is stored once, in the
audit row.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict
from operator import itemgetter
from types import MappingProxyType
from typing import Any, Iterable, Mapping, NamedTuple

from kisoms.domain.order import Fill, Order, confusable
from kisoms.domain.states import BrokerView, OrderEvent, OrderStatus, Quantities, correction_problem, next_status
from kisoms.errors import InvalidTransition, LedgerError, OrderNotFound
from kisoms.ledger import fillrows, fills
from kisoms.ledger.db import as_dicts, chunks, first, from_iso, marks
from kisoms.ledger.errors import CorrectionRefused, StaleOrder
from kisoms.ledger.journal import dense, lean, record, record_many
from kisoms.ledger.lists import where_clause
from kisoms.ledger.records import (FILL_COVERED, ORDER_COLUMNS, ORDER_TERMS, HistoryRow, changed_columns, columns_of,
                                   dense_event, event_to_history, order_to_row, revised, row_to_history,
                                   row_to_order, update_sql)

# orders and history SQL --------------------------------------------------------------------------


def insert(conn: sqlite3.Connection, order: Order, row: dict[str, Any] | None = None) -> int:
    """Insert a new order row (``row``: its ``order_to_row``, when the caller has it); returns its id.
    Raises sqlite3.IntegrityError on a known key."""
    row = order_to_row(order) if row is None else row
    marks = ", ".join("?" for _ in ORDER_COLUMNS)
    cursor = conn.execute(f"INSERT INTO orders ({', '.join(ORDER_COLUMNS)}) VALUES ({marks})",
                          [row[c] for c in ORDER_COLUMNS])
    return int(cursor.lastrowid)


def find(conn: sqlite3.Connection, order_id: int) -> Order | None:
    """The order with this id, or None."""
    row = first(conn.execute("SELECT * FROM orders WHERE id = ?", (order_id,)))
    return row_to_order(row) if row else None


def load(conn: sqlite3.Connection, order_id: int) -> Order:
    """The order with this id; OrderNotFound otherwise."""
    order = find(conn, order_id)
    if order is None:
        raise OrderNotFound(f"no order with id {order_id}")
    return order


def by_key(conn: sqlite3.Connection, key: str) -> Order | None:
    """The order with this idempotency key, or None."""
    row = first(conn.execute("SELECT * FROM orders WHERE idempotency_key = ?", (key,)))
    return row_to_order(row) if row else None


def orders_by_id(conn: sqlite3.Connection, order_ids: Iterable[int]) -> dict[int, Order]:
    """The orders with these ids (those that exist), in one query per ``db.CHUNK`` ids (a pass over many
    orders: reconcile). A snapshot: writers still guard with ``expected_version``."""
    found: dict[int, Order] = {}
    for part in chunks(order_ids):
        rows = as_dicts(conn.execute(f"SELECT * FROM orders WHERE id IN ({marks(part)})", part))
        found.update((order.id, order) for order in map(row_to_order, rows))
    return found


def versions_by_id(conn: sqlite3.Connection, order_ids: Iterable[int]) -> dict[int, int]:
    """Each order's version now (to re-read only the orders that moved since a snapshot)."""
    found: dict[int, int] = {}
    for part in chunks(order_ids):
        found.update(conn.execute(f"SELECT id, version FROM orders WHERE id IN ({marks(part)})", part).fetchall())
    return found


class OrderKey(NamedTuple):
    """What a pass over many orders plans with before reading them (reconcile): no row decoded."""

    id: int
    account: str
    order_date: str | None
    version: int


def order_keys(conn: sqlite3.Connection, *, statuses=None, order_date=None) -> list[OrderKey]:
    """``select``'s orders (same filters, oldest first) as keys only; ``orders_by_id`` reads them later."""
    where, params = where_clause(statuses, None, None, order_date)
    cursor = conn.execute(f"SELECT id, account, order_date, version FROM orders{where} ORDER BY id", params)
    return [OrderKey(*row) for row in cursor]


def update(conn: sqlite3.Connection, before: Order, after: Order,
           changed: dict[str, tuple[Any, Any]] | None = None) -> None:
    """Write ``after`` over ``before``; refuses if the row is no longer at ``before.version``. ``changed``:
    their ``changed_columns`` when the caller has them."""
    changed = changed_columns(before, after) if changed is None else changed
    cursor = conn.execute(*update_statement(before, after, changed))
    if cursor.rowcount != 1:
        raise LedgerError(f"order {before.id} changed under a write transaction (version {before.version})")


def update_statement(before: Order, after: Order, changed: dict[str, tuple[Any, Any]]) -> tuple[str, list[Any]]:
    """The UPDATE that writes ``after`` over ``before`` (still at its version), and its values: only the
    columns that change (``changed``), so SQLite leaves the indexes of the others alone."""
    columns = tuple(c for c in changed if c != "idempotency_key") or ("version",)
    values = [changed[c][1] if c in changed else after.version for c in columns]
    values.append(before.id)
    values.append(before.version)
    return update_sql(columns), values


RAW_REF = "@"  # a v7 history row's raw_payload "@<id>": the payload is the audit row <id>'s (JSON never starts so)
HISTORY_KINDS = ("order.created", "order.transition", "order.fill", "order.corrected")  # what ``write`` records

_OLD_HISTORY_SQL = (
    "SELECT h.*, a.payload AS audit_payload FROM order_status_history h LEFT JOIN audit_log a "
    f"ON substr(h.raw_payload, 1, 1) = '{RAW_REF}' AND a.id = CAST(substr(h.raw_payload, 2) AS INTEGER) "
    "WHERE h.order_id = ? ORDER BY h.history_id")
# since v8: the order's change events, each with its audit row (found by the ids' constant offset; ``a.id``
# is NULL when that does not hold, and the row is then looked up by its event id)
_EVENT_HISTORY_SQL = (
    "SELECT e.id, e.ts, e.payload, a.id, a.payload, e.kind, e.id >= {dense_from} FROM history_start s "
    "JOIN events e ON e.order_id = ? "
    f"AND e.id >= s.first_event AND e.kind IN ({', '.join(repr(k) for k in HISTORY_KINDS)}) "
    "LEFT JOIN audit_log a ON a.id = e.id + s.audit_offset AND a.event_id = e.id WHERE s.id = 1 ORDER BY e.id")


def add_history(conn: sqlite3.Connection, order: Order, *, prev_status: str | None, event: str, ts: str,
                source: str, raw_ref: int | None = None) -> int:
    """One order_status_history row (files before schema v8 only): the order's status (and version) after
    ``event``; its raw payload, if any, is the one in audit row ``raw_ref``."""
    cursor = conn.execute(
        "INSERT INTO order_status_history (order_id, status, prev_status, event, event_ts, source, raw_payload,"
        " version) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (order.id, order.status.value, prev_status, event, ts, source,
         None if raw_ref is None else f"{RAW_REF}{raw_ref}", order.version))
    return int(cursor.lastrowid)


def _audit_payload_of(conn: sqlite3.Connection, event_id: int) -> str | None:
    row = conn.execute("SELECT payload FROM audit_log WHERE event_id = ?", (event_id,)).fetchone()
    return row and row[0]


def history(conn: sqlite3.Connection, order_id: int) -> list[HistoryRow]:
    """An order's timeline, oldest first: the rows written before schema v8, then one per change event
    (raw payloads read from the audit rows that hold them)."""
    rows = [row_to_history(r) for r in as_dicts(conn.execute(_OLD_HISTORY_SQL, (order_id,)))]
    if not lean(conn):
        return rows
    sql = _EVENT_HISTORY_SQL.format(dense_from="s.dense_from" if dense(conn) else "NULL")
    for event_id, ts, payload, audit_id, audit_payload, kind, is_dense in conn.execute(sql, (order_id,)).fetchall():
        if audit_id is None:
            audit_payload = _audit_payload_of(conn, event_id)
        rows.append(event_to_history(event_id, order_id, ts, payload, audit_payload, kind if is_dense else None))
    return rows


def unresolved_twins(conn: sqlite3.Connection, order: Order) -> list[Order]:
    """Other SENDING/UNKNOWN orders a broker lookup could confuse with ``order`` (``confusable``), oldest first."""
    cursor = conn.execute(
        # (+account, +symbol: look up by status, the few in flight, not by symbol, which grows with the ledger)
        "SELECT * FROM orders WHERE status IN ('SENDING', 'UNKNOWN') AND id != ? AND +account = ? AND +symbol = ?"
        " AND side = ? AND qty = ? ORDER BY id", (order.id, order.account, order.symbol, order.side.value, order.qty))
    return [o for o in map(row_to_order, as_dicts(cursor)) if confusable(o, order)]


# writing one change ------------------------------------------------------------------------------


ORDER_FIELDS = frozenset({"broker_order_no", "krx_orgno", "order_date", "reject_code", "reject_reason",
                          "price_note", "price", "tags"})
SPECIAL_FIELDS = frozenset({"cancel_qty"})  # cancel_qty: cancel that much of what remains


_NO_EXTRA: Mapping[str, Any] = MappingProxyType({})


class Change(NamedTuple):
    """Why an order changes: the history event text, the event/audit kind, who, and extra payload
    (``fill_row``: a fill's row as stored, which its dense event names instead of copying). A named tuple:
    one is built per change, at a fraction of a frozen dataclass's cost."""

    event: str
    kind: str
    source: str
    raw_payload: Any = None
    extra: Mapping[str, Any] = _NO_EXTRA
    fill_row: dict[str, Any] | None = None


def check_version(order: Order, expected_version: int | None) -> None:
    """StaleOrder when the caller's view of the order is out of date."""
    if expected_version is not None and order.version != expected_version:
        raise StaleOrder(order.id, expected_version, order.version)


def check_fields(fields: dict[str, Any]) -> None:
    """Refuse order fields the ledger does not let callers set."""
    unknown = set(fields) - ORDER_FIELDS - SPECIAL_FIELDS
    if unknown:
        raise LedgerError(f"cannot set order field(s) {sorted(unknown)}; allowed: {sorted(ORDER_FIELDS)}")


def check_forward(order: Order, q: Quantities) -> None:
    """CorrectionRefused when quantities would go backwards or the order quantity would change."""
    problem = correction_problem(order.quantities, BrokerView(q.qty, q.filled, q.cancelled))
    if problem:
        raise CorrectionRefused(order.id, problem)


def quantities_after(order: Order, quantities: Quantities | None, cancel_qty: int | None) -> Quantities:
    """The quantities a change leaves. A cancel larger than what remains cancels what remains
    (a fill beat it); reconcile brings broker truth later."""
    q = quantities or order.quantities
    check_forward(order, q)
    n = min(int(cancel_qty or 0), q.remaining)
    return q.with_cancel(n) if n > 0 else q


def evolve(order: Order, *, status: OrderStatus, q: Quantities, filled_amount: int | None,
           fields: dict[str, Any], ts: str) -> Order:
    """The order after a change: new status, quantities, fields, time and version."""
    plain = {k: v for k, v in fields.items() if k in ORDER_FIELDS}
    amount = order.filled_amount if filled_amount is None else filled_amount  # (as Order.with_quantities)
    return revised(order, qty=q.qty, filled_qty=q.filled, cancelled_qty=q.cancelled, filled_amount=amount,
                   status=status, updated_at=from_iso(ts), version=order.version + 1, **plain)


_UNSHOWN = frozenset({"updated_at", "version"})  # a change's diff leaves these out (every change moves them)


_IN_CREATED_EVENT = frozenset({"id", "symbol", "side", "qty", "status", "version", "filled_qty", "created_at",
                               "updated_at"})  # the event (and the row's ts and order_id) states these


def _snapshot(order: Order, row: dict[str, Any], covered: bool) -> dict[str, Any]:
    """A new order as its audit row keeps it (``row``: its ``order_to_row``): the fields its created event does
    not state, nor (``covered``: since v8) the terms its hash covers in the orders row, those without a value
    (None, 0, no tags) left out (as ``order_summary`` shows them: the tags as a dict)."""
    left = _CREATED_LEFT_COVERED if covered else _IN_CREATED_EVENT
    kept = {k: v for k, v in row.items() if k not in left and v is not None and v != 0 and k != "tags"}
    if order.tags:
        kept["tags"] = dict(order.tags)
    return kept


_TERMS = frozenset(ORDER_TERMS)
_CREATED_LEFT_COVERED = _IN_CREATED_EVENT | _TERMS


def _event_payload(before: Order | None, after: Order, change: Change) -> dict[str, Any]:
    """What the event feed shows of a change: the new state (readers join the order for the rest). The
    order's terms are shown once, on creation; cancelled quantity and filled amount once they are not 0."""
    # (``_value_``: an enum member's value without the ``value`` property's descriptor call)
    payload: dict[str, Any] = {"event": change.event, "prev_status": before.status._value_ if before else None,
                               "status": after.status._value_, "version": after.version,
                               "filled_qty": after.filled_qty, "source": change.source}
    if before is None:
        payload.update(symbol=after.symbol, side=after.side._value_, qty=after.qty)
    if after.cancelled_qty:
        payload["cancelled_qty"] = after.cancelled_qty
    if after.filled_amount:
        payload["filled_amount"] = after.filled_amount
    if change.extra:
        payload.update(change.extra)
    return payload


def _audit_payload(change: Change, event: dict[str, Any], changed: dict[str, tuple[Any, Any]] | None = None,
                   snapshot: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the audit row adds to the event it covers: the ``snapshot`` of a new order, or the columns a
    change moved (``changed``) that the event does not state already (with their old values), and the raw
    payload."""
    if snapshot is not None:
        payload: dict[str, Any] = {"order": snapshot}
    else:
        diff = {k: [old, new] for k, (old, new) in (changed or {}).items()
                if k not in _UNSHOWN and (k not in event or event[k] != new)}
        payload = {"changed": diff} if diff else {}
    if change.raw_payload is not None:
        payload["raw_payload"] = change.raw_payload
    return payload


def _stored_event(conn: sqlite3.Connection, change: Change, event: dict[str, Any],
                  terms: tuple | None) -> tuple[dict[str, Any], tuple | None]:
    """The event as stored and what its audit row covers besides it: since v9 the event is dense
    (``dense_event``), and a fill event that names its fills row has its audit row cover that row."""
    if not dense(conn):
        return event, terms
    stored = dense_event(change.kind, event, change.fill_row)
    if type(stored.get("fill")) is int:
        terms = _FILL_COVERED_OF(change.fill_row)
    return stored, terms


_FILL_COVERED_OF = itemgetter(*FILL_COVERED)  # a fills row's covered values, as a tuple


def _record_of(conn: sqlite3.Connection, before: Order | None, after: Order, change: Change, ts: str,
               changed: dict | None = None, snapshot: dict[str, Any] | None = None,
               terms: tuple | None = None) -> dict[str, Any]:
    """The arguments of ``journal.record`` for a change: its event as stored (``_stored_event``) and the
    audit payload that covers it."""
    event = _event_payload(before, after, change)
    stored, terms = _stored_event(conn, change, event, terms)
    return {"ts": ts, "kind": change.kind, "source": change.source, "order_id": after.id, "event_payload": stored,
            "terms": terms, "audit_payload": _audit_payload(change, event, changed, snapshot)}


def write(conn: sqlite3.Connection, before: Order | None, after: Order, change: Change, ts: str) -> Order:
    """Insert (``before`` None) or update the order, then its event and audit row: the event is its history
    entry (``history``); the raw payload is stored once, in the audit row."""
    changed, snapshot, terms = None, None, None
    if before is None:
        row = order_to_row(after)
        after = revised(after, id=insert(conn, after, row))
        if lean(conn):  # the creation's audit row covers the terms in the orders row (v8)
            terms = tuple(row[c] for c in ORDER_TERMS)
        snapshot = _snapshot(after, row, terms is not None)
    else:
        changed = changed_columns(before, after)
        update(conn, before, after, changed)
    _, audit_id = record(conn, **_record_of(conn, before, after, change, ts, changed, snapshot, terms))
    if not lean(conn):  # a file kept at an older schema (as tests build one): the history row as before v8
        add_history(conn, after, prev_status=before.status.value if before else None, event=change.event,
                    ts=ts, source=change.source, raw_ref=audit_id if change.raw_payload is not None else None)
    return after


# the changes -------------------------------------------------------------------------------------


def create(conn: sqlite3.Connection, order: Order, *, source: str, raw_payload: Any,
           ts: str) -> tuple[Order, bool]:
    """Insert a NEW order unless its idempotency key is known; (order, created)."""
    existing = by_key(conn, order.idempotency_key)
    if existing is not None:
        return existing, False
    if order.status is not OrderStatus.NEW or order.filled_qty or order.cancelled_qty or order.filled_amount:
        raise LedgerError(f"a new order must be NEW with nothing filled or cancelled, got {order.status.value}")
    at = from_iso(ts)
    fresh = revised(order, id=0, version=1, created_at=at, updated_at=at)
    try:
        return write(conn, None, fresh, Change("created", "order.created", source, raw_payload), ts), True
    except sqlite3.IntegrityError:  # backstop: the key appeared meanwhile (cannot under BEGIN IMMEDIATE)
        again = by_key(conn, order.idempotency_key)
        if again is None:
            raise
        return again, False


def apply(conn: sqlite3.Connection, order: Order, event: OrderEvent, *, change: Change, ts: str,
          quantities: Quantities | None = None, filled_amount: int | None = None,
          fields: dict[str, Any] | None = None) -> Order:
    """Apply one state-machine event to a loaded order and write it (InvalidTransition propagates)."""
    fields = dict(fields or {})
    check_fields(fields)
    q = quantities_after(order, quantities, fields.get("cancel_qty"))
    status = next_status(order.status, event, q)
    after = evolve(order, status=status, q=q, filled_amount=filled_amount, fields=fields, ts=ts)
    return write(conn, order, after, change, ts)


def transition(conn: sqlite3.Connection, order_id: int, event: OrderEvent, *, source: str, raw_payload: Any,
               expected_version: int | None, quantities: Quantities | None, filled_amount: int | None,
               fields: dict[str, Any], ts: str) -> Order:
    """Load, check the version, apply ``event``; one history/audit/event row each."""
    order = load(conn, order_id)
    check_version(order, expected_version)
    change = Change(event.value, "order.transition", source, raw_payload)
    return apply(conn, order, event, change=change, ts=ts, quantities=quantities, filled_amount=filled_amount,
                 fields=fields)


def correct(conn: sqlite3.Connection, order_id: int, target: OrderStatus, *, source: str, raw_payload: Any,
            quantities: Quantities, filled_amount: int, inferred_fill: Fill | None,
            expected_version: int | None, fields: dict[str, Any], ts: str, known: Order | None = None) -> Order:
    """Broker truth: move to ``target`` from any state; CorrectionRefused if quantities go backwards.
    ``known``: the caller's copy of the order at ``expected_version`` (not read again; see ``_current``)."""
    order = _current(conn, order_id, expected_version, known)
    check_fields(fields)
    check_forward(order, quantities)
    extra: dict[str, Any] = {}
    if inferred_fill is not None:
        _check_fill(order_id, inferred_fill)
        extra["inferred_fill"] = {**asdict(inferred_fill), "recorded": fills.insert(conn, inferred_fill, ts)}
    after = evolve(order, status=OrderStatus(target), q=quantities, filled_amount=filled_amount,
                   fields=fields, ts=ts)
    return write(conn, order, after, Change("corrected", "order.corrected", source, raw_payload, extra), ts)


def _current(conn: sqlite3.Connection, order_id: int, expected_version: int | None, known: Order | None) -> Order:
    """The order as it is now, at ``expected_version`` (StaleOrder otherwise). Every write to an order
    raises its version, so a row still at the version of the caller's copy ``known`` holds exactly that
    copy: then only the version is read."""
    if known is None or known.id != order_id or expected_version is None or known.version != expected_version:
        order = load(conn, order_id)
        check_version(order, expected_version)
        return order
    row = conn.execute("SELECT version FROM orders WHERE id = ?", (order_id,)).fetchone()
    if row is None:
        raise OrderNotFound(f"no order with id {order_id}")
    if row[0] != expected_version:
        raise StaleOrder(order_id, expected_version, row[0])
    return known


def _check_fill(order_id: int, fill: Fill) -> None:
    if fill.order_id != order_id:
        raise LedgerError(f"fill {fill.dedupe_key} belongs to order {fill.order_id}, not {order_id}")
    if fill.qty <= 0 or fill.price < 0:
        raise LedgerError(f"fill {fill.dedupe_key}: bad quantity {fill.qty} or price {fill.price}")


def _flag_overfill(conn: sqlite3.Connection, order: Order, fill: Fill, raw_payload: Any, ts: str) -> None:
    payload = {"fill": asdict(fill), "qty": order.qty, "filled_qty": order.filled_qty,
               "status": order.status.value, "reason": f"fill of {fill.qty} would overfill "
               f"({order.filled_qty}/{order.qty} filled); not applied"}
    record(conn, ts=ts, kind="order.overfill_flagged", source=fill.source, order_id=order.id,
           event_payload=payload, audit_payload={**payload, "raw_payload": raw_payload})


def record_fill(conn: sqlite3.Connection, order_id: int, fill: Fill, *, raw_payload: Any,
                ts: str, order: Order | None = None) -> Order | None:
    """Apply a fill once. None when its key is known (nothing written) or it would overfill (flagged).
    ``order``: the order as read in this same write transaction (it is not read again). The key is checked
    by the fill's own INSERT (``ON CONFLICT (dedupe_key) DO NOTHING``); only a fill that is refused anyway looks it up first, so a
    duplicate is never flagged as an overfill nor refused as a transition."""
    _check_fill(order_id, fill)
    order = load(conn, order_id) if order is None else order
    if order.filled_qty + fill.qty > order.qty:
        if not fills.exists(conn, fill.dedupe_key):
            _flag_overfill(conn, order, fill, raw_payload, ts)
        return None
    try:
        after, change = fill_change(order, fill, raw_payload, ts)
    except InvalidTransition:
        if fills.exists(conn, fill.dedupe_key):
            return None
        raise
    fill_row = fills.add(conn, fill, ts)
    if fill_row is None:
        return None  # its key is known: a duplicate, nothing written
    return write(conn, order, after, with_fill_row(change, fill_row), ts)


def with_fill_row(change: Change, fill_row: dict[str, Any]) -> Change:
    """``change`` naming the fills row it records."""
    return Change(change.event, change.kind, change.source, change.raw_payload, change.extra, fill_row)


_FILL_EVENT = OrderEvent.FILL.value
# what a fill changes of an order (``fill_change``): two orders a run of fills apart differ only there
FILL_MOVES = columns_of(("status", "filled_qty", "cancelled_qty", "updated_at", "filled_amount", "version"))


def fill_change(order: Order, fill: Fill, raw_payload: Any, ts: str) -> tuple[Order, Change]:
    """The order after a fill that does not overfill it, and the change that records it
    (InvalidTransition when its status takes no fill)."""
    q = order.quantities.with_fill(fill.qty)
    status = next_status(order.status, OrderEvent.FILL, q)
    after = revised(order, status=status, filled_qty=q.filled, cancelled_qty=q.cancelled, updated_at=from_iso(ts),
                    filled_amount=order.filled_amount + fill.qty * fill.price, version=order.version + 1)  # (evolve)
    shown = {"broker_order_no": fill.broker_order_no, "dedupe_key": fill.dedupe_key, "fill_time": fill.fill_time,
             "price": fill.price, "qty": fill.qty}  # (order_id and source: the event's own)
    return after, Change(_FILL_EVENT, "order.fill", fill.source, raw_payload, {"fill": shown})


# many plain fills at once ------------------------------------------------------------------------

_PLAIN_FROM = frozenset({OrderStatus.SENT, OrderStatus.ACCEPTED, OrderStatus.PART_FILLED})
_PLAIN_TO = frozenset({OrderStatus.PART_FILLED, OrderStatus.FILLED})


def record_fills(conn: sqlite3.Connection, items: list[tuple[Order, Fill, Any]], *, ts: str) -> list[Order] | None:
    """``record_fill`` for each (order as read in this transaction, fill, raw payload), in order, when each
    is a plain fill: a new key (in the ledger and in ``items``), no overfill, a working order that becomes
    PART_FILLED or FILLED. The rows are those ``record_fill`` writes one by one (since schema v9 built by
    ``fillrows``, before by the same functions), written with one ``executemany`` per table. Returns each
    order after its last fill, once, in the order of their first fills; None, with nothing written, when
    any fill is not plain (the caller then applies them one by one)."""
    if not lean(conn):
        return None
    if dense(conn):
        return _record_planned(conn, items, ts)
    steps = _plain_steps(items, ts)
    if steps is None or fills.known_keys(conn, [fill.dedupe_key for _, fill, _ in items]):
        return None
    if fills.insert_many(conn, [fill for _, fill, _ in items], ts) != len(items):
        raise LedgerError("a fill key appeared under a write transaction")
    stored = fills.rows_by_key(conn, [fill.dedupe_key for _, fill, _ in items])  # (what each dense event names)
    _update_many(conn, steps)
    record_many(conn, [_record_of(conn, before, after, with_fill_row(change, stored[fill.dedupe_key]), ts, changed)
                       for (before, after, change, changed), (_, fill, _) in zip(steps, items)])
    last = {after.id: after for _, after, _, _ in steps}
    return list(last.values())


def _record_planned(conn: sqlite3.Connection, items: list[tuple[Order, Fill, Any]], ts: str) -> list[Order] | None:
    """``record_fills`` with the rows ``fillrows.plan`` builds (a dense file): the same bytes."""
    built = fillrows.plan(items, ts, fillrows.heads(conn), from_iso(ts))
    if built is None or fills.known_keys(conn, [fill.dedupe_key for _, fill, _ in items]):
        return None
    if conn.executemany(fillrows.FILL_ROW_SQL, built.fills).rowcount != len(items):
        raise LedgerError("a fill key appeared under a write transaction")
    execute_updates(conn, built.updates)
    fillrows.write_journal(conn, built)
    return built.orders


Step = tuple[Order, Order, Change, dict[str, tuple[Any, Any]]]  # before, after, change, changed columns


def _plain_steps(items: list[tuple[Order, Fill, Any]], ts: str) -> list[Step] | None:
    """(before, after, change, changed columns) of each fill, an order's fills applied one after another;
    None when one is not plain (see ``record_fills``) or two fills share a key."""
    current: dict[int, Order] = {}
    keys: set[str] = set()
    steps = []
    for order, fill, raw_payload in items:
        before = current.get(order.id, order)
        if (fill.order_id != order.id or fill.qty <= 0 or fill.price < 0 or fill.dedupe_key in keys
                or before.status not in _PLAIN_FROM or fill.qty > before.remaining_qty):  # (no cancel eaten)
            return None
        after, change = fill_change(before, fill, raw_payload, ts)
        if after.status not in _PLAIN_TO:
            return None
        keys.add(fill.dedupe_key)
        current[order.id] = after
        steps.append((before, after, change, changed_columns(before, after, FILL_MOVES)))
    return steps


def _update_many(conn: sqlite3.Connection, steps: list[Step]) -> None:
    """Each order's row from before its first step to after its last, one ``executemany`` per set of
    columns changed (LedgerError when a row is no longer at the version read)."""
    first: dict[int, Step] = {}
    last: dict[int, Step] = {}
    for step in steps:
        first.setdefault(step[0].id, step)
        last[step[0].id] = step
    statements = []
    for order_id, (before, _, _, changed) in first.items():
        after = last[order_id][1]
        if last[order_id] is not first[order_id]:  # several fills: from before the first to after the last
            changed = changed_columns(before, after, FILL_MOVES)
        statements.append(update_statement(before, after, changed))
    execute_updates(conn, statements)


def execute_updates(conn: sqlite3.Connection, statements: Iterable[tuple[str, list[Any]]]) -> None:
    """``update_statement``s of distinct orders, one ``executemany`` per statement text (LedgerError when a
    row is no longer at the version read)."""
    groups: dict[str, list[list[Any]]] = {}
    for sql, values in statements:
        groups.setdefault(sql, []).append(values)
    for sql, rows in groups.items():
        if conn.executemany(sql, rows).rowcount != len(rows):
            raise LedgerError("an order changed under a write transaction")
