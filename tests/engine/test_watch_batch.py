"""The watcher applies a burst of received notices in one transaction, each notice a savepoint."""

from __future__ import annotations

import asyncio

import pytest

from engine_helpers import ACCOUNT, intent
from kisoms.domain.states import OrderStatus
from kisoms.engine import watch as watch_module
from kisoms.engine.submit import submit
from kisoms.engine.watch import MAX_BATCH, Watcher, _burst
from kisoms.kis.notices import ExecutionNotice
from kisoms.kis.ws import ConnectionState
from kisoms.ledger import Ledger

pytestmark = pytest.mark.dates(session_only=True)  # order flows: at the in-session anchors of tests/clocks.py


def _filled_orders(rt, sim, count: int = 3):
    """``count`` orders filled at the simulator while nobody listened, and every notice it sent for them."""
    orders = [submit(rt, intent(n, qty=10 + n, price=70000)).order for n in range(count)]
    sim.admin.set_price("005930", 70000)
    numbers = {o.broker_order_no for o in orders}
    notices = [ExecutionNotice(fields=n) for n in sim.admin.notices_sent() if n["ODER_NO"] in numbers]
    assert sum(n.is_fill for n in notices) >= count
    return orders, notices


def _books(sim, odno: str) -> dict:
    return next(r for r in sim.admin.orders(ACCOUNT) if r["odno"] == odno)


def test_a_burst_of_notices_is_applied_whole_and_matches_the_books(rt, sim):
    orders, notices = _filled_orders(rt, sim)
    watcher = Watcher(rt)
    watcher.apply_notices(notices)
    assert watcher.status.notices == len(notices)
    for order in orders:
        after, books = rt.ledger.get(order.id), _books(sim, order.broker_order_no)
        assert after.status is OrderStatus.FILLED
        assert (after.filled_qty, after.filled_amount) == (int(books["tot_ccld_qty"]), int(books["tot_ccld_amt"]))
    assert rt.ledger.verify_audit_chain() > 0


def test_one_bad_notice_leaves_no_trace_and_the_rest_of_its_batch_is_kept(rt, sim, monkeypatch):
    orders, notices = _filled_orders(rt, sim)
    bad_odno = orders[1].broker_order_no
    real = watch_module.apply_notice

    def apply_then_fail_for_one(runtime, notice):
        result = real(runtime, notice)  # its writes happen, then it fails: the savepoint must undo them
        if notice.odno == bad_odno and notice.is_fill:
            raise RuntimeError("boom")
        return result

    monkeypatch.setattr(watch_module, "apply_notice", apply_then_fail_for_one)
    watcher = Watcher(rt)
    watcher.gap_fill = lambda: None
    watcher.apply_notices(notices)
    assert rt.ledger.get(orders[1].id).filled_qty == 0  # the bad notice's fill was rolled back
    assert rt.ledger.fills(orders[1].id) == []
    for good in (orders[0], orders[2]):
        assert rt.ledger.get(good.id).status is OrderStatus.FILLED
    unapplied = [e for e in rt.ledger.events_since(0) if e.kind == "notice.unapplied"]
    assert len(unapplied) == 1 and "boom" in unapplied[0].payload["error"]
    assert watcher._recheck  # the books get a look at the order the bad notice was about
    assert rt.ledger.verify_audit_chain() > 0


def test_nothing_of_a_batch_is_visible_to_another_process_before_it_commits(rt, sim, monkeypatch):
    orders, notices = _filled_orders(rt, sim, count=2)
    other = Ledger(rt.ledger.path)
    seen_mid_batch: list[int] = []
    real = watch_module.apply_notice

    def apply_and_look(runtime, notice):
        result = real(runtime, notice)
        seen_mid_batch.append(other.get(orders[0].id).filled_qty)
        return result

    monkeypatch.setattr(watch_module, "apply_notice", apply_and_look)
    try:
        before = other.last_event_id()
        Watcher(rt).apply_notices(notices)
        assert set(seen_mid_batch) == {0}
        assert other.get(orders[0].id).filled_qty == 10
        assert other.last_event_id() > before
    finally:
        other.close()


def test_an_interrupt_mid_batch_rolls_the_whole_batch_back_and_the_next_burst_applies_it(rt, sim, monkeypatch):
    orders, notices = _filled_orders(rt, sim, count=1)
    watcher = Watcher(rt)

    def interrupted(runtime, notice):
        raise KeyboardInterrupt  # not an Exception: escapes the per-notice guard, like a dying process

    monkeypatch.setattr(watch_module, "apply_notice", interrupted)
    with pytest.raises(KeyboardInterrupt):
        watcher.apply_notices(notices)
    assert not rt.ledger.conn.in_transaction  # rolled back, the ledger usable
    assert rt.ledger.get(orders[0].id).filled_qty == 0
    monkeypatch.undo()
    watcher.apply_notices(notices)  # the next burst (or the gap-fill) brings them in
    assert rt.ledger.get(orders[0].id).filled_qty == 10


def _queue_of(items) -> asyncio.Queue:
    q: asyncio.Queue = asyncio.Queue()
    for item in items:
        q.put_nowait(item)
    return q


def test_a_burst_is_the_notices_already_received_up_to_a_connection_state():
    notices = [ExecutionNotice(fields={"ODER_NO": str(n)}) for n in range(4)]
    state = ConnectionState("disconnected", "gone")
    q = _queue_of(notices[1:3] + [state, notices[3]])
    burst, ended_by = _burst(notices[0], q)
    assert burst == notices[:3] and ended_by is state
    assert q.get_nowait() is notices[3]


def test_a_burst_stops_at_the_stream_end_marker_and_leaves_it_queued():
    end = object()
    first, second = ExecutionNotice(fields={"ODER_NO": "1"}), ExecutionNotice(fields={"ODER_NO": "2"})
    q = _queue_of([second, end])
    assert _burst(first, q) == ([first, second], None)
    assert q.get_nowait() is end


def test_a_burst_is_at_most_max_batch_notices():
    notices = [ExecutionNotice(fields={"ODER_NO": str(n)}) for n in range(MAX_BATCH + 5)]
    q = _queue_of(notices[1:])
    burst, ended_by = _burst(notices[0], q)
    assert len(burst) == MAX_BATCH and ended_by is None and q.qsize() == 5


def test_each_notice_of_a_burst_is_one_savepoint_and_the_burst_one_commit(rt, sim):
    orders, notices = _filled_orders(rt, sim, count=2)
    statements: list[str] = []
    rt.ledger.conn.set_trace_callback(statements.append)
    try:
        Watcher(rt).apply_notices(notices)
    finally:
        rt.ledger.conn.set_trace_callback(None)
    assert sum(s.startswith("SAVEPOINT") for s in statements) == len(notices)
    assert sum(s == "COMMIT" for s in statements) == 1
    assert all(rt.ledger.get(o.id).status is OrderStatus.FILLED for o in orders)
