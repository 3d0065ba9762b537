"""Broker requests and numbers: ``broker_order_map`` (one row per request: new order, amend, cancel) and
``external_orders`` (orders at the broker that kisoms did not place).

Claim (write-ahead, before a request leaves), settle, and adopt changes found later.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from datetime import datetime
from typing import Any, Iterable, NamedTuple

from kisoms.domain.guards import GuardLimits, check as check_guards
from kisoms.domain.order import Order
from kisoms.domain.redact import redact_text
from kisoms.domain.states import TRANSITIONS, OrderEvent
from kisoms.errors import GuardTripped, Halted, LedgerError, NumberTaken, TwinPending
from kisoms.ledger import control, orders
from kisoms.ledger.db import as_dicts, chunks, clean_text, first, marks
from kisoms.ledger.errors import RequestNotOpen
from kisoms.ledger.journal import dense, record
from kisoms.ledger.orders import Change, apply, check_version
from kisoms.ledger.records import (OPEN_REQUEST_STATES, REQUEST_STATES, BrokerNumber, external_row, row_to_number,
                                   row_to_order)

# broker_order_map SQL ----------------------------------------------------------------------------


_OPEN = "state IN (" + ", ".join(f"'{s}'" for s in OPEN_REQUEST_STATES) + ")"
NUMBER_FIELDS = ("broker_order_no", "krx_orgno", "order_date")

# Since schema v9 a request closed by ``settle`` keeps no copy of its owner when its claim event names the
# same one: the owner column then holds '' and every read takes the owner from that event (``_CLAIM_OWNER``).
_CLAIM_OWNER = ("(SELECT json_extract(e.payload, '$.owner') FROM events e WHERE e.order_id = {m}.order_id "
                "AND e.kind = 'order.transition' AND json_valid(e.payload) AND json_extract(e.payload, '$.map_id') = "
                "{m}.id AND json_type(e.payload, '$.owner') = 'text' ORDER BY e.id LIMIT 1)")
_PLAIN = ("id", "order_id", "broker_order_no", "krx_orgno", "order_date", "tr_id", "kind", "request", "state",
          "response", "sent_at", "resolved_at")


def _columns(conn: sqlite3.Connection, m: str = "broker_order_map") -> str:
    """The request columns to select from table (or alias) ``m``: since v9 the owner of a settled request
    read back from its claim event."""
    return _DENSE_COLUMNS[m] if dense(conn) else f"{m}.*"


def _dense_columns(m: str) -> str:
    owner = f"CASE WHEN {m}.owner = '' THEN {_CLAIM_OWNER.format(m=m)} ELSE {m}.owner END AS owner"
    return ", ".join(f"{m}.{c}" for c in _PLAIN) + f", {owner}, {m}.last_attempt_at"


_DENSE_COLUMNS = {m: _dense_columns(m) for m in ("broker_order_map", "m")}


_FORGET_OWNER = f", owner = CASE WHEN owner = {_CLAIM_OWNER.format(m='broker_order_map')} THEN '' ELSE owner END"


def insert_request(conn: sqlite3.Connection, *, order_id: int, kind: str, tr_id: str, request: dict, state: str,
           sent_at: str, resolved_at: str | None = None, broker_order_no: str | None = None,
           krx_orgno: str | None = None, order_date: str | None = None, response: Any = None,
           owner: str | None = None) -> int:
    """Insert a request row; returns its id. IntegrityError if the broker number is already mapped."""
    cursor = conn.execute(
        "INSERT INTO broker_order_map (order_id, broker_order_no, krx_orgno, order_date, tr_id, kind, request,"
        " state, response, sent_at, resolved_at, owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (order_id, broker_order_no, krx_orgno, order_date, tr_id, kind, clean_text(request or {}), state,
         clean_text(response), sent_at, resolved_at, owner))
    return int(cursor.lastrowid)


def stamp_attempt(conn: sqlite3.Connection, map_id: int, ts: str) -> bool:
    """Record that the owner is about to try a ``sending`` request again; False if it is no longer sending."""
    cursor = conn.execute("UPDATE broker_order_map SET last_attempt_at = ? WHERE id = ? AND state = 'sending'",
                          (ts, map_id))
    return cursor.rowcount == 1


def release(conn: sqlite3.Connection, map_id: int) -> bool:
    """Clear the owner of a request left open: its process no longer works on it. False if none to clear."""
    cursor = conn.execute(f"UPDATE broker_order_map SET owner = NULL WHERE id = ? AND owner IS NOT NULL AND {_OPEN}",
                          (map_id,))
    return cursor.rowcount == 1


def get(conn: sqlite3.Connection, map_id: int) -> BrokerNumber | None:
    """One request by id."""
    row = first(conn.execute(f"SELECT {_columns(conn)} FROM broker_order_map WHERE id = ?", (map_id,)))
    return row_to_number(row) if row else None


def settle_row(conn: sqlite3.Connection, map_id: int, *, state: str, resolved_at: str | None, fields: dict,
           response: Any, owner_named: bool | None = None) -> None:
    """Set the state (and the broker number fields given) of an open request; since v9 a request it closes
    keeps no copy of the owner its claim event names (``_CLAIM_OWNER``). ``owner_named``: whether the
    caller knows that the claim event names the owner the row holds (``FreshClaim``), so it is not looked
    up (None: it is)."""
    allowed = {k: fields[k] for k in NUMBER_FIELDS if fields.get(k) is not None}
    sets = "".join(f", {k} = ?" for k in allowed)
    if state not in OPEN_REQUEST_STATES and dense(conn) and owner_named is not False:
        sets += _FORGET_OWNER if owner_named is None else ", owner = ''"
    try:
        conn.execute(f"UPDATE broker_order_map SET state = ?, resolved_at = ?, response = ?{sets} WHERE id = ?",
                     [state, resolved_at, clean_text(response), *allowed.values(), map_id])
    except sqlite3.IntegrityError as exc:
        raise NumberTaken(f"request {map_id}: broker number {allowed.get('broker_order_no')} of "
                          f"{allowed.get('order_date')} is already mapped to another request ({exc})") from exc


def open_requests(conn: sqlite3.Connection, order_id: int | None = None) -> list[BrokerNumber]:
    """Requests whose outcome is not known yet (sending/unknown), oldest first."""
    if order_id is None:
        cursor = conn.execute(f"SELECT {_columns(conn)} FROM broker_order_map WHERE {_OPEN} ORDER BY id")
    else:
        cursor = conn.execute(f"SELECT {_columns(conn)} FROM broker_order_map WHERE {_OPEN} AND order_id = ? ORDER BY id",
                              (order_id,))
    return [row_to_number(r) for r in as_dicts(cursor)]


def for_order(conn: sqlite3.Connection, order_id: int) -> list[BrokerNumber]:
    """Every request of one order, oldest first."""
    cursor = conn.execute(f"SELECT {_columns(conn)} FROM broker_order_map WHERE order_id = ? ORDER BY id", (order_id,))
    return [row_to_number(r) for r in as_dicts(cursor)]


class RequestKey(NamedTuple):
    """What a pass over many orders needs of a request: no payloads decoded."""

    order_id: int
    kind: str
    state: str
    broker_order_no: str | None


def request_keys_by_order(conn: sqlite3.Connection, order_ids: Iterable[int]) -> dict[int, list[RequestKey]]:
    """Each order's requests (kind, state, number), oldest first, in one query per ``db.CHUNK`` orders (a
    pass over many orders: reconcile). A snapshot: writers still guard with ``expected_version``."""
    found: dict[int, list[RequestKey]] = defaultdict(list)
    for part in chunks(order_ids):
        sql = (f"SELECT order_id, kind, state, broker_order_no FROM broker_order_map "
               f"WHERE order_id IN ({marks(part)}) ORDER BY id")
        for row in conn.execute(sql, part):
            found[row[0]].append(RequestKey(*row))
    return found


def is_mapped(conn: sqlite3.Connection, broker_order_no: str, order_date: str) -> bool:
    """Whether a request of ours got this broker number on ``order_date`` (KIS numbers restart each day)."""
    return conn.execute("SELECT 1 FROM broker_order_map WHERE broker_order_no = ? AND order_date = ? LIMIT 1",
                        (broker_order_no, order_date)).fetchone() is not None


def _joined(conn: sqlite3.Connection, columns: str, broker_order_no: str, order_date: str | None) -> sqlite3.Cursor:
    """``columns`` of the request that got this number (on ``order_date``; with None, on the latest date that
    has it; the newest such request) joined with its order."""
    where, params = ("m.order_date = ?", (broker_order_no, order_date)) if order_date is not None else ("1", (broker_order_no,))
    return conn.execute(f"SELECT {columns} FROM broker_order_map m JOIN orders o ON o.id = m.order_id "
                        f"WHERE m.broker_order_no = ? AND {where} ORDER BY m.order_date DESC, m.id DESC LIMIT 1", params)


def with_order(conn: sqlite3.Connection, broker_order_no: str,
               order_date: str | None) -> tuple[Order, BrokerNumber] | None:
    """The request that got this broker number (``_joined``'s pick) and its order, in one query."""
    cursor = _joined(conn, f"{_columns(conn, 'm')}, o.*", broker_order_no, order_date)
    row = cursor.fetchone()
    if row is None:
        return None
    names = [d[0] for d in cursor.description]
    split = names.index("id", 1)  # where the order's columns start
    request = row_to_number(dict(zip(names[:split], row[:split])))
    return row_to_order(dict(zip(names[split:], row[split:]))), request


def order_by_number(conn: sqlite3.Connection, broker_order_no: str, order_date: str | None) -> Order | None:
    """The order of the request ``with_order`` finds (its request left unread), in one query."""
    row = first(_joined(conn, "o.*", broker_order_no, order_date))
    return None if row is None else row_to_order(row)


def orders_by_numbers(conn: sqlite3.Connection, numbers: list[str], order_date: str) -> dict[str, Order]:
    """``order_by_number`` for many numbers of one ``order_date``: number -> order, for those known (one
    query per ``db.CHUNK`` numbers; a number with two requests picks the newest, as ``with_order``)."""
    found: dict[str, Order] = {}
    for part in chunks(numbers):
        cursor = conn.execute("SELECT m.broker_order_no AS number_of_request, o.* FROM broker_order_map m "
                              "JOIN orders o ON o.id = m.order_id WHERE m.order_date = ? AND m.broker_order_no "
                              f"IN ({marks(part)}) ORDER BY m.id", [order_date, *part])
        found.update((row.pop("number_of_request"), row_to_order(row)) for row in as_dicts(cursor))
    return found


def known_numbers(conn: sqlite3.Connection, order_date: str | None) -> set[str]:
    """Every broker number mapped to one of our orders (on ``order_date``, or on any day)."""
    if order_date is None:
        cursor = conn.execute("SELECT broker_order_no FROM broker_order_map WHERE broker_order_no IS NOT NULL")
    else:
        cursor = conn.execute("SELECT broker_order_no FROM broker_order_map "
                              "WHERE broker_order_no IS NOT NULL AND order_date = ?", (order_date,))
    return {r[0] for r in cursor.fetchall()}


# claim and settle --------------------------------------------------------------------------------


CLAIM_EVENTS = {OrderEvent.CLAIM: "new", OrderEvent.RESEND: "new", OrderEvent.MODIFY_REQUESTED: "modify",
                OrderEvent.CANCEL_REQUESTED: "cancel"}
KIND_EVENTS = {"new": OrderEvent.CLAIM, "modify": OrderEvent.MODIFY_REQUESTED, "cancel": OrderEvent.CANCEL_REQUESTED}


def _claimable(conn: sqlite3.Connection, order: Order, event: OrderEvent, expected_version: int | None) -> bool:
    if expected_version is not None and order.version != expected_version:
        return False
    return (order.status, event) in TRANSITIONS and not open_requests(conn, order.id)


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
    problems = check_guards(limits, control.account_activity(conn, order, ts), order)
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
    return _claim_loaded(conn, order, event=event, kind=kind, request=request, tr_id=tr_id, source=source, ts=ts,
                         owner=owner, check_halt=check_halt, guards=guards)


def _claim_loaded(conn: sqlite3.Connection, order: Order, *, event: OrderEvent, kind: str, request: dict,
                  tr_id: str, source: str, ts: str, owner: str, check_halt: bool,
                  guards: GuardLimits | None) -> tuple[Order, int] | GuardTripped:
    """``claim`` of an order already read in this transaction and found claimable."""
    halt = control.state(conn, order.account) if check_halt else None
    if halt is not None:
        raise Halted(halt.refusal())
    if kind == "new":
        _refuse_twin(conn, order)
    refusal = _guard_refusal(conn, order, guards, source, ts) if event is OrderEvent.CLAIM else None
    if refusal is not None:
        return refusal
    map_id = insert_request(conn, order_id=order.id, kind=kind, tr_id=tr_id, request=request,
                             state="sending", sent_at=ts, owner=owner)
    extra = {"map_id": map_id, "request_kind": kind, "owner": owner}  # (request, tr_id: the raw payload's)
    change = Change(event.value, "order.transition", source, {"request": request, "tr_id": tr_id}, extra)
    return apply(conn, order, event, change=change, ts=ts), map_id


def _open_request(conn: sqlite3.Connection, map_id: int, order_id: int | None, state: str,
                  expected_activity: datetime | None = None) -> BrokerNumber:
    """The open request ``map_id``; refuses a settled one, another order's, a bad target state, or (with
    ``expected_activity``) one its owner has tried again since the caller looked at it."""
    req = get(conn, map_id)
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


class FreshClaim(NamedTuple):
    """A claim as the process that wrote it knows it (``Ledger`` keeps it until the request is settled): the
    order as the claim left it (``records.as_read_back``), the request's kind and the owner recorded."""

    order: Order
    kind: str
    owner: str


_AS_CLAIMED_SQL = ("SELECT m.state, m.order_id, m.owner, o.version FROM broker_order_map m "
                   "JOIN orders o ON o.id = m.order_id WHERE m.id = ?")


def _as_claimed(conn: sqlite3.Connection, map_id: int, claim: FreshClaim, order_id: int | None,
                state: str) -> Order | None:
    """``claim.order`` when request ``map_id`` and its order are still exactly as that claim left them: the
    request ``sending`` under the same owner (its kind and terms never change), the order at the same
    version (every write to an order raises its version), so neither needs reading. None otherwise, and
    for anything ``_open_request`` would refuse (the caller then reads both, as before)."""
    if (order_id is not None and order_id != claim.order.id) or state not in REQUEST_STATES or state == "sending":
        return None
    row = conn.execute(_AS_CLAIMED_SQL, (map_id,)).fetchone()
    return claim.order if row == ("sending", claim.order.id, claim.owner, claim.order.version) else None


def settle(conn: sqlite3.Connection, map_id: int, *, state: str, order_id: int | None, event: OrderEvent | None,
           source: str, raw_payload: Any, map_fields: dict, order_fields: dict, expected_version: int | None,
           ts: str, expected_activity: datetime | None = None, claim: FreshClaim | None = None) -> Order:
    """Record how an open request ended and (with ``event``) move its order, in one transaction.
    ``expected_activity``: a takeover's compare-and-swap on the owner's last attempt. ``claim``: the request's
    claim as this process wrote it, which spares reading the request and the order while both are as it
    left them (``_as_claimed``)."""
    order = None
    if claim is not None and expected_activity is None:
        order = _as_claimed(conn, map_id, claim, order_id, state)
    if order is None:
        req = _open_request(conn, map_id, order_id, state, expected_activity)
        order, kind, owner_named = orders.load(conn, req.order_id), req.kind, None
    else:  # (the claim event names the owner as stored: redacted like every payload)
        kind, owner_named = claim.kind, redact_text(claim.owner) == claim.owner
    check_version(order, expected_version)
    settle_row(conn, map_id, state=state, resolved_at=None if state == "unknown" else ts,
                    fields=map_fields, response=raw_payload, owner_named=owner_named)
    numbers = {k: map_fields[k] for k in NUMBER_FIELDS if map_fields.get(k) is not None}
    extra = {"map_id": map_id, "request_kind": kind, "request_state": state, **numbers}
    if event is None:
        return _settled_alone(conn, order, extra, source, raw_payload, ts)
    change = Change(event.value, "order.transition", source, raw_payload, extra)
    return apply(conn, order, event, change=change, ts=ts, fields=order_fields)


def create_and_claim(conn: sqlite3.Connection, order: Order, *, source: str, raw_payload: Any, request: dict,
                     tr_id: str, ts: str, owner: str,
                     guards: GuardLimits | None) -> tuple[Order, bool, int | None, Exception | None]:
    """``orders.create`` and, for a new order, its first ``claim`` (CLAIM, a ``sending`` request row), in the
    caller's transaction. (order, created, map_id, refusal): map_id is None when the key was known (nothing
    written) or the claim was refused. A kill switch or an unresolved look-alike refuses the claim alone,
    before it writes anything: the refusal (Halted, TwinPending) is returned, for the caller to raise once
    the created order has committed; so is a guard refusal (GuardTripped; the order is then REJECTED)."""
    order, created = orders.create(conn, order, source=source, raw_payload=raw_payload, ts=ts)
    if not created:
        return order, False, None, None
    try:  # the order just written, NEW with no request: claimable, and not read again
        result = _claim_loaded(conn, order, event=OrderEvent.CLAIM, kind="new", request=request, tr_id=tr_id,
                               source=source, ts=ts, owner=owner, check_halt=True, guards=guards)
    except (Halted, TwinPending) as exc:  # raised before the claim wrote anything: keep the create
        return order, True, None, exc
    if isinstance(result, GuardTripped):
        return order, True, None, result
    return result[0], True, result[1], None


def claim_resend(conn: sqlite3.Connection, map_id: int, order_id: int, *, request: dict, tr_id: str, source: str,
                 raw_payload: Any, expected_activity: datetime | None, check_halt: bool, ts: str,
                 owner: str) -> tuple[Order, int]:
    """Close an unknown request as ``not_found`` and claim a resend (UNKNOWN → SENDING), in the caller's
    transaction: a crash in between can never leave an order with no open request to resolve.
    RequestNotOpen if another process got there first (the caller's transaction rolls the close back)."""
    settle(conn, map_id, state="not_found", order_id=order_id, event=None, source=source,
           raw_payload=raw_payload, map_fields={}, order_fields={}, expected_version=None, ts=ts,
           expected_activity=expected_activity)
    claimed = claim(conn, order_id, event=OrderEvent.RESEND, kind="new", request=request,
                    tr_id=tr_id, source=source, expected_version=None, ts=ts, owner=owner,
                    check_halt=check_halt)
    if claimed is None:  # roll the settle back too
        raise RequestNotOpen(f"order {order_id}: the resend could not be claimed")
    return claimed


def record_change(conn: sqlite3.Connection, order_id: int, *, kind: str, broker_order_no: str,
                  krx_orgno: str | None, order_date: str, raw_payload: Any, source: str, ts: str) -> bool:
    """Map an amend/cancel number found at the broker to the order (accepted). False if already mapped."""
    order = orders.load(conn, order_id)
    if is_mapped(conn, broker_order_no, order_date):
        return False
    map_id = insert_request(conn, order_id=order_id, kind=kind, tr_id="", request={}, state="accepted",
                             sent_at=ts, resolved_at=ts, broker_order_no=broker_order_no, krx_orgno=krx_orgno,
                             order_date=order_date, response=raw_payload)
    payload = {"map_id": map_id, "request_kind": kind, "broker_order_no": broker_order_no,
               "order_date": order_date, "status": order.status.value, "source": source}
    record(conn, ts=ts, kind="request.mapped", source=source, order_id=order_id, event_payload=payload,
           audit_payload={**payload, "raw_payload": raw_payload})
    return True


# external orders ---------------------------------------------------------------------------------


def insert_external(conn: sqlite3.Connection, *, order_date: str, broker_order_no: str, account: str, symbol: str,
           side: str, qty: int, price: int | None, raw: Any, first_seen: str) -> bool:
    """Record one; False when (order_date, broker_order_no) is already known, as external or as ours."""
    if is_mapped(conn, broker_order_no, order_date):
        return False
    cursor = conn.execute(
        "INSERT OR IGNORE INTO external_orders (order_date, broker_order_no, account, symbol, side, qty, price,"
        " raw, first_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (order_date, broker_order_no, account, symbol, side, qty, price, clean_text(raw), first_seen))
    return cursor.rowcount == 1


def external_orders(conn: sqlite3.Connection, *, include_claimed: bool = False) -> list[dict[str, Any]]:
    """Every external order, first seen first (without those later found to be ours, unless asked)."""
    where = "" if include_claimed else " WHERE claimed_by_order_id IS NULL"
    return [external_row(r) for r in as_dicts(conn.execute(f"SELECT * FROM external_orders{where} ORDER BY id"))]


def record_external(conn: sqlite3.Connection, *, order_date: str, broker_order_no: str, account: str, symbol: str,
                    side: str, qty: int, price: int | None, raw: Any, ts: str) -> bool:
    """Record an order kisoms did not place (``external.recorded``); False if already known."""
    new = insert_external(conn, order_date=order_date, broker_order_no=broker_order_no, account=account,
                          symbol=symbol, side=side, qty=qty, price=price, raw=raw, first_seen=ts)
    if new:
        payload = {"order_date": order_date, "broker_order_no": broker_order_no, "account": account,
                   "symbol": symbol, "side": side, "qty": qty, "price": price}
        record(conn, ts=ts, kind="external.recorded", source="ledger", order_id=None,
               event_payload=payload, audit_payload={**payload, "raw": raw})
    return new
