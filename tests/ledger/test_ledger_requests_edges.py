"""Broker requests, the edges: what settle writes to the request row and its event, the default event of a
claim, refusals (with what they say) and that a refused write leaves nothing behind, releasing a claim, and
the per-order request keys a reconcile pass reads."""

from __future__ import annotations

import pytest
from ledger_helpers import make_order

from kisoms.domain.guards import GuardLimits
from kisoms.domain.states import OrderEvent, OrderStatus
from kisoms.errors import GuardTripped, LedgerError
from kisoms.ledger import RequestNotOpen
from kisoms.ledger.requests import RequestKey, request_keys_by_order

DAY = "20261125"


def number(no, orgno="91252"):
    return {"broker_order_no": no, "krx_orgno": orgno, "order_date": DAY}


def claimed(ledger, strategy="s1", qty=10):
    order, _ = ledger.create(make_order(strategy=strategy, qty=qty), source="t")
    return ledger.claim(order.id, request={"qty": 10}, tr_id="order-cash", source="submit")


def accepted(ledger, no="0000123", strategy="s1", qty=10):
    order, map_id = claimed(ledger, strategy, qty)
    return ledger.settle(map_id, state="accepted", order_id=order.id, event=OrderEvent.BROKER_ACCEPTED,
                         source="submit", map_fields=number(no), order_fields=number(no))


def unknown(ledger):
    order, map_id = claimed(ledger)
    order = ledger.settle(map_id, state="unknown", order_id=order.id, event=OrderEvent.SEND_AMBIGUOUS, source="t")
    return order, map_id


def test_settle_writes_every_broker_number_field_to_the_request_and_its_event(ledger):
    order = accepted(ledger)
    [req] = ledger.broker_numbers(order.id)
    assert (req.broker_order_no, req.krx_orgno, req.order_date) == ("0000123", "91252", DAY)
    event = ledger.events_since(0)[-1]
    assert (event.kind, event.order_id) == ("order.transition", order.id)
    assert {k: event.payload[k] for k in ("map_id", "request_kind", "request_state", "broker_order_no",
                                           "krx_orgno", "order_date")} == {
        "map_id": req.id, "request_kind": "new", "request_state": "accepted", **number("0000123")}


def test_a_claim_without_an_event_uses_the_usual_one_for_its_kind(ledger):
    order = accepted(ledger)
    order, modify_id = ledger.claim(order.id, kind="modify", request={"price": 70100}, tr_id="order-rvsecncl",
                                    source="modify")
    assert order.status is OrderStatus.PENDING_MODIFY
    order = ledger.settle(modify_id, state="accepted", order_id=order.id, event=OrderEvent.MODIFY_ACCEPTED,
                          source="modify", map_fields=number("0000130"),
                          order_fields={**number("0000130"), "price": 70100})
    order, cancel_id = ledger.claim(order.id, kind="cancel", request={}, tr_id="order-rvsecncl", source="cancel")
    assert order.status is OrderStatus.PENDING_CANCEL
    events = [h.event for h in ledger.history(order.id)]
    assert events == ["created", "claim", "broker_accepted", "modify_requested", "modify_accepted",
                      "cancel_requested"]
    assert [(r.id, r.kind, r.state) for r in ledger.broker_numbers(order.id)][1:] == [
        (modify_id, "modify", "accepted"), (cancel_id, "cancel", "sending")]


def test_a_plain_resend_claim_is_refused_while_the_unknown_request_is_open(ledger):
    """UNKNOWN → SENDING is a legal move, but not while the request in doubt is open: only ``resend_of``
    (which closes it first) may claim the resend."""
    order, map_id = unknown(ledger)
    last = ledger.last_event_id()
    assert ledger.claim(order.id, event=OrderEvent.RESEND, kind="new", request={}, tr_id="order-cash",
                        source="recovery") is None
    assert ledger.last_event_id() == last and ledger.get(order.id) == order
    assert [(r.id, r.state) for r in ledger.broker_numbers(order.id)] == [(map_id, "unknown")]


def test_a_resend_of_an_unknown_request_closes_it_and_claims_again(ledger):
    order, map_id = unknown(ledger)
    order, second = ledger.claim(order.id, resend_of=map_id, request={"qty": 10}, tr_id="order-cash",
                                 source="recovery", raw_payload={"lookup": "nothing"})
    assert order.status is OrderStatus.SENDING and order.id == ledger.get(order.id).id
    assert [(r.id, r.state) for r in ledger.broker_numbers(order.id)] == [(map_id, "not_found"),
                                                                         (second, "sending")]
    assert [e.kind for e in ledger.events_since(0)][-2:] == ["request.settled", "order.transition"]


def test_a_resend_that_cannot_be_claimed_rolls_back_the_close(ledger):
    """The order is still SENDING (no RESEND from there): closing its request as not_found must not stay
    written, or the order would be left with no open request to resolve."""
    order, map_id = claimed(ledger)
    last = ledger.last_event_id()
    with pytest.raises(RequestNotOpen, match="could not be claimed"):
        ledger.claim(order.id, resend_of=map_id, request={}, tr_id="order-cash", source="recovery")
    assert [(r.id, r.state) for r in ledger.open_requests()] == [(map_id, "sending")]
    assert ledger.last_event_id() == last and ledger.get(order.id) == order


def test_settling_a_missing_or_settled_request_says_which(ledger):
    order, map_id = claimed(ledger)
    with pytest.raises(RequestNotOpen, match=f"request {map_id + 1} is missing"):
        ledger.settle(map_id + 1, state="accepted", source="t")
    ledger.settle(map_id, state="rejected", order_id=order.id, event=OrderEvent.BROKER_REJECTED, source="t",
                  reject_code="APBK0919", reject_reason="no money")
    with pytest.raises(RequestNotOpen, match=f"request {map_id} is already rejected"):
        ledger.settle(map_id, state="accepted", source="t")


@pytest.mark.parametrize("state", ["sending", "bogus"])
def test_a_request_cannot_be_settled_as_sending_or_an_unknown_state(ledger, state):
    order, map_id = claimed(ledger)
    last = ledger.last_event_id()
    with pytest.raises(LedgerError, match="cannot settle a request as"):
        ledger.settle(map_id, state=state, order_id=order.id, event=None, source="t",
                      map_fields=number("0000123"))
    assert [(r.id, r.state, r.broker_order_no) for r in ledger.open_requests()] == [(map_id, "sending", None)]
    assert ledger.last_event_id() == last


def test_a_takeover_with_the_activity_it_judged_goes_through(ledger):
    order, map_id = claimed(ledger)
    [judged] = ledger.open_requests()
    order = ledger.settle(map_id, state="unknown", order_id=order.id, event=OrderEvent.SEND_AMBIGUOUS,
                          source="recovery", expected_activity=judged.last_activity)
    assert order.status is OrderStatus.UNKNOWN
    order, second = ledger.claim(order.id, resend_of=map_id, request={}, tr_id="order-cash", source="recovery",
                                 expected_activity=judged.last_activity)
    assert order.status is OrderStatus.SENDING
    assert [(r.id, r.state) for r in ledger.broker_numbers(order.id)] == [(map_id, "not_found"),
                                                                         (second, "sending")]


def test_a_guard_refusal_is_a_validation_failure_in_the_history(ledger):
    with pytest.raises(GuardTripped):
        ledger.create_and_claim(make_order(qty=10), source="submit", request={}, tr_id="x",
                                guards=GuardLimits(max_position_per_symbol=5))
    [order] = ledger.list_orders()
    assert [(h.event, h.status) for h in ledger.history(order.id)] == [("created", "NEW"),
                                                                       ("validation_failed", "REJECTED")]
    assert ledger.broker_numbers(order.id) == []


def test_releasing_a_claim_clears_its_owner_once(ledger):
    order, map_id = claimed(ledger)
    assert ledger.open_requests()[0].owner == ledger.owner
    assert ledger.release_request(map_id) is True
    [req] = ledger.open_requests()
    assert (req.id, req.state, req.owner) == (map_id, "sending", None)
    assert ledger.release_request(map_id) is False  # nothing left to clear
    other = accepted(ledger, no="0000124", strategy="s2", qty=11)  # not a look-alike of the first
    [settled] = ledger.broker_numbers(other.id)
    assert ledger.release_request(settled.id) is False and ledger.broker_numbers(other.id)[0].owner == ledger.owner


def test_request_keys_by_order_gives_each_orders_requests_oldest_first(ledger):
    first = accepted(ledger)
    first, cancel_id = ledger.claim(first.id, kind="cancel", request={}, tr_id="order-rvsecncl", source="t")
    second, _ = claimed(ledger, strategy="s2")
    idle, _ = ledger.create(make_order(strategy="s3"), source="t")
    keys = request_keys_by_order(ledger.conn, [first.id, second.id, idle.id])
    assert dict(keys) == {
        first.id: [RequestKey(first.id, "new", "accepted", "0000123"), RequestKey(first.id, "cancel", "sending", None)],
        second.id: [RequestKey(second.id, "new", "sending", None)]}
    assert keys[idle.id] == []


def test_a_change_already_mapped_is_refused_with_false_and_writes_nothing(ledger):
    order = accepted(ledger)
    assert ledger.record_change(order.id, kind="cancel", broker_order_no="0000150", krx_orgno="91252",
                                order_date=DAY, source="reconcile") is True
    last, rows = ledger.last_event_id(), ledger.broker_numbers(order.id)
    for no in ("0000150", "0000123"):  # the change again, and the order's own number
        assert ledger.record_change(order.id, kind="cancel", broker_order_no=no, krx_orgno="91252",
                                    order_date=DAY, source="reconcile") is False
    assert ledger.last_event_id() == last and ledger.broker_numbers(order.id) == rows


def test_an_external_order_is_announced_when_first_recorded_and_never_again(ledger):
    args = dict(order_date=DAY, broker_order_no="0000777", account="50000001-01", symbol="005930", side="sell",
                qty=3, price=71000, raw={"ODNO": "0000777"})
    assert ledger.record_external(**args) is True
    [event] = ledger.events_since(0)
    assert (event.kind, event.order_id) == ("external.recorded", None)
    assert event.payload == {k: v for k, v in args.items() if k != "raw"}
    assert ledger.record_external(**args) is False
    assert ledger.last_event_id() == event.id and len(ledger.external_orders()) == 1


def test_a_number_of_ours_on_another_day_is_another_order(ledger):
    """KIS numbers restart each day: yesterday's number of ours neither hides today's external order with that
    number nor stops an amend or cancel found today under it from being mapped."""
    order = accepted(ledger, no="0000123")  # booked on DAY
    today = "20261126"
    assert ledger.record_external(order_date=today, broker_order_no="0000123", account="50000001-01",
                                  symbol="005930", side="buy", qty=1, price=70000, raw={}) is True
    assert ledger.record_external(order_date=DAY, broker_order_no="0000123", account="50000001-01",
                                  symbol="005930", side="buy", qty=1, price=70000, raw={}) is False  # ours that day
    other = accepted(ledger, no="0000456", strategy="s2")
    assert ledger.record_change(other.id, kind="cancel", broker_order_no="0000123", krx_orgno="91252",
                                order_date=today, raw_payload={}, source="reconcile") is True
    assert ledger.record_change(other.id, kind="cancel", broker_order_no="0000123", krx_orgno="91252",
                                order_date=DAY, raw_payload={}, source="reconcile") is False
