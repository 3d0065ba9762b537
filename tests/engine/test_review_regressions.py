"""Regressions for races a review found: a broker number reused on another day, an amend booked while
its request is still in flight, a garbled fill notice, and a request settled under recovery's feet."""

from __future__ import annotations

import clocks

from datetime import timedelta

import pytest

from engine_helpers import ACCOUNT, broker_orders, intent
from kisoms.domain.states import OrderEvent, OrderStatus
from kisoms.engine.amend import modify
from kisoms.engine.clock import kst_ymd
from kisoms.engine.notices import apply_notice
from kisoms.engine.reconcile import reconcile
from kisoms.engine.recovery import recover
from kisoms.engine.submit import create_order, order_cash_request, submit
from kisoms.kis.notices import ExecutionNotice
from kisoms.ledger import Ledger

pytestmark = pytest.mark.dates(session_only=True)  # order flows: at the in-session anchors of tests/clocks.py


def _fill_notices(sim, odno: str) -> list[ExecutionNotice]:
    return [ExecutionNotice(fields=n) for n in sim.admin.notices_sent()
            if n["ODER_NO"] == odno and n["CNTG_YN"] == "2"]


def _yesterdays_order_with_number(rt, number: str):
    """An order of ours that got ``number`` yesterday (KIS numbers restart every day) and is still open."""
    order, _ = create_order(rt, intent(strategy_version="yesterday", qty=3))
    _, map_id = rt.ledger.claim(order.id, request=order_cash_request(order), tr_id="TTTC0012U", source="test")
    yesterday = kst_ymd(clocks.now() - timedelta(days=1))
    fields = {"broker_order_no": number, "krx_orgno": "91252", "order_date": yesterday}
    return rt.ledger.settle(map_id, state="accepted", order_id=order.id, event=OrderEvent.BROKER_ACCEPTED,
                            source="test", map_fields=fields, order_fields=fields)


def test_a_number_reused_today_belongs_to_todays_order_not_yesterdays(rt, sim):
    today = submit(rt, intent(price=70000)).order
    old = _yesterdays_order_with_number(rt, today.broker_order_no)
    sim.admin.set_price("005930", 70000)
    for notice in _fill_notices(sim, today.broker_order_no):
        assert apply_notice(rt, notice).order_id == today.id
    report = reconcile(rt)
    assert rt.ledger.get(today.id).status is OrderStatus.FILLED
    untouched = rt.ledger.get(old.id)
    assert (untouched.status, untouched.filled_qty) == (OrderStatus.SENT, 0) and untouched.version == old.version
    assert report.external == [] and not any(str(old.id) in line for line in report.unresolved)


def test_an_amend_booked_while_its_request_is_in_flight_is_left_to_its_sender(rt, sim):
    order = submit(rt, intent(price=69000)).order
    real_amend, seen = rt.client.order_rvsecncl, {}

    def amend_while_reconcile_runs(*args, **kwargs):
        ack = real_amend(*args, **kwargs)  # booked at the broker; our reply is still on its way
        seen["report"] = reconcile(rt)
        seen["numbers"] = rt.ledger.broker_numbers(order.id)
        return ack

    rt.client.order_rvsecncl = amend_while_reconcile_runs
    amended = modify(rt, order.id, price=69500)
    report = seen["report"]
    assert any(f"order {order.id}" in line and "in flight" in line for line in report.in_flight)
    assert not any("found at the broker" in c.detail for c in report.changes)  # not adopted under the sender
    assert [n.state for n in seen["numbers"]] == ["accepted", "sending"]
    assert amended.price == 69500 and amended.status in (OrderStatus.SENT, OrderStatus.ACCEPTED)
    numbers = rt.ledger.broker_numbers(order.id)
    assert [(n.kind, n.state) for n in numbers] == [("new", "accepted"), ("modify", "accepted")]
    assert numbers[1].broker_order_no == amended.broker_order_no
    assert reconcile(rt).in_sync


def test_a_garbled_fill_notice_is_published_and_left_to_the_books(rt, sim):
    order = submit(rt, intent(price=70000)).order
    sim.admin.set_price("005930", 70000)
    [notice] = _fill_notices(sim, order.broker_order_no)
    garbled = ExecutionNotice(fields={**notice.fields, "CNTG_QTY": "0"})
    result = apply_notice(rt, garbled)
    assert (result.outcome, result.order_id) == ("deferred", order.id)
    assert rt.ledger.get(order.id).filled_qty == 0
    unapplied = [e for e in rt.ledger.events_since(0) if e.kind == "notice.unapplied"]
    assert len(unapplied) == 1 and "quantity 0" in unapplied[0].payload["reason"]
    reconcile(rt)  # the books have the last word
    assert rt.ledger.get(order.id).filled_qty == 10


def test_a_request_settled_by_another_process_during_recovery_is_skipped_not_raised(rt, sim):
    order, _ = create_order(rt, intent())
    with Ledger(rt.ledger.path, owner="another-host|1|1", now=clocks.now) as gone:  # cannot be checked: time decides
        order, map_id = gone.claim(order.id, request=order_cash_request(order), tr_id="TTTC0012U", source="gone")
    ack = rt.client.order_cash(ACCOUNT, order.symbol, order.side, "00", order.qty, str(order.price))
    real_known = rt.ledger.known_broker_numbers

    def settled_right_after_we_looked(*args, **kwargs):
        known = real_known(*args, **kwargs)  # our lookup still sees the number as unmapped ...
        with Ledger(rt.ledger.path, now=clocks.now) as other:  # ... as another process (say, the watcher) adopts it
            fields = {"broker_order_no": ack.odno, "krx_orgno": ack.krx_fwdg_ord_orgno,
                      "order_date": kst_ymd(clocks.now())}
            other.settle(map_id, state="accepted", order_id=order.id, event=OrderEvent.BROKER_ACCEPTED,
                         source="other", map_fields=fields, order_fields=fields)
        return known

    rt.ledger.known_broker_numbers = settled_right_after_we_looked
    later = clocks.now() + timedelta(seconds=120)
    rt.clock.now = lambda: later  # the claim's lease has run out
    report = recover(rt, "test")
    assert report.skipped_live == [order.id] and report.unresolved == [] and report.resolved == []
    assert rt.ledger.get(order.id).broker_order_no == ack.odno and len(broker_orders(sim)) == 1


def test_a_reply_with_a_number_the_ledger_gives_another_order_halts_the_account(sim, tmp_path):
    """The ledger is wrong somewhere (a row adopted by the wrong order): the request stays in doubt, is
    never resent (even under the resend policy), and the account stops until someone looks."""
    from engine_helpers import make_settings
    from kisoms.engine.runtime import open_runtime
    from kisoms.errors import OutcomeUnknown

    with open_runtime(make_settings(sim, tmp_path, ambiguity={"policy": "resend", "lookup_window": 0.2})) as rt:
        first = submit(rt, intent(qty=1)).order
        upcoming = f"{int(first.broker_order_no) + 1:0{len(first.broker_order_no)}d}"
        wrong, _ = create_order(rt, intent(strategy_version="wrong", qty=2))
        _, map_id = rt.ledger.claim(wrong.id, request=order_cash_request(wrong), tr_id="TTTC0012U", source="test")
        fields = {"broker_order_no": upcoming, "krx_orgno": "91252", "order_date": first.order_date}
        rt.ledger.settle(map_id, state="accepted", order_id=wrong.id, event=OrderEvent.BROKER_ACCEPTED,
                         source="test", map_fields=fields, order_fields=fields)
        with pytest.raises(OutcomeUnknown, match=f"number {upcoming}"):
            submit(rt, intent(1, qty=3))
        order = rt.ledger.list_orders()[-1]
        assert order.status is OrderStatus.UNKNOWN and rt.ledger.halt_state(ACCOUNT) is not None
        from kisoms.engine.control import resolve_unknown, resume
        from kisoms.errors import UsageError

        resume(rt.ledger, account=ACCOUNT, force=True)  # even with the switch lifted by force ...
        rt.clock.now = lambda: clocks.now() + timedelta(seconds=300)
        report = recover(rt, "test")  # ... the next recovery never resends what the broker accepted
        assert any(f"number {upcoming}" in line for line in report.unresolved)
        assert rt.ledger.get(order.id).status is OrderStatus.UNKNOWN
        for resend in (True, False):  # and neither operator verdict is true of it
            with pytest.raises(UsageError, match=f"accepted it as number {upcoming}"):
                resolve_unknown(rt, order.id, resend=resend)
    assert [o["ord_qty"] for o in broker_orders(sim)] == ["1", "3"]  # each once


def test_an_amend_booked_after_it_was_given_up_moves_the_order_to_its_number_and_price(sim, tmp_path):
    """The amend's reply was lost and the books lagged past the lookup window, so it was recorded as not
    found; the broker did book it. Reconcile must move the order to the amend's number and price, or a
    later cancel would target the dead original and leave the shares working at the broker."""
    from engine_helpers import make_settings
    from kisoms.engine.amend import cancel
    from kisoms.engine.runtime import open_runtime
    from kisoms.errors import BrokerTimeout

    with open_runtime(make_settings(sim, tmp_path, ambiguity={"lookup_window": 0.3, "lookup_interval": 0.05})) as rt:
        order = submit(rt, intent(price=69000)).order
        real_amend, real_books, hidden = rt.client.order_rvsecncl, rt.client.inquire_daily_ccld, set()

        def amend_reply_lost(*args, **kwargs):
            hidden.add(real_amend(*args, **kwargs).odno)  # booked; the books will lag behind
            raise BrokerTimeout("read timeout", maybe_sent=True)

        rt.client.order_rvsecncl = amend_reply_lost
        rt.client.inquire_daily_ccld = lambda *a, **k: [r for r in real_books(*a, **k) if r.odno not in hidden]
        assert modify(rt, order.id, price=69500).price == 69000  # given up: not found in the window
        rt.client.order_rvsecncl, rt.client.inquire_daily_ccld = real_amend, real_books
        report = reconcile(rt)
        [amend_no] = hidden
        moved = rt.ledger.get(order.id)
        assert (moved.broker_order_no, moved.price) == (amend_no, 69500), report
        assert cancel(rt, order.id).status is OrderStatus.CANCELLED
    working = [b for b in sim.admin.orders(ACCOUNT) if int(b.get("rmn_qty") or 0) > 0]
    assert working == []


def test_an_amend_accepted_while_reconcile_reads_the_books_is_not_undone(rt, sim):
    order = submit(rt, intent(price=69000)).order
    real_books, done = rt.client.inquire_daily_ccld, {}

    def books_then_the_trader_amends(*args, **kwargs):
        rows = real_books(*args, **kwargs)  # reconcile's snapshot of the account ...
        if not done:
            done["amended"] = modify(rt, order.id, price=69500)  # ... then the amend is accepted
        return rows

    rt.client.inquire_daily_ccld = books_then_the_trader_amends
    reconcile(rt)
    amended, after = done["amended"], rt.ledger.get(order.id)
    assert (after.broker_order_no, after.price) == (amended.broker_order_no, 69500) != (order.broker_order_no, 69000)
    assert after.status is not OrderStatus.CANCELLED
    rt.client.inquire_daily_ccld = real_books
    assert reconcile(rt).in_sync


def test_books_lagging_behind_an_accepted_amend_decide_nothing(rt, sim):
    """The original row already shows nothing remaining (moved to the amend), the amend row is not listed
    yet: judged on these books the order would look cancelled and go back to its dead number."""
    order = submit(rt, intent(price=69000)).order
    amended = modify(rt, order.id, price=69500)
    real_books = rt.client.inquire_daily_ccld
    rt.client.inquire_daily_ccld = lambda *a, **k: [r for r in real_books(*a, **k) if r.odno != amended.broker_order_no]
    report = reconcile(rt)
    after = rt.ledger.get(order.id)
    assert (after.status, after.cancelled_qty, after.broker_order_no, after.price) == (
        amended.status, 0, amended.broker_order_no, 69500)
    assert any("do not show its number" in line for line in report.in_flight) and report.unresolved == []
    rt.client.inquire_daily_ccld = real_books
    assert reconcile(rt).in_sync


def test_a_number_the_books_never_list_becomes_a_discrepancy_once_the_window_has_passed(rt, sim):
    """Lagging books get the benefit of the doubt for the lookup window, not for ever: an order whose
    number never shows up would otherwise hide its fills and cancels behind "in flight" on every run."""
    order = submit(rt, intent(price=69000)).order
    amended = modify(rt, order.id, price=69500)
    real_books = rt.client.inquire_daily_ccld
    rt.client.inquire_daily_ccld = lambda *a, **k: [r for r in real_books(*a, **k) if r.odno != amended.broker_order_no]
    rt.clock.now = lambda: clocks.now() + timedelta(seconds=rt.settings.ambiguity.lookup_window + 10)
    report = reconcile(rt)
    assert any(f"do not list its number {amended.broker_order_no}" in u for u in report.unresolved)
    assert not report.in_sync and rt.ledger.halt_state(ACCOUNT) is not None
    assert rt.ledger.get(order.id).broker_order_no == amended.broker_order_no  # nothing rewritten
