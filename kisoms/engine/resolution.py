"""The new-order path, and how one open request is resolved: never by a blind resend.

A new order is sent once (``send_claimed_new``); when the send is ambiguous its request is looked up
in the broker's books at once (``resolve``): a row that is ours is adopted, several that could
be are a halt, none within the lookup window is ``not found``, and a new order not found is resent
(by policy or by the operator, ``resend``, which sends again through ``send_claimed_new``) or halted on.
These call one another, so they live here together: ``submit`` (the first send) and ``recovery``
(requests a crash left open) both import this module, and it imports neither.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from kisoms.domain.codes import Side, ord_unpr
from kisoms.domain.order import Order
from kisoms.domain.states import OrderEvent, OrderStatus
from kisoms.engine.book_matching import EARLY_TOLERANCE_SECONDS, Match, find_sent_order
from kisoms.engine.clock import kst_ymd
from kisoms.engine.crashpoints import crash_point
from kisoms.engine.runtime import Runtime
from kisoms.engine.sending import EVENTS_BY_KIND, accepted_as, deliver, owning, settle
from kisoms.errors import AwaitingBooks, Halted, OutcomeUnknown

SOURCE = "submit"


def order_cash_request(order: Order) -> dict:
    """What the map row keeps of an order-cash request (the terms, not the headers)."""
    return {"symbol": order.symbol, "side": order.side.value, "ord_dvsn": order.order_type.ord_dvsn,
            "qty": order.qty, "ord_unpr": ord_unpr(order.order_type, order.price), "exchange": order.exchange.value}


def order_cash_tr_id(rt: Runtime, order: Order) -> str:
    """The tr_id the order-cash request goes out with (recorded on the claim, for tracing)."""
    return rt.client.tr.buy if order.side is Side.BUY else rt.client.tr.sell


def _order_cash_call(rt: Runtime, order: Order):
    return lambda: rt.client.order_cash(
        order.account, order.symbol, order.side, order.order_type.ord_dvsn, order.qty,
        ord_unpr(order.order_type, order.price), exchange=order.exchange.value)


def send_claimed_new(rt: Runtime, order: Order, map_id: int, *, source: str = SOURCE) -> Order:
    """Send a claimed new order and settle it; an ambiguous send is then looked up at the broker."""
    with owning(rt, map_id):
        crash_point("after_claim")
        order, _ = deliver(rt, order, map_id, "new", _order_cash_call(rt, order), source)
        if order.status is OrderStatus.UNKNOWN:
            request = next(r for r in rt.ledger.open_requests(order.id) if r.id == map_id)
            order = resolve(rt, order, request, source, wait=True)
        return order


def lookup_deadline(rt: Runtime, request) -> datetime:
    """When a request that is not in the books counts as not found: the lookup window after its last attempt."""
    return request.last_activity + timedelta(seconds=rt.settings.ambiguity.lookup_window)


def books_for(rt: Runtime, order: Order, ymd: str) -> list:
    """The broker's rows for the order's symbol on ``ymd``."""
    day = _ymd_to_date(ymd)
    return rt.client.inquire_daily_ccld(order.account, day, day, symbol=order.symbol)


def _ymd_to_date(ymd: str):
    from datetime import date

    return date(int(ymd[:4]), int(ymd[4:6]), int(ymd[6:]))


def lookup(rt: Runtime, order: Order, request) -> Match:
    """Look for the request in the broker's books."""
    ymd = kst_ymd(request.sent_at)
    rows = books_for(rt, order, ymd)
    if request.kind == "new":
        mapped = rt.ledger.known_broker_numbers(ymd)
        retried_for = int((request.last_activity - request.sent_at).total_seconds())
        return find_sent_order(order, request.sent_at, rows, mapped, rt.settings.ambiguity.match_seconds + retried_for)
    return _find_change(rt, rows, request, ymd)


def _find_change(rt: Runtime, rows: list, request, ymd: str) -> Match:
    """An amend/cancel row pointing at the number it changed, not yet mapped."""
    mapped = rt.ledger.known_broker_numbers(ymd)
    origin = request.request.get("orgn_odno", "")
    wants_cancel = request.kind == "cancel"
    found = tuple(r for r in rows if r.odno not in mapped and r.orgn_odno == origin
                  and r.is_cancel == wants_cancel)
    return Match(found)


def adopt(rt: Runtime, order: Order, request, row, source: str) -> Order:
    """Take the broker's row as the answer to our request."""
    map_fields = {"broker_order_no": row.odno, "krx_orgno": row.ord_gno_brno, "order_date": row.ord_dt}
    order_fields = dict(request_order_fields(order, request))
    if request.kind != "cancel":
        order_fields.update(map_fields)
    return settle(rt, request.id, state="accepted", map_fields=map_fields, order_id=order.id,
                  event=EVENTS_BY_KIND[request.kind].accepted, source=source, raw_payload=row.raw,
                  order_fields=order_fields)


def request_order_fields(order: Order, request) -> dict:
    """Order fields an accepted amend or cancel changes."""
    if request.kind == "modify" and request.request.get("price") is not None:
        return {"price": int(request.request["price"])}
    if request.kind == "cancel":
        return {"cancel_qty": int(request.request.get("qty") or order.remaining_qty)}
    return {}


def resolve(rt: Runtime, order: Order, request, source: str, *, wait: bool = True) -> Order:
    """Resolve one open request; waits (bounded by the lookup window) when ``wait``."""
    if accepted_as(request):  # at the broker under a number the ledger gives another request
        raise OutcomeUnknown(f"order {order.id}: the broker accepted its {request.kind} request as number "
                             f"{accepted_as(request)}, which the ledger maps to another request; never resent nor "
                             "matched again. Check both orders in KIS (HTS/MTS)")
    deadline = lookup_deadline(rt, request)
    while True:
        match = lookup(rt, order, request)
        if match.found is not None:
            return adopt(rt, order, request, match.found, source)
        if match.ambiguous:
            return _halt(rt, order, f"{len(match.candidates)} broker orders match order {order.id}; "
                                    "cannot tell which is ours", source)
        current = rt.ledger.get(order.id)
        if not _still_open(rt, request):
            return current  # settled by another process meanwhile (with or without moving the order)
        if not wait or rt.clock.now() >= deadline:
            return _not_found(rt, current, request, source)
        rt.clock.sleep(min(rt.settings.ambiguity.lookup_interval,
                           max(0.0, (deadline - rt.clock.now()).total_seconds())))


def _still_open(rt: Runtime, request) -> bool:
    return any(r.id == request.id for r in rt.ledger.open_requests(request.order_id))


def notice_evidence(rt: Runtime, order: Order, request) -> str | None:
    """The broker number of an unclaimed acceptance notice with the order's terms, seen since the claim."""
    ymd, price = kst_ymd(request.sent_at), int(ord_unpr(order.order_type, order.price))
    since = request.sent_at - timedelta(seconds=EARLY_TOLERANCE_SECONDS)
    for ext in rt.ledger.external_orders():
        if (ext["order_date"], ext["symbol"], ext["side"], ext["qty"]) == (
                ymd, order.symbol, order.side.value, order.qty) and ext["first_seen"] >= since \
                and (ext["price"] == price or not order.order_type.has_price) \
                and ext["account"].replace("-", "")[:8] == order.account[:8]:
            return ext["broker_order_no"]
    return None


def _not_found(rt: Runtime, order: Order, request, source: str) -> Order:
    if rt.clock.now() < lookup_deadline(rt, request):
        raise AwaitingBooks(f"order {order.id}: {request.kind} request not yet in the broker's books; "
                            "run `kisoms reconcile` shortly")
    number = notice_evidence(rt, order, request) if request.kind == "new" else None
    if number:
        raise AwaitingBooks(f"order {order.id}: an acceptance notice for broker number {number} matches it, "
                            "but the books do not list it yet; not resending. Run `kisoms reconcile` shortly")
    if request.kind != "new":
        return settle(rt, request.id, state="not_found", order_id=order.id,
                      event=EVENTS_BY_KIND[request.kind].rejected, source=source,
                      raw_payload={"reason": "the broker never booked this request"}, order_fields={},
                      expected_activity=request.last_activity)
    if rt.settings.ambiguity.policy == "resend" and _resends(rt, order) < rt.settings.ambiguity.max_resends:
        return resend(rt, order, request, source)
    order = _unknown_if_sending(rt, order, request, source)
    return _halt(rt, order, f"order {order.id} ({order.side.value} {order.qty} {order.symbol}) may or may not "
                            "be at the broker: not found in its books within the lookup window", source)


def _resends(rt: Runtime, order: Order) -> int:
    """How many times this order has been sent again after a send that was never found."""
    return sum(1 for r in rt.ledger.broker_numbers(order.id) if r.kind == "new" and r.state == "not_found")


def _unknown_if_sending(rt: Runtime, order: Order, request, source: str) -> Order:
    """A crash left the claim and the books do not show it: its outcome is now officially unknown."""
    if order.status is not OrderStatus.SENDING:
        return order
    return rt.ledger.settle(request.id, state="unknown", order_id=order.id, event=OrderEvent.SEND_AMBIGUOUS,
                            source=source, raw_payload={"reason": "claimed, not found at the broker"},
                            expected_activity=request.last_activity)


def _halt(rt: Runtime, order: Order, reason: str, source: str) -> Order:
    """Stop sending for the order's account (others go on) and say what to check."""
    rt.ledger.set_halt(f"{reason}. Check the order in KIS (HTS/MTS), then `kisoms resolve {order.id}` and "
                       f"`kisoms resume --account {order.account}`.", source=source, account=order.account)
    raise OutcomeUnknown(reason)


def resend(rt: Runtime, order: Order, request, source: str, *, by_operator: bool = False) -> Order:
    """Close the lookup as not found and send the order again (policy or operator decided). The policy's
    resend respects the kill switch; an operator's explicit ``kisoms resolve --resend`` is the exception."""
    order = _unknown_if_sending(rt, order, request, source)
    try:
        claimed = rt.ledger.claim(order.id, resend_of=request.id, request=request.request, tr_id=request.tr_id,
                                  source=source, raw_payload={"reason": "not found; policy resend"},
                                  expected_activity=request.last_activity, check_halt=not by_operator)
    except Halted as exc:  # the order stays UNKNOWN
        raise OutcomeUnknown(f"order {order.id}: not found at the broker; not resent: {exc}") from None
    return send_claimed_new(rt, *claimed, source=source)
