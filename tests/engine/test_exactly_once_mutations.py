"""Exactly-once sending, asserted sharply enough that a wrong decision in outcome/sending/recovery fails a test:
what the order ends as, which broker number was adopted, how many tries left, and the history's event names."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine_helpers import ACCOUNT, ORDER_CASH, RVSECNCL, broker_orders, inject, intent, make_settings
from kisoms.domain.states import OrderStatus
from kisoms.engine.amend import cancel, modify
from kisoms.engine.clock import kst_ymd
from kisoms.engine.reconcile import reconcile
from kisoms.engine.recovery import recover
from kisoms.engine.runtime import open_runtime
from kisoms.engine.submit import submit
from kisoms.errors import AwaitingBooks, OutcomeUnknown
from mutation_helpers import StepClock, events, request_rows


def _fired(sim, path: str = ORDER_CASH) -> int:
    return sum(1 for f in sim.admin.fault_log() if f.get("path", "").endswith(path))


# ------------------------------------------------------------------ a 200 reply that does not parse


@pytest.mark.parametrize("fault", ["garbled_after_accept", "truncated_after_accept"])
def test_a_booked_order_whose_reply_does_not_parse_goes_unknown_and_is_found_never_resent(rt, sim, fault):
    inject(sim, fault)
    result = submit(rt, intent())
    [row] = broker_orders(sim)  # booked once: the unparseable reply was never taken as "not sent"
    order = result.order
    assert order.broker_order_no == row["odno"] and order.status is OrderStatus.SENT
    assert events(rt, order.id) == ["created", "claim", "send_ambiguous", "broker_accepted"]
    assert request_rows(rt, order.id) == [("new", "accepted", row["odno"])]
    ambiguous = rt.ledger.history(order.id)[2].raw_payload
    assert ambiguous["error"] == "BrokerProtocolError" and ambiguous["tries"] == 1
    assert _fired(sim) == 1
    report = reconcile(rt)
    assert not report.unresolved and not report.external and len(broker_orders(sim)) == 1
    assert rt.ledger.get(order.id).status is OrderStatus.ACCEPTED


@pytest.mark.parametrize("fault", ["garbled_after_accept", "truncated_after_accept"])
def test_an_unparseable_reply_with_the_resend_policy_is_still_found_not_resent(sim, tmp_path, fault):
    with open_runtime(make_settings(sim, tmp_path, ambiguity={"policy": "resend"})) as rt:
        inject(sim, fault)
        order = submit(rt, intent()).order
        [row] = broker_orders(sim)
        assert order.broker_order_no == row["odno"] and order.status is OrderStatus.SENT


@pytest.mark.parametrize("fault", ["garbled_after_accept", "truncated_after_accept"])
def test_an_unparseable_amend_reply_is_found_by_its_origin(rt, sim, fault):
    order = submit(rt, intent()).order
    inject(sim, fault, path=RVSECNCL)
    amended = modify(rt, order.id, price=69500)
    [row] = [r for r in sim.admin.orders(ACCOUNT) if r["orgn_odno"] == order.broker_order_no]
    assert amended.broker_order_no == row["odno"] and amended.price == 69500
    assert events(rt, order.id)[-2:] == ["modify_requested", "modify_accepted"]


# ------------------------------------------------------------------ a broker reject keeps KIS's answer


def test_broker_reject_records_kis_code_and_message_exactly(rt, sim):
    result = submit(rt, intent(qty=100000, price=70000))  # 7 billion KRW: more than the sim account has
    order = result.order
    assert order.status is OrderStatus.REJECTED
    assert order.reject_code == "APBK0952" and "주문가능금액" in order.reject_reason
    assert events(rt, order.id) == ["created", "claim", "broker_rejected"]
    assert request_rows(rt, order.id) == [("new", "rejected", None)]
    payload = rt.ledger.history(order.id)[-1].raw_payload
    assert (payload["error"], payload["msg_cd"], payload["tries"]) == ("BrokerApiError", "APBK0952", 1)
    assert "주문가능금액" in payload["msg1"]
    assert broker_orders(sim) == []


# ------------------------------------------------------------------ retries: bounded by attempts and deadline


def test_retries_stop_at_max_attempts_and_nothing_leaves_later(sim, tmp_path):
    clock = StepClock()
    settings = make_settings(sim, tmp_path, retry={"max_attempts": 3, "deadline": 1000.0, "base_delay": 0.5,
                                                   "max_delay": 1.0})
    with open_runtime(settings, clock=clock) as rt:
        inject(sim, "rate_limit", count=10)  # more than max_attempts
        order = submit(rt, intent()).order
        assert order.status is OrderStatus.ERROR and order.reject_code == "NOT_SENT"
        assert _fired(sim) == 3 and len(clock.slept) == 2  # three tries, two waits between them
        assert all(0.25 <= s <= 1.0 for s in clock.slept)
        assert events(rt, order.id) == ["created", "claim", "send_failed"]
        assert rt.ledger.history(order.id)[-1].raw_payload["tries"] == 3
        assert request_rows(rt, order.id) == [("new", "not_sent", None)]
        again = submit(rt, intent())  # the same intent: the same order, not sent again
        assert again.order.id == order.id and not again.sent
        recover(rt, "test", wait=True)
        reconcile(rt)
        assert rt.ledger.get(order.id).status is OrderStatus.ERROR
    assert _fired(sim) == 3 and broker_orders(sim) == []


def test_retries_stop_at_the_deadline_and_nothing_leaves_later(sim, tmp_path):
    clock = StepClock()
    settings = make_settings(sim, tmp_path, retry={"max_attempts": 20, "deadline": 2.0, "base_delay": 0.4,
                                                   "max_delay": 0.4})
    with open_runtime(settings, clock=clock) as rt:
        inject(sim, "rate_limit", count=60)
        order = submit(rt, intent()).order
        tries = _fired(sim)
        assert order.status is OrderStatus.ERROR and order.reject_code == "NOT_SENT"
        assert 5 <= tries <= 10  # each wait is 0.2..0.4s and every try must fit in 2s: far below 20 attempts
        assert len(clock.slept) == tries - 1 and sum(clock.slept) < 2.0
        assert rt.ledger.history(order.id)[-1].raw_payload["tries"] == tries
        recover(rt, "test", wait=True)
        reconcile(rt)
    assert _fired(sim) == tries and broker_orders(sim) == []


def test_an_amend_whose_retries_run_out_is_refused_and_the_order_keeps_working(sim, tmp_path):
    clock = StepClock()
    settings = make_settings(sim, tmp_path, retry={"max_attempts": 2, "deadline": 1000.0})
    with open_runtime(settings, clock=clock) as rt:
        order = submit(rt, intent()).order
        inject(sim, "rate_limit", path=RVSECNCL, count=5)
        after = modify(rt, order.id, price=69500)
        assert after.status is OrderStatus.ACCEPTED and after.price == 70000
        assert after.broker_order_no == order.broker_order_no
        assert events(rt, order.id)[-2:] == ["modify_requested", "modify_rejected"]
        assert request_rows(rt, order.id)[-1] == ("modify", "not_sent", None)
        assert _fired(sim, RVSECNCL) == 2
    assert [r for r in sim.admin.orders(ACCOUNT) if r["orgn_odno"]] == []


def test_a_cancel_whose_retries_run_out_is_refused_and_the_order_keeps_working(sim, tmp_path):
    settings = make_settings(sim, tmp_path, retry={"max_attempts": 2, "deadline": 1000.0})
    with open_runtime(settings, clock=StepClock()) as rt:
        order = submit(rt, intent()).order
        inject(sim, "rate_limit", path=RVSECNCL, count=5)
        after = cancel(rt, order.id, qty=4)
        assert after.status is OrderStatus.ACCEPTED and after.cancelled_qty == 0 and after.remaining_qty == 10
        assert events(rt, order.id)[-2:] == ["cancel_requested", "cancel_rejected"]
        assert request_rows(rt, order.id)[-1] == ("cancel", "not_sent", None)
        assert _fired(sim, RVSECNCL) == 2
    assert [r for r in sim.admin.orders(ACCOUNT) if r["orgn_odno"]] == []


# ------------------------------------------------------------------ amend/cancel events named right


def test_accepted_amend_and_cancel_are_recorded_as_accepted(rt, sim):
    order = submit(rt, intent()).order
    amended = modify(rt, order.id, price=69500)
    cancelled = cancel(rt, order.id, qty=4)
    assert events(rt, order.id)[-4:] == ["modify_requested", "modify_accepted", "cancel_requested",
                                         "cancel_accepted"]
    assert cancelled.status is OrderStatus.ACCEPTED and cancelled.cancelled_qty == 4
    assert cancelled.broker_order_no == amended.broker_order_no  # a cancel's number is not the order's
    kinds = [(k, s) for k, s, _ in request_rows(rt, order.id)]
    assert kinds == [("new", "accepted"), ("modify", "accepted"), ("cancel", "accepted")]


def test_refused_amend_and_cancel_are_recorded_as_rejected(rt, sim):
    order = submit(rt, intent()).order
    sim.admin.fill(order.broker_order_no, 10, 70000)  # filled at the broker; the ledger has not seen it
    after = modify(rt, order.id, price=69500)
    assert events(rt, order.id)[-2:] == ["modify_requested", "modify_rejected"]
    assert request_rows(rt, order.id)[-1][:2] == ("modify", "rejected") and after.price == 70000
    after = cancel(rt, order.id)
    assert events(rt, order.id)[-2:] == ["cancel_requested", "cancel_rejected"]
    assert request_rows(rt, order.id)[-1][:2] == ("cancel", "rejected") and after.cancelled_qty == 0


# ------------------------------------------------------------------ recovery of ambiguous amends and cancels


def test_an_ambiguous_partial_cancel_is_recovered_as_partial(rt, sim):
    order = submit(rt, intent()).order
    inject(sim, "drop_response", path=RVSECNCL, seconds=3)
    after = cancel(rt, order.id, qty=4)
    [row] = [r for r in sim.admin.orders(ACCOUNT) if r["orgn_odno"] == order.broker_order_no]
    assert after.status is OrderStatus.ACCEPTED
    assert (after.cancelled_qty, after.remaining_qty, after.filled_qty) == (4, 6, 0)
    assert after.broker_order_no == order.broker_order_no  # the order still lives under its own number
    assert request_rows(rt, order.id)[-1] == ("cancel", "accepted", row["odno"])
    assert events(rt, order.id)[-2:] == ["cancel_requested", "cancel_accepted"]
    assert reconcile(rt).in_sync and rt.ledger.get(order.id).cancelled_qty == 4


def test_an_ambiguous_amend_is_recovered_with_the_new_price_and_number(rt, sim):
    order = submit(rt, intent()).order
    inject(sim, "drop_response", path=RVSECNCL, seconds=3)
    after = modify(rt, order.id, price=69500)
    [row] = [r for r in sim.admin.orders(ACCOUNT) if r["orgn_odno"] == order.broker_order_no]
    assert after.price == 69500 and after.broker_order_no == row["odno"] and after.qty == 10
    assert after.remaining_qty == 10 and after.status is OrderStatus.ACCEPTED
    assert request_rows(rt, order.id)[-1] == ("modify", "accepted", row["odno"])
    assert events(rt, order.id)[-3:] == ["modify_requested", "modify_accepted", "acknowledged"] or \
        events(rt, order.id)[-2:] == ["modify_requested", "modify_accepted"]
    assert reconcile(rt).in_sync


def test_an_amend_never_booked_is_closed_as_not_found_and_the_order_keeps_its_price(rt, sim):
    order = submit(rt, intent()).order
    inject(sim, "reset_before_accept", path=RVSECNCL)
    after = modify(rt, order.id, price=69500)
    assert after.price == 70000 and after.broker_order_no == order.broker_order_no
    assert after.status is OrderStatus.ACCEPTED
    assert request_rows(rt, order.id)[-1] == ("modify", "not_found", None)
    assert events(rt, order.id)[-2:] == ["modify_requested", "modify_rejected"]
    assert [r for r in sim.admin.orders(ACCOUNT) if r["orgn_odno"]] == []


# ------------------------------------------------------------------ the lookup window and notice evidence


def test_a_dead_owners_request_is_not_judged_before_the_lookup_window_closes(sim, tmp_path):
    """Recovery never settles an in-flight request as not found (nor resends it) before its deadline."""
    clock = StepClock()
    settings = make_settings(sim, tmp_path, ambiguity={"policy": "resend", "lookup_window": 30.0})
    with open_runtime(settings, clock=clock) as rt:
        inject(sim, "reset_before_accept")
        with pytest.raises(AwaitingBooks, match="not yet in the broker's books"):
            from kisoms.engine.recovery import resolve
            from kisoms.engine.submit import create_order, order_cash_request
            order, _ = create_order(rt, intent())
            order, map_id = rt.ledger.claim(order.id, request=order_cash_request(order), tr_id="TTTC0012U",
                                            source="test")
            [request] = rt.ledger.open_requests(order.id)
            resolve(rt, order, request, "test", wait=False)
        assert rt.ledger.get(order.id).status is OrderStatus.SENDING
        assert [r.state for r in rt.ledger.open_requests(order.id)] == ["sending"]
    assert broker_orders(sim) == []


def test_an_acceptance_notice_stops_a_resend_when_the_books_do_not_show_the_order(sim, tmp_path):
    clock = StepClock()
    settings = make_settings(sim, tmp_path, ambiguity={"policy": "resend"})
    with open_runtime(settings, clock=clock) as rt:
        # The watcher saw KIS accept an order with these terms (number 0000000777), but the books lag.
        rt.ledger.record_external(order_date=kst_ymd(rt.clock.now()), broker_order_no="0000000777",
                                  account="5000000101", symbol="005930", side="buy", qty=10, price=70000,
                                  raw={"source": "notice"})
        inject(sim, "error_before_accept")
        with pytest.raises(AwaitingBooks, match="0000000777"):
            submit(rt, intent())
        [order] = rt.ledger.list_orders()
        assert order.status is OrderStatus.UNKNOWN and rt.ledger.halt_state() is None
        clock.offset += 60  # long after the lookup window
        report = reconcile(rt)
        assert report.in_flight and not report.unresolved and rt.ledger.halt_state() is None
        assert rt.ledger.get(order.id).status is OrderStatus.UNKNOWN
    assert broker_orders(sim) == []  # nothing was resent on the strength of the missing books


@pytest.mark.parametrize("decoy", [
    {"account": "5000000201"},  # the same terms in another account
    {"qty": 11}, {"price": 69900}, {"side": "sell"}, {"symbol": "000660"},
    {"days_ago": 1},
])
def test_a_notice_with_other_terms_is_no_evidence_and_the_policy_resends_once(sim, tmp_path, decoy):
    clock = StepClock()
    settings = make_settings(sim, tmp_path, ambiguity={"policy": "resend"})
    with open_runtime(settings, clock=clock) as rt:
        terms = {"account": "5000000101", "symbol": "005930", "side": "buy", "qty": 10, "price": 70000}
        days_ago = decoy.pop("days_ago", 0)
        terms.update(decoy)
        rt.ledger.record_external(order_date=kst_ymd(rt.clock.now() - timedelta(days=days_ago)),
                                  broker_order_no="0000000777", raw={"source": "notice"}, **terms)
        inject(sim, "error_before_accept")
        order = submit(rt, intent()).order
        [row] = broker_orders(sim)
        assert order.broker_order_no == row["odno"] and order.status is OrderStatus.SENT
        assert [(k, s) for k, s, _ in request_rows(rt, order.id)] == [("new", "not_found"), ("new", "accepted")]


def test_an_old_notice_from_before_the_claim_is_no_evidence(sim, tmp_path):
    clock = StepClock()
    settings = make_settings(sim, tmp_path, ambiguity={"policy": "resend"})
    with open_runtime(settings, clock=clock) as rt:
        rt.ledger.record_external(order_date=kst_ymd(rt.clock.now()), broker_order_no="0000000777",
                                  account="5000000101", symbol="005930", side="buy", qty=10, price=70000,
                                  raw={"source": "notice"})
        clock.offset += 60  # the notice was seen a minute before this order was claimed
        inject(sim, "error_before_accept")
        order = submit(rt, intent()).order
        assert len(broker_orders(sim)) == 1 and order.status is OrderStatus.SENT


def test_a_resend_after_not_found_halts_when_max_resends_is_zero(sim, tmp_path):
    settings = make_settings(sim, tmp_path, ambiguity={"policy": "resend", "max_resends": 0})
    with open_runtime(settings, clock=StepClock()) as rt:
        inject(sim, "error_before_accept")
        with pytest.raises(OutcomeUnknown):
            submit(rt, intent())
        [order] = rt.ledger.list_orders()
        assert order.status is OrderStatus.UNKNOWN and rt.ledger.halt_state(ACCOUNT) is not None
    assert broker_orders(sim) == []
