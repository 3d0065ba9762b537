"""Submit against the real simulator: exactly one broker order per intent, whatever the fault."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kisoms.domain.states import OrderEvent, OrderStatus
from kisoms.engine.clock import kst_ymd
from kisoms.engine.reconcile import reconcile
from kisoms.engine.submit import submit
from kisoms.errors import AwaitingBooks, Halted, OutcomeUnknown, ValidationError
from kisoms.engine.runtime import open_runtime

from engine_helpers import broker_orders, inject, intent, make_settings


def test_submit_sends_once_and_same_intent_returns_same_order(rt, sim):
    first = submit(rt, intent())
    assert first.created and first.sent
    assert first.order.status in (OrderStatus.SENT, OrderStatus.ACCEPTED)
    assert first.order.broker_order_no
    again = submit(rt, intent())
    assert again.order.id == first.order.id and not again.created and not again.sent
    assert len(broker_orders(sim)) == 1


def test_same_intent_in_another_time_zone_is_the_same_order(rt, sim):
    first = submit(rt, intent(signal_ts="2026-11-25T09:00:00+09:00"))
    second = submit(rt, intent(signal_ts="2026-11-25T00:00:00+00:00"))
    assert first.order.id == second.order.id
    assert len(broker_orders(sim)) == 1


def test_validation_reject_is_recorded_and_not_sent(rt, sim):
    with pytest.raises(ValidationError) as err:
        submit(rt, intent(price=70001))
    assert "PRICE_OFF_TICK" in err.value.codes
    order = rt.ledger.list_orders()[0]
    assert order.status is OrderStatus.REJECTED and order.reject_code.startswith("VALIDATION")
    assert broker_orders(sim) == []


def test_broker_reject_records_kis_code(rt, sim):
    result = submit(rt, intent(qty=100000, price=70000))  # 7 billion KRW: more than the sim account has
    assert result.order.status is OrderStatus.REJECTED
    assert result.order.reject_code == "APBK0952" and "주문가능금액" in result.order.reject_reason
    assert [h.event for h in rt.ledger.history(result.order.id)] == ["created", "claim", "broker_rejected"]
    assert [(n.kind, n.state) for n in rt.ledger.broker_numbers(result.order.id)] == [("new", "rejected")]
    assert broker_orders(sim) == []


@pytest.mark.parametrize("fault", ["drop_response", "error_after_accept", "reset_after_accept"])
def test_ambiguous_send_is_found_not_resent(rt, sim, fault):
    inject(sim, fault)
    result = submit(rt, intent())
    assert result.order.status in (OrderStatus.SENT, OrderStatus.ACCEPTED)
    books = broker_orders(sim)
    assert len(books) == 1 and books[0]["odno"] == result.order.broker_order_no


def test_error_before_accept_halts_and_reconcile_agrees(rt, sim):
    inject(sim, "error_before_accept")
    with pytest.raises(OutcomeUnknown):
        submit(rt, intent())
    order = rt.ledger.list_orders()[0]
    assert order.status is OrderStatus.UNKNOWN
    assert rt.ledger.halt_state() is not None
    assert broker_orders(sim) == []
    with pytest.raises(Halted):
        submit(rt, intent(1))
    assert broker_orders(sim) == []


def test_error_before_accept_with_resend_policy_sends_exactly_once(sim, tmp_path):
    settings = make_settings(sim, tmp_path, ambiguity={"policy": "resend"})
    with open_runtime(settings) as rt:
        inject(sim, "error_before_accept")
        result = submit(rt, intent())
        assert result.order.status in (OrderStatus.SENT, OrderStatus.ACCEPTED)
    assert len(broker_orders(sim)) == 1


@pytest.mark.dates(session_only=True)
def test_an_acceptance_notice_stops_a_resend_even_when_the_books_do_not_show_the_order(sim, tmp_path):
    settings = make_settings(sim, tmp_path, ambiguity={"policy": "resend"})
    with open_runtime(settings) as rt:
        # The watcher saw KIS accept an order with these terms (number 0000000777), but the books lag.
        rt.ledger.record_external(order_date=kst_ymd(rt.clock.now()), broker_order_no="0000000777",
                                  account="5000000101",
                                  symbol="005930", side="buy", qty=10, price=70000, raw={"source": "notice"})
        inject(sim, "error_before_accept")
        with pytest.raises(AwaitingBooks, match="0000000777"):
            submit(rt, intent())
        [order] = rt.ledger.list_orders()
        assert order.status is OrderStatus.UNKNOWN and rt.ledger.halt_state() is None
        now = rt.clock.now
        rt.clock.now = lambda: now() + timedelta(seconds=60)  # long after the lookup window
        report = reconcile(rt)
        assert report.in_flight and not report.unresolved and rt.ledger.halt_state() is None
        assert rt.ledger.get(order.id).status is OrderStatus.UNKNOWN
    assert broker_orders(sim) == []  # nothing was resent on the strength of the missing books


@pytest.mark.parametrize("fault", ["rate_limit", "token_expired"])
def test_certainly_unsent_faults_are_retried(rt, sim, fault):
    inject(sim, fault, count=2)
    result = submit(rt, intent())
    assert result.order.status in (OrderStatus.SENT, OrderStatus.ACCEPTED)
    assert [row["odno"] for row in broker_orders(sim)] == [result.order.broker_order_no]
    assert len([f for f in sim.admin.fault_log() if f["kind"] == fault]) == 2  # two refused, the third went


@pytest.mark.parametrize("fault", ["rate_limit", "token_expired"])
def test_certainly_unsent_faults_beyond_max_attempts_fail_the_order_unsent(rt, sim, fault):
    per_try = 2 if fault == "token_expired" else 1  # the client refreshes a refused token once per try
    attempts = rt.settings.retry.max_attempts
    inject(sim, fault, count=per_try * attempts + 2)
    order = submit(rt, intent()).order
    assert len([f for f in sim.admin.fault_log() if f["kind"] == fault]) == per_try * attempts
    assert order.status is OrderStatus.ERROR and order.reject_code == "NOT_SENT"
    assert [(n.kind, n.state) for n in rt.ledger.broker_numbers(order.id)] == [("new", "not_sent")]
    assert rt.ledger.history(order.id)[-1].raw_payload["tries"] == rt.settings.retry.max_attempts
    assert broker_orders(sim) == [] and not submit(rt, intent()).sent


def test_reconcile_after_submit_is_in_sync_and_idempotent(rt, sim):
    submit(rt, intent())
    first = reconcile(rt)
    second = reconcile(rt)
    assert second.in_sync, second.as_dict()


def test_an_ambiguous_top_priority_order_is_found_though_the_books_show_its_booked_price(rt, sim):
    sim.admin.set_price("005930", 70000)
    inject(sim, "drop_response")
    result = submit(rt, intent(order_type="top_priority", price=None))
    [row] = broker_orders(sim)
    assert row["ord_unpr"] == "69900"  # booked at the best bid, though we sent ORD_UNPR "0"
    assert result.order.broker_order_no == row["odno"] and result.order.status is not OrderStatus.UNKNOWN


def test_same_terms_order_waits_while_a_twin_is_in_flight_then_sends(rt, sim):
    """Another strategy's order with identical terms is mid-send (claimed by a live owner): sending
    this one now would make a lookup ambiguous, so it is refused and nothing leaves."""
    from kisoms.engine.submit import create_order, order_cash_request
    from kisoms.errors import TwinPending

    twin, _ = create_order(rt, intent(strategy_version="other"))
    _, map_id = rt.ledger.claim(twin.id, request=order_cash_request(twin), tr_id="TTTC0012U", source="test")
    with pytest.raises(TwinPending) as waits:
        submit(rt, intent())
    assert waits.value.twin_id == twin.id and isinstance(waits.value, OutcomeUnknown)
    assert broker_orders(sim) == []
    waiting = rt.ledger.get(waits.value.order_id)
    assert waiting.status is OrderStatus.NEW  # kept; the same intent later sends it
    rt.ledger.settle(map_id, state="not_sent", order_id=twin.id, event=OrderEvent.SEND_FAILED, source="test")
    again = submit(rt, intent())
    assert again.order.id == waiting.id and again.sent and len(broker_orders(sim)) == 1


def test_doubt_about_one_account_halts_that_account_and_not_the_others(tmp_path):
    from engine_helpers import ACCOUNT
    from kisoms.sim.scenario import SimAccount, default_scenario
    from kisoms.sim.testing import running_simulator

    other = "50000002-01"
    accounts = default_scenario().accounts + [SimAccount(cano="50000002", hts_id="simuser")]
    with running_simulator(accounts=accounts) as sim:
        settings = make_settings(sim, tmp_path, accounts={ACCOUNT: {}, other: {}})
        with open_runtime(settings) as rt:
            inject(sim, "error_before_accept")
            with pytest.raises(OutcomeUnknown):
                submit(rt, intent())  # account 1's order: not found within the window
            assert rt.ledger.halt_state(ACCOUNT).account == ACCOUNT
            with pytest.raises(Halted, match=f"account {ACCOUNT}.*kisoms resume --account {ACCOUNT}"):
                submit(rt, intent(1))
            sent = submit(rt, intent(2, account=other))  # the other account trades on
            assert sent.sent and sent.order.status in (OrderStatus.SENT, OrderStatus.ACCEPTED)
            assert [o["odno"] for o in sim.admin.orders(other)] == [sent.order.broker_order_no]
            assert broker_orders(sim) == []  # nothing more for the halted account


def test_the_resend_policy_gives_up_after_max_resends_and_halts(sim, tmp_path):
    settings = make_settings(sim, tmp_path, ambiguity={"policy": "resend", "max_resends": 1, "lookup_window": 0.2,
                                                       "lookup_interval": 0.05})
    with open_runtime(settings) as rt:
        inject(sim, "reset_before_accept", count=5)  # every send is maybe-sent and never booked
        with pytest.raises(OutcomeUnknown):
            submit(rt, intent())
        order = rt.ledger.list_orders()[0]
        kinds = [(r.kind, r.state) for r in rt.ledger.broker_numbers(order.id)]
        assert kinds == [("new", "not_found"), ("new", "unknown")]  # sent, resent once, then the halt
        assert order.status is OrderStatus.UNKNOWN and rt.ledger.halt_state(order.account) is not None
    assert broker_orders(sim) == []


def test_under_a_kill_switch_submit_creates_nothing(rt, sim):
    """Nothing is created while a switch is on: no order would be sent, so none may sit NEW unexplained."""
    rt.ledger.set_halt("a test halt", source="test", account=intent().account)
    before = rt.ledger.last_event_id()
    with pytest.raises(Halted, match="a test halt"):
        submit(rt, intent())
    assert rt.ledger.list_orders() == [] and rt.ledger.last_event_id() == before
    assert broker_orders(sim) == []
