"""The lookup loop's exit "settled by another process meanwhile": a lookup that does not find its request
in the books stops as soon as another process has settled that request (the request is no longer open,
whether or not that process moved the order), returning the order as that process left it; it neither waits
out the window nor resends nor halts. An order that moved while its request is still open (a fill during an amend's lookup) is not a
reason to stop: the lookup goes on and decides as usual."""

from __future__ import annotations

import pytest

from engine_helpers import ACCOUNT, RVSECNCL, broker_orders, inject, intent, make_settings
from kisoms.domain.order import Fill
from kisoms.domain.states import OrderEvent, OrderStatus
from kisoms.engine.amend import modify
from kisoms.engine.clock import kst_ymd
from kisoms.engine.recovery import resolve
from kisoms.engine.runtime import open_runtime
from kisoms.engine.submit import create_order, order_cash_request, submit
from kisoms.ledger import Ledger
from mutation_helpers import StepClock, events, request_rows, step_runtime

TR = "TTTC0012U"


@pytest.fixture
def clock():
    return StepClock()


@pytest.fixture
def srt(sim, tmp_path, clock):
    """A runtime on the step clock, with a lookup window of 30s polled every second (no real waiting)."""
    with step_runtime(sim, tmp_path, clock, ambiguity={"lookup_window": 30.0, "lookup_interval": 1.0}) as rt:
        yield rt


def _unknown_new_order_booked_but_not_listed(rt):
    """An order whose send went UNKNOWN although the broker booked it; the books lag and do not list it."""
    order, _ = create_order(rt, intent())
    order, map_id = rt.ledger.claim(order.id, request=order_cash_request(order), tr_id=TR, source="test")
    ack = rt.client.order_cash(ACCOUNT, order.symbol, order.side, "00", order.qty, str(order.price))
    order = rt.ledger.settle(map_id, state="unknown", order_id=order.id, event=OrderEvent.SEND_AMBIGUOUS,
                             source="test", raw_payload={"reason": "reply lost"})
    real_books = rt.client.inquire_daily_ccld
    rt.client.inquire_daily_ccld = lambda *a, **k: [r for r in real_books(*a, **k) if r.odno != ack.odno]
    return order, map_id, ack, real_books


def test_a_new_order_settled_by_another_process_during_the_lookup_is_returned_as_it_left_it(srt, sim, clock):
    order, map_id, ack, _ = _unknown_new_order_booked_but_not_listed(srt)
    lagging_books, looked = srt.client.inquire_daily_ccld, []

    def books_while_the_watcher_adopts_the_number(*args, **kwargs):
        rows = lagging_books(*args, **kwargs)
        if not looked:  # the watcher (another process) adopts the number from its acceptance notice
            fields = {"broker_order_no": ack.odno, "krx_orgno": ack.krx_fwdg_ord_orgno,
                      "order_date": kst_ymd(clock.now())}
            with Ledger(srt.ledger.path, now=clock.now) as other:
                other.settle(map_id, state="accepted", order_id=order.id, event=OrderEvent.BROKER_ACCEPTED,
                             source="watcher", map_fields=fields, order_fields=fields)
        looked.append(1)
        return rows

    srt.client.inquire_daily_ccld = books_while_the_watcher_adopts_the_number
    [request] = srt.ledger.open_requests(order.id)
    after = resolve(srt, order, request, "test", wait=True)
    assert after is not None and after.id == order.id
    assert after.status is OrderStatus.SENT and after.broker_order_no == ack.odno
    assert after.version == srt.ledger.get(order.id).version > order.version
    assert looked == [1] and clock.slept == []  # stopped at once: no waiting out the window
    assert request_rows(srt, order.id) == [("new", "accepted", ack.odno)]
    assert events(srt, order.id) == ["created", "claim", "send_ambiguous", "broker_accepted"]
    assert srt.ledger.halt_state(ACCOUNT) is None and srt.ledger.halt_state() is None
    assert [r["odno"] for r in broker_orders(sim)] == [ack.odno]  # never resent


def test_an_unknown_new_order_nobody_settles_is_looked_for_until_the_window_closes(srt, sim, clock):
    """The control case: the same lagging books, nobody settles it; the lookup polls to its deadline."""
    from kisoms.errors import OutcomeUnknown

    order, map_id, ack, _ = _unknown_new_order_booked_but_not_listed(srt)
    [request] = srt.ledger.open_requests(order.id)
    with pytest.raises(OutcomeUnknown, match="may or may not be at the broker"):
        resolve(srt, order, request, "test", wait=True)
    assert sum(clock.slept) > 20.0
    assert srt.ledger.halt_state(ACCOUNT) is not None
    assert request_rows(srt, order.id) == [("new", "unknown", None)]
    assert [r["odno"] for r in broker_orders(sim)] == [ack.odno]


def test_a_fill_during_an_amends_lookup_does_not_end_the_lookup(srt, sim, clock):
    """The order moves (another process records a fill) but the amend request is still open: the lookup
    goes on to its deadline and closes the never-booked amend as not found; the fill is kept."""
    order = submit(srt, intent()).order
    inject(sim, "reset_before_accept", path=RVSECNCL)
    real_books, looked = srt.client.inquire_daily_ccld, []

    def books_while_a_fill_arrives(*args, **kwargs):
        if not looked:  # 3 shares fill at the broker, and the watcher records them
            sim.admin.fill(order.broker_order_no, 3, 70000)
            fill = Fill(order_id=order.id, broker_order_no=order.broker_order_no, qty=3, price=70000,
                        fill_time="090001", source="notice",
                        dedupe_key=Fill.notice_key(order.order_date, order.broker_order_no, "090001", 3, 70000))
            with Ledger(srt.ledger.path, now=clock.now) as other:
                assert other.record_fill(order.id, fill) is not None
            assert srt.ledger.open_requests(order.id)  # the amend is still open
        looked.append(1)
        return real_books(*args, **kwargs)

    srt.client.inquire_daily_ccld = books_while_a_fill_arrives
    after = modify(srt, order.id, price=69500)
    assert len(looked) > 1 and sum(clock.slept) > 20.0  # looked until the window closed
    assert srt.ledger.open_requests(order.id) == []
    assert request_rows(srt, order.id)[-1] == ("modify", "not_found", None)
    assert events(srt, order.id)[-1] == "modify_rejected"
    assert after.price == 70000 and after.filled_qty == 3 and after.remaining_qty == 7
    assert after.broker_order_no == order.broker_order_no
    assert [r for r in sim.admin.orders(ACCOUNT) if r["orgn_odno"]] == []  # the amend never reached the books
    assert srt.ledger.halt_state(ACCOUNT) is None


@pytest.mark.parametrize("max_resends", [1, 2])
def test_resends_after_not_found_stop_at_max_resends(sim, tmp_path, max_resends):
    """Every send fails ambiguously and is never booked: the order is sent 1 + max_resends times, then halts."""
    from engine_helpers import ORDER_CASH
    from kisoms.errors import OutcomeUnknown

    settings = make_settings(sim, tmp_path, ambiguity={"policy": "resend", "max_resends": max_resends})
    with open_runtime(settings, clock=StepClock()) as rt:
        inject(sim, "error_before_accept", count=10)
        with pytest.raises(OutcomeUnknown):
            submit(rt, intent())
        [order] = rt.ledger.list_orders()
        assert order.status is OrderStatus.UNKNOWN and rt.ledger.halt_state(ACCOUNT) is not None
        states = [(n.kind, n.state) for n in rt.ledger.broker_numbers(order.id)]
        assert states == [("new", "not_found")] * max_resends + [("new", "unknown")]
    fired = sum(1 for f in sim.admin.fault_log() if f.get("path", "").endswith(ORDER_CASH))
    assert fired == 1 + max_resends and broker_orders(sim) == []


def test_a_request_another_process_closes_without_an_order_event_ends_the_lookup(srt, sim, clock):
    """An amend's outcome is unknown, and the order filled completely before this lookup read it
    (PENDING_MODIFY → FILLED). During the lookup another process closes the amend request without moving
    the order (``Ledger.settle`` with no event; ``sending.settle`` does the same when the event no longer
    applies). The request is no longer open, so it is not this lookup's to decide: it stops at once and
    returns the order as it is: no waiting out the window, no error, no halt, nothing sent."""
    order = submit(srt, intent()).order
    change = {"orgn_odno": order.broker_order_no, "qty": 10, "price": 69500, "all_qty": True, "rvse_cncl": "01"}
    order, map_id = srt.ledger.claim(order.id, kind="modify", request=change, tr_id="TTTC0013U", source="test")
    srt.ledger.settle(map_id, state="unknown", order_id=order.id, source="test",
                      raw_payload={"reason": "reply lost"})
    sim.admin.fill(order.broker_order_no, 10, 70000)
    fill = Fill(order_id=order.id, broker_order_no=order.broker_order_no, qty=10, price=70000, fill_time="090001",
                source="notice",
                dedupe_key=Fill.notice_key(order.order_date, order.broker_order_no, "090001", 10, 70000))
    assert srt.ledger.record_fill(order.id, fill).status is OrderStatus.FILLED
    order = srt.ledger.get(order.id)
    real_books, looked = srt.client.inquire_daily_ccld, []

    def books_while_another_process_closes_the_request(*args, **kwargs):
        if not looked:
            with Ledger(srt.ledger.path, now=clock.now) as other:
                other.settle(map_id, state="not_found", source="other")
        looked.append(1)
        return real_books(*args, **kwargs)

    srt.client.inquire_daily_ccld = books_while_another_process_closes_the_request
    [request] = srt.ledger.open_requests(order.id)
    after = resolve(srt, order, request, "test", wait=True)
    assert looked == [1] and clock.slept == []  # stopped at once
    assert after.status is OrderStatus.FILLED and after.version == order.version == srt.ledger.get(order.id).version
    assert request_rows(srt, order.id) == [("new", "accepted", order.broker_order_no), ("modify", "not_found", None)]
    assert "modify_rejected" not in events(srt, order.id)
    assert srt.ledger.halt_state(ACCOUNT) is None and srt.ledger.halt_state() is None
    assert [r for r in sim.admin.orders(ACCOUNT) if r["orgn_odno"]] == []  # no amend ever reached the books
