"""Order changes: create, transition, correct, fill. Each runs inside the caller's transaction."""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, replace
from typing import Any

from kisoms.domain.order import Fill, Order
from kisoms.domain.states import OrderEvent, OrderStatus, Quantities, next_status
from kisoms.errors import LedgerError
from kisoms.ledger import fills, orders
from kisoms.ledger.changes import (Change, check_fields, check_forward, check_version, evolve, quantities_after,
                                   record, write)
from kisoms.ledger.codec import from_iso


def create_or_get(conn: sqlite3.Connection, order: Order, *, source: str, raw_payload: Any,
                  ts: str) -> tuple[Order, bool]:
    """Insert a NEW order unless its idempotency key is known; (order, created)."""
    existing = orders.by_key(conn, order.idempotency_key)
    if existing is not None:
        return existing, False
    if order.status is not OrderStatus.NEW or order.filled_qty or order.cancelled_qty or order.filled_amount:
        raise LedgerError(f"a new order must be NEW with nothing filled or cancelled, got {order.status.value}")
    fresh = replace(order, id=0, version=1, created_at=from_iso(ts), updated_at=from_iso(ts))
    try:
        return write(conn, None, fresh, Change("created", "order.created", source, raw_payload), ts), True
    except sqlite3.IntegrityError:  # backstop: the key appeared meanwhile (cannot under BEGIN IMMEDIATE)
        again = orders.by_key(conn, order.idempotency_key)
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
    order = orders.load(conn, order_id)
    check_version(order, expected_version)
    change = Change(event.value, "order.transition", source, raw_payload)
    return apply(conn, order, event, change=change, ts=ts, quantities=quantities, filled_amount=filled_amount,
                 fields=fields)


def correct(conn: sqlite3.Connection, order_id: int, target: OrderStatus, *, source: str, raw_payload: Any,
            quantities: Quantities, filled_amount: int, inferred_fill: Fill | None,
            expected_version: int | None, fields: dict[str, Any], ts: str) -> Order:
    """Broker truth: move to ``target`` from any state; CorrectionRefused if quantities go backwards."""
    order = orders.load(conn, order_id)
    check_version(order, expected_version)
    check_fields(fields)
    check_forward(order, quantities)
    extra: dict[str, Any] = {}
    if inferred_fill is not None:
        _check_fill(order_id, inferred_fill)
        extra["inferred_fill"] = {**asdict(inferred_fill), "recorded": fills.insert(conn, inferred_fill, ts)}
    after = evolve(order, status=OrderStatus(target), q=quantities, filled_amount=filled_amount,
                   fields=fields, ts=ts)
    return write(conn, order, after, Change("corrected", "order.corrected", source, raw_payload, extra), ts)


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
                ts: str) -> Order | None:
    """Apply a fill once. None when its key is known (nothing written) or it would overfill (flagged)."""
    _check_fill(order_id, fill)
    if fills.exists(conn, fill.dedupe_key):
        return None
    order = orders.load(conn, order_id)
    if order.filled_qty + fill.qty > order.qty:
        _flag_overfill(conn, order, fill, raw_payload, ts)
        return None
    q = order.quantities.with_fill(fill.qty)
    status = next_status(order.status, OrderEvent.FILL, q)
    fills.insert(conn, fill, ts)
    after = evolve(order, status=status, q=q, filled_amount=order.filled_amount + fill.qty * fill.price,
                   fields={}, ts=ts)
    shown = {"broker_order_no": fill.broker_order_no, "dedupe_key": fill.dedupe_key, "fill_time": fill.fill_time,
             "price": fill.price, "qty": fill.qty}  # (order_id and source: the event's own)
    change = Change(OrderEvent.FILL.value, "order.fill", fill.source, raw_payload, {"fill": shown})
    return write(conn, order, after, change, ts)
