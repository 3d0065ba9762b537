"""Writing one change: order row, history row, audit row and event, all in the caller's transaction.

Callers run these inside ``db.atomic``; a failure anywhere rolls back all four. ``audit`` and ``events``
are called through their modules so tests can make either fail in the middle of a change.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field, replace
from typing import Any

from kisoms.domain.order import Order
from kisoms.domain.states import BrokerView, OrderStatus, Quantities, correction_problem
from kisoms.errors import LedgerError
from kisoms.ledger import audit, events, orders
from kisoms.ledger.codec import from_iso
from kisoms.ledger.errors import CorrectionRefused, StaleOrder
from kisoms.ledger.rows import order_summary, order_to_row

ORDER_FIELDS = frozenset({"broker_order_no", "krx_orgno", "order_date", "reject_code", "reject_reason",
                          "price_note", "price", "tags"})
SPECIAL_FIELDS = frozenset({"cancel_qty"})  # cancel_qty: cancel that much of what remains


@dataclass(frozen=True)
class Change:
    """Why an order changes: the history event text, the event/audit kind, who, and extra payload."""

    event: str
    kind: str
    source: str
    raw_payload: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


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
    changed = order.with_quantities(q, filled_amount)
    return replace(changed, status=status, updated_at=from_iso(ts), version=order.version + 1, **plain)


def _diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[Any]]:
    return {k: [old.get(k), v] for k, v in new.items() if old.get(k) != v and k not in ("updated_at", "version")}


_IN_CREATED_EVENT = frozenset({"id", "symbol", "side", "qty", "status", "version", "filled_qty", "created_at",
                               "updated_at"})  # the event (and the row's ts and order_id) states these


def _snapshot(order: Order) -> dict[str, Any]:
    """A new order as its audit row keeps it: the fields its created event does not state, those without a
    value (None, 0, no tags) left out."""
    return {k: v for k, v in order_summary(order).items() if k not in _IN_CREATED_EVENT and v not in (None, 0, {})}


def _event_payload(before: Order | None, after: Order, change: Change) -> dict[str, Any]:
    """What the event feed shows of a change: the new state (readers join the order for the rest). The
    order's terms are shown once, on creation; cancelled quantity and filled amount once they are not 0."""
    payload: dict[str, Any] = {"event": change.event, "prev_status": before.status.value if before else None,
                               "status": after.status.value, "version": after.version,
                               "filled_qty": after.filled_qty, "source": change.source}
    if before is None:
        payload.update(symbol=after.symbol, side=after.side.value, qty=after.qty)
    if after.cancelled_qty:
        payload["cancelled_qty"] = after.cancelled_qty
    if after.filled_amount:
        payload["filled_amount"] = after.filled_amount
    return {**payload, **change.extra}


def _audit_payload(before: Order | None, after: Order, change: Change, event: dict[str, Any],
                   rows: tuple[dict[str, Any], dict[str, Any]] | None) -> dict[str, Any]:
    """What the audit row adds to the event it covers: the new order's every field, or the fields a change
    moved that the event does not state already (with their old values), and the raw payload."""
    if before is None or rows is None:
        payload: dict[str, Any] = {"order": _snapshot(after)}
    else:
        diff = {k: v for k, v in _diff(*rows).items() if k not in event or event[k] != v[1]}
        payload = {"changed": diff} if diff else {}
    if change.raw_payload is not None:
        payload["raw_payload"] = change.raw_payload
    return payload


def record(conn: sqlite3.Connection, *, ts: str, kind: str, source: str, order_id: int | None,
           event_payload: dict[str, Any], audit_payload: dict[str, Any]) -> tuple[int, int]:
    """An event and the audit row that covers it, for something that happened: the audit row keeps only
    what the event does not (its hash covers the event). Returns (event id, audit row id)."""
    text = events.encode(event_payload)
    event_id = events.append(conn, ts=ts, kind=kind, order_id=order_id, payload=event_payload, text=text)
    extra = {k: v for k, v in audit_payload.items() if k not in event_payload or event_payload[k] is not v}
    audit_id = audit.append(conn, ts=ts, source=source, action=kind, order_id=order_id, payload=extra,
                            event=(event_id, text))
    return event_id, audit_id


def write(conn: sqlite3.Connection, before: Order | None, after: Order, change: Change, ts: str) -> Order:
    """Insert (``before`` None) or update the order, then its event, audit and history rows. The raw
    payload is stored once, in the audit row; the history row points at it."""
    rows = None
    if before is None:
        after = replace(after, id=orders.insert(conn, after))
    else:
        rows = (order_to_row(before), order_to_row(after))
        orders.update(conn, before, after, rows)
    event = _event_payload(before, after, change)
    _, audit_id = record(conn, ts=ts, kind=change.kind, source=change.source, order_id=after.id,
                         event_payload=event, audit_payload=_audit_payload(before, after, change, event, rows))
    orders.add_history(conn, after, prev_status=before.status.value if before else None, event=change.event,
                       ts=ts, source=change.source, raw_ref=audit_id if change.raw_payload is not None else None)
    return after
