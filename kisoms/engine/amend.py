"""Modify (OMS-04) and cancel (OMS-05) of a working order, with the same claim/classify rules as a send.

KIS gives every amend and cancel its own order number (ORGN_ODNO points at the number it changed). An
amend moves all the remaining quantity to the new number at the new price; a cancel takes the remaining
quantity (or part of it) off the book. Only the remaining quantity can be changed: a filled order cannot
be cancelled, and an order with a request in flight (PENDING_*) takes no second one. The kill switch
stops amends; cancels still go out, since they only reduce what is working.
"""

from __future__ import annotations

from kisoms.domain.order import Order
from kisoms.domain.policy import MarketReference
from kisoms.domain.states import AMENDABLE, OrderEvent
from kisoms.domain.ticks import is_on_tick, price_limits
from kisoms.engine.resolution import resolve
from kisoms.engine.crashpoints import crash_point
from kisoms.engine.runtime import Runtime
from kisoms.engine.sending import deliver, owning
from kisoms.errors import Problem, ValidationError

SOURCE_MODIFY = "modify"
SOURCE_CANCEL = "cancel"


def _check_changeable(order: Order, what: str) -> None:
    problems = []
    if order.status not in AMENDABLE:
        problems.append(Problem("ORDER_NOT_OPEN", f"order {order.id} is {order.status.value}; cannot {what} it"))
    elif order.remaining_qty <= 0:
        problems.append(Problem("NOTHING_REMAINING", f"order {order.id} has no remaining quantity"))
    if not order.broker_order_no or not order.krx_orgno:
        problems.append(Problem("NO_BROKER_NUMBER", f"order {order.id} has no broker order number yet"))
    if problems:
        raise ValidationError(problems)


def _check_new_price(rt: Runtime, order: Order, price: int) -> None:
    if not order.order_type.has_price:
        raise ValidationError([Problem("PRICE_NOT_ALLOWED", f"{order.order_type.value} orders carry no price")])
    quote = rt.client.inquire_price(order.symbol)
    ref = MarketReference(base_price=quote.base_price, upper_limit=quote.upper_limit, lower_limit=quote.lower_limit,
                          current_price=quote.current_price, kind=quote.kind)
    lower, upper = (ref.lower_limit, ref.upper_limit) if ref.upper_limit else price_limits(ref.base_price, ref.kind)
    problems = []
    if price <= 0 or not is_on_tick(price, ref.kind):
        problems.append(Problem("PRICE_OFF_TICK", f"price {price} is not on a KRX tick"))
    if not lower <= price <= upper:
        problems.append(Problem("PRICE_OUTSIDE_LIMITS", f"price {price} outside today's limits {lower}..{upper}"))
    if problems:
        raise ValidationError(problems)


def _rvsecncl_call(rt: Runtime, order: Order, kind: str, qty: int, price: int, all_qty: bool):
    return lambda: rt.client.order_rvsecncl(
        order.account, order.krx_orgno, order.broker_order_no, order.order_type.ord_dvsn, kind, qty,
        str(price), all_qty, exchange=order.exchange.value)


def _send_change(rt: Runtime, order: Order, kind: str, event: OrderEvent, request: dict,
                 accepted_fields: dict, source: str) -> Order:
    reduces_risk = kind == "cancel"  # a cancel only takes quantity off the book: the kill switch lets it out
    claimed = rt.ledger.claim(order.id, event=event, kind=kind, request=request,
                              tr_id=rt.client.tr.rvsecncl, source=source, expected_version=order.version,
                              check_halt=not reduces_risk)  # Halted, inside the claim transaction
    if claimed is None:
        raise ValidationError([Problem("CONCURRENT_CHANGE", f"order {order.id} changed meanwhile; look again")])
    order, map_id = claimed
    with owning(rt, map_id):
        crash_point(f"after_{kind}_claim")
        call = _rvsecncl_call(rt, order, "amend" if kind == "modify" else "cancel", request["qty"],
                              request["price"], request["all_qty"])
        order, _ = deliver(rt, order, map_id, kind, call, source, accepted_fields)
        pending = [r for r in rt.ledger.open_requests(order.id) if r.id == map_id]
        return resolve(rt, order, pending[0], source, wait=True) if pending else order


def modify(rt: Runtime, order_id: int, *, price: int | None = None, qty: int | None = None) -> Order:
    """Amend all the remaining quantity of an order to a new price."""
    order = rt.ledger.get(order_id)
    _check_changeable(order, "modify")
    if qty is not None and qty != order.remaining_qty:
        raise ValidationError([Problem(
            "PARTIAL_AMEND_UNSUPPORTED",
            f"kisoms amends all {order.remaining_qty} remaining shares; to trade fewer, "
            f"`kisoms cancel {order_id} --qty N` first")])
    new_price = order.price if price is None else price
    if new_price == order.price:
        raise ValidationError([Problem("NOTHING_TO_CHANGE", "the new price equals the current price")])
    _check_new_price(rt, order, new_price)
    request = {"orgn_odno": order.broker_order_no, "qty": order.remaining_qty, "price": new_price,
               "all_qty": True, "rvse_cncl": "01"}
    return _send_change(rt, order, "modify", OrderEvent.MODIFY_REQUESTED, request,
                        {"price": new_price}, SOURCE_MODIFY)


def cancel(rt: Runtime, order_id: int, *, qty: int | None = None) -> Order:
    """Cancel the remaining quantity of an order (or ``qty`` of it)."""
    order = rt.ledger.get(order_id)
    _check_changeable(order, "cancel")
    if qty is not None and not 0 < qty <= order.remaining_qty:
        raise ValidationError([Problem("CANCEL_QTY_INVALID",
                                       f"cancel quantity must be 1..{order.remaining_qty}, got {qty}")])
    cancel_qty = qty or order.remaining_qty
    all_qty = cancel_qty == order.remaining_qty
    request = {"orgn_odno": order.broker_order_no, "qty": cancel_qty, "price": 0, "all_qty": all_qty,
               "rvse_cncl": "02"}
    return _send_change(rt, order, "cancel", OrderEvent.CANCEL_REQUESTED, request, {"cancel_qty": cancel_qty},
                        SOURCE_CANCEL)
