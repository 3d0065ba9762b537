"""Broker requests: claim (write-ahead, before a request leaves), settle, and adopt changes found later."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from kisoms.domain.guards import GuardLimits, check as check_guards
from kisoms.domain.order import Order
from kisoms.domain.states import TRANSITIONS, OrderEvent
from kisoms.errors import GuardTripped, Halted, LedgerError, TwinPending
from kisoms.ledger import control, guards as guard_activity, orders, requests
from kisoms.ledger.changes import Change, check_version, record
from kisoms.ledger.errors import RequestNotOpen
from kisoms.ledger.records import REQUEST_STATES, BrokerNumber
from kisoms.ledger.transitions import apply

CLAIM_EVENTS = {OrderEvent.CLAIM: "new", OrderEvent.RESEND: "new", OrderEvent.MODIFY_REQUESTED: "modify",
                OrderEvent.CANCEL_REQUESTED: "cancel"}
KIND_EVENTS = {"new": OrderEvent.CLAIM, "modify": OrderEvent.MODIFY_REQUESTED, "cancel": OrderEvent.CANCEL_REQUESTED}


def _claimable(conn: sqlite3.Connection, order: Order, event: OrderEvent, expected_version: int | None) -> bool:
    if expected_version is not None and order.version != expected_version:
        return False
    return (order.status, event) in TRANSITIONS and not requests.open_requests(conn, order.id)


def _refuse_twin(conn: sqlite3.Connection, order: Order) -> None:
    """A new order is never sent while a look-alike is unresolved: the broker lookup that resolves an
    ambiguous send matches on account, symbol, side, quantity (and price where both have one), so two
    in flight could not be told apart."""
    twins = orders.unresolved_twins(conn, order)
    if twins:
        raise TwinPending(order.id, twins[0].id, twins[0].status.value)


def _guard_refusal(conn: sqlite3.Connection, order: Order, limits: GuardLimits | None, source: str,
                   ts: str) -> GuardTripped | None:
    """When a guard trips: the order recorded REJECTED (reject code GUARD:...) and the error to raise once
    the transaction has committed; None when every limit allows the order."""
    if limits is None or not limits.active:
        return None
    problems = check_guards(limits, guard_activity.activity(conn, order, ts), order)
    if not problems:
        return None
    error = GuardTripped(problems)
    payload = {"guards": [{"code": p.code, "message": p.message} for p in problems]}
    fields = {"reject_code": "GUARD:" + ",".join(error.codes), "reject_reason": str(error)}
    change = Change(OrderEvent.VALIDATION_FAILED.value, "order.transition", source, payload, payload)
    apply(conn, order, OrderEvent.VALIDATION_FAILED, change=change, ts=ts, fields=fields)
    return error


def claim(conn: sqlite3.Connection, order_id: int, *, event: OrderEvent, kind: str, request: dict, tr_id: str,
          source: str, expected_version: int | None, ts: str, owner: str,
          check_halt: bool = True, guards: GuardLimits | None = None) -> tuple[Order, int] | GuardTripped | None:
    """Move the order (event) and insert a ``sending`` request row; None if someone else got there first.
    In the same transaction: Halted while a kill switch stops the order's account (unless ``check_halt``
    is off: an operator's explicit resend), TwinPending while a look-alike new order is unresolved, and
    (first claims only) the account ``guards``: a refusal is written (REJECTED) and returned, not raised."""
    if CLAIM_EVENTS.get(event) != kind:
        raise LedgerError(f"event {event.value} does not claim a {kind!r} request")
    order = orders.load(conn, order_id)
    if not _claimable(conn, order, event, expected_version):
        return None
    halt = control.state(conn, order.account) if check_halt else None
    if halt is not None:
        raise Halted(halt.refusal())
    if kind == "new":
        _refuse_twin(conn, order)
    refusal = _guard_refusal(conn, order, guards, source, ts) if event is OrderEvent.CLAIM else None
    if refusal is not None:
        return refusal
    map_id = requests.insert(conn, order_id=order_id, kind=kind, tr_id=tr_id, request=request,
                             state="sending", sent_at=ts, owner=owner)
    extra = {"map_id": map_id, "request_kind": kind, "owner": owner}  # (request, tr_id: the raw payload's)
    change = Change(event.value, "order.transition", source, {"request": request, "tr_id": tr_id}, extra)
    return apply(conn, order, event, change=change, ts=ts), map_id


def _open_request(conn: sqlite3.Connection, map_id: int, order_id: int | None, state: str,
                  expected_activity: datetime | None = None) -> BrokerNumber:
    """The open request ``map_id``; refuses a settled one, another order's, a bad target state, or (with
    ``expected_activity``) one its owner has tried again since the caller looked at it."""
    req = requests.get(conn, map_id)
    if req is None or not req.is_open:
        raise RequestNotOpen(f"request {map_id} is {'missing' if req is None else 'already ' + req.state}")
    if expected_activity is not None and req.last_activity != expected_activity:
        raise RequestNotOpen(f"request {map_id} was tried again by its owner since it was judged abandoned")
    if order_id is not None and order_id != req.order_id:
        raise LedgerError(f"request {map_id} belongs to order {req.order_id}, not {order_id}")
    if state not in REQUEST_STATES or state == "sending":
        raise LedgerError(f"cannot settle a request as {state!r}")
    return req


def _settled_alone(conn: sqlite3.Connection, order: Order, extra: dict, source: str, raw_payload: Any,
                   ts: str) -> Order:
    payload = {**extra, "status": order.status.value, "source": source}
    record(conn, ts=ts, kind="request.settled", source=source, order_id=order.id, event_payload=payload,
           audit_payload={**payload, "raw_payload": raw_payload})
    return order


def settle(conn: sqlite3.Connection, map_id: int, *, state: str, order_id: int | None, event: OrderEvent | None,
           source: str, raw_payload: Any, map_fields: dict, order_fields: dict, expected_version: int | None,
           ts: str, expected_activity: datetime | None = None) -> Order:
    """Record how an open request ended and (with ``event``) move its order, in one transaction.
    ``expected_activity``: a takeover's compare-and-swap on the owner's last attempt."""
    req = _open_request(conn, map_id, order_id, state, expected_activity)
    order = orders.load(conn, req.order_id)
    check_version(order, expected_version)
    requests.settle(conn, map_id, state=state, resolved_at=None if state == "unknown" else ts,
                    fields=map_fields, response=raw_payload)
    numbers = {k: map_fields[k] for k in requests.NUMBER_FIELDS if map_fields.get(k) is not None}
    extra = {"map_id": map_id, "request_kind": req.kind, "request_state": state, **numbers}
    if event is None:
        return _settled_alone(conn, order, extra, source, raw_payload, ts)
    change = Change(event.value, "order.transition", source, raw_payload, extra)
    return apply(conn, order, event, change=change, ts=ts, fields=order_fields)


def map_change(conn: sqlite3.Connection, order_id: int, *, kind: str, broker_order_no: str, krx_orgno: str | None,
               order_date: str, raw_payload: Any, source: str, ts: str) -> bool:
    """Map an amend/cancel number found at the broker to the order (accepted). False if already mapped."""
    order = orders.load(conn, order_id)
    if requests.by_number(conn, broker_order_no, order_date) is not None:
        return False
    map_id = requests.insert(conn, order_id=order_id, kind=kind, tr_id="", request={}, state="accepted",
                             sent_at=ts, resolved_at=ts, broker_order_no=broker_order_no, krx_orgno=krx_orgno,
                             order_date=order_date, response=raw_payload)
    payload = {"map_id": map_id, "request_kind": kind, "broker_order_no": broker_order_no,
               "order_date": order_date, "status": order.status.value, "source": source}
    record(conn, ts=ts, kind="request.mapped", source=source, order_id=order_id, event_payload=payload,
           audit_payload={**payload, "raw_payload": raw_payload})
    return True
