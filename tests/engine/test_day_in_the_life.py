"""A day in the life: 500 orders with amends, cancels and partial fills under random REST and notice faults,
with `kisoms watch` and a cron-style `kisoms reconcile` loop running as real processes on the same ledger.
At the end the ledger equals the broker's books on every order, to the share and to the won."""

from __future__ import annotations

import random
import threading

import pytest

from engine_helpers import ACCOUNT, inject, intent, make_settings, write_config
from kisoms.engine.amend import cancel, modify
from kisoms.engine.reconcile import reconcile
from kisoms.engine.runtime import open_runtime
from kisoms.engine.submit import submit
from kisoms.errors import KisomsError
from kisoms.sim.testing import running_simulator
from test_processes import kisoms
from test_watch import watch_process

ORDERS = 500
REST_FAULTS = ["drop_response", "error_after_accept", "reset_after_accept", "error_before_accept",
               "reset_before_accept", "rate_limit", "delay"]
NOTICE_FAULTS = ["notice_duplicate", "notice_drop", "notice_reorder"]
PRICES = [69800, 69900, 70000, 70100, 70200]


class CronReconcile:
    """`kisoms reconcile` run again and again in real processes until stopped; keeps every exit code."""

    def __init__(self, config):
        self.config, self.stop, self.runs = config, threading.Event(), []
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self.stop.is_set():
            result = kisoms(self.config, "reconcile", timeout=120)
            self.runs.append((result.returncode, (result.stdout + result.stderr)[-800:]))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(180)


def trade(rt, sim, rng):
    """The trading day, driven from this process."""
    for n in range(ORDERS):
        if rng.random() < 0.08:
            inject(sim, rng.choice(REST_FAULTS), seconds=0.5)
        if rng.random() < 0.05:
            sim.admin.add_fault(rng.choice(NOTICE_FAULTS), count=1)
        try:
            order = submit(rt, intent(n, qty=rng.choice([3, 5, 10]), price=rng.choice(PRICES))).order
            sim.admin.clear_faults()
            act(rt, sim, rng, order, n)
        except KisomsError:
            sim.admin.clear_faults()  # a documented refusal; the books decide at the end
        if n % 25 == 24:
            sim.admin.set_price("005930", rng.choice(PRICES))
        if n == ORDERS // 2:
            sim.admin.disconnect_websockets()


def act(rt, sim, rng, order, n):
    roll = rng.random()
    if order.broker_order_no and roll < 0.25:
        sim.admin.fill(order.broker_order_no, 1)  # a partial fill
    if roll < 0.15:
        modify(rt, order.id, price=rng.choice(PRICES))
    elif roll < 0.30:
        cancel(rt, order.id)


def broker_totals(rt, sim) -> dict[int, tuple[int, int]]:
    """Per ledger order: filled qty and amount summed over every broker number it owns (not via reconcile)."""
    rows = {r["odno"]: r for r in sim.admin.orders(ACCOUNT)}
    totals = {}
    for order in rt.ledger.list_orders():
        mine = [rows[n.broker_order_no] for n in rt.ledger.broker_numbers(order.id) if n.broker_order_no]
        working = [r for r in mine if r["cncl_yn"] != "Y"]
        totals[order.id] = (sum(int(r["tot_ccld_qty"]) for r in working),
                            sum(int(r["tot_ccld_amt"]) for r in working))
    return totals


@pytest.mark.slow
@pytest.mark.timeout(400)  # minutes of real trading on a loaded 2-core machine; an event is awaited, never slept on
def test_a_day_in_the_life(tmp_path):
    rng = random.Random(20261125)
    with running_simulator(seed=7, fill_slices=3, rate_limit_per_sec=400) as sim:
        overrides = dict(rate_per_sec=400, ambiguity={"policy": "resend", "lookup_window": 0.4,
                                                      "lookup_interval": 0.1},
                         retry={"read_timeout": 0.3, "deadline": 3.0}, watch={"reconnect_max_delay": 0.3})
        config = write_config(sim, tmp_path, **overrides)
        watch, reader = watch_process(config)
        reader.wait_for(lambda e: e["kind"] == "connection.connected")
        with open_runtime(make_settings(sim, tmp_path, **overrides)) as rt:
            with CronReconcile(config) as cron:
                trade(rt, sim, rng)
            watch.terminate()
            assert watch.wait(timeout=60) == 0
            sim.admin.clear_faults()
            reconcile(rt)
            final = reconcile(rt)
            assert final.in_sync, final.as_dict()
            failures = [run for run in cron.runs if run[0] not in (0, 7)]
            assert cron.runs and not failures, failures
            assert rt.ledger.halt_state() is None
            assert_ledger_equals_books(rt, sim)


def assert_ledger_equals_books(rt, sim):
    orders = rt.ledger.list_orders()
    totals = broker_totals(rt, sim)
    for order in orders:
        assert (order.filled_qty, order.filled_amount) == totals[order.id], order
        assert not order.status.value.startswith(("PENDING", "SEND", "UNKNOWN")), order
    owned = {n.broker_order_no for o in orders for n in rt.ledger.broker_numbers(o.id) if n.broker_order_no}
    at_broker = {r["odno"] for r in sim.admin.orders(ACCOUNT)}
    assert at_broker == owned, "a broker order no ledger order owns: a duplicate or a lost change"
    assert len(orders) == ORDERS
    assert sum(o.filled_qty for o in orders) > 0 and any(o.cancelled_qty for o in orders)
    assert any(0 < o.filled_qty < o.qty for o in orders)
