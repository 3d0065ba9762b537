"""Applying execution notices: late notices after reconcile inferred fills, look-alike fills, races with
our own reply, and reconcile's second look when the ledger moved under it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine_helpers import ACCOUNT, intent
from kisoms.domain.states import OrderStatus
from kisoms.engine.notices import apply_notice
from kisoms.engine.reconcile import Reconciler, reconcile
from kisoms.engine.submit import submit
from kisoms.kis.notices import ExecutionNotice

pytestmark = pytest.mark.dates(session_only=True)  # order flows: at the in-session anchors of tests/clocks.py


def _notices(sim, odno, fills_only=True):
    return [ExecutionNotice(fields=n) for n in sim.admin.notices_sent()
            if n["ODER_NO"] == odno and (n["CNTG_YN"] == "2" or not fills_only)]


def test_a_late_fill_notice_after_reconcile_inferred_it_is_deferred_not_counted(rt, sim):
    order = submit(rt, intent(price=70000)).order
    sim.admin.set_price("005930", 70000)
    reconcile(rt)  # the books say FILLED: an inferred fill of 10
    [late] = _notices(sim, order.broker_order_no)
    result = apply_notice(rt, late)
    assert result.outcome == "deferred"
    after = rt.ledger.get(order.id)
    assert (after.status, after.filled_qty, after.filled_amount) == (OrderStatus.FILLED, 10, 700000)
    kinds = [e.kind for e in rt.ledger.events_since(0)]
    assert "notice.deferred" in kinds and "order.overfill_flagged" not in kinds
    assert reconcile(rt).in_sync


def test_two_real_fills_alike_in_one_second_are_caught_up_by_the_books(rt, sim):
    sim.admin.configure(fill_slices=2)
    order = submit(rt, intent(price=70000)).order
    sim.admin.set_price("005930", 70000)
    first, second = _notices(sim, order.broker_order_no)
    assert first.fields == second.fields  # KIS gives no execution id: they cannot be told apart
    assert apply_notice(rt, first).outcome == "applied"
    assert apply_notice(rt, second).outcome == "duplicate"
    assert rt.ledger.get(order.id).filled_qty == 5
    report = reconcile(rt)  # what the watcher runs on a duplicate
    assert [c.after for c in report.changes] == ["FILLED"]
    assert rt.ledger.get(order.id).filled_qty == 10


def test_ledger_ahead_of_a_stale_snapshot_gets_a_second_look_not_a_halt(rt, sim):
    order = submit(rt, intent(price=70000)).order
    reconciler = Reconciler(rt)
    stale = reconciler.fetch(ACCOUNT, [order])  # taken before the fill
    sim.admin.set_price("005930", 70000)
    for notice in _notices(sim, order.broker_order_no):
        apply_notice(rt, notice)  # the watcher got ahead of our snapshot
    assert rt.ledger.get(order.id).filled_qty == 10
    reconciler.fetch = lambda account, orders: stale
    report = reconciler.run()
    assert report.unresolved == [] and rt.ledger.halt_state() is None
    assert rt.ledger.get(order.id).filled_qty == 10


def test_a_real_shortfall_at_the_broker_still_halts(rt, sim):
    order = submit(rt, intent(price=70000)).order
    sim.admin.set_price("005930", 70000)
    for notice in _notices(sim, order.broker_order_no):
        apply_notice(rt, notice)
    books = sim.admin.orders(ACCOUNT)
    reconciler = Reconciler(rt)
    rows = reconciler.fetch(ACCOUNT, [order])
    short = [replace(r, tot_ccld_qty=4, tot_ccld_amt=280000, rmn_qty=6) for r in rows]
    reconciler.fetch = lambda account, orders: short
    reconciler.rt.client.inquire_daily_ccld = lambda *a, **k: short
    report = reconciler.run()
    assert report.unresolved and "less than ledger" in report.unresolved[0]
    assert rt.ledger.halt_state() is not None
    assert rt.ledger.get(order.id).filled_qty == 10 and books
