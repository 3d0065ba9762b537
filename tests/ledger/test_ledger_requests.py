"""Broker requests: write-ahead claims, settling, broker numbers and changes found at the broker."""

from __future__ import annotations

import pytest
from ledger_helpers import make_order

from kisoms.domain.codes import OrderType
from kisoms.domain.states import OrderEvent, OrderStatus
from kisoms.errors import InvalidTransition, LedgerError, TwinPending
from kisoms.ledger import RequestNotOpen, StaleOrder

DAY = "20261125"


def number(no, orgno="91252"):
    return {"broker_order_no": no, "krx_orgno": orgno, "order_date": DAY}


def claimed(ledger):
    order, _ = ledger.create(make_order(), source="t")
    return ledger.claim(order.id, request={"qty": 10, "ord_dvsn": "00"}, tr_id="order-cash", source="submit")


def accepted(ledger):
    order, map_id = claimed(ledger)
    return ledger.settle(map_id, state="accepted", order_id=order.id, event=OrderEvent.BROKER_ACCEPTED,
                         source="submit", map_fields=number("0000123"), order_fields=number("0000123"))


def test_claim_moves_to_sending_and_opens_a_request(ledger, clock):
    order, map_id = claimed(ledger)
    assert order.status is OrderStatus.SENDING and order.version == 2
    [req] = ledger.open_requests()
    assert (req.id, req.order_id, req.kind, req.state, req.tr_id) == (map_id, order.id, "new", "sending", "order-cash")
    assert req.broker_order_no is None and req.request == {"qty": 10, "ord_dvsn": "00"}
    assert req.sent_at == ledger.get(order.id).updated_at
    assert ledger.events_since(0)[-1].payload["map_id"] == map_id


def test_second_claim_gets_none_and_writes_nothing(ledger):
    order, _ = claimed(ledger)
    last = ledger.last_event_id()
    assert ledger.claim(order.id, request={}, tr_id="order-cash", source="other") is None
    assert ledger.last_event_id() == last and len(ledger.broker_numbers(order.id)) == 1


def test_claim_with_a_stale_version_gets_none(ledger):
    order = accepted(ledger)
    assert ledger.claim(order.id, event=OrderEvent.CANCEL_REQUESTED, kind="cancel", request={},
                        tr_id="order-rvsecncl", source="t", expected_version=order.version - 1) is None
    assert ledger.get(order.id).status is OrderStatus.SENT


def test_claim_kind_must_match_event(ledger):
    order, _ = ledger.create(make_order(), source="t")
    with pytest.raises(LedgerError):
        ledger.claim(order.id, event=OrderEvent.CLAIM, kind="cancel", request={}, tr_id="x", source="t")


def test_accepted_request_maps_the_broker_number(ledger):
    order = accepted(ledger)
    assert (order.status, order.broker_order_no, order.krx_orgno, order.order_date) == (
        OrderStatus.SENT, "0000123", "91252", DAY)
    assert ledger.open_requests() == []
    [req] = ledger.broker_numbers(order.id)
    assert (req.state, req.broker_order_no, req.order_date) == ("accepted", "0000123", DAY)
    assert req.resolved_at is not None
    assert ledger.order_for_broker_number("0000123", DAY) == order
    assert ledger.order_for_broker_number("0000123") == order
    assert ledger.order_for_broker_number("0000999", DAY) is None
    hit_order, hit_req = ledger.request_for_broker_number("0000123", DAY)
    assert hit_order == order and hit_req.kind == "new"
    assert ledger.known_broker_numbers(DAY) == {"0000123"} == ledger.known_broker_numbers()
    assert ledger.known_broker_numbers("20261126") == set()


def test_settled_request_cannot_be_settled_again(ledger):
    order, map_id = claimed(ledger)
    ledger.settle(map_id, state="rejected", order_id=order.id, event=OrderEvent.BROKER_REJECTED,
                  source="t", order_fields={"reject_code": "APBK0919", "reject_reason": "no money"})
    with pytest.raises(RequestNotOpen):
        ledger.settle(map_id, state="accepted", order_id=order.id, event=OrderEvent.BROKER_ACCEPTED,
                      source="t")
    got = ledger.get(order.id)
    assert (got.status, got.reject_code) == (OrderStatus.REJECTED, "APBK0919")


def test_unknown_then_found(ledger):
    order, map_id = claimed(ledger)
    order = ledger.settle(map_id, state="unknown", order_id=order.id, event=OrderEvent.SEND_AMBIGUOUS,
                          source="t", raw_payload={"error": "ReadTimeout"})
    assert order.status is OrderStatus.UNKNOWN
    [req] = ledger.open_requests(order.id)
    assert req.state == "unknown" and req.resolved_at is None
    order = ledger.settle(map_id, state="accepted", order_id=order.id, event=OrderEvent.BROKER_ACCEPTED,
                          source="recovery", map_fields=number("0000200"),
                          order_fields=number("0000200"))
    assert order.status is OrderStatus.SENT and ledger.open_requests() == []


def test_not_found_then_resend_claims_again(ledger):
    order, map_id = claimed(ledger)
    ledger.settle(map_id, state="unknown", order_id=order.id, event=OrderEvent.SEND_AMBIGUOUS, source="t")
    order = ledger.settle(map_id, state="not_found", order_id=order.id, event=None, source="recovery")
    assert order.status is OrderStatus.UNKNOWN
    assert ledger.events_since(0)[-1].kind == "request.settled"
    order, second = ledger.claim(order.id, event=OrderEvent.RESEND, kind="new", request={"qty": 10},
                                 tr_id="order-cash", source="recovery")
    assert order.status is OrderStatus.SENDING and second != map_id
    assert [r.state for r in ledger.broker_numbers(order.id)] == ["not_found", "sending"]


def test_not_sent_with_fields_as_keywords(ledger):
    order, map_id = claimed(ledger)
    order = ledger.settle(map_id, state="not_sent", order_id=order.id, event=OrderEvent.SEND_FAILED,
                          source="t", reject_code="NOT_SENT", reject_reason="not sent: refused")
    assert (order.status, order.reject_code) == (OrderStatus.ERROR, "NOT_SENT")


def test_settle_without_an_order_event(ledger):
    order, map_id = claimed(ledger)
    ledger.settle(map_id, state="unknown", source="ledger")
    assert ledger.get(order.id).status is OrderStatus.SENDING
    assert ledger.open_requests()[0].state == "unknown"


def test_illegal_settle_rolls_back_the_request_too(ledger):
    order, map_id = claimed(ledger)
    with pytest.raises(InvalidTransition):
        ledger.settle(map_id, state="accepted", order_id=order.id, event=OrderEvent.CANCEL_ACCEPTED,
                      source="t", map_fields=number("0000123"))
    assert ledger.open_requests()[0].state == "sending"
    assert ledger.known_broker_numbers() == set()


def test_settle_checks_the_order_and_version(ledger):
    order, map_id = claimed(ledger)
    with pytest.raises(LedgerError):
        ledger.settle(map_id, state="accepted", order_id=order.id + 1, event=None, source="t")
    with pytest.raises(StaleOrder):
        ledger.settle(map_id, state="accepted", order_id=order.id, event=None, source="t",
                      expected_version=1)
    with pytest.raises(LedgerError):
        ledger.settle(map_id, state="bogus", order_id=order.id, event=None, source="t")
    assert ledger.open_requests()[0].state == "sending"


def test_a_broker_number_maps_to_one_request(ledger):
    accepted(ledger)
    other, _ = ledger.create(make_order(strategy="other"), source="t")
    other, map_id = ledger.claim(other.id, request={}, tr_id="order-cash", source="t")
    with pytest.raises(LedgerError, match="already mapped"):
        ledger.settle(map_id, state="accepted", order_id=other.id, event=OrderEvent.BROKER_ACCEPTED,
                      source="t", map_fields=number("0000123"), order_fields=number("0000123"))
    assert ledger.get(other.id).status is OrderStatus.SENDING


def test_modify_request_and_acceptance(ledger):
    order = accepted(ledger)
    order, map_id = ledger.claim(order.id, event=OrderEvent.MODIFY_REQUESTED, kind="modify",
                                 request={"orgn_odno": "0000123", "qty": 10, "price": 70100,
                                                  "all_qty": True}, tr_id="order-rvsecncl", source="modify",
                                 expected_version=order.version)
    assert order.status is OrderStatus.PENDING_MODIFY
    order = ledger.settle(map_id, state="accepted", order_id=order.id, event=OrderEvent.MODIFY_ACCEPTED,
                          source="modify", map_fields=number("0000130"),
                          order_fields={**number("0000130"), "price": 70100})
    assert (order.status, order.price, order.broker_order_no) == (OrderStatus.ACCEPTED, 70100, "0000130")
    assert [n.broker_order_no for n in ledger.broker_numbers(order.id)] == ["0000123", "0000130"]
    assert ledger.order_for_broker_number("0000123", DAY).id == order.id


def test_record_change_found_at_the_broker(ledger):
    order = accepted(ledger)
    assert ledger.record_change(order.id, kind="cancel", broker_order_no="0000150", krx_orgno="91252",
                                order_date=DAY, raw_payload={"odno": "0000150"}, source="reconcile")
    assert not ledger.record_change(order.id, kind="cancel", broker_order_no="0000150", krx_orgno="91252",
                                    order_date=DAY, source="reconcile")
    req = ledger.broker_numbers(order.id)[-1]
    assert (req.kind, req.state, req.broker_order_no) == ("cancel", "accepted", "0000150")
    assert ledger.events_since(0)[-1].kind == "request.mapped"
    assert ledger.get(order.id).version == order.version


def _external(ledger, no):
    return ledger.record_external(order_date=DAY, broker_order_no=no, account="50000001-01", symbol="005930",
                                  side="buy", qty=10, price=70000, raw={"ODNO": no})


def test_an_external_number_that_turns_out_ours_is_claimed_when_mapped(ledger):
    order, map_id = claimed(ledger)
    assert _external(ledger, "0000123") is True  # its notice beat our reply
    ledger.settle(map_id, state="accepted", order_id=order.id, event=OrderEvent.BROKER_ACCEPTED,
                  source="submit", map_fields=number("0000123"), order_fields=number("0000123"))
    assert ledger.external_orders() == []
    [ext] = ledger.external_orders(include_claimed=True)
    assert ext["claimed_by_order_id"] == order.id


def test_a_mapped_number_is_never_recorded_as_external(ledger):
    order = accepted(ledger)
    assert _external(ledger, "0000123") is False
    assert ledger.record_change(order.id, kind="cancel", broker_order_no="0000124", krx_orgno="91252",
                                order_date=DAY, source="reconcile")
    assert _external(ledger, "0000124") is False
    assert ledger.external_orders(include_claimed=True) == []


def _twin(ledger, **kw):
    order, _ = ledger.create(make_order(strategy="twin", **kw), source="t")
    return order


def test_claim_refuses_a_new_order_while_a_twin_is_unresolved(ledger):
    first, map_id = claimed(ledger)
    twin = _twin(ledger)
    last = ledger.last_event_id()
    with pytest.raises(TwinPending) as refused:
        ledger.claim(twin.id, request={}, tr_id="order-cash", source="t")
    assert refused.value.twin_id == first.id and "SENDING" in str(refused.value)
    assert ledger.last_event_id() == last and ledger.get(twin.id).status is OrderStatus.NEW
    ledger.settle(map_id, state="unknown", order_id=first.id, event=OrderEvent.SEND_AMBIGUOUS, source="t")
    with pytest.raises(TwinPending):  # UNKNOWN is as unresolved as SENDING
        ledger.claim(twin.id, request={}, tr_id="order-cash", source="t")
    ledger.settle(map_id, state="accepted", order_id=first.id, event=OrderEvent.BROKER_ACCEPTED,
                  source="t", map_fields=number("0000123"), order_fields=number("0000123"))
    assert ledger.claim(twin.id, request={}, tr_id="order-cash", source="t") is not None


def test_orders_with_other_terms_are_not_twins(ledger):
    claimed(ledger)
    assert ledger.claim(_twin(ledger, qty=11).id, request={}, tr_id="order-cash", source="t") is not None
    other_price = _twin(ledger, price=70100, signal_ts=make_order().signal_ts.replace(second=5))
    assert ledger.claim(other_price.id, request={}, tr_id="order-cash", source="t") is not None


def test_amend_and_cancel_claims_are_not_refused_by_a_twin(ledger):
    order = accepted(ledger)
    claimed_twin = ledger.claim(_twin(ledger).id, request={}, tr_id="order-cash", source="t")
    assert claimed_twin is not None
    assert ledger.claim(order.id, kind="cancel", request={}, tr_id="order-rvsecncl", source="t") is not None


def test_resend_claim_is_refused_while_a_twin_is_in_flight(ledger):
    first, map_id = claimed(ledger)
    ledger.settle(map_id, state="unknown", order_id=first.id, event=OrderEvent.SEND_AMBIGUOUS, source="t")
    twin_order = _twin(ledger)
    # the twin got in while the first was briefly not in flight (e.g. a ledger from before the guard)
    with ledger.db.conn:
        ledger.db.conn.execute("UPDATE orders SET status = 'SENDING' WHERE id = ?", (twin_order.id,))
    with pytest.raises(TwinPending):
        ledger.claim(first.id, resend_of=map_id, request={}, tr_id="order-cash", source="t")
    [still] = [r for r in ledger.open_requests() if r.id == map_id]
    assert still.state == "unknown" and ledger.get(first.id).status is OrderStatus.UNKNOWN  # rolled back


def test_claim_records_its_owner_and_retries_stamp_the_last_attempt(ledger, clock):
    order, map_id = claimed(ledger)
    [req] = ledger.open_requests()
    assert req.owner == ledger.owner and req.last_attempt_at is None and req.last_activity == req.sent_at
    assert ledger.events_since(0)[-1].payload["owner"] == ledger.owner  # traceable: who sent it
    assert ledger.stamp_attempt(map_id)
    [req] = ledger.open_requests()
    assert req.last_attempt_at > req.sent_at and req.last_activity == req.last_attempt_at
    ledger.settle(map_id, state="unknown", order_id=order.id, event=OrderEvent.SEND_AMBIGUOUS, source="t")
    assert not ledger.stamp_attempt(map_id)  # no longer sending: the owner must not try again


def test_a_market_order_in_flight_holds_back_a_limit_order_of_the_same_size(ledger):
    """The lookup ignores the price of an order without one (and the order type), so a MARKET buy of 10 in
    doubt and a LIMIT buy of 10 could take each other's broker row: they are look-alikes."""
    market, _ = ledger.create(make_order(strategy="mkt", price=None, order_type=OrderType.MARKET), source="t")
    ledger.claim(market.id, request={}, tr_id="order-cash", source="t")
    with pytest.raises(TwinPending):
        ledger.claim(_twin(ledger).id, request={}, tr_id="order-cash", source="t")


def test_a_takeover_is_refused_when_the_owner_tried_again_since(ledger):
    order, map_id = claimed(ledger)
    [judged] = ledger.open_requests()  # what recovery looked at
    assert ledger.stamp_attempt(map_id)  # the owner retried meanwhile
    last = ledger.last_event_id()
    with pytest.raises(RequestNotOpen, match="tried again"):
        ledger.settle(map_id, state="unknown", order_id=order.id, event=OrderEvent.SEND_AMBIGUOUS,
                      source="recovery", expected_activity=judged.last_activity)
    ledger.settle(map_id, state="unknown", order_id=order.id, event=OrderEvent.SEND_AMBIGUOUS, source="t")
    with pytest.raises(RequestNotOpen, match="tried again"):
        ledger.claim(order.id, resend_of=map_id, request={}, tr_id="order-cash", source="recovery",
                     expected_activity=judged.last_activity)
    assert ledger.get(order.id).status is OrderStatus.UNKNOWN and ledger.last_event_id() == last + 1


def _commits(ledger) -> list[str]:
    seen: list[str] = []
    ledger.conn.set_trace_callback(lambda sql: seen.append(sql) if sql.strip().upper() == "COMMIT" else None)
    return seen


def test_create_and_claim_is_one_commit_and_a_known_key_claims_nothing(ledger):
    commits = _commits(ledger)
    order, created, map_id = ledger.create_and_claim(make_order(), source="submit", raw_payload={"intent": 1},
                                                     request={"qty": 10}, tr_id="order-cash")
    assert (created, order.status, order.version, len(commits)) == (True, OrderStatus.SENDING, 2, 1)
    [req] = ledger.open_requests()
    assert (req.id, req.order_id, req.state, req.request, req.owner) == (map_id, order.id, "sending", {"qty": 10},
                                                                          ledger.owner)
    assert [h.event for h in ledger.history(order.id)] == ["created", "claim"]
    again, created, none = ledger.create_and_claim(make_order(), source="submit", request={"qty": 10}, tr_id="x")
    assert (again.id, created, none, len(commits)) == (order.id, False, None, 2)
    assert len(ledger.open_requests()) == 1 and ledger.get(order.id) == order  # nothing written the second time
    assert ledger.verify_audit_chain() == 2


def test_create_and_claim_keeps_the_order_new_when_the_claim_is_refused(ledger):
    from kisoms.errors import Halted

    ledger.set_halt("check", source="t", account="50000001-01")
    with pytest.raises(Halted):
        ledger.create_and_claim(make_order(), source="submit", request={"qty": 10}, tr_id="order-cash")
    [order] = ledger.list_orders()
    assert order.status is OrderStatus.NEW and not ledger.open_requests()  # created, not claimed
    ledger.clear_halt(source="t", account="50000001-01")
    twin, _, twin_map = ledger.create_and_claim(make_order(strategy="s2"), source="submit", request={}, tr_id="x")
    ledger.settle(twin_map, state="unknown", order_id=twin.id, event=OrderEvent.SEND_AMBIGUOUS, source="t")
    with pytest.raises(TwinPending):
        ledger.create_and_claim(make_order(strategy="s3"), source="submit", request={}, tr_id="x")
    third = ledger.list_orders()[-1]
    assert third.strategy_version == "s3" and third.status is OrderStatus.NEW


def test_create_and_claim_records_a_guard_refusal(ledger):
    from kisoms.domain.guards import GuardLimits
    from kisoms.errors import GuardTripped

    with pytest.raises(GuardTripped):
        ledger.create_and_claim(make_order(qty=10), source="submit", request={}, tr_id="x",
                                guards=GuardLimits(max_position_per_symbol=5))
    [order] = ledger.list_orders()
    assert order.status is OrderStatus.REJECTED and order.reject_code.startswith("GUARD:")
    assert not ledger.open_requests()


def test_a_settle_commits_without_fsync_and_the_claim_with(ledger):
    """The claim is FULL (fsynced before the request leaves); the settle alone runs NORMAL; FULL again after."""
    levels: list[int] = []
    ledger.conn.set_trace_callback(
        lambda sql: levels.append(ledger.conn.execute("PRAGMA synchronous").fetchone()[0])
        if sql.strip().upper() == "COMMIT" else None)
    order, _, map_id = ledger.create_and_claim(make_order(), source="submit", request={}, tr_id="x")
    ledger.conn.set_trace_callback(None)
    assert levels == [2]  # FULL
    ledger.conn.set_trace_callback(
        lambda sql: levels.append(ledger.conn.execute("PRAGMA synchronous").fetchone()[0])
        if sql.strip().upper() == "COMMIT" else None)
    ledger.settle(map_id, state="accepted", order_id=order.id, event=OrderEvent.BROKER_ACCEPTED,
                  source="submit", map_fields=number("0000777"), order_fields=number("0000777"))
    ledger.conn.set_trace_callback(None)
    assert levels == [2, 1]  # the settle: NORMAL
    assert ledger.conn.execute("PRAGMA synchronous").fetchone()[0] == 2
