"""Applying KIS execution notices (체결통보) to the ledger.

Notices are fast but not authoritative: they can be duplicated, reordered or lost, and KIS does not
replay them after a disconnect. So a fill is recorded under a dedupe key (order no + time + qty +
price; KIS has no execution id), a fill that would overfill is flagged rather than applied, and the
cumulative truth of inquire-daily-ccld (``reconcile``) has the last word. Two cases are handed to it
(the watcher re-checks the books once per burst): a key already seen (a duplicate, or a second real fill
of the same qty and price in the same second) and a fill for an order whose fills reconcile already
inferred (the notice may be one of them; counting it again would overfill or run ahead of the books). A notice for a number we do
not know is recorded as an external order, never dropped.

A burst of plain fills (``apply_fills``) is written at once with the rows the one-by-one path writes;
a burst with anything else in it goes one notice at a time (``apply_notice``), but for its long runs of
fills (``fill_runs``), which the watcher may write at once as bursts of their own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields

from kisoms.domain.order import Fill, Order
from kisoms.domain.states import TRANSITIONS, OrderEvent, OrderStatus
from kisoms.engine.clock import kst_ymd
from kisoms.engine.runtime import Runtime
from kisoms.errors import InvalidTransition

log = logging.getLogger(__name__)
SOURCE = "notice"


@dataclass(frozen=True)
class NoticeResult:
    """What one notice did: ``applied``, ``duplicate``, ``deferred`` (to the books), ``ignored``, ``external``."""

    outcome: str
    order_id: int | None = None
    detail: str = ""


def _legal(order: Order, event: OrderEvent) -> bool:
    return (order.status, event) in TRANSITIONS


def _covered_by_inference(rt: Runtime, order: Order) -> bool:
    """True when reconcile already inferred fills for this order: a late notice may be one of them."""
    return rt.ledger.has_fills_from(order.id, "reconcile")


def _apply_fill(rt: Runtime, order: Order, notice, ymd: str) -> NoticeResult:
    key = _fill_key(notice, ymd)
    if notice.cntg_qty <= 0 or notice.cntg_unpr <= 0:  # a garbled fill: the books will say what happened
        rt.ledger.publish("notice.unapplied", {"reason": f"fill with quantity {notice.cntg_qty} and price "
                                               f"{notice.cntg_unpr}", **notice_payload(notice)}, order_id=order.id)
        return NoticeResult("deferred", order.id, key)
    if _covered_by_inference(rt, order):
        rt.ledger.publish("notice.deferred", {"reason": "order has inferred fills; the broker's cumulative "
                                              "books decide", **notice_payload(notice)}, order_id=order.id)
        return NoticeResult("deferred", order.id, key)
    fill = _fill(order.id, notice.odno, notice.cntg_hour, notice.cntg_qty, notice.cntg_unpr, key)
    updated = rt.ledger.record_fill(order.id, fill, raw_payload=notice_payload(notice), order=order)
    if updated is None:
        return NoticeResult("duplicate", order.id, key)
    return NoticeResult("applied", order.id, f"fill {notice.cntg_qty}@{notice.cntg_unpr}")


def _fill(order_id: int, number: str, time: str, qty: int, price: int, key: str) -> Fill:
    """The fill a fill notice reports, from its values (number, time, quantity, price) and ``key``, its
    ``Fill.notice_key``. Its fields are stored as they are, all that Fill's generated (frozen) ``__init__``
    would do with them, at a fraction of its cost (a burst builds one per notice)."""
    if not _PLAIN_FILL:
        return Fill(order_id, number, qty, price, time, SOURCE, key)
    fill = _NEW(Fill)
    fill.__dict__.update(order_id=order_id, broker_order_no=number, qty=qty, price=price, fill_time=time,
                         source=SOURCE, dedupe_key=key)
    return fill


_NEW = object.__new__
# Fill's __init__ only stores its fields (no __post_init__, no InitVar, no init=False field, no __slots__)
_PLAIN_FILL = (not hasattr(Fill, "__post_init__") and not hasattr(Fill, "__slots__")
               and all(f.init for f in fields(Fill)) and set(Fill.__dataclass_fields__) == {
                   "order_id", "broker_order_no", "qty", "price", "fill_time", "source", "dedupe_key"})


def _fill_key(notice, ymd: str) -> str:
    return Fill.notice_key(ymd, notice.odno, notice.cntg_hour, notice.cntg_qty, notice.cntg_unpr)


def apply_fills(rt: Runtime, notices: list) -> int | None:
    """Inside a ledger batch: a burst of notices applied at once when every one is a plain fill (a fill
    notice with a quantity and a price, of an order of ours with no inferred fills, a new key, no overfill,
    no other transition: ``Ledger.record_fills``), with exactly the rows ``apply_notice`` would write one
    by one: how many were applied (each one's ``NoticeResult`` would say "applied"). None, with nothing
    written, when one is not: the caller then applies them one by one."""
    items = _plain_fills(rt, notices)
    if items is None or rt.ledger.record_fills(items) is None:
        return None
    return len(items)


def fill_runs(notices: list) -> list[tuple[bool, list]]:
    """The notices in order, cut where they turn from fills with a quantity and a price (what
    ``apply_fills`` may take) to anything else and back: (True, such fills in a row), (False, others)."""
    runs: list[tuple[bool, list]] = []
    for n in notices:
        is_fill = n.is_fill and n.cntg_qty > 0 and n.cntg_unpr > 0
        if runs and runs[-1][0] == is_fill:
            runs[-1][1].append(n)
        else:
            runs.append((is_fill, [n]))
    return runs


def _plain_fills(rt: Runtime, notices: list) -> list[tuple[Order, Fill, dict]] | None:
    """(order, fill, raw payload) of each notice, the orders read in one query; None when a notice is not
    a fill with a quantity and a price, or is not of an order of ours without inferred fills."""
    terms = []  # (notice, number, time, quantity, price): each read from the notice once
    for n in notices:
        read = n.fill_terms()
        if read is None:
            return None
        terms.append((n, *read))
    ymd = kst_ymd(rt.clock.now())
    from kisoms.ledger.fillrows import burst_orders  # (the ledger's modules load on first use, not at start-up)

    found, inferred = burst_orders(rt.ledger.conn, list({number for _, number, *_ in terms}), ymd)
    if any(number not in found for _, number, *_ in terms):
        return None  # an external order (or not ours yet)
    if inferred:
        return None  # deferred to the books
    return [(found[number], _fill(found[number].id, number, time, qty, price,
                                  Fill.notice_key(ymd, number, time, qty, price)), notice_payload(n))
            for n, number, time, qty, price in terms]


def _ack_event(kind: str, notice) -> tuple[OrderEvent, dict]:
    """The order event an acceptance/refusal notice for a request of ``kind`` stands for."""
    if notice.refused:
        event = {"new": OrderEvent.BROKER_REJECTED, "modify": OrderEvent.MODIFY_REJECTED,
                 "cancel": OrderEvent.CANCEL_REJECTED}[kind]
        return event, ({"reject_code": "REFUSED", "reject_reason": "refused (RFUS_YN=1)"} if kind == "new" else {})
    if kind == "cancel":
        return OrderEvent.CANCEL_ACCEPTED, {"cancel_qty": notice.oder_qty}
    if kind == "modify":
        return OrderEvent.MODIFY_ACCEPTED, {}
    return OrderEvent.ACKNOWLEDGED, {}


def _apply_ack(rt: Runtime, order: Order, kind: str, notice) -> NoticeResult:
    event, fields = _ack_event(kind, notice)
    if not _legal(order, event) or (event is OrderEvent.ACKNOWLEDGED and order.status is not OrderStatus.SENT):
        return NoticeResult("ignored", order.id, f"{event.value} in {order.status.value}")
    rt.ledger.transition(order.id, event, source=SOURCE, raw_payload=notice_payload(notice), **fields)
    return NoticeResult("applied", order.id, event.value)


def notice_payload(notice) -> dict:
    """The notice as the history keeps it: every field by name, nothing secret."""
    return {"notice": notice.as_dict()}


def _record_external(rt: Runtime, notice, ymd: str) -> NoticeResult:
    known = rt.ledger.record_external(
        order_date=ymd, broker_order_no=notice.odno, account=notice.acnt_no, symbol=notice.symbol,
        side=notice.side.value if notice.side else "", qty=notice.oder_qty, price=notice.oder_prc,
        raw=notice_payload(notice))
    return NoticeResult("external", None, f"unknown broker number {notice.odno} ({'new' if known else 'seen'})")


def _target(rt: Runtime, notice, ymd: str) -> tuple[Order, str] | None:
    """The order the notice's number points at, and the kind of request that got the number (a fill
    needs the order only: its request is not read, "" stands for it). None: not one of ours."""
    if notice.is_fill:
        order = rt.ledger.order_for_broker_number(notice.odno, ymd)
        return None if order is None else (order, "")
    hit = rt.ledger.request_for_broker_number(notice.odno, ymd)
    return None if hit is None else (hit[0], hit[1].kind)


def apply_notice(rt: Runtime, notice) -> NoticeResult:
    """Apply one execution notice to the order it belongs to (found through broker_order_map)."""
    ymd = kst_ymd(rt.clock.now())
    target = _target(rt, notice, ymd)
    if target is None:
        return _record_external(rt, notice, ymd)
    order, kind = target
    try:
        if notice.is_fill:
            return _apply_fill(rt, order, notice, ymd)
        return _apply_ack(rt, order, kind, notice)
    except InvalidTransition as exc:  # e.g. a fill for an order we had given up on: reconcile decides
        rt.ledger.publish("notice.unapplied", {"reason": str(exc), **notice_payload(notice)}, order_id=order.id)
        return NoticeResult("ignored", order.id, str(exc))
